/* check_sql_exams.c — the SQL layer's tests of the caller (claims,
 * require_caller), exams (create, list, get, their refusals) and starting
 * an attempt. Part of tests/check_sql (check_sql.h). */

#include "check_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ------------------------------------------------------------ claims */

START_TEST(test_unauthorized)
{
	const char *exam = mk_exam(NULL);
	const char *bad[] = {
		"",
		"not json",
		"[1]",
		"{\"role\": \"student\"}",
		"{\"sub\": \"x\", \"role\": \"student\"}",
		fmt("{\"sub\": \"%s\", \"role\": \"teacher\"}", new_uuid()),
		fmt("{\"sub\": \"%s\"}", new_uuid()),
		/* near misses of the compact form the service writes */
		fmt("{\"sub\":\"%s\",\"role\":\"studentx\"}", new_uuid()),
		fmt("{\"sub\":\"%s\",\"role\":\"\"}", new_uuid()),
		"{\"sub\":\"00000000-0000-4000-8000-00000000000g\",\"role\":\"admin\"}",
		"{\"sub\":\"00000000-0000-4000-8000-0000000000001\",\"role\":\"admin\"}",
		fmt("{\"sub\":\"%s\",\"role\":\"admin\"", new_uuid()),
	};

	for (size_t i = 0; i < N_OF(bad); i++) {
		claims_on(db, bad[i]);
		ck_assert_err(J("SELECT attempts.get_exam($1)", exam), "unauthorized");
		ck_assert_err(J("SELECT attempts.start_attempt($1)", exam), "unauthorized");
	}
	V0("RESET request.jwt.claims");
	ck_assert_err(J("SELECT attempts.get_exam($1)", exam), "unauthorized");
	ck_assert_err(J0("SELECT attempts.close_expired_attempts()"), "unauthorized");
	ck_assert_err(J("SELECT attempts.get_multiple_attempt_states($1)", "{}"), "unauthorized");
}
END_TEST

/* The caller is the same whether the claims come in the compact form the
 * service writes (read by position) or in any other JSON spelling (parsed). */
START_TEST(test_claims_forms)
{
	const char *u = new_uuid(), *exam = mk_exam(NULL);
	const char *attempt = mk_attempt(u, exam);
	char upper[64];
	const char *forms[5];

	snprintf(upper, sizeof upper, "%s", u);
	for (char *c = upper; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	forms[0] = fmt("{\"sub\":\"%s\",\"role\":\"student\"}", u);
	forms[1] = fmt("{\"sub\":\"%s\",\"role\":\"student\"}", upper);
	forms[2] = fmt("{\"sub\": \"%s\", \"role\": \"student\", \"exp\": 1}", u);
	forms[3] = fmt("{\"role\":\"student\",\"sub\":\"%s\"}", u);
	forms[4] = fmt("{\"sub\":\"%s\",\"role\":\"stud\\u0065nt\"} ", u);
	for (size_t i = 0; i < N_OF(forms); i++) {
		claims_on(db, forms[i]);
		ck_assert_msg(strcmp(jstr(state(attempt), "attempt_id"), attempt) == 0,
			      "claims %s: %s", forms[i], show(state(attempt)));
	}
	claims_on(db, fmt("{\"sub\":\"%s\",\"role\":\"proctor\"}", new_uuid()));
	ck_assert_str_eq(jstr(state(attempt), "attempt_id"), attempt); /* staff reads any */
	claims_on(db, fmt("{\"sub\":\"%s\",\"role\":\"student\"}", new_uuid()));
	ck_assert_err(state(attempt), "not_found"); /* another student */
}
END_TEST

/* require_caller, the one check every entry point starts with: the caller
 * for any role with NULL, forbidden (naming the roles) outside the list,
 * unauthorized without claims, whatever the list. */
START_TEST(test_require_caller)
{
	const char *u = new_uuid();
	const char *q = "SELECT concat_ws('|', c.sub, c.role, c.error #>> '{error,code}', "
			"c.error #>> '{error,message}') FROM attempts.require_caller($1::text[]) c";

	as_on(db, u, "proctor");
	ck_assert_str_eq(V(q, NULL), fmt("%s|proctor", u));
	ck_assert_str_eq(V(q, "{proctor,admin}"), fmt("%s|proctor", u));
	ck_assert_str_eq(V(q, "{admin}"), fmt("%s|proctor|forbidden|admin role required", u));
	as_on(db, u, "student");
	ck_assert_str_eq(V(q, "{proctor,admin}"),
			 fmt("%s|student|forbidden|proctor or admin role required", u));
	V0("RESET request.jwt.claims");
	ck_assert_str_eq(V(q, NULL), "unauthorized|missing or invalid request.jwt.claims");
	ck_assert_str_eq(V(q, "{admin}"), "unauthorized|missing or invalid request.jwt.claims");
}
END_TEST

/* ------------------------------------------------------------ exams */

START_TEST(test_create_exam_defaults)
{
	const char *title = fmt("defaults %s", new_uuid());
	cJSON *r, *g;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.create_exam($1)", fmt("{\"title\": \"%s\"}", title));
	ck_assert_ok(r);
	ck_assert(has_keys(
		r, "exam_id,title,time_limit_s,grace_s,max_attempts,opens_at,closes_at,upload"));
	ck_assert_str_eq(jstr(r, "title"), title);
	ck_assert(jnull(r, "time_limit_s"));
	ck_assert_int_eq(jint(r, "grace_s"), 0);
	ck_assert_int_eq(jint(r, "max_attempts"), 1);
	ck_assert(jnull(r, "opens_at"));
	ck_assert(jnull(r, "closes_at"));
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 10485760);
	ck_assert_str_eq(show(jget(r, "upload.allowed_types")),
			 "[\"application/pdf\",\"image/png\",\"image/jpeg\",\"text/plain\"]");

	as(new_uuid(), "student");
	g = J("SELECT attempts.get_exam($1)", jstr(r, "exam_id"));
	ck_assert_str_eq(show(g), show(r));
}
END_TEST

START_TEST(test_create_exam_fields)
{
	cJSON *r;

	as(new_uuid(), "admin");
	r = J("SELECT attempts.create_exam($1)",
	      "{\"title\": \"full\", \"time_limit_s\": 3600, \"grace_s\": 30, \"max_attempts\": 3,"
	      " \"opens_at\": \"2020-01-01T00:00:00Z\", \"closes_at\": "
	      "\"2099-01-01T10:00:00+02:00\","
	      " \"upload\": {\"max_bytes\": 2048}}");
	ck_assert_ok(r);
	ck_assert_int_eq(jint(r, "time_limit_s"), 3600);
	ck_assert_int_eq(jint(r, "grace_s"), 30);
	ck_assert_int_eq(jint(r, "max_attempts"), 3);
	ck_assert_str_eq(jstr(r, "opens_at"), "2020-01-01T00:00:00.000000Z");
	ck_assert_str_eq(jstr(r, "closes_at"), "2099-01-01T08:00:00.000000Z");
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 2048);
	/* a partial upload object keeps the other defaults */
	ck_assert_int_eq(jsize(r, "upload.allowed_types"), 4);

	r = J("SELECT attempts.create_exam($1)",
	      "{\"title\": \"types\", \"upload\": {\"allowed_types\": [\"Text/Plain\", "
	      "\"text/plain\", \"application/zip\"]}}");
	ck_assert_ok(r);
	ck_assert_str_eq(show(jget(r, "upload.allowed_types")),
			 "[\"text/plain\",\"application/zip\"]");
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 10485760);
}
END_TEST

/* list_exams: staff only, newest first, limit and before checked. */
START_TEST(test_list_exams)
{
	const char *older = mk_exam(NULL), *newer = mk_exam(NULL);

	as(new_uuid(), "proctor");
	ck_assert_str_eq(V0("SELECT string_agg(e ->> 'exam_id', ',') FROM "
			    "jsonb_array_elements(attempts.list_exams('2') -> 'exams') e"),
			 fmt("%s,%s", newer, older));
	ck_assert_str_eq(
		V("SELECT attempts.list_exams('5', $1) #>> '{exams,0,exam_id}'",
		  V("SELECT attempts.ts(created_at) FROM attempts.exams WHERE exam_id = $1",
		    newer)),
		older);
	ck_assert_err(J0("SELECT attempts.list_exams('0')"), "validation_failed");
	ck_assert_err(J0("SELECT attempts.list_exams('1001')"), "validation_failed");
	ck_assert_err(J0("SELECT attempts.list_exams(NULL, 'soon')"), "validation_failed");
}
END_TEST

START_TEST(test_create_exam_validation)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{}", "title"},
		{"{\"title\": \"\"}", "title"},
		{"{\"title\": 5}", "title"},
		{"{\"title\": \"t\", \"time_limit_s\": 0}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": 604801}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": 1.5}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": \"60\"}", "time_limit_s"},
		{"{\"title\": \"t\", \"grace_s\": -1}", "grace_s"},
		{"{\"title\": \"t\", \"max_attempts\": 0}", "max_attempts"},
		{"{\"title\": \"t\", \"max_attempts\": 1001}", "max_attempts"},
		{"{\"title\": \"t\", \"opens_at\": \"yesterday\"}", "opens_at"},
		{"{\"title\": \"t\", \"closes_at\": \"now\"}", "closes_at"},
		{"{\"title\": \"t\", \"opens_at\": \"2030-01-02T00:00:00Z\", \"closes_at\": "
		 "\"2030-01-01T00:00:00Z\"}",
		 "closes_at"},
		{"{\"title\": \"t\", \"upload\": 5}", "upload"},
		{"{\"title\": \"t\", \"upload\": {\"max_bytes\": 0}}", "upload.max_bytes"},
		{"{\"title\": \"t\", \"upload\": {\"max_bytes\": 1073741825}}", "upload.max_bytes"},
		{"{\"title\": \"t\", \"upload\": {\"allowed_types\": []}}", "upload.allowed_types"},
		{"{\"title\": \"t\", \"upload\": {\"allowed_types\": [\"text/plain\", \"pdf\"]}}",
		 "upload.allowed_types[1]"},
	};
	const char *before;

	as(new_uuid(), "proctor");
	before = V0("SELECT count(*) FROM attempts.exams");
	for (size_t i = 0; i < N_OF(cases); i++) {
		cJSON *r = J("SELECT attempts.create_exam($1)", cases[i].body);

		ck_assert_err(r, "validation_failed");
		ck_assert_field(r, cases[i].field);
	}
	ck_assert_err(J("SELECT attempts.create_exam($1)", "[]"), "validation_failed");
	ck_assert_str_eq(V0("SELECT count(*) FROM attempts.exams"), before);
}
END_TEST

/* What an exam-level call answers a caller who may not make it, or for an
 * exam that does not exist. */
START_TEST(test_exam_refusals)
{
	static const refusal calls[] = {
		{"SELECT attempts.create_exam('{\"title\": \"no\"}')", .other = "forbidden"},
		{"SELECT attempts.list_exams()", .other = "forbidden"},
		{"SELECT attempts.get_exam($1)", .missing = "not_found"},
		{"SELECT attempts.start_attempt($1)", .missing = "not_found"},
		{"SELECT attempts.start_attempt(NULL)", .other = "validation_failed"},
		{"SELECT attempts.get_attempt_statistics($1)", .other = "forbidden",
		 .missing = "not_found"},
		{"SELECT attempts.get_active_attempts($1)", .other = "forbidden",
		 .missing = "not_found"},
		{"SELECT attempts.get_live_snapshot($1)", .other = "forbidden",
		 .missing = "not_found"},
	};
	const char *before = V0("SELECT count(*) FROM attempts.exams");

	expect_refusals(NULL, mk_exam(NULL), NULL, calls, N_OF(calls));
	ck_assert_int_eq(atoi(V0("SELECT count(*) FROM attempts.exams")), atoi(before) + 1);
}
END_TEST

/* ------------------------------------------------------------ start */

START_TEST(test_start_creates_state)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	cJSON *r;

	as(u, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	ck_assert(jtrue(r, "created"));
	ck_assert(has_keys(r, "created,state"));
	ck_assert_msg(has_keys(jget(r, "state"), STATE_KEYS), "state keys: %s", show(r));
	ck_assert_str_eq(jstr(r, "state.exam_id"), exam);
	ck_assert_str_eq(jstr(r, "state.user_id"), u);
	ck_assert_int_eq(jint(r, "state.attempt_number"), 1);
	ck_assert_str_eq(jstr(r, "state.status"), "in_progress");
	ck_assert_str_eq(show(jget(r, "state.answers")), "{}");
	ck_assert_str_eq(show(jget(r, "state.auto_save_data")), "{}");
	ck_assert_int_eq(jint(r, "state.version"), 1);
	ck_assert(is_ts(jstr(r, "state.started_at")));
	ck_assert(is_ts(jstr(r, "state.updated_at")));
	ck_assert(jnull(r, "state.deadline_at"));
	ck_assert(jnull(r, "state.submitted_at"));
	ck_assert(jnull(r, "state.time_remaining_s"));
}
END_TEST

START_TEST(test_start_twice_same_attempt)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r = J("SELECT attempts.start_attempt($1)", exam);

	ck_assert_ok(r);
	ck_assert(jfalse(r, "created"));
	ck_assert_str_eq(jstr(r, "state.attempt_id"), a);
	ck_assert_str_eq(V("SELECT count(*) FROM attempts.attempts WHERE exam_id = $1", exam), "1");
}
END_TEST

START_TEST(test_start_deadline)
{
	const char *exam = mk_exam("\"time_limit_s\": 600"), *u = new_uuid();
	cJSON *r;
	long left;

	as(u, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	ck_assert(is_ts(jstr(r, "state.deadline_at")));
	left = jint(r, "state.time_remaining_s");
	ck_assert_msg(left >= 598 && left <= 600, "time_remaining_s %ld", left);
	ck_assert_str_eq(
		V("SELECT deadline_at - started_at = interval '600 s' FROM attempts.attempts "
		  "WHERE attempt_id = $1",
		  jstr(r, "state.attempt_id")),
		"t");
}
END_TEST

START_TEST(test_start_max_attempts)
{
	const char *one = mk_exam(NULL), *two = mk_exam("\"max_attempts\": 2");
	const char *u = new_uuid(), *a;
	cJSON *r;

	a = mk_attempt(u, one);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.start_attempt($1)", one);
	ck_assert_err(r, "max_attempts_reached");

	a = mk_attempt(u, two);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.start_attempt($1)", two);
	ck_assert_ok(r);
	ck_assert(jtrue(r, "created"));
	ck_assert_int_eq(jint(r, "state.attempt_number"), 2);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", jstr(r, "state.attempt_id")));
	ck_assert_err(J("SELECT attempts.start_attempt($1)", two), "max_attempts_reached");
}
END_TEST

START_TEST(test_start_exam_closed)
{
	const char *past = mk_exam("\"closes_at\": \"2001-01-01T00:00:00Z\"");
	const char *future = mk_exam("\"opens_at\": \"2999-01-01T00:00:00Z\"");
	const char *open = mk_exam(
		"\"opens_at\": \"2001-01-01T00:00:00Z\", \"closes_at\": \"2999-01-01T00:00:00Z\"");

	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.start_attempt($1)", past), "exam_closed");
	ck_assert_err(J("SELECT attempts.start_attempt($1)", future), "exam_closed");
	ck_assert_ok(J("SELECT attempts.start_attempt($1)", open));
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempts WHERE exam_id IN ($1, $2)", past, future),
		"0");
}
END_TEST

/* Two concurrent starts: the second waits for the first and gets its attempt. */
START_TEST(test_start_concurrent)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	PGconn *other = connect_db();
	const char *params[] = {exam};
	PGresult *res;
	cJSON *first, *second;

	as(u, "student");
	as_on(other, u, "student");
	V0("BEGIN");
	first = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert(jtrue(first, "created"));

	ck_assert_int_eq(PQsendQueryParams(other, "SELECT attempts.start_attempt($1)", 1, NULL,
					   params, NULL, NULL, 0),
			 1);
	nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
	ck_assert_int_eq(PQconsumeInput(other), 1);
	ck_assert_msg(PQisBusy(other), "the second start did not wait for the first");
	V0("COMMIT");

	res = PQgetResult(other);
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	second = kept_json(cJSON_Parse(PQgetvalue(res, 0, 0)));
	PQclear(res);
	ck_assert_ptr_null(PQgetResult(other));
	PQfinish(other);

	ck_assert_msg(jfalse(second, "created"), "second: %s", show(second));
	ck_assert_str_eq(jstr(second, "state.attempt_id"), jstr(first, "state.attempt_id"));
	ck_assert_str_eq(V("SELECT count(*) FROM attempts.attempts WHERE exam_id = $1", exam), "1");
}
END_TEST

void sql_add_exams(Suite *s)
{
	TCase *tc = sql_tcase("exams");

	tcase_add_test(tc, test_unauthorized);
	tcase_add_test(tc, test_claims_forms);
	tcase_add_test(tc, test_require_caller);
	tcase_add_test(tc, test_create_exam_defaults);
	tcase_add_test(tc, test_create_exam_fields);
	tcase_add_test(tc, test_list_exams);
	tcase_add_test(tc, test_create_exam_validation);
	tcase_add_test(tc, test_exam_refusals);
	suite_add_tcase(s, tc);

	tc = sql_tcase("start");
	tcase_add_test(tc, test_start_creates_state);
	tcase_add_test(tc, test_start_twice_same_attempt);
	tcase_add_test(tc, test_start_deadline);
	tcase_add_test(tc, test_start_max_attempts);
	tcase_add_test(tc, test_start_exam_closed);
	tcase_add_test(tc, test_start_concurrent);
	suite_add_tcase(s, tc);
}
