/* check_e2e_exams: health and readiness, the request id, and creating,
 * listing and reading exams and an exam's statistics.
 * Part of check_e2e (see check_e2e.c). */
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

/* The probes answer 200 with these members, without a token; health
 * needs no token, so a bad one is no reason to refuse. */
static const struct probe_case {
	const char *path;
	const char *token;	 /* sent as Bearer (NULL: none) */
	const char *members[10]; /* name, value, ... */
} probe_cases[] = {
	{"/api/health", NULL, {"status", "ok", "db", "ok", "breaker", "closed"}},
	{"/api/health", "garbage", {"status", "ok"}},
	{"/api/ready",
	 NULL,
	 {"status", "ready", "db", "ok", "listener", "connected", "breaker", "closed"}},
};

START_TEST(test_probe_ok)
{
	const struct probe_case *c = &probe_cases[_i];
	resp r;
	const cJSON *o;

	send_raw(&r, "GET", c->path, c->token, NULL, 0, NULL);
	o = expect_ok(&r, 200);
	for (size_t k = 0; k + 1 < sizeof c->members / sizeof c->members[0] && c->members[k];
	     k += 2)
		expect_str(o, c->members[k], c->members[k + 1]);
	resp_free(&r);
}
END_TEST

/* HEAD on both probes: the GET's status and headers, no body. */
START_TEST(test_probes_head)
{
	static const char *const paths[] = {"/api/health", "/api/ready"};
	resp r;

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		send_req(&r, "HEAD", paths[i], NULL, NULL, NULL);
		ck_assert_msg(r.r.status == 200, "HEAD %s: %d", paths[i], r.r.status);
		ck_assert_uint_eq(r.r.body_len, 0);
		ck_assert_msg(atoi(http_client_header(&r.r, "Content-Length")) > 0,
			      "HEAD %s: Content-Length of the GET's body", paths[i]);
		resp_free(&r);
	}
	refused("POST", "/api/ready", NULL, NULL, 405, "method_not_allowed");
}
END_TEST

START_TEST(test_request_id_generated)
{
	resp r1, r2;

	send_req(&r1, "GET", "/api/health", NULL, NULL, NULL);
	send_req(&r2, "GET", "/api/health", NULL, NULL, NULL);
	expect_request_id(&r1);
	expect_request_id(&r2);
	ck_assert_str_ne(http_client_header(&r1.r, "X-Request-Id"),
			 http_client_header(&r2.r, "X-Request-Id"));
	resp_free(&r1);
	resp_free(&r2);
}
END_TEST

/* A client's X-Request-Id is echoed when it is 1..128 characters of
 * [A-Za-z0-9._-]; otherwise it is replaced (not truncated, not cut at the
 * space) by one of the service's own. '@' stands for n copies of fill. */
static const struct request_id_case {
	const char *tmpl;
	char fill;
	size_t n;
	int echoed;
	const char *not_also; /* a replaced id is not this either (NULL: none) */
} request_id_cases[] = {
	{"abc-123", 0, 0, 1, NULL},
	{"Z._@9", 'a', 124, 1, NULL},
	{"abc 123", 0, 0, 0, "abc"},
	{"@", 'b', 200, 0, NULL},
};

START_TEST(test_request_id_sent)
{
	const struct request_id_case *c = &request_id_cases[_i];
	char *id = fill_at(c->tmpl, c->fill, c->n), line[240];
	const char *h[] = {line, NULL}, *got;
	resp r;

	ck_assert_ptr_nonnull(id);
	snprintf(line, sizeof line, "X-Request-Id: %s", id);
	send_req(&r, "GET", "/api/health", NULL, NULL, h);
	expect_ok(&r, 200);
	got = http_client_header(&r.r, "X-Request-Id");
	if (c->echoed) {
		ck_assert_str_eq(got, id);
	} else {
		expect_request_id(&r);
		ck_assert_int_ne(strncmp(got, id, 128), 0);
		if (c->not_also != NULL)
			ck_assert_str_ne(got, c->not_also);
	}
	resp_free(&r);
	free(id);
}
END_TEST

START_TEST(test_request_id_on_errors)
{
	const char *h[] = {"X-Request-Id: err.req_1", NULL};
	resp r;

	send_req(&r, "GET", "/api/nothing", NULL, NULL, h);
	expect_error(&r, 404, "not_found");
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "err.req_1");
	resp_free(&r);
	send_req(&r, "POST", "/api/exams", NULL, "{\"title\":\"x\"}", h);
	expect_unauthorized(&r);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "err.req_1");
	resp_free(&r);
}
END_TEST

static const char *const default_types =
	"[\"application/pdf\",\"image/png\",\"image/jpeg\",\"text/plain\"]";

START_TEST(test_exam_create_defaults)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const cJSON *o, *up;

	send_req(&r, "POST", "/api/exams", &p, "{\"title\":\"Algebra I\"}", NULL);
	o = expect_ok(&r, 201);
	expect_uuid(o, "exam_id");
	expect_str(o, "title", "Algebra I");
	expect_null(o, "time_limit_s");
	expect_num(o, "grace_s", 0);
	expect_num(o, "max_attempts", 1);
	expect_null(o, "opens_at");
	expect_null(o, "closes_at");
	up = jget(o, "upload");
	ck_assert(cJSON_IsObject(up));
	expect_num(up, "max_bytes", 10485760);
	expect_json_eq(up, "allowed_types", default_types);
	resp_free(&r);
	user_free(&p);
}
END_TEST

START_TEST(test_exam_create_all_fields)
{
	user a = user_new(AUTH_ROLE_ADMIN);
	resp r;
	const cJSON *o;

	send_req(&r, "POST", "/api/exams", &a,
		 "{\"title\":\"Physics\",\"time_limit_s\":1800,\"grace_s\":30,"
		 "\"max_attempts\":3,\"opens_at\":\"2020-01-01T00:00:00Z\","
		 "\"closes_at\":\"2099-01-01T00:00:00Z\","
		 "\"upload\":{\"max_bytes\":4096,\"allowed_types\":[\"text/plain\"]}}",
		 NULL);
	o = expect_ok(&r, 201);
	expect_str(o, "title", "Physics");
	expect_num(o, "time_limit_s", 1800);
	expect_num(o, "grace_s", 30);
	expect_num(o, "max_attempts", 3);
	expect_ts(o, "opens_at");
	ck_assert_int_eq(strncmp(jstr(o, "opens_at"), "2020-01-01T00:00:00", 19), 0);
	expect_ts(o, "closes_at");
	ck_assert_int_eq(strncmp(jstr(o, "closes_at"), "2099-01-01T00:00:00", 19), 0);
	expect_num(jget(o, "upload"), "max_bytes", 4096);
	expect_json_eq(jget(o, "upload"), "allowed_types", "[\"text/plain\"]");
	resp_free(&r);
	user_free(&a);
}
END_TEST

START_TEST(test_exam_get_any_role)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	user readers[3];
	char id[UUID_STR_LEN + 1], path[96];
	resp r;
	const cJSON *o;

	readers[0] = user_new(AUTH_ROLE_STUDENT);
	readers[1] = user_new(AUTH_ROLE_PROCTOR);
	readers[2] = user_new(AUTH_ROLE_ADMIN);
	exam_create(&p, "{\"title\":\"Readable\",\"time_limit_s\":60,\"max_attempts\":2}", id);
	snprintf(path, sizeof path, "/api/exams/%s", id);
	for (int i = 0; i < 3; i++) {
		send_req(&r, "GET", path, &readers[i], NULL, NULL);
		o = expect_ok(&r, 200);
		expect_str(o, "exam_id", id);
		expect_str(o, "title", "Readable");
		expect_num(o, "time_limit_s", 60);
		expect_num(o, "grace_s", 0);
		expect_num(o, "max_attempts", 2);
		expect_null(o, "opens_at");
		expect_null(o, "closes_at");
		expect_num(jget(o, "upload"), "max_bytes", 10485760);
		resp_free(&r);
		user_free(&readers[i]);
	}
	user_free(&p);
}
END_TEST

/* A partial upload object: the other member keeps its default. */
static const struct partial_upload {
	const char *body;
	double max_bytes;
	const char *allowed_types; /* NULL: the default types */
} partial_uploads[] = {
	{"{\"title\":\"Partial 1\",\"upload\":{\"max_bytes\":2048}}", 2048, NULL},
	{"{\"title\":\"Partial 2\",\"upload\":{\"allowed_types\":[\"image/png\"]}}", 10485760,
	 "[\"image/png\"]"},
};

START_TEST(test_exam_create_partial_upload)
{
	const struct partial_upload *c = &partial_uploads[_i];
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const cJSON *o;

	send_req(&r, "POST", "/api/exams", &p, c->body, NULL);
	o = expect_ok(&r, 201);
	expect_num(jget(o, "upload"), "max_bytes", c->max_bytes);
	expect_json_eq(jget(o, "upload"), "allowed_types",
		       c->allowed_types ? c->allowed_types : default_types);
	resp_free(&r);
	user_free(&p);
}
END_TEST

/* A create refused with 422 validation_failed naming the field. */
static const struct exam_field_case {
	const char *body, *field;
} exam_field_cases[] = {
	{"{\"time_limit_s\":60}", "title"},
	{"{\"title\":42}", "title"},
	{"{\"title\":\"T\",\"time_limit_s\":\"x\"}", "time_limit_s"},
	{"{\"title\":\"T\",\"max_attempts\":\"2\"}", "max_attempts"},
	{"{\"title\":\"T\",\"upload\":{\"max_bytes\":\"big\"}}", "upload.max_bytes"},
};

START_TEST(test_exam_create_field_refused)
{
	exam_create_expect_field(exam_field_cases[_i].body, exam_field_cases[_i].field);
}
END_TEST

/* Without a token: 401 with a Bearer challenge. */
static const struct no_token_case {
	const char *method, *path, *body;
} no_token_cases[] = {
	{"POST", "/api/exams", "{\"title\":\"x\"}"},
	{"GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL},
};

START_TEST(test_exam_no_token)
{
	resp r;

	send_req(&r, no_token_cases[_i].method, no_token_cases[_i].path, NULL,
		 no_token_cases[_i].body, NULL);
	expect_unauthorized(&r);
	resp_free(&r);
}
END_TEST

START_TEST(test_exam_create_student_forbidden)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	refused("POST", "/api/exams", &s, "{\"title\":\"Nope\"}", 403, "forbidden");
	ck_assert_int_eq(
		db_long("SELECT count(*) FROM attempts.exams WHERE created_by = $1", s.sub), 0);
	user_free(&s);
}
END_TEST

START_TEST(test_exam_create_invalid_json)
{
	user p = user_new(AUTH_ROLE_PROCTOR);

	refused("POST", "/api/exams", &p, "{\"title\": \"x\"", 400, "invalid_json");
	refused("POST", "/api/exams", &p, "", 400, "invalid_json");
	/* Valid JSON of the wrong type is a validation error, not invalid_json. */
	refused("POST", "/api/exams", &p, "[{\"title\":\"x\"}]", 422, "validation_failed");
	user_free(&p);
}
END_TEST

START_TEST(test_exam_get_unknown)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	char id[UUID_STR_LEN + 1], path[96];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	snprintf(path, sizeof path, "/api/exams/%s", id);
	refused("GET", path, &s, NULL, 404, "not_found");
	user_free(&s);
}
END_TEST

START_TEST(test_exam_get_invalid_uuid)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	refused("GET", "/api/exams/not-a-uuid", &s, NULL, 400, "invalid_uuid");
	/* The canonical form is lowercase only. */
	refused("GET", "/api/exams/ABCDEF00-0000-4000-8000-00000000000A", &s, NULL, 400,
		"invalid_uuid");
	user_free(&s);
}
END_TEST

/* GET /api/exams: staff only, newest first, a page at a time. */
START_TEST(test_exam_list)
{
	user p = user_new(AUTH_ROLE_PROCTOR), a = user_new(AUTH_ROLE_ADMIN);
	user s = user_new(AUTH_ROLE_STUDENT);
	char first[ID_LEN], second[ID_LEN], path[160];
	const cJSON *exams, *o;
	resp r;

	exam_create(&p, "{\"title\":\"Listed first\"}", first);
	exam_create(&p, "{\"title\":\"Listed second\"}", second);
	send_req(&r, "GET", "/api/exams?limit=2", &a, NULL, NULL);
	exams = jget(expect_ok(&r, 200), "exams");
	ck_assert_int_eq(cJSON_GetArraySize(exams), 2);
	o = cJSON_GetArrayItem(exams, 0);
	expect_str(o, "exam_id", second);
	expect_str(o, "title", "Listed second");
	expect_ts(o, "created_at");
	expect_str(cJSON_GetArrayItem(exams, 1), "exam_id", first);
	/* the next page starts before the last item */
	snprintf(path, sizeof path, "/api/exams?limit=1&before=%s",
		 jstr(cJSON_GetArrayItem(exams, 0), "created_at"));
	resp_free(&r);
	send_req(&r, "GET", path, &p, NULL, NULL);
	exams = jget(expect_ok(&r, 200), "exams");
	ck_assert_int_eq(cJSON_GetArraySize(exams), 1);
	expect_str(cJSON_GetArrayItem(exams, 0), "exam_id", first);
	resp_free(&r);
	refused("GET", "/api/exams", &s, NULL, 403, "forbidden");
	refused("GET", "/api/exams?limit=0", &p, NULL, 422, "validation_failed");
	refused("GET", "/api/exams?limit=x", &p, NULL, 422, "validation_failed");
	refused("GET", "/api/exams?before=yesterday", &p, NULL, 422, "validation_failed");
	send_req(&r, "GET", "/api/exams", NULL, NULL, NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&p);
	user_free(&a);
	user_free(&s);
}
END_TEST

/* /api/exams/{id}/stats and /active answer what ?action=stats&type=stats
 * and type=active answer for the exam. */
START_TEST(test_exam_stats_paths)
{
	static const char *const types[] = {"stats", "active"};
	world w;
	char path[160], query[200];
	resp r1, r2;

	world_new(&w, "{\"title\":\"Stats paths\",\"time_limit_s\":3600}");
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "/api/exams/%s/%s", w.exam_id, types[i]);
		snprintf(query, sizeof query, "/api/attempts/%s?action=stats&type=%s&exam_id=%s",
			 w.attempt_id, types[i], w.exam_id);
		send_req(&r1, "GET", path, &w.proctor, NULL, NULL);
		send_req(&r2, "GET", query, &w.proctor, NULL, NULL);
		expect_ok(&r1, 200);
		expect_ok(&r2, 200);
		expect_str(r1.json, "exam_id", w.exam_id);
		ck_assert_msg(cJSON_Compare(r1.json, r2.json, 1), "%s: %s != %s", path, r1.r.body,
			      r2.r.body);
		resp_free(&r1);
		resp_free(&r2);
		refused("GET", path, &w.student, NULL, 403, "forbidden");
	}
	refused("GET", "/api/exams/00000000-0000-4000-8000-0000000000aa/stats", &w.proctor, NULL,
		404, "not_found");
	refused("GET", "/api/exams/not-a-uuid/active", &w.proctor, NULL, 400, "invalid_uuid");
	refused("GET", "/api/exams/00000000-0000-4000-8000-0000000000aa/other", &w.proctor, NULL,
		404, "not_found");
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void e2e_exams_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "health", 60, E2E_LOOP(test_probe_ok, probe_cases), test_probes_head,
		      test_request_id_generated, E2E_LOOP(test_request_id_sent, request_id_cases),
		      test_request_id_on_errors);
	E2E_ADD_TESTS(s, "exams", 60, test_exam_create_defaults, test_exam_create_all_fields,
		      test_exam_get_any_role,
		      E2E_LOOP(test_exam_create_partial_upload, partial_uploads),
		      test_exam_create_student_forbidden,
		      E2E_LOOP(test_exam_create_field_refused, exam_field_cases),
		      test_exam_create_invalid_json, E2E_LOOP(test_exam_no_token, no_token_cases),
		      test_exam_get_unknown, test_exam_get_invalid_uuid, test_exam_list,
		      test_exam_stats_paths);
}
