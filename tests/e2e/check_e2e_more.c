/* check_e2e_more: the remaining route details, and the test HTTP client
 * itself against a one-shot server. Part of check_e2e (see check_e2e.c). */
#include <cJSON.h>
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_e2e.h"
#include "fill.h"

START_TEST(test_exam_timestamps_in_utc)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const cJSON *o;

	send_req(&r, "POST", "/api/exams", &p,
		 "{\"title\":\"Offsets\",\"opens_at\":\"2030-01-01T00:00:00+02:00\"}", NULL);
	o = expect_ok(&r, 201);
	expect_ts(o, "opens_at");
	ck_assert_msg(strncmp(jstr(o, "opens_at"), "2029-12-31T22:00:00", 19) == 0,
		      "opens_at %s, want 2029-12-31T22:00:00Z", jstr(o, "opens_at"));
	resp_free(&r);
	user_free(&p);
}
END_TEST

START_TEST(test_exam_create_out_of_range)
{
	exam_create_expect_field("{\"title\":\"\"}", "title");
	exam_create_expect_field("{\"title\":\"T\",\"time_limit_s\":0}", "time_limit_s");
	exam_create_expect_field("{\"title\":\"T\",\"max_attempts\":0}", "max_attempts");
	exam_create_expect_field("{\"title\":\"T\",\"grace_s\":-1}", "grace_s");
	exam_create_expect_field("{\"title\":\"T\",\"opens_at\":\"tomorrow\"}", "opens_at");
	exam_create_expect_field("{\"title\":\"T\",\"upload\":\"x\"}", "upload");
	exam_create_expect_field("{\"title\":\"T\",\"upload\":{\"allowed_types\":\"text/plain\"}}",
				 "upload.allowed_types");
}
END_TEST

START_TEST(test_start_open_window)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], attempt[UUID_STR_LEN + 1];

	exam_create(&p,
		    "{\"title\":\"Window\",\"opens_at\":\"2001-01-01T00:00:00Z\","
		    "\"closes_at\":\"2099-01-01T00:00:00Z\"}",
		    exam);
	attempt_start(&s, exam, attempt);
	ck_assert_int_eq(db_version(attempt), 1);
	user_free(&p);
	user_free(&s);
}
END_TEST

/* Concurrent requests from threads: results are collected and asserted in
 * the test's own thread (Check's asserts are not thread-safe). */
#define PAR 8

typedef struct par_call {
	const char *method;
	char path[128];
	const char *token;
	char body[256];
	int status;
	char attempt_id[UUID_STR_LEN + 1];
	long version;
} par_call;

static void *par_run(void *arg)
{
	par_call *c = arg;
	char auth[AUTH_MAX_TOKEN_LEN + 32];
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	http_client_response r;

	snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
	c->status = -1;
	if (http_client_request(g_url, c->method, c->path, h, c->body, strlen(c->body), &r) == 0) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "attempt_id");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");

		c->status = r.status;
		if (cJSON_IsString(id))
			snprintf(c->attempt_id, sizeof c->attempt_id, "%s", id->valuestring);
		if (cJSON_IsNumber(v))
			c->version = (long)v->valuedouble;
		cJSON_Delete(j);
	}
	http_client_response_free(&r);
	return NULL;
}

static void par_all(par_call *calls, int n)
{
	pthread_t t[PAR];

	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, par_run, &calls[i]), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
}

START_TEST(test_start_concurrent_one_created)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1];
	par_call calls[PAR];
	int created = 0;

	exam_create(&p, "{\"title\":\"Race\"}", exam);
	memset(calls, 0, sizeof calls);
	for (int i = 0; i < PAR; i++) {
		calls[i].method = "POST";
		snprintf(calls[i].path, sizeof calls[i].path, "/api/attempts/new?action=start");
		calls[i].token = s.token;
		start_body(calls[i].body, sizeof calls[i].body, exam);
	}
	par_all(calls, PAR);
	for (int i = 0; i < PAR; i++) {
		ck_assert_msg(calls[i].status == 201 || calls[i].status == 200,
			      "concurrent start %d answered %d", i, calls[i].status);
		created += calls[i].status == 201;
		ck_assert_str_eq(calls[i].attempt_id, calls[0].attempt_id);
	}
	ck_assert_int_eq(created, 1);
	ck_assert_int_eq(
		db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1", s.sub), 1);
	user_free(&p);
	user_free(&s);
}
END_TEST

START_TEST(test_save_concurrent_versions)
{
	world w;
	par_call calls[PAR];
	int seen[PAR + 2] = {0};

	world_new(&w, "{\"title\":\"Save race\"}");
	memset(calls, 0, sizeof calls);
	for (int i = 0; i < PAR; i++) {
		calls[i].method = "PATCH";
		attempt_path(calls[i].path, sizeof calls[i].path, w.attempt_id, "save");
		calls[i].token = w.student.token;
		snprintf(calls[i].body, sizeof calls[i].body, "{\"answers\":{\"q%d\":%d}}", i, i);
	}
	par_all(calls, PAR);
	for (int i = 0; i < PAR; i++) {
		ck_assert_msg(calls[i].status == 200, "concurrent save %d answered %d", i,
			      calls[i].status);
		ck_assert_msg(calls[i].version >= 2 && calls[i].version <= PAR + 1,
			      "version %ld out of 2..%d", calls[i].version, PAR + 1);
		seen[calls[i].version]++;
	}
	/* Each save took exactly one version: 2..PAR+1, each once. */
	for (int v = 2; v <= PAR + 1; v++)
		ck_assert_msg(seen[v] == 1, "version %d answered %d times", v, seen[v]);
	db_expect_stored(
		w.attempt_id, PAR + 1,
		"{\"q0\":0,\"q1\":1,\"q2\":2,\"q3\":3,\"q4\":4,\"q5\":5,\"q6\":6,\"q7\":7}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_answers_limit)
{
	world w;
	char *body = fill_at("{\"answers\":{\"q1\":\"@\"}}", 'x', 300 * 1024);

	ck_assert_ptr_nonnull(body);
	world_new(&w, "{\"title\":\"Answers limit\"}");
	/* 300 KiB fits the 512 KiB of stored answers... */
	save_version(&w.student, w.attempt_id, body, NULL, 2);
	/* ...twice after the merge does not, though the body is under 1 MiB. */
	ck_assert_int_eq(memcmp(body + 12, "\"q1\"", 4), 0);
	body[14] = '2';
	save_refused(&w.student, w.attempt_id, body, NULL, 413, "payload_too_large");
	free(body);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts"
				 " WHERE attempt_id = $1 AND answers ? 'q2'",
				 w.attempt_id),
			 0);
	get_version(&w.student, w.attempt_id, "state", 2);
	world_free(&w);
}
END_TEST

/* Moves the attempt's clock back: started 2 h ago, deadline_ago_s ago. */
static void db_backdate(const char *attempt_id, int deadline_ago_s)
{
	char ago[32];

	snprintf(ago, sizeof ago, "%d", deadline_ago_s);
	db_exec("UPDATE attempts.attempts SET started_at = now() - interval '2 hours',"
		" deadline_at = now() - make_interval(secs => $2::int)"
		" WHERE attempt_id = $1",
		attempt_id, ago, 1);
}

START_TEST(test_save_in_grace)
{
	world w;
	const char *h[] = {"Cache-Control: no-cache", NULL};
	char path[128];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Grace\",\"time_limit_s\":600,\"grace_s\":3600}");
	db_backdate(w.attempt_id, 600);
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_req(&r, "GET", path, &w.student, NULL, h);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "in_progress");
	expect_num(o, "time_remaining_s", 0); /* never negative */
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"in grace\"}}", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	expect_num(o, "time_remaining_s", 0);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"in grace\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_past_deadline_closes)
{
	world w;
	resp r;
	const cJSON *o;
	char *v;

	world_new(&w, "{\"title\":\"Deadline\",\"time_limit_s\":600}");
	save_version(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"kept\"}}", NULL, 2);
	/* The workers' deadline sweep (every few seconds) may close it first;
	 * the next save is then attempt_submitted, which proves nothing here,
	 * so the deadline is set just before the save. */
	db_backdate(w.attempt_id, 3600);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"late\"}}", NULL);
	if (r.r.status == 409 && strstr(r.r.body, "attempt_submitted") != NULL) {
		/* Lost the race to the sweep: its closing is checked below. */
		fprintf(stderr, "test_save_past_deadline_closes: the sweep closed it first\n");
	} else {
		expect_error(&r, 409, "attempt_closed");
	}
	resp_free(&r);
	v = db_value("SELECT status || ',' || submit_reason || ',' || version"
		     " FROM attempts.attempts WHERE attempt_id = $1",
		     w.attempt_id);
	ck_assert_str_eq(v, "submitted,deadline,3");
	free(v);
	db_expect_answers(w.attempt_id, "{\"q1\":\"kept\"}");

	save_refused(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"later\"}}", NULL, 409,
		     "attempt_submitted");
	get_action(&r, &w.student, w.attempt_id, "info");
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "deadline");
	expect_null(o, "time_remaining_s");
	expect_num(o, "version", 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_state_etag)
{
	world w;
	char path[128], inm[64];
	const char *h[] = {inm, NULL};
	resp r;

	world_new(&w, "{\"title\":\"ETag\"}");
	get_action(&r, &w.student, w.attempt_id, "state");
	expect_ok(&r, 200);
	ck_assert_str_eq(http_client_header(&r.r, "ETag"), "\"1\"");
	resp_free(&r);
	attempt_path(path, sizeof path, w.attempt_id, "state");
	snprintf(inm, sizeof inm, "If-None-Match: \"1\"");
	send_req(&r, "GET", path, &w.student, NULL, h);
	ck_assert_int_eq(r.r.status, 304);
	ck_assert_int_eq(r.r.body_len, 0);
	resp_free(&r);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}");
	send_req(&r, "GET", path, &w.student, NULL, h);
	expect_num(expect_ok(&r, 200), "version", 2);
	ck_assert_str_eq(http_client_header(&r.r, "ETag"), "\"2\"");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* A one-shot local server for the client's own tests: listens on an
 * ephemeral port, accepts one connection in a child process, reads the
 * request (headers plus Content-Length bytes), and answers with canned
 * bytes; if canned is NULL it answers 200 with the raw request as body.
 * Returns the child's pid and sets *port. */
static pid_t one_shot_server(const char *canned, int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	ck_assert_int_ge(lfd, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char req[65536], head[128];
		size_t n = 0;
		int fd = accept(lfd, NULL, NULL);
		char *end = NULL;

		if (fd < 0)
			_exit(1);
		while (n < sizeof req - 1) {
			ssize_t r = read(fd, req + n, sizeof req - 1 - n);
			const char *cl;
			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			end = strstr(req, "\r\n\r\n");
			if (end == NULL)
				continue;
			cl = strstr(req, "Content-Length: ");
			if (cl == NULL || cl > end ||
			    n >= (size_t)(end + 4 - req) + strtoul(cl + 16, NULL, 10))
				break;
		}
		if (canned == NULL) {
			snprintf(head, sizeof head,
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
			if (write(fd, head, strlen(head)) < 0 || write(fd, req, n) < 0)
				_exit(1);
		} else if (write(fd, canned, strlen(canned)) < 0) {
			_exit(1);
		}
		close(fd);
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void one_shot_wait(pid_t pid)
{
	int st = 0;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int one_shot(const char *canned, const char *method, const char *body,
		    const char *const *headers, http_client_response *out)
{
	char url[64];
	int port, rc;
	pid_t pid = one_shot_server(canned, &port);

	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	rc = http_client_request(url, method, "/p?q=1", headers, body, body ? strlen(body) : 0,
				 out);
	one_shot_wait(pid);
	return rc;
}

START_TEST(test_client_request_shape)
{
	const char *h[] = {"X-One: 1", "Authorization: Bearer t", NULL};
	http_client_response r;

	ck_assert_int_eq(one_shot(NULL, "PATCH", "{\"a\":1}", h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strncmp(r.body, "PATCH /p?q=1 HTTP/1.1\r\n", 23) == 0, "%s", r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\r\nHost: 127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(r.body, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\r\nX-One: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\r\nAuthorization: Bearer t\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\r\nContent-Length: 7\r\n"));
	ck_assert_int_ge(r.body_len, 11);
	ck_assert_int_eq(memcmp(r.body + r.body_len - 11, "\r\n\r\n{\"a\":1}", 11), 0);
	http_client_response_free(&r);
	http_client_response_free(&r); /* twice is harmless */
	http_client_response_free(NULL);
}
END_TEST

/* one_shot of canned to method, asserting success with status and exactly
 * body (len bytes); the response stays in *r. */
static void canned_ok(const char *canned, const char *method, int status, const char *body,
		      size_t len, http_client_response *r)
{
	ck_assert_int_eq(one_shot(canned, method, NULL, NULL, r), 0);
	ck_assert_int_eq(r->status, status);
	ck_assert_str_eq(r->body, body);
	ck_assert_int_eq(r->body_len, len);
}

START_TEST(test_client_chunked)
{
	http_client_response r;

	canned_ok("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
		  "X-Test:  v1 \r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n"
		  "0\r\nTrailer: x\r\n\r\n",
		  "GET", 201, "hello, world", 12, &r);
	ck_assert_str_eq(http_client_header(&r, "x-test"), "v1");
	ck_assert_ptr_null(http_client_header(&r, "X-Absent"));
	ck_assert_ptr_nonnull(strstr(r.raw_headers, "Transfer-Encoding: chunked\r\n"));
	http_client_response_free(&r);
}
END_TEST

START_TEST(test_client_close_delimited_and_empty)
{
	http_client_response r;

	canned_ok("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", "GET", 200,
		  "until close", 11, &r);
	http_client_response_free(&r);
	canned_ok("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", "DELETE", 204, "", 0, &r);
	http_client_response_free(&r);
}
END_TEST

START_TEST(test_client_failures)
{
	http_client_response r;

	/* Content-Length promises more than arrives. */
	ck_assert_int_eq(
		one_shot("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "GET", NULL, NULL, &r),
		-1);
	ck_assert_msg(r.error[0] != '\0', "no error text");
	ck_assert_ptr_null(r.body);
	http_client_response_free(&r);
	/* Not HTTP at all. */
	ck_assert_int_eq(one_shot("SSH-2.0-OpenSSH\r\n\r\n", "GET", NULL, NULL, &r), -1);
	http_client_response_free(&r);
	ck_assert_int_eq(http_client_request("https://127.0.0.1:1", "GET", "/", NULL, NULL, 0, &r),
			 -1);
	http_client_response_free(&r);
}
END_TEST

/* ============================================================ runner */

void e2e_more_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "http_client", 60, test_client_request_shape, test_client_chunked,
		      test_client_close_delimited_and_empty, test_client_failures);
	E2E_ADD_TESTS(s, "exams", 60, test_exam_timestamps_in_utc, test_exam_create_out_of_range);
	E2E_ADD_TESTS(s, "start", 60, test_start_open_window, test_start_concurrent_one_created);
	E2E_ADD_TESTS(s, "state", 60, test_state_etag);
	E2E_ADD_TESTS(s, "save", 60, test_save_concurrent_versions, test_save_answers_limit,
		      test_save_in_grace, test_save_past_deadline_closes);
}
