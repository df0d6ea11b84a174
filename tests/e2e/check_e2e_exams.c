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

START_TEST(test_health_ok)
{
	resp r;
	const cJSON *o;

	send_req(&r, "GET", "/api/health", NULL, NULL, NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "ok");
	expect_str(o, "db", "ok");
	expect_str(o, "breaker", "closed");
	resp_free(&r);
}
END_TEST

START_TEST(test_health_ignores_token)
{
	resp r;

	/* No token is needed, so a bad one is no reason to refuse. */
	send_raw(&r, "GET", "/api/health", "garbage", NULL, 0, NULL);
	expect_str(expect_ok(&r, 200), "status", "ok");
	resp_free(&r);
}
END_TEST

START_TEST(test_ready_ok)
{
	resp r;
	const cJSON *o;

	send_req(&r, "GET", "/api/ready", NULL, NULL, NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "ready");
	expect_str(o, "db", "ok");
	expect_str(o, "listener", "connected");
	expect_str(o, "breaker", "closed");
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

START_TEST(test_request_id_echoed)
{
	const char *h[] = {"X-Request-Id: abc-123", NULL};
	resp r;

	send_req(&r, "GET", "/api/health", NULL, NULL, h);
	expect_ok(&r, 200);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "abc-123");
	resp_free(&r);
}
END_TEST

START_TEST(test_request_id_128_echoed)
{
	char id[129], line[160];
	const char *h[] = {line, NULL};
	resp r;

	memset(id, 'a', 128);
	id[0] = 'Z';
	id[1] = '.';
	id[2] = '_';
	id[127] = '9';
	id[128] = '\0';
	snprintf(line, sizeof line, "X-Request-Id: %s", id);
	send_req(&r, "GET", "/api/health", NULL, NULL, h);
	expect_ok(&r, 200);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), id);
	resp_free(&r);
}
END_TEST

START_TEST(test_request_id_space_replaced)
{
	const char *h[] = {"X-Request-Id: abc 123", NULL};
	resp r;

	send_req(&r, "GET", "/api/health", NULL, NULL, h);
	expect_ok(&r, 200);
	expect_request_id(&r);
	ck_assert_str_ne(http_client_header(&r.r, "X-Request-Id"), "abc 123");
	ck_assert_str_ne(http_client_header(&r.r, "X-Request-Id"), "abc");
	resp_free(&r);
}
END_TEST

START_TEST(test_request_id_too_long_replaced)
{
	char id[201], line[240];
	const char *h[] = {line, NULL};
	resp r;

	memset(id, 'b', 200);
	id[200] = '\0';
	snprintf(line, sizeof line, "X-Request-Id: %s", id);
	send_req(&r, "GET", "/api/health", NULL, NULL, h);
	expect_ok(&r, 200);
	expect_request_id(&r);
	/* Replaced, not truncated. */
	ck_assert_int_ne(strncmp(http_client_header(&r.r, "X-Request-Id"), id, 128), 0);
	resp_free(&r);
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

START_TEST(test_exam_create_partial_upload_max_bytes)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const cJSON *o;

	send_req(&r, "POST", "/api/exams", &p,
		 "{\"title\":\"Partial 1\",\"upload\":{\"max_bytes\":2048}}", NULL);
	o = expect_ok(&r, 201);
	expect_num(jget(o, "upload"), "max_bytes", 2048);
	expect_json_eq(jget(o, "upload"), "allowed_types", default_types);
	resp_free(&r);
	user_free(&p);
}
END_TEST

START_TEST(test_exam_create_partial_upload_types)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const cJSON *o;

	send_req(&r, "POST", "/api/exams", &p,
		 "{\"title\":\"Partial 2\",\"upload\":{\"allowed_types\":[\"image/png\"]}}", NULL);
	o = expect_ok(&r, 201);
	expect_num(jget(o, "upload"), "max_bytes", 10485760);
	expect_json_eq(jget(o, "upload"), "allowed_types", "[\"image/png\"]");
	resp_free(&r);
	user_free(&p);
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

START_TEST(test_exam_create_no_title)
{
	exam_create_expect_field("{\"time_limit_s\":60}", "title");
}
END_TEST

START_TEST(test_exam_create_title_not_string)
{
	exam_create_expect_field("{\"title\":42}", "title");
}
END_TEST

START_TEST(test_exam_create_time_limit_wrong_type)
{
	exam_create_expect_field("{\"title\":\"T\",\"time_limit_s\":\"x\"}", "time_limit_s");
}
END_TEST

START_TEST(test_exam_create_max_attempts_wrong_type)
{
	exam_create_expect_field("{\"title\":\"T\",\"max_attempts\":\"2\"}", "max_attempts");
}
END_TEST

START_TEST(test_exam_create_upload_wrong_type)
{
	exam_create_expect_field("{\"title\":\"T\",\"upload\":{\"max_bytes\":\"big\"}}",
				 "upload.max_bytes");
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

START_TEST(test_exam_create_no_token)
{
	resp r;

	send_req(&r, "POST", "/api/exams", NULL, "{\"title\":\"x\"}", NULL);
	expect_unauthorized(&r);
	resp_free(&r);
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

START_TEST(test_exam_get_no_token)
{
	resp r;

	send_req(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL, NULL, NULL);
	expect_unauthorized(&r);
	resp_free(&r);
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
	E2E_ADD_TESTS(s, "health", 60, test_health_ok, test_health_ignores_token, test_ready_ok,
		      test_probes_head, test_request_id_generated, test_request_id_echoed,
		      test_request_id_128_echoed, test_request_id_space_replaced,
		      test_request_id_too_long_replaced, test_request_id_on_errors);
	E2E_ADD_TESTS(s, "exams", 60, test_exam_create_defaults, test_exam_create_all_fields,
		      test_exam_get_any_role, test_exam_create_partial_upload_max_bytes,
		      test_exam_create_partial_upload_types, test_exam_create_student_forbidden,
		      test_exam_create_no_title, test_exam_create_title_not_string,
		      test_exam_create_time_limit_wrong_type,
		      test_exam_create_max_attempts_wrong_type, test_exam_create_upload_wrong_type,
		      test_exam_create_invalid_json, test_exam_create_no_token,
		      test_exam_get_unknown, test_exam_get_invalid_uuid, test_exam_get_no_token,
		      test_exam_list, test_exam_stats_paths);
}
