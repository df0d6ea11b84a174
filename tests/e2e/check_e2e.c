/* check_e2e: end-to-end tests of the routes of issue #2 (health, exams,
 * start, state, info, save; routing and authentication) against a running
 * stack: real nginx, real workers, real PostgreSQL, spoken to over HTTP.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret) and ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database, to set up and inspect rows directly). Exits 77 (automake SKIP)
 * when one is missing. Every test makes its own users and exams. */
#include <check.h>
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

#define ONE_MIB (1024 * 1024)

/* ------------------------------------------------------------ fixtures */

/* A few shorthands used by many tests. */
static void start_body(char *out, size_t cap, const char *exam_id)
{
	snprintf(out, cap, "{\"exam_id\":\"%s\"}", exam_id);
}

static void get_action(resp *r, const user *u, const char *attempt_id, const char *action)
{
	char path[128];

	attempt_path(path, sizeof path, attempt_id, action);
	send_req(r, "GET", path, u, NULL, NULL);
}

static void save(resp *r, const user *u, const char *attempt_id, const char *body,
		 const char *const *extra)
{
	char path[128];

	attempt_path(path, sizeof path, attempt_id, "save");
	send_req(r, "PATCH", path, u, body, extra);
}

/* Asserts the stored row of a fresh attempt is untouched. */
static void db_expect_untouched(const char *attempt_id)
{
	ck_assert_int_eq(db_version(attempt_id), 1);
	db_expect_answers(attempt_id, "{}");
}

/* Asserts every key of an attempt state (API.md section 5). */
static void expect_state_keys(const cJSON *o)
{
	static const char *const keys[] = {"attempt_id",      "exam_id",      "user_id",
					   "attempt_number",  "status",	      "answers",
					   "auto_save_data",  "version",      "started_at",
					   "deadline_at",     "submitted_at", "updated_at",
					   "time_remaining_s"};

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ck_assert_msg(has_key(o, keys[i]), "state lacks %s", keys[i]);
}

/* ============================================================ health */

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

/* ============================================================ exams */

static const char *const default_types =
	"[\"application/pdf\",\"image/png\",\"image/jpeg\",\"text/plain\"]";

/* POST /api/exams as a fresh proctor and expect a 422 naming field. */
static void exam_create_expect_field(const char *body, const char *field)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;

	send_req(&r, "POST", "/api/exams", &p, body, NULL);
	expect_field(&r, field);
	resp_free(&r);
	ck_assert_int_eq(
		db_long("SELECT count(*) FROM attempts.exams WHERE created_by = $1", p.sub), 0);
	user_free(&p);
}

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
	resp r;

	send_req(&r, "POST", "/api/exams", &s, "{\"title\":\"Nope\"}", NULL);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
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
	resp r;

	send_req(&r, "POST", "/api/exams", &p, "{\"title\": \"x\"", NULL);
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	send_req(&r, "POST", "/api/exams", &p, "", NULL);
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	/* Valid JSON of the wrong type is a validation error, not invalid_json. */
	send_req(&r, "POST", "/api/exams", &p, "[{\"title\":\"x\"}]", NULL);
	expect_error(&r, 422, "validation_failed");
	resp_free(&r);
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
	resp r;

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	snprintf(path, sizeof path, "/api/exams/%s", id);
	send_req(&r, "GET", path, &s, NULL, NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_exam_get_invalid_uuid)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	send_req(&r, "GET", "/api/exams/not-a-uuid", &s, NULL, NULL);
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	/* The canonical form is lowercase only. */
	send_req(&r, "GET", "/api/exams/ABCDEF00-0000-4000-8000-00000000000A", &s, NULL, NULL);
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
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

/* ============================================================ start */

/* POST start as u with body; expect the error. */
static void start_expect_error(const user *u, const char *body, int status, const char *code,
			       const char *field)
{
	resp r;

	send_req(&r, "POST", "/api/attempts/new?action=start", u, body, NULL);
	if (field != NULL)
		expect_field(&r, field);
	else
		expect_error(&r, status, code);
	resp_free(&r);
	if (u != NULL)
		ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts"
					  " WHERE user_id = $1",
					  u->sub),
				 0);
}

START_TEST(test_start_timed)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];
	resp r;
	const cJSON *o;
	double left;

	exam_create(&p, "{\"title\":\"Timed\",\"time_limit_s\":600}", exam);
	start_body(body, sizeof body, exam);
	send_req(&r, "POST", "/api/attempts/new?action=start", &s, body, NULL);
	o = expect_ok(&r, 201);
	expect_state_keys(o);
	expect_uuid(o, "attempt_id");
	expect_str(o, "exam_id", exam);
	expect_str(o, "user_id", s.sub);
	expect_num(o, "attempt_number", 1);
	expect_str(o, "status", "in_progress");
	expect_json_eq(o, "answers", "{}");
	ck_assert(cJSON_IsObject(jget(o, "auto_save_data")));
	expect_num(o, "version", 1);
	expect_ts(o, "started_at");
	expect_ts(o, "deadline_at");
	expect_ts(o, "updated_at");
	expect_null(o, "submitted_at");
	left = jnum(o, "time_remaining_s");
	ck_assert_msg(left > 590 && left <= 600, "time_remaining_s %g, want ~600", left);
	ck_assert_int_eq(db_version(jstr(o, "attempt_id")), 1);
	resp_free(&r);
	user_free(&p);
	user_free(&s);
}
END_TEST

START_TEST(test_start_untimed)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];
	resp r;
	const cJSON *o;

	exam_create(&p, "{\"title\":\"Untimed\"}", exam);
	start_body(body, sizeof body, exam);
	send_req(&r, "POST", "/api/attempts/new?action=start", &s, body, NULL);
	o = expect_ok(&r, 201);
	expect_state_keys(o);
	expect_str(o, "status", "in_progress");
	expect_null(o, "time_remaining_s");
	expect_null(o, "deadline_at");
	expect_num(o, "version", 1);
	resp_free(&r);
	user_free(&p);
	user_free(&s);
}
END_TEST

START_TEST(test_start_again_same_attempt)
{
	world w;
	char body[96];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Retry\",\"max_attempts\":3}");
	start_body(body, sizeof body, w.exam_id);
	send_req(&r, "POST", "/api/attempts/new?action=start", &w.student, body, NULL);
	o = expect_ok(&r, 200);
	expect_state_keys(o);
	expect_str(o, "attempt_id", w.attempt_id);
	expect_num(o, "attempt_number", 1);
	expect_num(o, "version", 1);
	resp_free(&r);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1",
				  w.student.sub),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_start_missing_exam_id)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	start_expect_error(&s, "{}", 422, "validation_failed", "exam_id");
	start_expect_error(&s, "{\"exam_id\":null}", 422, "validation_failed", "exam_id");
	user_free(&s);
}
END_TEST

START_TEST(test_start_exam_id_not_uuid)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	start_expect_error(&s, "{\"exam_id\":\"not-a-uuid\"}", 422, "validation_failed", "exam_id");
	start_expect_error(&s, "{\"exam_id\":7}", 422, "validation_failed", "exam_id");
	start_expect_error(&s, "{\"exam_id\":\"ABCDEF00-0000-4000-8000-00000000000A\"}", 422,
			   "validation_failed", "exam_id");
	user_free(&s);
}
END_TEST

START_TEST(test_start_invalid_json_and_no_token)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	start_expect_error(&s, "{\"exam_id\":", 400, "invalid_json", NULL);
	send_req(&r, "POST", "/api/attempts/new?action=start", NULL,
		 "{\"exam_id\":\"00000000-0000-4000-8000-000000000000\"}", NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_start_unknown_exam)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];

	ck_assert_int_eq(uuid_generate(exam), ATT_OK);
	start_body(body, sizeof body, exam);
	start_expect_error(&s, body, 404, "not_found", NULL);
	user_free(&s);
}
END_TEST

START_TEST(test_start_exam_closed)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];

	exam_create(&p, "{\"title\":\"Closed\",\"closes_at\":\"2001-01-01T00:00:00Z\"}", exam);
	start_body(body, sizeof body, exam);
	start_expect_error(&s, body, 409, "exam_closed", NULL);
	user_free(&p);
	user_free(&s);
}
END_TEST

START_TEST(test_start_exam_not_open_yet)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];

	exam_create(&p, "{\"title\":\"Not yet\",\"opens_at\":\"2098-01-01T00:00:00Z\"}", exam);
	start_body(body, sizeof body, exam);
	start_expect_error(&s, body, 409, "exam_closed", NULL);
	user_free(&p);
	user_free(&s);
}
END_TEST

START_TEST(test_start_max_attempts)
{
	world w;
	char body[96];
	resp r;

	world_new(&w, "{\"title\":\"Once\"}");
	db_submit(w.attempt_id);
	start_body(body, sizeof body, w.exam_id);
	send_req(&r, "POST", "/api/attempts/new?action=start", &w.student, body, NULL);
	expect_error(&r, 409, "max_attempts_reached");
	resp_free(&r);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1",
				  w.student.sub),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_start_second_attempt)
{
	world w;
	char body[96];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Twice\",\"max_attempts\":2}");
	db_submit(w.attempt_id);
	start_body(body, sizeof body, w.exam_id);
	send_req(&r, "POST", "/api/attempts/new?action=start", &w.student, body, NULL);
	o = expect_ok(&r, 201);
	expect_num(o, "attempt_number", 2);
	expect_num(o, "version", 1);
	ck_assert_str_ne(jstr(o, "attempt_id"), w.attempt_id);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_start_route_ts_alias)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96], first[UUID_STR_LEN + 1];
	resp r;
	const cJSON *o;

	exam_create(&p, "{\"title\":\"Alias\"}", exam);
	start_body(body, sizeof body, exam);
	send_req(&r, "POST", "/api/attempts/any-id/route.ts?action=start", &s, body, NULL);
	o = expect_ok(&r, 201);
	expect_str(o, "exam_id", exam);
	expect_str(o, "user_id", s.sub);
	memcpy(first, jstr(o, "attempt_id"), sizeof first);
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id/route.ts?action=start", &s, body, NULL);
	expect_str(expect_ok(&r, 200), "attempt_id", first);
	resp_free(&r);
	user_free(&p);
	user_free(&s);
}
END_TEST

/* ============================================================ state */

START_TEST(test_state_owner)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"State\",\"time_limit_s\":900}");
	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_state_keys(o);
	expect_str(o, "attempt_id", w.attempt_id);
	expect_str(o, "exam_id", w.exam_id);
	expect_str(o, "user_id", w.student.sub);
	expect_str(o, "status", "in_progress");
	expect_num(o, "version", 1);
	expect_json_eq(o, "answers", "{}");
	ck_assert(jnum(o, "time_remaining_s") > 880);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_state_proctor_admin)
{
	world w;
	user a = user_new(AUTH_ROLE_ADMIN), other_p = user_new(AUTH_ROLE_PROCTOR);
	const user *readers[3];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"State staff\"}");
	readers[0] = &w.proctor;
	readers[1] = &other_p;
	readers[2] = &a;
	for (size_t i = 0; i < 3; i++) {
		get_action(&r, readers[i], w.attempt_id, "state");
		o = expect_ok(&r, 200);
		expect_str(o, "attempt_id", w.attempt_id);
		expect_str(o, "user_id", w.student.sub);
		resp_free(&r);
	}
	user_free(&a);
	user_free(&other_p);
	world_free(&w);
}
END_TEST

START_TEST(test_state_route_ts_alias)
{
	world w;
	char path[128];
	resp r;

	world_new(&w, "{\"title\":\"State alias\"}");
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=state", w.attempt_id);
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	expect_str(expect_ok(&r, 200), "attempt_id", w.attempt_id);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_state_other_student_as_missing)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char path[128], missing[UUID_STR_LEN + 1];
	resp r1, r2;

	world_new(&w, "{\"title\":\"Leak\"}");
	get_action(&r1, &other, w.attempt_id, "state");
	expect_error(&r1, 404, "not_found");
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	get_action(&r2, &other, missing, "state");
	expect_error(&r2, 404, "not_found");
	ck_assert_msg(cJSON_Compare(r1.json, r2.json, 1),
		      "someone else's attempt answers %s, a missing one %s", r1.r.body, r2.r.body);
	resp_free(&r1);
	resp_free(&r2);

	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=state", w.attempt_id);
	send_req(&r1, "GET", path, &other, NULL, NULL);
	expect_error(&r1, 404, "not_found");
	resp_free(&r1);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_state_missing)
{
	user s = user_new(AUTH_ROLE_STUDENT), a = user_new(AUTH_ROLE_ADMIN);
	char missing[UUID_STR_LEN + 1];
	resp r;

	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	get_action(&r, &s, missing, "state");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	get_action(&r, &a, missing, "state");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	user_free(&s);
	user_free(&a);
}
END_TEST

START_TEST(test_state_invalid_uuid)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	send_req(&r, "GET", "/api/attempts/abc?action=state", &s, NULL, NULL);
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	send_req(&r, "GET", "/api/attempts/abc/route.ts?action=state", &s, NULL, NULL);
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_state_no_token)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"State no token\"}");
	get_action(&r, NULL, w.attempt_id, "state");
	expect_unauthorized(&r);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_state_submitted)
{
	world w;
	const char *h[] = {"Cache-Control: no-cache", NULL};
	char path[128];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"State submitted\",\"time_limit_s\":600}");
	db_submit(w.attempt_id);
	/* The UPDATE bypassed the service: ask past any cache. */
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_req(&r, "GET", path, &w.student, NULL, h);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_ts(o, "submitted_at");
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* ============================================================ info */

START_TEST(test_info_fields)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Info exam\",\"time_limit_s\":1200}");
	get_action(&r, &w.student, w.attempt_id, "info");
	o = expect_ok(&r, 200);
	expect_str(o, "attempt_id", w.attempt_id);
	expect_str(o, "exam_id", w.exam_id);
	expect_str(o, "user_id", w.student.sub);
	expect_num(o, "attempt_number", 1);
	expect_str(o, "status", "in_progress");
	expect_num(o, "version", 1);
	expect_str(o, "exam_title", "Info exam");
	expect_num(o, "activity_count", 0);
	expect_num(o, "upload_count", 0);
	expect_null(o, "submit_reason");
	expect_null(o, "receipt");
	expect_null(o, "submitted_at");
	expect_ts(o, "started_at");
	expect_ts(o, "updated_at");
	expect_ts(o, "deadline_at");
	ck_assert(jnum(o, "time_remaining_s") > 1190);
	ck_assert_msg(!has_key(o, "answers"), "info must not carry answers");
	ck_assert_msg(!has_key(o, "auto_save_data"), "info must not carry auto_save_data");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_info_staff_and_alias)
{
	world w;
	user a = user_new(AUTH_ROLE_ADMIN);
	char path[128];
	resp r;

	world_new(&w, "{\"title\":\"Info staff\"}");
	get_action(&r, &w.proctor, w.attempt_id, "info");
	expect_str(expect_ok(&r, 200), "exam_title", "Info staff");
	resp_free(&r);
	get_action(&r, &a, w.attempt_id, "info");
	expect_str(expect_ok(&r, 200), "attempt_id", w.attempt_id);
	resp_free(&r);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=info", w.attempt_id);
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	expect_null(expect_ok(&r, 200), "time_remaining_s");
	resp_free(&r);
	user_free(&a);
	world_free(&w);
}
END_TEST

START_TEST(test_info_submitted)
{
	world w;
	const char *h[] = {"Cache-Control: no-cache", NULL};
	char path[128];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Info 2\",\"time_limit_s\":1200}");
	db_submit(w.attempt_id);
	attempt_path(path, sizeof path, w.attempt_id, "info");
	send_req(&r, "GET", path, &w.student, NULL, h);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "student");
	ck_assert_int_eq((int)strlen(jstr(o, "receipt")), 64);
	expect_ts(o, "submitted_at");
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_info_errors)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[UUID_STR_LEN + 1];
	resp r;

	world_new(&w, "{\"title\":\"Info errors\"}");
	get_action(&r, &other, w.attempt_id, "info");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	get_action(&r, &w.student, missing, "info");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	get_action(&r, &w.student, "xyz", "info");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	get_action(&r, NULL, w.attempt_id, "info");
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&other);
	world_free(&w);
}
END_TEST

/* ============================================================ save */

START_TEST(test_save_response)
{
	world w;
	resp r;
	const cJSON *o;
	int keys = 0;
	const cJSON *it;

	world_new(&w, "{\"title\":\"Save response\",\"time_limit_s\":3600}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "attempt_id", w.attempt_id);
	expect_num(o, "version", 2);
	expect_ts(o, "saved_at");
	ck_assert(jnum(o, "time_remaining_s") > 3500);
	cJSON_ArrayForEach(it, o) keys++;
	ck_assert_msg(keys == 4,
		      "save answers %d keys, want attempt_id, version,"
		      " saved_at, time_remaining_s: %s",
		      keys, r.r.body);
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	world_free(&w);
}
END_TEST

START_TEST(test_save_merge)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Save\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\",\"q2\":\"b\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);

	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q2\":null,\"q3\":\"c\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);

	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_json_eq(o, "answers", "{\"q1\":\"a\",\"q3\":\"c\"}");
	expect_num(o, "version", 3);
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\",\"q3\":\"c\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_merge_top_level_only)
{
	world w;

	resp r;

	world_new(&w, "{\"title\":\"Top level\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":{\"a\":1,\"b\":2},\"q2\":[1,2]}}",
	     NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":{\"c\":3},\"q2\":[3]}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":{\"c\":3},\"q2\":[3]}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_untimed_and_alias)
{
	world w;
	char path[128];
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Save untimed\"}");
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=save", w.attempt_id);
	send_req(&r, "PATCH", path, &w.student, "{\"answers\":{\"q\":[1,2,{\"x\":true}]}}", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q\":[1,2,{\"x\":true}]}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_auto_save_replaced)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Autosave\"}");
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"progress\":10,\"tab\":\"x\"}}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"auto_save_data\":{\"progress\":50}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);

	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_json_eq(o, "auto_save_data", "{\"progress\":50}");
	expect_json_eq(o, "answers", "{\"q1\":\"a\"}");
	expect_num(o, "version", 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_save_expected_version_ok)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Versions ok\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"},\"expected_version\":1}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"b\"},\"expected_version\":2}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"b\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_version_conflict)
{
	world w;
	resp r;
	const cJSON *d;

	world_new(&w, "{\"title\":\"Versions\"}");
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"p\":1}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);

	/* Stale: nothing written, the current data in the details. */
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"LOST\"},\"auto_save_data\":{\"p\":9},\"expected_version\":1}",
	     NULL);
	d = expect_error(&r, 409, "version_conflict");
	ck_assert_ptr_nonnull(d);
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q1\":\"a\"}");
	expect_json_eq(d, "auto_save_data", "{\"p\":1}");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_version_ahead_conflict)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Versions ahead\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"b\"},\"expected_version\":7}",
	     NULL);
	expect_num(expect_error(&r, 409, "version_conflict"), "current_version", 1);
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_if_match)
{
	world w;
	const char *v1[] = {"If-Match: \"1\"", NULL};
	const char *v2[] = {"If-Match: \"2\"", NULL};
	resp r;

	world_new(&w, "{\"title\":\"If-Match\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", v1);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q2\":\"b\"}}", v2);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\",\"q2\":\"b\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_if_match_stale)
{
	world w;
	const char *v1[] = {"If-Match: \"1\"", NULL};
	resp r;
	const cJSON *d;

	world_new(&w, "{\"title\":\"If-Match stale\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"stale\"}}", v1);
	d = expect_error(&r, 409, "version_conflict");
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q1\":\"a\"}");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_other_student)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[UUID_STR_LEN + 1];
	resp r1, r2;

	world_new(&w, "{\"title\":\"Save other\"}");
	save(&r1, &other, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r1, 404, "not_found");
	db_expect_untouched(w.attempt_id);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save(&r2, &other, missing, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r2, 404, "not_found");
	ck_assert_msg(cJSON_Compare(r1.json, r2.json, 1),
		      "someone else's attempt answers %s, a missing one %s", r1.r.body, r2.r.body);
	resp_free(&r1);
	resp_free(&r2);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_save_staff_forbidden)
{
	world w;
	user a = user_new(AUTH_ROLE_ADMIN);
	resp r;

	world_new(&w, "{\"title\":\"Save staff\"}");
	save(&r, &w.proctor, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	save(&r, &a, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	user_free(&a);
	world_free(&w);
}
END_TEST

START_TEST(test_save_bad_target)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Save target\"}");
	save(&r, NULL, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	save(&r, &w.student, "abc", "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_invalid_json)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Save json\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":", NULL);
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_answers_not_object)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Save answers type\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":\"q1=a\"}", NULL);
	expect_field(&r, "answers");
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":[\"a\"]}", NULL);
	expect_field(&r, "answers");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_expected_version_not_number)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Save version type\"}");
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"a\"},\"expected_version\":\"x\"}", NULL);
	expect_field(&r, "expected_version");
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"},\"expected_version\":1.5}",
	     NULL);
	expect_field(&r, "expected_version");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_nothing_to_save)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Save empty\"}");
	save(&r, &w.student, w.attempt_id, "{}", NULL);
	expect_error(&r, 422, "validation_failed");
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"expected_version\":1}", NULL);
	expect_error(&r, 422, "validation_failed");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_too_large)
{
	static const char prefix[] = "{\"answers\":{\"q1\":\"";
	world w;
	size_t n = ONE_MIB + 1024;
	char *body = malloc(sizeof prefix + n + 8);
	char path[128];
	resp r;

	ck_assert_ptr_nonnull(body);
	world_new(&w, "{\"title\":\"Big\"}");
	memcpy(body, prefix, sizeof prefix - 1);
	memset(body + sizeof prefix - 1, 'x', n);
	strcpy(body + sizeof prefix - 1 + n, "\"}}");
	attempt_path(path, sizeof path, w.attempt_id, "save");
	send_raw(&r, "PATCH", path, w.student.token, body, strlen(body), NULL);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	free(body);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_submitted)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Submitted\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	db_submit(w.attempt_id); /* version 3 */
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"late\"}}", NULL);
	expect_error(&r, 409, "attempt_submitted");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_then_state_read_your_writes)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"RYW\"}");
	/* Warm any cache first, then write, then read. */
	get_action(&r, &w.student, w.attempt_id, "state");
	expect_num(expect_ok(&r, 200), "version", 1);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q9\":\"z\"}}", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	for (int i = 0; i < 4; i++) { /* several requests: several workers */
		get_action(&r, &w.student, w.attempt_id, "state");
		o = expect_ok(&r, 200);
		expect_num(o, "version", 2);
		expect_json_eq(o, "answers", "{\"q9\":\"z\"}");
		resp_free(&r);
		get_action(&r, &w.student, w.attempt_id, "info");
		expect_num(expect_ok(&r, 200), "version", 2);
		resp_free(&r);
	}
	world_free(&w);
}
END_TEST

/* ============================================================ routing */

START_TEST(test_route_unknown_path)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/nothing",
		"/api",
		"/api/",
		"/api/exams/",
		"/api/attempts/",
		"/api/attempts/00000000-0000-4000-8000-000000000001/other.ts?action=state",
		"/api/exams/00000000-0000-4000-8000-000000000001/x",
	};
	resp r;

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		send_req(&r, "GET", paths[i], NULL, NULL, NULL);
		expect_error(&r, 404, "not_found");
		resp_free(&r);
		send_req(&r, "GET", paths[i], &s, NULL, NULL);
		expect_error(&r, 404, "not_found");
		resp_free(&r);
	}
	send_req(&r, "POST", "/api/nothing", &s, "{}", NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_route_missing_action)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/attempts/00000000-0000-4000-8000-000000000001",
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=",
		"/api/attempts/00000000-0000-4000-8000-000000000001/route.ts",
	};
	resp r;

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		send_req(&r, "GET", paths[i], &s, NULL, NULL);
		expect_error(&r, 400, "unknown_action");
		resp_free(&r);
		/* Routing comes before authentication. */
		send_req(&r, "GET", paths[i], NULL, NULL, NULL);
		expect_error(&r, 400, "unknown_action");
		resp_free(&r);
	}
	user_free(&s);
}
END_TEST

START_TEST(test_route_bogus_action)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=bogus",
		"/api/attempts/00000000-0000-4000-8000-000000000001/route.ts?action=bogus",
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=STATE",
	};
	resp r;

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		send_req(&r, "GET", paths[i], &s, NULL, NULL);
		expect_error(&r, 400, "unknown_action");
		resp_free(&r);
		send_req(&r, "GET", paths[i], NULL, NULL, NULL);
		expect_error(&r, 400, "unknown_action");
		resp_free(&r);
	}
	user_free(&s);
}
END_TEST

START_TEST(test_route_delete_state)
{
	world w;
	char path[128];
	resp r;
	const char *allow;

	world_new(&w, "{\"title\":\"Methods\"}");
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_req(&r, "DELETE", path, &w.student, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strcmp(allow, "GET") == 0, "Allow: %s, want GET",
		      allow ? allow : "(none)");
	resp_free(&r);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE attempt_id = $1",
				  w.attempt_id),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_route_post_save)
{
	world w;
	char path[128];
	resp r;
	const char *allow;

	world_new(&w, "{\"title\":\"Methods 2\"}");
	attempt_path(path, sizeof path, w.attempt_id, "save");
	send_req(&r, "POST", path, &w.student, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "PATCH") != NULL, "Allow: %s, want PATCH",
		      allow ? allow : "(none)");
	resp_free(&r);
	/* Before authentication too. */
	send_req(&r, "POST", path, NULL, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_route_other_wrong_methods)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const char *allow;

	send_req(&r, "GET", "/api/attempts/new?action=start", &p, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "POST") != NULL, "Allow: %s, want POST",
		      allow ? allow : "(none)");
	resp_free(&r);

	send_req(&r, "GET", "/api/exams", &p, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "POST") != NULL, "Allow: %s, want POST",
		      allow ? allow : "(none)");
	resp_free(&r);

	send_req(&r, "PUT", "/api/exams/00000000-0000-4000-8000-000000000001", &p, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "GET") != NULL, "Allow: %s, want GET",
		      allow ? allow : "(none)");
	resp_free(&r);
	user_free(&p);
}
END_TEST

/* ============================================================ auth */

/* GET the state of a fresh attempt with the given raw token; 401 expected,
 * and proof that the same request with the owner's token succeeds. */
static void expect_token_refused(const char *token)
{
	world w;
	char path[128];
	resp r;

	world_new(&w, "{\"title\":\"Auth\"}");
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_raw(&r, "GET", path, token, NULL, 0, NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	send_raw(&r, "GET", path, w.student.token, NULL, 0, NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	world_free(&w);
}

START_TEST(test_auth_expired)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now - 7200, now - 3600, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_expired_beyond_leeway)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now - 600, now - 90, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_expired_within_leeway)
{
	world w;
	char path[128];
	time_t now = time(NULL);
	char *tok;
	resp r;

	world_new(&w, "{\"title\":\"Leeway\"}");
	/* 20 s past exp is inside the 60 s leeway: accepted. */
	tok = auth_sign(w.student.sub, AUTH_ROLE_STUDENT, now - 600, now - 20, g_secret,
			strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_raw(&r, "GET", path, tok, NULL, 0, NULL);
	expect_str(expect_ok(&r, 200), "attempt_id", w.attempt_id);
	resp_free(&r);
	free(tok);
	world_free(&w);
}
END_TEST

START_TEST(test_auth_wrong_secret)
{
	char sub[UUID_STR_LEN + 1];
	const char *other = "this-is-not-the-secret-of-the-stack-0123456789";
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now, now + 3600, other, strlen(other));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

static void admin_payload(char *out, size_t cap, const char *role)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	snprintf(out, cap, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub, role,
		 (long long)now, (long long)now + 3600);
}

START_TEST(test_auth_alg_none)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "admin");
	tok = sign_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL);
	expect_token_refused(tok);
	free(tok);
	/* Even with a valid HMAC over the "none" header. */
	tok = sign_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_other_alg)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "admin");
	tok = sign_raw("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_handmade_token_accepted)
{
	/* The control for the tests below: a hand-signed HS256 token with a
	 * known role works, so their 401s come from the claim under test. */
	char payload[256];
	char *tok;
	resp r;

	admin_payload(payload, sizeof payload, "student");
	tok = sign_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	send_raw(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", tok, NULL, 0, NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	free(tok);
}
END_TEST

START_TEST(test_auth_unknown_role)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "teacher");
	tok = sign_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_missing_claims)
{
	const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char sub[UUID_STR_LEN + 1], payload[256];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	/* No exp. */
	snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"role\":\"admin\"}", sub);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
	/* No role. */
	snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%lld}", sub,
		 (long long)now + 3600);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
	/* sub not a UUID. */
	snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":%lld}",
		 (long long)now + 3600);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_iat_in_future)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now + 3600, now + 7200, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_malformed_header)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	char basic[AUTH_MAX_TOKEN_LEN + 32];
	const char *h1[] = {basic, NULL};
	const char *h2[] = {"Authorization: Bearer", NULL};
	resp r;

	snprintf(basic, sizeof basic, "Authorization: Basic %s", s.token);
	send_req(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL, NULL, h1);
	expect_unauthorized(&r);
	resp_free(&r);
	send_req(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL, NULL, h2);
	expect_unauthorized(&r);
	resp_free(&r);
	send_raw(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", "not.a.jwt", NULL, 0,
		 NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&s);
}
END_TEST

/* ============================================================ more */

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
	ck_assert_int_eq(db_version(w.attempt_id), PAR + 1);
	db_expect_answers(
		w.attempt_id,
		"{\"q0\":0,\"q1\":1,\"q2\":2,\"q3\":3,\"q4\":4,\"q5\":5,\"q6\":6,\"q7\":7}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_answers_limit)
{
	world w;
	size_t n = 300 * 1024;
	char *body = malloc(n + 64);
	char path[128];
	resp r;
	const cJSON *o;

	ck_assert_ptr_nonnull(body);
	world_new(&w, "{\"title\":\"Answers limit\"}");
	attempt_path(path, sizeof path, w.attempt_id, "save");
	/* 300 KiB fits the 512 KiB of stored answers... */
	strcpy(body, "{\"answers\":{\"q1\":\"");
	memset(body + strlen(body), 'x', n);
	strcpy(body + strlen("{\"answers\":{\"q1\":\"") + n, "\"}}");
	send_raw(&r, "PATCH", path, w.student.token, body, strlen(body), NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	/* ...twice after the merge does not, though the body is under 1 MiB. */
	ck_assert_int_eq(memcmp(body + 12, "\"q1\"", 4), 0);
	body[14] = '2';
	send_raw(&r, "PATCH", path, w.student.token, body, strlen(body), NULL);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	free(body);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts"
				  " WHERE attempt_id = $1 AND answers ? 'q2'",
				  w.attempt_id),
			 0);
	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* Moves the attempt's clock back: started 2 h ago, deadline_ago_s ago. */
static void db_backdate(const char *attempt_id, int deadline_ago_s)
{
	char ago[32];
	const char *params[2] = {attempt_id, ago};
	PGresult *res;

	snprintf(ago, sizeof ago, "%d", deadline_ago_s);
	res = db_query("UPDATE attempts.attempts SET started_at = now() - interval '2 hours',"
		       " deadline_at = now() - make_interval(secs => $2::int)"
		       " WHERE attempt_id = $1",
		       2, params);
	ck_assert_str_eq(PQcmdTuples(res), "1");
	PQclear(res);
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
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"kept\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
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

	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"later\"}}", NULL);
	expect_error(&r, 409, "attempt_submitted");
	resp_free(&r);
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
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	send_req(&r, "GET", path, &w.student, NULL, h);
	expect_num(expect_ok(&r, 200), "version", 2);
	ck_assert_str_eq(http_client_header(&r.r, "ETag"), "\"2\"");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* ============================================================ http_client */

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

START_TEST(test_client_chunked)
{
	http_client_response r;

	ck_assert_int_eq(one_shot("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
				  "X-Test:  v1 \r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n"
				  "0\r\nTrailer: x\r\n\r\n",
				  "GET", NULL, NULL, &r),
			 0);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body, "hello, world");
	ck_assert_int_eq(r.body_len, 12);
	ck_assert_str_eq(http_client_header(&r, "x-test"), "v1");
	ck_assert_ptr_null(http_client_header(&r, "X-Absent"));
	ck_assert_ptr_nonnull(strstr(r.raw_headers, "Transfer-Encoding: chunked\r\n"));
	http_client_response_free(&r);
}
END_TEST

START_TEST(test_client_close_delimited_and_empty)
{
	http_client_response r;

	ck_assert_int_eq(one_shot("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
				  "GET", NULL, NULL, &r),
			 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "until close");
	http_client_response_free(&r);

	ck_assert_int_eq(
		one_shot("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", "DELETE", NULL, NULL, &r), 0);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(r.body, "");
	ck_assert_int_eq(r.body_len, 0);
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

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc;

	tc = tcase(s, "http_client", 60);
	tcase_add_test(tc, test_client_request_shape);
	tcase_add_test(tc, test_client_chunked);
	tcase_add_test(tc, test_client_close_delimited_and_empty);
	tcase_add_test(tc, test_client_failures);

	tc = tcase(s, "health", 60);
	tcase_add_test(tc, test_health_ok);
	tcase_add_test(tc, test_health_ignores_token);
	tcase_add_test(tc, test_request_id_generated);
	tcase_add_test(tc, test_request_id_echoed);
	tcase_add_test(tc, test_request_id_128_echoed);
	tcase_add_test(tc, test_request_id_space_replaced);
	tcase_add_test(tc, test_request_id_too_long_replaced);
	tcase_add_test(tc, test_request_id_on_errors);

	tc = tcase(s, "exams", 60);
	tcase_add_test(tc, test_exam_create_defaults);
	tcase_add_test(tc, test_exam_create_all_fields);
	tcase_add_test(tc, test_exam_get_any_role);
	tcase_add_test(tc, test_exam_create_partial_upload_max_bytes);
	tcase_add_test(tc, test_exam_create_partial_upload_types);
	tcase_add_test(tc, test_exam_create_student_forbidden);
	tcase_add_test(tc, test_exam_create_no_title);
	tcase_add_test(tc, test_exam_create_title_not_string);
	tcase_add_test(tc, test_exam_create_time_limit_wrong_type);
	tcase_add_test(tc, test_exam_create_max_attempts_wrong_type);
	tcase_add_test(tc, test_exam_create_upload_wrong_type);
	tcase_add_test(tc, test_exam_create_invalid_json);
	tcase_add_test(tc, test_exam_create_no_token);
	tcase_add_test(tc, test_exam_get_unknown);
	tcase_add_test(tc, test_exam_get_invalid_uuid);
	tcase_add_test(tc, test_exam_get_no_token);
	tcase_add_test(tc, test_exam_timestamps_in_utc);
	tcase_add_test(tc, test_exam_create_out_of_range);

	tc = tcase(s, "start", 60);
	tcase_add_test(tc, test_start_timed);
	tcase_add_test(tc, test_start_untimed);
	tcase_add_test(tc, test_start_again_same_attempt);
	tcase_add_test(tc, test_start_missing_exam_id);
	tcase_add_test(tc, test_start_exam_id_not_uuid);
	tcase_add_test(tc, test_start_invalid_json_and_no_token);
	tcase_add_test(tc, test_start_unknown_exam);
	tcase_add_test(tc, test_start_exam_closed);
	tcase_add_test(tc, test_start_exam_not_open_yet);
	tcase_add_test(tc, test_start_max_attempts);
	tcase_add_test(tc, test_start_second_attempt);
	tcase_add_test(tc, test_start_route_ts_alias);
	tcase_add_test(tc, test_start_open_window);
	tcase_add_test(tc, test_start_concurrent_one_created);

	tc = tcase(s, "state", 60);
	tcase_add_test(tc, test_state_owner);
	tcase_add_test(tc, test_state_proctor_admin);
	tcase_add_test(tc, test_state_route_ts_alias);
	tcase_add_test(tc, test_state_other_student_as_missing);
	tcase_add_test(tc, test_state_missing);
	tcase_add_test(tc, test_state_invalid_uuid);
	tcase_add_test(tc, test_state_no_token);
	tcase_add_test(tc, test_state_submitted);
	tcase_add_test(tc, test_state_etag);

	tc = tcase(s, "info", 60);
	tcase_add_test(tc, test_info_fields);
	tcase_add_test(tc, test_info_staff_and_alias);
	tcase_add_test(tc, test_info_submitted);
	tcase_add_test(tc, test_info_errors);

	tc = tcase(s, "save", 60);
	tcase_add_test(tc, test_save_response);
	tcase_add_test(tc, test_save_merge);
	tcase_add_test(tc, test_save_merge_top_level_only);
	tcase_add_test(tc, test_save_untimed_and_alias);
	tcase_add_test(tc, test_save_auto_save_replaced);
	tcase_add_test(tc, test_save_expected_version_ok);
	tcase_add_test(tc, test_save_version_conflict);
	tcase_add_test(tc, test_save_version_ahead_conflict);
	tcase_add_test(tc, test_save_if_match);
	tcase_add_test(tc, test_save_if_match_stale);
	tcase_add_test(tc, test_save_other_student);
	tcase_add_test(tc, test_save_staff_forbidden);
	tcase_add_test(tc, test_save_bad_target);
	tcase_add_test(tc, test_save_invalid_json);
	tcase_add_test(tc, test_save_answers_not_object);
	tcase_add_test(tc, test_save_expected_version_not_number);
	tcase_add_test(tc, test_save_nothing_to_save);
	tcase_add_test(tc, test_save_too_large);
	tcase_add_test(tc, test_save_submitted);
	tcase_add_test(tc, test_save_then_state_read_your_writes);
	tcase_add_test(tc, test_save_concurrent_versions);
	tcase_add_test(tc, test_save_answers_limit);
	tcase_add_test(tc, test_save_in_grace);
	tcase_add_test(tc, test_save_past_deadline_closes);

	tc = tcase(s, "routing", 60);
	tcase_add_test(tc, test_route_unknown_path);
	tcase_add_test(tc, test_route_missing_action);
	tcase_add_test(tc, test_route_bogus_action);
	tcase_add_test(tc, test_route_delete_state);
	tcase_add_test(tc, test_route_post_save);
	tcase_add_test(tc, test_route_other_wrong_methods);

	tc = tcase(s, "auth", 60);
	tcase_add_test(tc, test_auth_expired);
	tcase_add_test(tc, test_auth_expired_beyond_leeway);
	tcase_add_test(tc, test_auth_expired_within_leeway);
	tcase_add_test(tc, test_auth_wrong_secret);
	tcase_add_test(tc, test_auth_alg_none);
	tcase_add_test(tc, test_auth_other_alg);
	tcase_add_test(tc, test_auth_handmade_token_accepted);
	tcase_add_test(tc, test_auth_unknown_role);
	tcase_add_test(tc, test_auth_missing_claims);
	tcase_add_test(tc, test_auth_iat_in_future);
	tcase_add_test(tc, test_auth_malformed_header);
	return s;
}

int main(void)
{
	if (e2e_read_env("check_e2e", NULL) != 0)
		return 77;
	return e2e_run(e2e_suite(), CK_NORMAL);
}
