/* check_sql_batch.c — the SQL layer's tests of the batch functions (many
 * items of one caller in one call; batch_save's two paths compared) and
 * of an exam's statistics and active attempts. Part of tests/check_sql
 * (check_sql.h). */

#include "check_sql.h"

/* ------------------------------------------------------------ batch */

START_TEST(test_batch_save)
{
	const two_students t = mk_two_students();
	const char *other = t.other, *mine = t.mine, *theirs = t.theirs;
	cJSON *r;

	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1}, \"expected_version\": 1},"
		  " {\"attempt_id\": \"not-a-uuid\", \"answers\": {}},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		  " {\"attempt_id\": \"%s\", \"answers\": [1]},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q1\": 2}, \"expected_version\": 1},"
		  " {\"attempt_id\": \"%s\", \"auto_save_data\": {\"p\": 9}, \"expected_version\": "
		  "2},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}}]",
		  mine, theirs, mine, mine, mine, new_uuid()));
	ck_assert_int_eq(jsize(r, NULL), 7);
	ck_assert(jtrue(r, "0.success"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "0.version"), 2);
	ck_assert(jfalse(r, "1.success"));
	ck_assert_str_eq(jstr(r, "1.error.code"), "validation_failed");
	ck_assert_str_eq(jstr(r, "1.error.details.field"), "data[1].attempt_id");
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "2.attempt_id"), theirs);
	ck_assert_str_eq(jstr(r, "3.error.details.field"), "data[3].answers");
	ck_assert_str_eq(jstr(r, "4.error.code"), "version_conflict");
	ck_assert_int_eq(jint(r, "4.error.details.current_version"), 2);
	ck_assert(jtrue(r, "5.success"));
	ck_assert_int_eq(jint(r, "5.version"), 3);
	ck_assert_str_eq(jstr(r, "6.error.code"), "not_found");

	r = state(mine);
	ck_assert_str_eq(show(jget(r, "answers")), "{\"q1\":1}");
	ck_assert_str_eq(show(jget(r, "auto_save_data")), "{\"p\":9}");
	as(other, "student");
	ck_assert_int_eq(jint(state(theirs), "version"), 1);
	ck_assert_err(J("SELECT attempts.batch_save_attempts($1)", "{}"), "validation_failed");
	ck_assert_int_eq(jsize(J0("SELECT attempts.batch_save_attempts('[]')"), NULL), 0);
}
END_TEST

/* Items naming one attempt twice are applied in input order, each seeing
 * the one before (batch_save takes the item-by-item path for them). */
START_TEST(test_batch_save_same_attempt_twice)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *mine = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1, \"q2\": 2}, "
		  "\"expected_version\": 1},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q1\": null}, \"expected_version\": 2},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q3\": 3}, \"expected_version\": 2}]",
		  mine, mine, mine));
	ck_assert_int_eq(jsize(r, NULL), 3);
	ck_assert_int_eq(jint(r, "0.version"), 2);
	ck_assert_int_eq(jint(r, "1.version"), 3);
	ck_assert_str_eq(jstr(r, "2.error.code"), "version_conflict");
	ck_assert_int_eq(jint(r, "2.error.details.current_version"), 3);
	ck_assert_str_eq(show(jget(state(mine), "answers")), "{\"q2\":2}");
}
END_TEST

/* An item for an attempt past its deadline closes it (reason deadline) as
 * save_attempt does, and the other items are saved. */
START_TEST(test_batch_save_past_deadline_closes)
{
	const char *u = new_uuid();
	const char *late = mk_attempt(u, mk_exam("\"time_limit_s\": 60"));
	const char *open = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	backdate(late, 120);
	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 2}}]",
		  open, late));
	ck_assert(jtrue(r, "0.success"));
	ck_assert_str_eq(jstr(r, "1.error.code"), "attempt_closed");
	r = row(late);
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_str_eq(jstr(r, "submit_reason"), "deadline");
	ck_assert_str_eq(show(jget(r, "answers")), "{}");
	ck_assert_str_eq(show(jget(row(open), "answers")), "{\"q\":1}");
}
END_TEST

/* Runs batch function fn (batch_save_each or batch_save_set) for sub/role
 * on items with an answers limit of 200 bytes, in a transaction it rolls
 * back; returns its answer and sets *rows to sub's attempt rows as they
 * were before the rollback. */
static const char *batch_path(const char *fn, const char *sub, const char *role, const char *items,
			      const char **rows)
{
	const char *out;

	V0("BEGIN");
	out = V(fmt("SELECT attempts.%s($1, $2, $3, 200)::text", fn), sub, role, items);
	*rows = V("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(attempt_id, status,"
		  " submit_reason, answers, auto_save_data, version) ORDER BY attempt_id)::text"
		  " FROM attempts.attempts WHERE user_id = $1",
		  sub);
	V0("ROLLBACK");
	return out;
}

/* The one-statement path (batch_save_set) answers and writes exactly what
 * the item-by-item path (batch_save_each) does, for every kind of item it
 * serves (distinct attempts, none past its deadline), as a student and as
 * staff saving their own attempts. */
START_TEST(test_batch_save_paths_agree)
{
	static const char *const roles[] = {"student", "proctor", "admin"};
	const char *u = new_uuid(), *theirs = mk_attempt(new_uuid(), mk_exam(NULL));
	const char *a[12], *items;

	for (int i = 0; i < 12; i++)
		a[i] = mk_attempt(u, mk_exam(NULL));
	as(u, "student");
	ck_assert_ok(J("SELECT attempts.save_attempt($1::uuid, $2::jsonb, '{\"p\": 1}'::jsonb, "
		       "NULL::int, 524288)",
		       a[1], "{\"q1\": \"x\", \"q2\": {\"n\": null}, \"q3\": 3}"));
	V("UPDATE attempts.attempts SET status = 'submitted', submitted_at = now(),"
	  " submit_reason = 'student', receipt = repeat('0', 64) WHERE attempt_id = $1",
	  a[9]);
	items = fmt(
		"[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1}, \"expected_version\": 1},"
		" 7, [1], null,"
		" {\"attempt_id\": \"%s\", \"answers\": {\"q1\": null, \"q3\": [null], \"q4\": {}},"
		"  \"auto_save_data\": {\"p\": 2}, \"expected_version\": 2},"
		" {\"attempt_id\": \"%s\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": [1]},"
		" {\"attempt_id\": \"%s\", \"auto_save_data\": \"x\"},"
		" {\"attempt_id\": \"%s\", \"expected_version\": \"1\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"expected_version\": 1.5, \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"expected_version\": 9, \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": null, \"auto_save_data\": null},"
		" {\"attempt_id\": \"%s\", \"answers\": {\"big\": \"%0300d\"}},"
		" {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		" {\"attempt_id\": \"NOT-A-UUID\"}, {\"attempt_id\": 5}, {},"
		" {\"attempt_id\": \"%s\", \"auto_save_data\": {\"only\": true}},"
		" {\"attempt_id\": \"%s\", \"answers\": {}, \"expected_version\": 1}]",
		a[0], a[1], theirs, new_uuid(), a[2], a[3], a[4], a[5], a[6], a[7], a[8], 0, a[9],
		a[10], a[11]);
	for (size_t k = 0; k < N_OF(roles); k++) {
		const char *rows_each, *rows_set;
		const char *each = batch_path("batch_save_each", u, roles[k], items, &rows_each);
		const char *set = batch_path("batch_save_set", u, roles[k], items, &rows_set);

		expect_same_text(fmt("answers as %s (each, set)", roles[k]), each, set);
		expect_same_text(fmt("rows as %s (each, set)", roles[k]), rows_each, rows_set);
	}
	/* The comparison saw every kind of answer. */
	ck_assert_msg(
		strstr(V("SELECT attempts.batch_save_each($1, 'student', $2, 200)::text", u, items),
		       "payload_too_large") != NULL,
		"no item hit the size limit");
}
END_TEST

START_TEST(test_multiple_states)
{
	const two_students t = mk_two_students();
	const char *u = t.me, *other = t.other, *mine = t.mine, *theirs = t.theirs;
	const char *missing = new_uuid();
	cJSON *r;

	r = J("SELECT attempts.get_multiple_attempt_states($1)",
	      fmt("{%s,%s,%s,%s}", mine, theirs, missing, mine));
	ck_assert_int_eq(jsize(r, NULL), 4);
	ck_assert_msg(has_keys(jget(r, "0"), STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_str_eq(jstr(r, "1.attempt_id"), theirs);
	ck_assert_str_eq(jstr(r, "1.error.code"), "not_found");
	ck_assert(has_keys(jget(r, "1"), "attempt_id,error"));
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "3.attempt_id"), mine);
	ck_assert_str_eq(jstr(r, "3.status"), "in_progress");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.get_multiple_attempt_states($1)", fmt("{%s,%s}", theirs, mine));
	ck_assert_str_eq(jstr(r, "0.user_id"), other);
	ck_assert_str_eq(jstr(r, "1.user_id"), u);
	ck_assert_int_eq(jsize(J0("SELECT attempts.get_multiple_attempt_states('{}')"), NULL), 0);
}
END_TEST

START_TEST(test_multiple_infos)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *mine = mk_attempt(u, exam);
	cJSON *r = J("SELECT attempts.get_multiple_attempt_infos($1)",
		     fmt("{%s,%s}", new_uuid(), mine));

	ck_assert_str_eq(jstr(r, "0.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "1.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "1.activity_count"), 0);
	ck_assert_ptr_null(jget(r, "1.answers"));
}
END_TEST

START_TEST(test_batch_log)
{
	const two_students t = mk_two_students();
	const char *mine = t.mine, *theirs = t.theirs;
	cJSON *r;

	r = J("SELECT attempts.batch_log_attempt_activity($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\", "
		  "\"client_event_id\": \"e1\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\", "
		  "\"client_event_id\": \"e1\"},"
		  "                                    {\"event_type\": \"b\", "
		  "\"client_event_id\": \"e2\"}]},"
		  " {\"attempt_id\": 7, \"events\": []},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"NO\"}]}]",
		  mine, theirs, mine, mine));
	ck_assert_int_eq(jsize(r, NULL), 5);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,logged,duplicates"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "0.logged"), 1);
	ck_assert_str_eq(jstr(r, "1.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "1.attempt_id"), theirs);
	ck_assert_int_eq(jint(r, "2.logged"), 1);
	ck_assert_int_eq(jint(r, "2.duplicates"), 1);
	ck_assert_str_eq(jstr(r, "3.error.details.field"), "data[3].attempt_id");
	ck_assert_str_eq(jstr(r, "4.error.details.field"), "data[4].events[0].event_type");
	ck_assert_int_eq(count_of("attempt_activity", mine), 2);
	ck_assert_int_eq(count_of("attempt_activity", theirs), 0);

	/* p_items: only those items (1-based) are logged and answered, and an
	 * error still names the item's place in the whole batch */
	r = J("SELECT attempts.batch_log_attempt_activity($1, '{2,3}')",
	      fmt("[{\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"skipped\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"NO\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"c\"}]}]",
		  mine, mine, mine));
	ck_assert_int_eq(jsize(r, NULL), 2);
	ck_assert_str_eq(jstr(r, "0.error.details.field"), "data[1].events[0].event_type");
	ck_assert_int_eq(jint(r, "1.logged"), 1);
	ck_assert_int_eq(count_of("attempt_activity", mine), 3);
}
END_TEST

START_TEST(test_batch_submit)
{
	const char *exam = mk_exam(NULL);
	const char *a = mk_attempt(new_uuid(), exam);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *missing = new_uuid();
	const char *receipt_b;
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", b, "{\"x\": \"y\"}"));
	receipt_b = jstr(J("SELECT attempts.submit_attempt($1)", b), "receipt");
	as(new_uuid(), "proctor");
	r = J("SELECT attempts.batch_submit_attempts($1)", fmt("{%s,%s,%s,%s}", a, b, missing, a));
	ck_assert_int_eq(jsize(r, NULL), 4);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,submitted,already_submitted,receipt"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), a);
	ck_assert(jtrue(r, "0.submitted"));
	ck_assert(jfalse(r, "0.already_submitted"));
	ck_assert_str_eq(jstr(r, "0.receipt"), sha256_hex("{}"));
	ck_assert(jtrue(r, "1.already_submitted"));
	ck_assert_str_eq(jstr(r, "1.receipt"), receipt_b);
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert(jtrue(r, "3.already_submitted"));

	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(r, "submit_reason"), "cleanup");
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert_str_eq(jstr(J("SELECT attempts.get_attempt_info($1)", b), "submit_reason"),
			 "student");
}
END_TEST

/* ------------------------------------------------------------ statistics */

START_TEST(test_statistics)
{
	const char *exam = mk_exam(NULL), *empty = mk_exam(NULL);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *a = mk_attempt(new_uuid(), exam);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": 1, \"q2\": 2, \"q3\": 3}"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	V("UPDATE attempts.attempts SET started_at = submitted_at - interval '90 s' WHERE "
	  "attempt_id = $1",
	  a);
	as(new_uuid(), "proctor");
	r = J("SELECT attempts.get_attempt_statistics($1)", exam);
	ck_assert_msg(has_keys(r, "exam_id,total,in_progress,submitted,avg_duration_s,"
				  "median_duration_s,avg_answered,last_activity_at"),
		      "%s", show(r));
	ck_assert_str_eq(jstr(r, "exam_id"), exam);
	ck_assert_int_eq(jint(r, "total"), 2);
	ck_assert_int_eq(jint(r, "in_progress"), 1);
	ck_assert_int_eq(jint(r, "submitted"), 1);
	ck_assert_double_eq_tol(jnum(r, "avg_duration_s"), 90.0, 0.001);
	ck_assert_double_eq_tol(jnum(r, "median_duration_s"), 90.0, 0.001);
	ck_assert_double_eq_tol(jnum(r, "avg_answered"), 1.5, 0.001);
	ck_assert(is_ts(jstr(r, "last_activity_at")));
	(void)b;

	r = J("SELECT attempts.get_attempt_statistics($1)", empty);
	ck_assert_int_eq(jint(r, "total"), 0);
	ck_assert(jnull(r, "avg_duration_s"));
	ck_assert(jnull(r, "median_duration_s"));
}
END_TEST

START_TEST(test_active_attempts)
{
	const char *exam = mk_exam("\"time_limit_s\": 3600");
	const char *a = mk_attempt(new_uuid(), exam);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *c = mk_attempt(new_uuid(), exam);
	cJSON *r;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", c, "{\"q1\": 1, \"q2\": 2}"));
	V("UPDATE attempts.attempts SET started_at = started_at - interval '1 min' WHERE "
	  "attempt_id = $1",
	  c);
	as(new_uuid(), "admin");
	ck_assert_ok(J("SELECT attempts.batch_submit_attempts($1)", fmt("{%s}", b)));
	r = J("SELECT attempts.get_active_attempts($1)", exam);
	ck_assert(has_keys(r, "exam_id,attempts"));
	ck_assert_int_eq(jsize(r, "attempts"), 2);
	ck_assert_msg(has_keys(jget(r, "attempts.0"),
			       "attempt_id,user_id,started_at,last_activity_at,"
			       "time_remaining_s,version,answered_count"),
		      "%s", show(r));
	ck_assert_str_eq(jstr(r, "attempts.0.attempt_id"), c); /* oldest first */
	ck_assert_int_eq(jint(r, "attempts.0.answered_count"), 2);
	ck_assert_int_eq(jint(r, "attempts.0.version"), 2);
	ck_assert_str_eq(jstr(r, "attempts.1.attempt_id"), a);
	ck_assert(jint(r, "attempts.1.time_remaining_s") > 3500);
}
END_TEST

void sql_add_batch(Suite *s)
{
	TCase *tc = sql_tcase("batch");

	tcase_add_test(tc, test_batch_save);
	tcase_add_test(tc, test_batch_save_same_attempt_twice);
	tcase_add_test(tc, test_batch_save_past_deadline_closes);
	tcase_add_test(tc, test_batch_save_paths_agree);
	tcase_add_test(tc, test_multiple_states);
	tcase_add_test(tc, test_multiple_infos);
	tcase_add_test(tc, test_batch_log);
	tcase_add_test(tc, test_batch_submit);
	suite_add_tcase(s, tc);

	tc = sql_tcase("stats");
	tcase_add_test(tc, test_statistics);
	tcase_add_test(tc, test_active_attempts);
	suite_add_tcase(s, tc);
}
