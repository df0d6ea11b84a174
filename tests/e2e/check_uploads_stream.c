/* check_uploads_stream: uploads spoken over raw sockets: chunked bodies,
 * and what nginx refuses before it reads the body (no token, someone
 * else's attempt, over the limit, a malformed chunk, too many at once per
 * caller) without keeping its bytes. */
#include <check.h>
#include <cJSON.h>
#include <errno.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_uploads.h"

/* ============================================================ chunked bodies */

/* A TCP connection to the stack (g_url), with send and receive timeouts. */
static int raw_connect(char *host, size_t host_cap)
{
	char port[16];
	const char *p = g_url + 7, *colon = strchr(p, ':');
	struct addrinfo hints, *res = NULL;
	struct timeval tv = {HTTP_CLIENT_TIMEOUT_S, 0};
	int fd;

	ck_assert_msg(strncmp(g_url, "http://", 7) == 0 && colon != NULL, "URL %s", g_url);
	snprintf(host, host_cap, "%.*s", (int)(colon - p), p);
	snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	ck_assert_int_eq(getaddrinfo(host, port, &hints, &res), 0);
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	ck_assert_int_eq(connect(fd, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	return fd;
}

/* Reads one HTTP answer from fd (up to its Content-Length, else to the
 * end of the connection) and closes fd. Returns the status; *body gets the
 * body (malloc'd, de-chunked), *head (when head is not NULL) the header
 * lines (malloc'd). */
static int raw_read_answer(int fd, char **body, char **head)
{
	char *in = NULL, *hend = NULL, *out, *q, *cl;
	size_t len = 0, cap = 0, olen = 0;
	int status;

	for (;;) {
		ssize_t got;

		if (len + 4096 + 1 > cap) {
			char *d = realloc(in, cap += 65536);
			ck_assert_ptr_nonnull(d);
			in = d;
		}
		got = recv(fd, in + len, cap - len - 1, 0);
		if (got <= 0)
			break;
		len += (size_t)got;
		in[len] = '\0';
		if (hend == NULL)
			hend = strstr(in, "\r\n\r\n");
		cl = hend ? strcasestr(in, "\r\ncontent-length:") : NULL;
		if (cl != NULL && cl < hend &&
		    len >= (size_t)(hend + 4 - in) + strtoul(cl + 17, NULL, 10))
			break;
	}
	close(fd);
	ck_assert_msg(in != NULL && len > 12, "no answer");
	in[len] = '\0';
	status = atoi(in + 9);
	hend = strstr(in, "\r\n\r\n");
	ck_assert_ptr_nonnull(hend);
	*hend = '\0';
	q = hend + 4;
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	if (strcasestr(in, "\r\ntransfer-encoding: chunked") != NULL) {
		for (;;) {
			char *end;
			unsigned long k = strtoul(q, &end, 16);

			if (end == q || k == 0)
				break;
			q = strstr(end, "\r\n");
			ck_assert_ptr_nonnull(q);
			q += 2;
			memcpy(out + olen, q, k);
			olen += k;
			q += k + 2;
		}
	} else {
		olen = len - (size_t)(q - in);
		memcpy(out, q, olen);
	}
	out[olen] = '\0';
	if (head != NULL) {
		*head = strdup(in);
		ck_assert_ptr_nonnull(*head);
	}
	free(in);
	*body = out;
	return status;
}

/* Connects to the stack and sends the head of a POST of path: Host,
 * Connection: close, the token (NULL: none), the header lines headers
 * (each ending in CRLF), the blank line, then tail. Returns the socket. */
static int raw_post_open(const char *path, const char *token, const char *headers, const char *tail)
{
	char host[128], auth[AUTH_MAX_TOKEN_LEN + 32], head[8192];
	int fd = raw_connect(host, sizeof host);

	auth[0] = '\0';
	if (token != NULL)
		snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
	snprintf(head, sizeof head,
		 "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s\r\n%s", path, host,
		 auth, headers, tail);
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	return fd;
}

/* Without Content-Length the size is only known once the body is read: the
 * exam's limit is enforced on the stored bytes. A raw HTTP/1.1 exchange
 * with a chunked body; returns the status, the body in *body (malloc'd). */
static int raw_chunked_upload(const char *path, const char *token, const char *type,
			      const unsigned char *data, size_t n, char **body)
{
	char headers[256];
	int fd;

	snprintf(headers, sizeof headers, "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n",
		 type);
	fd = raw_post_open(path, token, headers, "");
	for (size_t off = 0; off < n; off += 700) {
		size_t k = n - off < 700 ? n - off : 700;
		char sz[32];

		snprintf(sz, sizeof sz, "%zx\r\n", k);
		if (send(fd, sz, strlen(sz), MSG_NOSIGNAL) < 0 ||
		    send(fd, data + off, k, MSG_NOSIGNAL) < 0 ||
		    send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
			break; /* nginx may answer early; read what it said */
	}
	(void)send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	return raw_read_answer(fd, body, NULL);
}

START_TEST(test_upload_chunked)
{
	world w;
	unsigned char *data = random_bytes(2048);
	char path[256], hex[65], *body = NULL;
	snapshot s;
	cJSON *j;
	int status;

	world_new(&w, EXAM_1KIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=chunked.pdf",
		 w.attempt_id);
	/* Within the limit. */
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 1000, &body);
	ck_assert_msg(status == 201, "chunked upload within the limit: %d %s", status, body);
	j = cJSON_Parse(body);
	sha256_hex(data, 1000, hex);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	expect_str(j, "sha256", hex);
	ck_assert_int_eq((long)jnum(j, "size_bytes"), 1000);
	expect_stored(jstr(j, "upload_id"), data, 1000);
	cJSON_Delete(j);
	free(body);
	/* Over it: refused after reading, nothing kept. */
	s = snap_take();
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 2048, &body);
	ck_assert_msg(status == 413, "chunked upload over the limit: %d %s", status, body);
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL && strstr(body, "\"payload_too_large\"") != NULL,
		      "chunked 413 body: %s", body);
	cJSON_Delete(j);
	free(body);
	snap_expect_same(&s, "chunked upload over the limit");
	/* Past nginx's upload location (an escaped action): refused before
	 * anything is stored. The streamed path itself is tested under Apache
	 * (tests/deploy/apache_test.sh). */
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&filename=chunked.pdf",
		 w.attempt_id);
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 2048, &body);
	ck_assert_msg(status == 400 && strstr(body, "\"invalid_query\"") != NULL,
		      "chunked upload with an escaped action: %d %s", status, body);
	free(body);
	snap_expect_same(&s, "chunked upload with an escaped action");
	snap_free(&s);
	free(data);
	world_free(&w);
}
END_TEST

/* ============================================================ checked before the body */

/* Issue 14: nginx asks a worker whether it takes an upload before it reads
 * the body (auth_request; API.md §3 "a refused upload never reaches the
 * disk"). */

#define MIB (1024LL * 1024)
#define BIG_UPLOAD (300 * MIB)
/* nginx/attempts.conf, @attempts_upload_body: limit_conn per caller. */
#define UPLOADS_PER_CALLER 6

/* The bytes in nginx's client-body temp directory now. */
static long long body_temp_bytes(void)
{
	DIR *d = opendir(g_body_temp_dir);
	struct dirent *e;
	long long total = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", g_body_temp_dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[8192];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", g_body_temp_dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (long long)st.st_size;
	}
	closedir(d);
	return total;
}

/* Opens a POST of path with Content-Length: total (token NULL: none) and
 * sends its head; returns the socket. */
static int raw_upload_open(const char *path, const char *token, const char *type, long long total)
{
	char headers[256];

	snprintf(headers, sizeof headers,
		 "X-Request-Id: e2e-stream\r\nContent-Type: %s\r\nContent-Length: %lld\r\n", type,
		 total);
	return raw_post_open(path, token, headers, "");
}

/* POSTs total zero bytes to path, generated as they go (never held), for
 * as long as nginx takes them and it has not answered; samples the temp
 * directory once per MiB sent and at the end. Returns the status; *peak
 * gets the most bytes the temp directory held, *body and *head the
 * answer's body and header lines (malloc'd). */
static int stream_upload(const char *path, const char *token, const char *type, long long total,
			 long long *peak, char **body, char **head)
{
	static const char zeros[65536];
	int fd = raw_upload_open(path, token, type, total);
	long long sent = 0, most = body_temp_bytes(), now, next_sample = MIB;

	while (sent < total) {
		struct pollfd p = {fd, POLLIN | POLLOUT, 0};
		size_t k = total - sent < (long long)sizeof zeros ? (size_t)(total - sent)
								  : sizeof zeros;
		ssize_t n;

		if (poll(&p, 1, HTTP_CLIENT_TIMEOUT_S * 1000) <= 0)
			break; /* nginx neither reads nor answers: read what it says */
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			break; /* it answered before the body */
		n = send(fd, zeros, k, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (n < 0)
			break;
		sent += n;
		if (sent >= next_sample) {
			now = body_temp_bytes();
			most = now > most ? now : most;
			next_sample += MIB;
		}
	}
	now = body_temp_bytes();
	*peak = now > most ? now : most;
	return raw_read_answer(fd, body, head);
}

/* POSTs 300 MiB to w's attempt as token (NULL: none) with type: refused
 * with status before nginx takes the body, nothing stored. Returns the
 * answer's body (malloc'd). */
static char *refused_early(const world *w, const char *token, const char *type, int status,
			   const char *what)
{
	snapshot s;
	char path[256], *body, *head;
	long long peak;
	int got;

	ck_assert_msg(access(g_body_temp_dir, R_OK | X_OK) == 0, "cannot read %s: %s",
		      g_body_temp_dir, strerror(errno));
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=big.pdf",
		 w->attempt_id);
	s = snap_take();
	got = stream_upload(path, token, type, BIG_UPLOAD, &peak, &body, &head);
	ck_assert_msg(got == status, "%s: status %d, want %d; %s", what, got, status, body);
	ck_assert_msg(peak < MIB,
		      "%s: nginx's temp directory held %lld bytes of the body it refused", what,
		      peak);
	ck_assert_msg(strcasestr(head, "\r\nX-Request-Id: e2e-stream") != NULL,
		      "%s: no X-Request-Id in\n%s", what, head);
	ck_assert_msg(strcasestr(head, "\r\nContent-Type: application/json") != NULL,
		      "%s: not JSON:\n%s", what, head);
	if (status == 401)
		ck_assert_msg(strcasestr(head, "\r\nWWW-Authenticate: Bearer") != NULL,
			      "401 without WWW-Authenticate: Bearer:\n%s", head);
	free(head);
	snap_expect_same(&s, what);
	snap_free(&s);
	return body;
}

/* The body of what the worker answers to GET ?action=uploads of attempt_id
 * as u (NULL: no token), which nginx passes untouched; the caller frees it. */
static char *worker_refusal(const char *attempt_id, const user *u, int status, const char *code)
{
	char path[192], *body;
	resp r;

	snprintf(path, sizeof path, "/api/attempts/%s?action=uploads", attempt_id);
	send_req(&r, "GET", path, u, NULL, NULL);
	expect_error(&r, status, code);
	body = strdup(r.r.body);
	ck_assert_ptr_nonnull(body);
	resp_free(&r);
	return body;
}

/* 300 MiB without a token: 401 before the body, exactly the worker's 401. */
START_TEST(test_upload_no_token_refused_before_body)
{
	world w;
	char *body, *want;

	world_new(&w, EXAM_1MIB);
	body = refused_early(&w, NULL, "application/pdf", 401, "no token");
	want = worker_refusal(w.attempt_id, NULL, 401, "unauthorized");
	ck_assert_str_eq(body, want);
	free(want);
	free(body);
	world_free(&w);
}
END_TEST

/* 300 MiB into another student's attempt: 404 before the body, exactly as
 * the worker answers a missing attempt. */
START_TEST(test_upload_foreign_attempt_refused_before_body)
{
	world w;
	char *body, *want;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	body = refused_early(&w, w.other.token, "application/pdf", 404, "another's attempt");
	want = worker_refusal(w.attempt_id, &w.other, 404, "not_found");
	ck_assert_str_eq(body, want);
	free(want);
	free(body);
	world_free(&w);
}
END_TEST

/* 300 MiB over the exam's 1 MiB (by Content-Length), or of a type the exam
 * does not take: 413 and 415 before the body. */
START_TEST(test_upload_over_limit_refused_before_body)
{
	world w;
	char *body;
	cJSON *j;

	world_new(&w, EXAM_1MIB);
	body = refused_early(&w, w.student.token, "application/pdf", 413, "over the limit");
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	expect_str(jget(j, "error"), "code", "payload_too_large");
	ck_assert(jnum(jget(jget(j, "error"), "details"), "limit") == (double)MIB);
	cJSON_Delete(j);
	free(body);
	body = refused_early(&w, w.student.token, "image/gif", 415, "a type not allowed");
	ck_assert_msg(strstr(body, "\"unsupported_media_type\"") != NULL, "415 body %s", body);
	free(body);
	world_free(&w);
}
END_TEST

/* A permitted upload streamed the same way is stored and served. */
START_TEST(test_upload_streamed_within_limit)
{
	world w;
	char path[256], id[ID_LEN], *body, *head;
	unsigned char *zeros = calloc(1, MIB / 2);
	long long peak;
	int status;
	cJSON *j;

	ck_assert_ptr_nonnull(zeros);
	world_new(&w, EXAM_1MIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=half.pdf",
		 w.attempt_id);
	status = stream_upload(path, w.student.token, "application/pdf", MIB / 2, &peak, &body,
			       &head);
	ck_assert_msg(status == 201, "a permitted upload: status %d, want 201; %s", status, body);
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	ck_assert(jnum(j, "size_bytes") == (double)(MIB / 2));
	memcpy(id, jstr(j, "upload_id"), ID_LEN);
	cJSON_Delete(j);
	expect_stored(id, zeros, MIB / 2);
	download_ok(&w.student, w.attempt_id, id, "application/pdf", zeros, MIB / 2);
	expect_no_body_temp("after a permitted upload");
	free(body);
	free(head);
	free(zeros);
	world_free(&w);
}
END_TEST

/* POSTs an upload to attempt_id (token NULL: none) whose chunked body is
 * malformed ("zz" for a chunk size); returns the status, *body the
 * answer's body (malloc'd). */
static int malformed_chunk_upload(const char *attempt_id, const char *token, const char *type,
				  char **body)
{
	char path[160], headers[256];

	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=a.pdf", attempt_id);
	snprintf(headers, sizeof headers, "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n",
		 type);
	return raw_read_answer(raw_post_open(path, token, headers, "zz\r\n"), body, NULL);
}

/* Refused before its body, a chunked upload whose body turns out malformed
 * when nginx discards it answers 400 in JSON, as the same body accepted
 * does. */
START_TEST(test_upload_refused_malformed_chunk)
{
	world w;
	char *body;
	int status;

	world_new(&w, EXAM_1MIB);
	status = malformed_chunk_upload(w.attempt_id, NULL, "application/pdf", &body);
	ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
		      "malformed chunk, no token: %d %s", status, body);
	free(body);
	status = malformed_chunk_upload(w.attempt_id, w.student.token, "image/gif", &body);
	ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
		      "malformed chunk, a type not allowed: %d %s", status, body);
	free(body);
	world_free(&w);
}
END_TEST

/* At most UPLOADS_PER_CALLER uploads of one caller at once (keyed by the
 * token's sub, not the address, which an exam hall shares): the next one
 * answers 429 in JSON; another student from the same address still
 * uploads. */
START_TEST(test_upload_concurrency_per_caller)
{
	static const char part[65536];
	world w;
	int held[UPLOADS_PER_CALLER];
	size_t n = 0;
	char path[256];
	resp r;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	ck_assert_msg(access(g_body_temp_dir, R_OK | X_OK) == 0, "cannot read %s: %s",
		      g_body_temp_dir, strerror(errno));
	/* Bodies that stop half way hold their slots (and a temp file each,
	 * past nginx's body buffer). */
	for (int i = 0; i < UPLOADS_PER_CALLER; i++) {
		snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=held%d.pdf",
			 w.attempt_id, i);
		held[i] = raw_upload_open(path, w.student.token, "application/pdf", MIB);
		ck_assert(send(held[i], part, sizeof part, MSG_NOSIGNAL) == (ssize_t)sizeof part);
	}
	for (int i = 0; i < 200; i++) {
		free(dir_listing(g_body_temp_dir, &n));
		if (n >= UPLOADS_PER_CALLER)
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(n == UPLOADS_PER_CALLER, "%zu of %d held uploads reached nginx's body files",
		      n, UPLOADS_PER_CALLER);
	upload(&r, &w.student, w.attempt_id, "one-more.pdf", "application/pdf", "%PDF-1.4", 8);
	expect_error(&r, 429, "too_many_requests");
	ck_assert_msg(http_client_header(&r.r, "Retry-After") != NULL, "429 without Retry-After");
	resp_free(&r);
	{
		/* One more whose body is malformed: the client's 400, in JSON. */
		char *body;
		int status = malformed_chunk_upload(w.attempt_id, w.student.token,
						    "application/pdf", &body);

		ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
			      "over the limit with a malformed chunk: %d %s", status, body);
		free(body);
	}
	upload_ok(&w.other, w.other_attempt_id, "other.pdf", "other.pdf", "application/pdf",
		  "%PDF-1.4", 8, NULL);
	for (int i = 0; i < UPLOADS_PER_CALLER; i++)
		close(held[i]);
	expect_no_body_temp("after the held uploads");
	/* The slots are free again. */
	upload_ok(&w.student, w.attempt_id, "after.pdf", "after.pdf", "application/pdf", "%PDF-1.4",
		  8, NULL);
	world_free(&w);
}
END_TEST

void uploads_stream_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "refusals", 60, test_upload_chunked);
	E2E_ADD_TESTS(s, "before_body", 120, test_upload_no_token_refused_before_body,
		      test_upload_foreign_attempt_refused_before_body,
		      test_upload_over_limit_refused_before_body, test_upload_streamed_within_limit,
		      test_upload_refused_malformed_chunk, test_upload_concurrency_per_caller);
}
