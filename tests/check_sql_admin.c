/* check_sql_admin.c — the SQL layer's tests of the proctor's and the
 * admin's tools: extend, the deadline sweep (the service's, without
 * claims, and the admin's), their refusals, the JCS receipt's
 * canonical JSON, cache support, planner statistics, the migrations and
 * the helpers' inlining. Part of tests/check_sql (check_sql.h). */

#include "check_sql.h"

#include <stdlib.h>

/* ------------------------------------------------------------ extend, sweep */

START_TEST(test_extend_by_proctor)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 600"));
	const char *deadline = jstr(state(a), "deadline_at");
	cJSON *r;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.extend_attempt($1, 600)", a);
	ck_assert_ok(r);
	ck_assert_msg(has_keys(r, STATE_KEYS), "%s", show(r));
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert_str_eq(V("SELECT ($1::timestamptz - $2::timestamptz)::text",
			   jstr(r, "deadline_at"), deadline),
			 "00:10:00");
	ck_assert(jint(r, "time_remaining_s") > 1190);
	as(new_uuid(), "admin");
	ck_assert_int_eq(jint(J("SELECT attempts.extend_attempt($1, 1)", a), "version"), 3);
}
END_TEST

START_TEST(test_extend_refusals)
{
	const char *timed = mk_exam("\"time_limit_s\": 600"), *open = mk_exam(NULL);
	const char *u = new_uuid();
	const char *a = mk_attempt(u, timed), *b = mk_attempt(u, open);
	cJSON *r;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.extend_attempt($1, 0)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "extra_s");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 86401)", a), "validation_failed");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", b), "not_extendable");
	as(u, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", a), "not_extendable");
	ck_assert_int_eq(jint(state(b), "version"), 1);
}
END_TEST

START_TEST(test_sweep)
{
	const char *exam = mk_exam("\"time_limit_s\": 60, \"max_attempts\": 5");
	const char *graced = mk_exam("\"time_limit_s\": 60, \"grace_s\": 3600");
	const char *u = new_uuid();
	const char *running = mk_attempt(new_uuid(), exam);
	const char *in_grace = mk_attempt(new_uuid(), graced);
	const char *expired = mk_attempt(u, exam);
	cJSON *r;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", expired, "{\"q\": [1, 2]}"));
	backdate(expired, 600);
	backdate(in_grace, 600);
	/* a refused caller runs no sweep */
	as(new_uuid(), "proctor");
	ck_assert_err(J0("SELECT attempts.close_expired_attempts()"), "forbidden");
	ck_assert_str_eq(V("SELECT status FROM attempts.attempts WHERE attempt_id = $1", expired),
			 "in_progress");
	as(new_uuid(), "admin");
	r = J0("SELECT attempts.close_expired_attempts()");
	ck_assert_ok(r);
	ck_assert_msg(jint(r, "closed") >= 1, "%s", show(r));

	r = J("SELECT attempts.get_attempt_info($1)", expired);
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_str_eq(jstr(r, "submit_reason"), "deadline");
	ck_assert_int_eq(jint(r, "version"), 3);
	ck_assert_str_eq(jstr(r, "receipt"), sha256_hex("{\"q\":[1,2]}"));
	ck_assert_str_eq(jstr(state(running), "status"), "in_progress");
	ck_assert_str_eq(jstr(state(in_grace), "status"), "in_progress");
	ck_assert_int_eq(jint(J0("SELECT attempts.close_expired_attempts()"), "closed"), 0);
}
END_TEST

/* A second sweep while one runs is skipped; a row another transaction holds
 * is left alone instead of waited for. */
START_TEST(test_sweep_concurrent)
{
	const char *exam = mk_exam("\"time_limit_s\": 1");
	const char *held = mk_attempt(new_uuid(), exam);
	const char *admin = new_uuid();
	PGconn *other = connect_db();
	cJSON *r;

	backdate(held, 60);
	as(admin, "admin");
	as_on(other, admin, "admin");
	val_on(other, "BEGIN", 0, NULL);
	ck_assert_ok(json_on(other, "SELECT attempts.close_expired_attempts()", 0, NULL));
	r = J0("SELECT attempts.close_expired_attempts()");
	ck_assert_str_eq(show(r), "{\"closed\":0,\"skipped\":true}");
	val_on(other, "ROLLBACK", 0, NULL);

	val_on(other, "BEGIN", 0, NULL);
	val_on(other, "SELECT 1 FROM attempts.attempts WHERE attempt_id = $1 FOR UPDATE", 1,
	       (const char *[]){held});
	ck_assert_ok(J0("SELECT attempts.close_expired_attempts()"));
	ck_assert_str_eq(jstr(state(held), "status"), "in_progress");
	val_on(other, "ROLLBACK", 0, NULL);
	PQfinish(other);
	ck_assert_ok(J0("SELECT attempts.close_expired_attempts()"));
	ck_assert_str_eq(jstr(state(held), "status"), "submitted");
}
END_TEST

/* The service's sweep reads no claims: it answers the number it closed,
 * and NULL (closing nothing) while another sweep holds the lock. */
START_TEST(test_sweep_without_claims)
{
	const char *exam = mk_exam("\"time_limit_s\": 60");
	const char *expired = mk_attempt(new_uuid(), exam);
	const char *running = mk_attempt(new_uuid(), exam);
	PGconn *other = connect_db();
	const char *closed;

	backdate(expired, 600);
	V0("RESET request.jwt.claims");
	val_on(other, "BEGIN", 0, NULL);
	val_on(other, "SELECT pg_advisory_xact_lock(7310594523462267185)", 0, NULL);
	ck_assert_ptr_null(V0("SELECT attempts.sweep_expired_attempts()"));
	ck_assert_str_eq(jstr(row(expired), "status"), "in_progress");
	val_on(other, "ROLLBACK", 0, NULL);
	PQfinish(other);

	closed = V0("SELECT attempts.sweep_expired_attempts()");
	ck_assert_msg(closed != NULL && atoi(closed) >= 1, "closed %s", closed ? closed : "NULL");
	ck_assert_str_eq(jstr(row(expired), "status"), "submitted");
	ck_assert_str_eq(jstr(row(expired), "submit_reason"), "deadline");
	ck_assert_str_eq(jstr(row(running), "status"), "in_progress");
	claims_on(db, "not json"); /* whatever the claims say */
	ck_assert_str_eq(V0("SELECT attempts.sweep_expired_attempts()"), "0");
	ck_assert_str_eq(V0("SELECT pg_typeof(attempts.sweep_expired_attempts())::text"),
			 "integer");
}
END_TEST

/* What each admin call (and the proctors' batch submit) answers a caller
 * whose role may not make it. */
START_TEST(test_admin_refusals)
{
	static const refusal calls[] = {
		{"SELECT attempts.close_expired_attempts()", .owner = "forbidden",
		 .proctor = "forbidden"},
		{"SELECT attempts.preload_attempt_states(ARRAY[$1::uuid])", .owner = "forbidden",
		 .proctor = "forbidden"},
		{"SELECT attempts.broadcast_clear_cache()", .proctor = "forbidden"},
		{"SELECT attempts.analyze_observations()", .proctor = "forbidden"},
		{"SELECT attempts.live_changes(ARRAY[$1::uuid], true)", .owner = "forbidden",
		 .proctor = "forbidden"},
		{"SELECT attempts.live_exams()", .proctor = "forbidden"},
		{"SELECT attempts.batch_submit_attempts(ARRAY[$1::uuid])", .owner = "forbidden",
		 .other = "forbidden"},
	};
	const char *u = new_uuid();
	const char *a = mk_attempt(u, mk_exam("\"time_limit_s\": 1"));

	backdate(a, 60);
	expect_refusals(u, a, a, calls, N_OF(calls));
	ck_assert_str_eq(jstr(row(a), "status"), "in_progress");
}
END_TEST

/* ------------------------------------------------------------ JCS */

static const char *jcs(const char *json)
{
	return V("SELECT attempts.jcs($1::jsonb)", json);
}

START_TEST(test_jcs_structure)
{
	ck_assert_str_eq(jcs("{\"b\": 1, \"a\": {\"d\": [], \"c\": {}}, \"A\": null}"),
			 "{\"A\":null,\"a\":{\"c\":{},\"d\":[]},\"b\":1}");
	ck_assert_str_eq(jcs("[3, [2, [1]], true, false, null]"), "[3,[2,[1]],true,false,null]");
	/* keys by code point: "" < "A" < "a" < "z" < "é" < "€" */
	ck_assert_str_eq(jcs("{\"\xe2\x82\xac\": 1, \"\xc3\xa9\": 2, \"z\": 3, \"a\": 4, \"A\": 5, "
			     "\"\": 6}"),
			 "{\"\":6,\"A\":5,\"a\":4,\"z\":3,\"\xc3\xa9\":2,\"\xe2\x82\xac\":1}");
	ck_assert_str_eq(jcs("{}"), "{}");
	ck_assert_str_eq(jcs("\"x\""), "\"x\"");
}
END_TEST

START_TEST(test_jcs_strings)
{
	/* quotes, backslash, the short escapes, other controls as \u00xx, rest raw */
	ck_assert_str_eq(jcs("\"q\\\"b\\\\s\\/\""), "\"q\\\"b\\\\s/\"");
	ck_assert_str_eq(jcs("\"\\n\\r\\t\\b\\f\""), "\"\\n\\r\\t\\b\\f\"");
	ck_assert_str_eq(jcs("\"\\u0001\\u001F\\u007f\""), "\"\\u0001\\u001f\x7f\"");
	ck_assert_str_eq(jcs("\"\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\""),
			 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc3\xa9\"");
	ck_assert_str_eq(jcs("{\"k\\n\\\"\": \"v\"}"), "{\"k\\n\\\"\":\"v\"}");
}
END_TEST

START_TEST(test_jcs_numbers)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"1.0", "1"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0.1", "0.1"},
		{"1e21", "1e+21"},
		{"1e20", "100000000000000000000"},
		{"1e-7", "1e-7"},
		{"0.000001", "0.000001"},
		{"1.5e-10", "1.5e-10"},
		{"-1e-7", "-1e-7"},
		{"123.4500", "123.45"},
		{"1E30", "1e+30"},
		{"4.50", "4.5"},
		{"2e-3", "0.002"},
		{"333333333.33333329", "333333333.3333333"},
		{"0.000000000000000000000000001", "1e-27"},
		{"9007199254740993", "9007199254740992"},
		{"12345678901234567890", "12345678901234567000"},
		{"123456789012345678901234", "1.2345678901234569e+23"},
		{"-3.9126e21", "-3.9126e+21"}, /* a boundary case PostgreSQL prints longer */
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"1e400", "null"},
		{"-1e-400", "0"},
	};

	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *got = jcs(cases[i].in);

		ck_assert_msg(strcmp(got, cases[i].out) == 0, "jcs(%s) = %s, want %s", cases[i].in,
			      got, cases[i].out);
	}
	V0("SET extra_float_digits = 0"); /* the session's setting must not matter */
	ck_assert_str_eq(jcs("[0.1, 333333333.33333329]"), "[0.1,333333333.3333333]");
}
END_TEST

/* ------------------------------------------------------------ cache support */

START_TEST(test_preload)
{
	const char *e1 = mk_exam(NULL), *e2 = mk_exam(NULL);
	const char *a = mk_attempt(new_uuid(), e1);
	const char *b = mk_attempt(new_uuid(), e2);
	const char *c = mk_attempt(new_uuid(), e2);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", c));
	as(new_uuid(), "admin");
	r = J("SELECT attempts.preload_attempt_states($1)", fmt("{%s,%s}", e1, e2));
	ck_assert_int_eq(jsize(r, NULL), 2);
	ck_assert_msg(has_keys(jget(r, "0"), STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), a);
	ck_assert_str_eq(jstr(r, "1.attempt_id"), b);
}
END_TEST

START_TEST(test_broadcast_clear_cache)
{
	cJSON *r;

	as(new_uuid(), "admin");
	V0("LISTEN attempts_clear_cache");
	r = J0("SELECT attempts.broadcast_clear_cache()");
	ck_assert_str_eq(show(r), "{\"broadcast\":true}");
	ck_assert_str_eq(next_notify(db, "attempts_clear_cache"), fmt("%d", PQbackendPID(db)));
}
END_TEST

/* refresh_statistics analyzes attempts once it has grown by enough rows
 * since its last ANALYZE, and not again until it grows again (an ANALYZE
 * of a column list leaves the change count as it was: counting changes
 * would analyze on every sweep); the sweep runs it. */
START_TEST(test_refresh_statistics)
{
	const char *exam = mk_exam(NULL);

	V0("ANALYZE attempts.attempts");
	V0("ANALYZE attempts.attempt_activity");
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "0");
	V("INSERT INTO attempts.attempts (exam_id, user_id, attempt_number)"
	  " SELECT $1::uuid, gen_random_uuid(), 1 FROM generate_series(1, 300 + ("
	  "SELECT (count(*) / 4)::int FROM attempts.attempts))",
	  exam);
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "1");
	/* ANALYZE counted the rows: nothing to do now */
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "0");
}
END_TEST

START_TEST(test_migrations_recorded)
{
	ck_assert_str_eq(
		V0("SELECT string_agg(name, ',' ORDER BY name) FROM attempts.schema_migrations "
		   "WHERE checksum ~ '^[0-9a-f]{64}$'"),
		"001_schema.sql,002_body_bytes.sql,003_changes_per_statement.sql,004_exams_newest_"
		"first.sql,"
		"005_announce_starts.sql,"
		"admin.sql,attempt_rules.sql,"
		"attempt_writes.sql,attempts.sql,batch.sql,canonical_json.sql,exams.sql,helpers."
		"sql,uploads.sql");
	/* every plpgsql function (the RPCs) carries the fixed search_path */
	ck_assert_str_eq(
		V0("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
		   "JOIN pg_language l ON l.oid = p.prolang "
		   "WHERE n.nspname = 'attempts' AND l.lanname <> 'sql' AND NOT "
		   "coalesce(p.proconfig @> "
		   "'{\"search_path=pg_catalog, attempts\"}', false)"),
		"0");
	/* and no LANGUAGE sql helper has a SET clause, which would stop the
	 * planner from inlining it */
	ck_assert_str_eq(
		V0("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
		   "JOIN pg_language l ON l.oid = p.prolang "
		   "WHERE n.nspname = 'attempts' AND l.lanname = 'sql' AND p.proconfig IS NOT "
		   "NULL"),
		"0");
}
END_TEST

/* ------------------------------------------------------------ inlining */

/* Every helper that the entry points call per row is inlined by
 * PostgreSQL into the calling statement: not inlined, each call runs as a
 * statement of its own (~170 µs per batch_save item where that happened:
 * docs/SQL.md, "Performance rules"). A helper stops inlining when it is
 * declared IMMUTABLE but calls a stable function, has a SET clause or a
 * sub-select. The check: EXPLAIN VERBOSE of a call with column arguments
 * must not name the helper. */
START_TEST(test_helpers_inline)
{
	static const struct {
		const char *name, *call, *from;
	} helpers[] = {
		{"err", "attempts.err(a.status, a.status, a.answers)", "attempts.attempts a"},
		{"invalid", "attempts.invalid(a.status, a.status)", "attempts.attempts a"},
		{"unauthorized", "attempts.unauthorized()", "attempts.attempts a"},
		{"ts", "attempts.ts(a.updated_at)", "attempts.attempts a"},
		{"is_uuid", "attempts.is_uuid(a.status)", "attempts.attempts a"},
		{"json_int", "attempts.json_int(a.answers, 0, 9)", "attempts.attempts a"},
		{"access_error", "attempts.access_error(a, a.user_id, a.status, 'owner')",
		 "attempts.attempts a"},
		{"past_deadline", "attempts.past_deadline(a, a.version)", "attempts.attempts a"},
		{"attempt_problems", "attempts.attempt_problems(a, a.version)",
		 "attempts.attempts a"},
		{"writable_error", "attempts.writable_error(a, a.version, a.version)",
		 "attempts.attempts a"},
		{"merge_answers", "attempts.merge_answers(a.answers, a.auto_save_data)",
		 "attempts.attempts a"},
		{"time_remaining_s", "attempts.time_remaining_s(a)", "attempts.attempts a"},
		{"attempt_state_json", "attempts.attempt_state_json(a)", "attempts.attempts a"},
		{"prefix_field", "attempts.prefix_field(a.answers, a.status)",
		 "attempts.attempts a"},
		{"batch_save_shape_error", "attempts.batch_save_shape_error(a.answers, a.status)",
		 "attempts.attempts a"},
		{"batch_save_result", "attempts.batch_save_result(a.answers, a.auto_save_data)",
		 "attempts.attempts a"},
		{"exam_json", "attempts.exam_json(e)", "attempts.exams e"},
		{"caller_error", "attempts.caller_error(e.upload_allowed_types)",
		 "attempts.exams e"},
		{"bad_value", "attempts.bad_value(a.answers, a.version > 1, a.status, a.status)",
		 "attempts.attempts a"},
		{"answers_too_large", "attempts.answers_too_large(a.answers, a.version)",
		 "attempts.attempts a"},
		{"jcs_item", "attempts.jcs_item(a.answers)", "attempts.attempts a"},
		{"upload_json", "attempts.upload_json(u)", "attempts.attempt_uploads u"},
	};

	for (size_t i = 0; i < N_OF(helpers); i++) {
		const char *sql = fmt("EXPLAIN (VERBOSE, COSTS OFF) SELECT %s FROM %s",
				      helpers[i].call, helpers[i].from);
		PGresult *r = PQexec(db, sql);
		const char *called = fmt("attempts.%s(", helpers[i].name);
		int found = 0;

		ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
			      PQresultErrorMessage(r));
		for (int row = 0; row < PQntuples(r); row++)
			found |= strstr(PQgetvalue(r, row, 0), called) != NULL;
		PQclear(r);
		ck_assert_msg(!found, "attempts.%s is not inlined (EXPLAIN VERBOSE names it)",
			      helpers[i].name);
	}
}
END_TEST

void sql_add_admin(Suite *s)
{
	TCase *tc = sql_tcase("extend_sweep");

	tcase_add_test(tc, test_extend_by_proctor);
	tcase_add_test(tc, test_extend_refusals);
	tcase_add_test(tc, test_sweep);
	tcase_add_test(tc, test_sweep_concurrent);
	tcase_add_test(tc, test_sweep_without_claims);
	tcase_add_test(tc, test_admin_refusals);
	suite_add_tcase(s, tc);

	tc = sql_tcase("jcs");
	tcase_add_test(tc, test_jcs_structure);
	tcase_add_test(tc, test_jcs_strings);
	tcase_add_test(tc, test_jcs_numbers);
	suite_add_tcase(s, tc);

	tc = sql_tcase("cache");
	tcase_add_test(tc, test_preload);
	tcase_add_test(tc, test_broadcast_clear_cache);
	tcase_add_test(tc, test_refresh_statistics);
	tcase_add_test(tc, test_migrations_recorded);
	suite_add_tcase(s, tc);

	tc = sql_tcase("inlining");
	tcase_add_test(tc, test_helpers_inline);
	suite_add_tcase(s, tc);
}
