/* check_e2e_attempts: starting an attempt, its state and its info. Part
 * of check_e2e (see check_e2e.c). */
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

#define START_PATH "/api/attempts/new?action=start"
#define START_ALIAS "/api/attempts/any-id/route.ts?action=start"

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

/* POSTs the start of exam as u to path (either spelling of the action),
 * expecting status (201: a new attempt, 200: the one in progress); the
 * answer stays in *r. */
static const cJSON *start_at(resp *r, const char *path, const user *u, const char *exam, int status)
{
	char body[96];

	start_body(body, sizeof body, exam);
	send_req(r, "POST", path, u, body, NULL);
	return expect_ok(r, status);
}

/* A first start: timed (a deadline, time remaining counting down from
 * 600 s) or untimed (neither). */
static const struct start_first {
	const char *exam;
	int timed;
} start_firsts[] = {
	{"{\"title\":\"Timed\",\"time_limit_s\":600}", 1},
	{"{\"title\":\"Untimed\"}", 0},
};

START_TEST(test_start_first)
{
	const struct start_first *c = &start_firsts[_i];
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[ID_LEN];
	resp r;
	const cJSON *o;
	double left;

	exam_create(&p, c->exam, exam);
	o = start_at(&r, START_PATH, &s, exam, 201);
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
	expect_ts(o, "updated_at");
	expect_null(o, "submitted_at");
	if (c->timed) {
		expect_ts(o, "deadline_at");
		left = jnum(o, "time_remaining_s");
		ck_assert_msg(left > 590 && left <= 600, "time_remaining_s %g, want ~600", left);
	} else {
		expect_null(o, "deadline_at");
		expect_null(o, "time_remaining_s");
	}
	ck_assert_int_eq(db_version(jstr(o, "attempt_id")), 1);
	resp_free(&r);
	user_free(&p);
	user_free(&s);
}
END_TEST

/* A start by a student who has an attempt of the exam: the one in
 * progress again (200), or, once it is submitted, a new one while
 * max_attempts allows (201), else 409 max_attempts_reached. */
static const struct start_again {
	const char *exam;
	int submit_first;
	int status;
	int number; /* the answer's attempt_number (200, 201) */
	long rows;  /* the student's attempts afterwards */
} start_agains[] = {
	{"{\"title\":\"Retry\",\"max_attempts\":3}", 0, 200, 1, 1},
	{"{\"title\":\"Once\"}", 1, 409, 0, 1},
	{"{\"title\":\"Twice\",\"max_attempts\":2}", 1, 201, 2, 2},
};

START_TEST(test_start_again)
{
	const struct start_again *c = &start_agains[_i];
	world w;
	char body[96];
	resp r;
	const cJSON *o;

	world_new(&w, c->exam);
	if (c->submit_first)
		db_submit(w.attempt_id);
	start_body(body, sizeof body, w.exam_id);
	send_req(&r, "POST", START_PATH, &w.student, body, NULL);
	if (c->status == 409) {
		expect_error(&r, 409, "max_attempts_reached");
	} else {
		o = expect_ok(&r, c->status);
		expect_num(o, "attempt_number", c->number);
		expect_num(o, "version", 1);
		if (c->status == 200) {
			expect_state_keys(o);
			expect_str(o, "attempt_id", w.attempt_id);
		} else {
			ck_assert_str_ne(jstr(o, "attempt_id"), w.attempt_id);
		}
	}
	resp_free(&r);
	ck_assert_int_eq(
		db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1", w.student.sub),
		c->rows);
	world_free(&w);
}
END_TEST

/* Starts refused, each creating no attempt: a bad exam_id (422 naming
 * it), an exam that does not exist, one closed or not open yet. */
static const struct start_refusal {
	const char *bodies[3]; /* sent as given (none: the body names exam) */
	const char *exam;      /* created by a proctor (NULL with no bodies: a random id) */
	int status;
	const char *code;
	const char *field; /* 422 validation_failed's details.field (NULL: not checked) */
} start_refusals[] = {
	{{"{}", "{\"exam_id\":null}"}, NULL, 422, "validation_failed", "exam_id"},
	{{"{\"exam_id\":\"not-a-uuid\"}", "{\"exam_id\":7}",
	  "{\"exam_id\":\"ABCDEF00-0000-4000-8000-00000000000A\"}"},
	 NULL,
	 422,
	 "validation_failed",
	 "exam_id"},
	{{NULL}, NULL, 404, "not_found", NULL},
	{{NULL},
	 "{\"title\":\"Closed\",\"closes_at\":\"2001-01-01T00:00:00Z\"}",
	 409,
	 "exam_closed",
	 NULL},
	{{NULL},
	 "{\"title\":\"Not yet\",\"opens_at\":\"2098-01-01T00:00:00Z\"}",
	 409,
	 "exam_closed",
	 NULL},
};

START_TEST(test_start_refused)
{
	const struct start_refusal *c = &start_refusals[_i];
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], body[96];

	for (size_t k = 0; k < sizeof c->bodies / sizeof c->bodies[0] && c->bodies[k]; k++)
		start_expect_error(&s, c->bodies[k], c->status, c->code, c->field);
	if (c->bodies[0] == NULL) {
		if (c->exam != NULL)
			exam_create(&p, c->exam, exam);
		else
			ck_assert_int_eq(uuid_generate(exam), ATT_OK);
		start_body(body, sizeof body, exam);
		start_expect_error(&s, body, c->status, c->code, c->field);
	}
	user_free(&p);
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

START_TEST(test_start_route_ts_alias)
{
	user p = user_new(AUTH_ROLE_PROCTOR), s = user_new(AUTH_ROLE_STUDENT);
	char exam[UUID_STR_LEN + 1], first[UUID_STR_LEN + 1];
	resp r;
	const cJSON *o;

	exam_create(&p, "{\"title\":\"Alias\"}", exam);
	o = start_at(&r, START_ALIAS, &s, exam, 201);
	expect_str(o, "exam_id", exam);
	expect_str(o, "user_id", s.sub);
	memcpy(first, jstr(o, "attempt_id"), sizeof first);
	resp_free(&r);
	expect_str(start_at(&r, START_ALIAS, &s, exam, 200), "attempt_id", first);
	resp_free(&r);
	user_free(&p);
	user_free(&s);
}
END_TEST

/* The owner's first read (action) of a fresh world w of exam: asserts 200
 * and what any such read says (the ids, in_progress, version 1); the
 * answer stays in *r. */
static const cJSON *fresh_read(resp *r, world *w, const char *exam, const char *action)
{
	const cJSON *o;

	world_new(w, exam);
	get_action(r, &w->student, w->attempt_id, action);
	o = expect_ok(r, 200);
	expect_str(o, "attempt_id", w->attempt_id);
	expect_str(o, "exam_id", w->exam_id);
	expect_str(o, "user_id", w->student.sub);
	expect_str(o, "status", "in_progress");
	expect_num(o, "version", 1);
	return o;
}

START_TEST(test_state_owner)
{
	world w;
	resp r;
	const cJSON *o = fresh_read(&r, &w, "{\"title\":\"State\",\"time_limit_s\":900}", "state");

	expect_state_keys(o);
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
	char path[128];

	world_new(&w, "{\"title\":\"Leak\"}");
	expect_as_missing("GET", &other, w.attempt_id, "state", NULL);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=state", w.attempt_id);
	refused("GET", path, &other, NULL, 404, "not_found");
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_state_missing)
{
	user s = user_new(AUTH_ROLE_STUDENT), a = user_new(AUTH_ROLE_ADMIN);
	char missing[UUID_STR_LEN + 1];

	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	get_action_refused(&s, missing, "state", 404, "not_found");
	get_action_refused(&a, missing, "state", 404, "not_found");
	user_free(&s);
	user_free(&a);
}
END_TEST

START_TEST(test_state_invalid_uuid)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	refused("GET", "/api/attempts/abc?action=state", &s, NULL, 400, "invalid_uuid");
	refused("GET", "/api/attempts/abc/route.ts?action=state", &s, NULL, 400, "invalid_uuid");
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

/* A submitted attempt's state and info; the UPDATE bypassed the service,
 * so the request asks past any cache. */
static const struct submitted_read {
	const char *exam, *action;
	int info; /* also submit_reason and the receipt */
} submitted_reads[] = {
	{"{\"title\":\"State submitted\",\"time_limit_s\":600}", "state", 0},
	{"{\"title\":\"Info 2\",\"time_limit_s\":1200}", "info", 1},
};

START_TEST(test_read_submitted)
{
	const struct submitted_read *c = &submitted_reads[_i];
	world w;
	const char *h[] = {"Cache-Control: no-cache", NULL};
	char path[128];
	resp r;
	const cJSON *o;

	world_new(&w, c->exam);
	db_submit(w.attempt_id);
	attempt_path(path, sizeof path, w.attempt_id, c->action);
	send_req(&r, "GET", path, &w.student, NULL, h);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	if (c->info) {
		expect_str(o, "submit_reason", "student");
		ck_assert_int_eq((int)strlen(jstr(o, "receipt")), 64);
	}
	expect_ts(o, "submitted_at");
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_info_fields)
{
	world w;
	resp r;
	const cJSON *o =
		fresh_read(&r, &w, "{\"title\":\"Info exam\",\"time_limit_s\":1200}", "info");

	expect_num(o, "attempt_number", 1);
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

START_TEST(test_info_errors)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[UUID_STR_LEN + 1];
	resp r;

	world_new(&w, "{\"title\":\"Info errors\"}");
	get_action_refused(&other, w.attempt_id, "info", 404, "not_found");
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	get_action_refused(&w.student, missing, "info", 404, "not_found");
	get_action_refused(&w.student, "xyz", "info", 400, "invalid_uuid");
	get_action(&r, NULL, w.attempt_id, "info");
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&other);
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void e2e_attempts_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "start", 60, E2E_LOOP(test_start_first, start_firsts),
		      E2E_LOOP(test_start_again, start_agains),
		      test_start_invalid_json_and_no_token,
		      E2E_LOOP(test_start_refused, start_refusals), test_start_route_ts_alias);
	E2E_ADD_TESTS(s, "state", 60, test_state_owner, test_state_proctor_admin,
		      test_state_route_ts_alias, test_state_other_student_as_missing,
		      test_state_missing, test_state_invalid_uuid, test_state_no_token,
		      E2E_ROWS(test_read_submitted, 0, 1));
	E2E_ADD_TESTS(s, "info", 60, test_info_fields, test_info_staff_and_alias,
		      E2E_ROWS(test_read_submitted, 1, 2), test_info_errors);
}
