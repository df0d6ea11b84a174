/* check_sql_attempts.c — the SQL layer's tests of one attempt: who may
 * call what on it (a table of refusals), reading its state and info,
 * saving, submitting (the JCS receipt) and logging activity. Part of
 * tests/check_sql (check_sql.h). */

#include "check_sql.h"

/* What each call on one attempt answers a caller who may not make it
 * (another student: as if it did not exist, but for a staff call; staff
 * on an owner's write: forbidden), or for an attempt that does not exist;
 * nothing is written. */
START_TEST(test_attempt_refusals)
{
	static const refusal calls[] = {
		{"SELECT attempts.get_attempt_state($1)", .other = "not_found",
		 .missing = "not_found"},
		{"SELECT attempts.get_attempt_info($1)", .other = "not_found"},
		{"SELECT attempts.save_attempt($1, '{\"q\": 1}', NULL, NULL)", .other = "not_found",
		 .proctor = "forbidden", .admin = "forbidden", .missing = "not_found"},
		{"SELECT attempts.submit_attempt($1)", .other = "not_found",
		 .proctor = "forbidden"},
		{"SELECT attempts.log_attempt_activity($1, '[{\"event_type\": \"late\"}]')",
		 .other = "not_found", .proctor = "forbidden"},
		/* a staff call: any student is refused as such (API.md §6) */
		{"SELECT attempts.extend_attempt($1, 60)", .owner = "forbidden",
		 .other = "forbidden", .missing = "not_found"},
		{"SELECT attempts.validate_attempt_upload($1)", .other = "not_found",
		 .proctor = "forbidden"},
		{"SELECT attempts.list_attempt_uploads($1)", .other = "not_found"},
		{"SELECT attempts.get_attempt_upload($1, gen_random_uuid())", .other = "not_found"},
		{"SELECT attempts.record_attempt_upload($1, gen_random_uuid(), 'x.txt', "
		 "'text/plain', 1, repeat('0', 64))",
		 .other = "not_found", .proctor = "forbidden"},
	};
	const char *u = new_uuid();
	const char *a = mk_attempt(u, mk_exam("\"time_limit_s\": 600"));

	expect_refusals(u, a, a, calls, N_OF(calls));
	ck_assert_int_eq(count_of("attempt_activity", a), 0);
	ck_assert_int_eq(count_of("attempt_uploads", a), 0);
}
END_TEST

/* ------------------------------------------------------------ reads */

START_TEST(test_state_access)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	r = state(a);
	ck_assert_msg(has_keys(r, STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "attempt_id"), a);

	as(new_uuid(), "proctor");
	ck_assert_str_eq(jstr(state(a), "attempt_id"), a);
	as(new_uuid(), "admin");
	ck_assert_str_eq(jstr(state(a), "attempt_id"), a);
}
END_TEST

START_TEST(test_info_shape)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *title = V("SELECT title FROM attempts.exams WHERE exam_id = $1", exam);
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.log_attempt_activity($1, $2)", a,
		       "[{\"event_type\": \"focus\"}, {\"event_type\": \"blur\"}]"));
	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_msg(has_keys(r, "attempt_id,exam_id,user_id,attempt_number,status,version,"
				  "started_at,deadline_at,submitted_at,updated_at,time_remaining_s,"
				  "exam_title,activity_count,upload_count,submit_reason,receipt"),
		      "info keys: %s", show(r));
	ck_assert_str_eq(jstr(r, "exam_title"), title);
	ck_assert_int_eq(jint(r, "activity_count"), 2);
	ck_assert_int_eq(jint(r, "upload_count"), 0);
	ck_assert(jnull(r, "submit_reason"));
	ck_assert(jnull(r, "receipt"));

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(r, "submit_reason"), "student");
	ck_assert_int_eq((int)strlen(jstr(r, "receipt")), 64);
	ck_assert(is_ts(jstr(r, "submitted_at")));
}
END_TEST

START_TEST(test_ts_format)
{
	ck_assert_str_eq(V0("SELECT attempts.ts('2024-02-29 23:59:58.5-01:30')"),
			 "2024-03-01T01:29:58.500000Z");
	ck_assert_ptr_null(V0("SELECT attempts.ts(NULL)"));
	ck_assert(is_ts(V0("SELECT attempts.ts(now())")));
}
END_TEST

/* ------------------------------------------------------------ save */

START_TEST(test_save_versions)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 900"));
	cJSON *r;

	r = J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"a\"}");
	ck_assert_ok(r);
	ck_assert(has_keys(r, "attempt_id,version,saved_at,time_remaining_s"));
	ck_assert_str_eq(jstr(r, "attempt_id"), a);
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert(is_ts(jstr(r, "saved_at")));
	ck_assert(jint(r, "time_remaining_s") > 890);
	r = J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "{\"p\": 1}");
	ck_assert_int_eq(jint(r, "version"), 3);
	r = J("SELECT attempts.save_attempt($1, $2, $3, 3)", a, "{\"q2\": 2}", "{\"p\": 2}");
	ck_assert_int_eq(jint(r, "version"), 4);
	ck_assert_int_eq(jint(state(a), "version"), 4);
}
END_TEST

START_TEST(test_save_merge)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *s;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": \"a\", \"q2\": {\"x\": null, \"y\": 1}, \"q3\": [1, null]}"));
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": null, \"q4\": false, \"absent\": null}"));
	s = state(a);
	ck_assert_ptr_null(jget(s, "answers.q1")); /* null removes the key */
	ck_assert_ptr_null(jget(s, "answers.absent"));
	ck_assert(jnull(s, "answers.q2.x"));	      /* only at the top level */
	ck_assert_int_eq(jint(s, "answers.q2.y"), 1); /* other keys kept */
	ck_assert(jnull(s, "answers.q3.1"));
	ck_assert(jfalse(s, "answers.q4"));
	ck_assert_int_eq(jsize(s, "answers"), 3);
}
END_TEST

START_TEST(test_save_auto_save_replaced)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *s;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "{\"a\": 1, \"b\": 2}"));
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, $3, NULL)", a, "{\"q\": 1}", "{\"c\": 3}"));
	s = state(a);
	ck_assert_str_eq(show(jget(s, "auto_save_data")), "{\"c\":3}");
	/* answers alone leave auto_save_data as it is */
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 2}"));
	ck_assert_str_eq(show(jget(state(a), "auto_save_data")), "{\"c\":3}");
}
END_TEST

START_TEST(test_save_version_conflict)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r, *before;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, $3, 1)", a, "{\"q1\": \"a\"}",
		       "{\"p\": 1}"));
	before = row(a);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"b\"}");
	ck_assert_err(r, "version_conflict");
	ck_assert_int_eq(jint(r, "error.details.current_version"), 2);
	ck_assert_str_eq(show(jget(r, "error.details.answers")), "{\"q1\":\"a\"}");
	ck_assert_str_eq(show(jget(r, "error.details.auto_save_data")), "{\"p\":1}");
	ck_assert_str_eq(show(row(a)), show(before));
	ck_assert_int_eq(jint(state(a), "version"), 2);
}
END_TEST

START_TEST(test_save_validation)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *before = row(a), *r;

	r = J("SELECT attempts.save_attempt($1, NULL, NULL, NULL)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, 'null', 'null', NULL)", a);
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "[1, 2]");
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "\"text\"");
	ck_assert_field(r, "auto_save_data");
	ck_assert_str_eq(show(row(a)), show(before));
}
END_TEST

START_TEST(test_save_payload_too_large)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *before, *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a,
		       "{\"q1\": \"short\"}"));
	before = row(a);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a,
	      "{\"q2\": "
	      "\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"
	      "234567890123456789\"}");
	ck_assert_err(r, "payload_too_large");
	ck_assert_int_eq(jint(r, "error.details.limit"), 100);
	ck_assert_str_eq(show(row(a)), show(before));
	/* removing keys shrinks the text again */
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a, "{\"q1\": null}"));
}
END_TEST

START_TEST(test_save_after_deadline_closes)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 1"));
	cJSON *r, *info;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"in time\"}"));
	backdate(a, 3600);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, 2)", a, "{\"q1\": \"late\", \"q2\": 1}");
	ck_assert_err(r, "attempt_closed");

	info = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(info, "status"), "submitted");
	ck_assert_str_eq(jstr(info, "submit_reason"), "deadline");
	ck_assert_int_eq(jint(info, "version"), 3);
	ck_assert_str_eq(jstr(info, "receipt"), sha256_hex("{\"q1\":\"in time\"}"));
	ck_assert_str_eq(show(jget(state(a), "answers")), "{\"q1\":\"in time\"}");
	ck_assert(jnull(state(a), "time_remaining_s"));
	/* from now on it is simply submitted */
	ck_assert_err(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"),
		      "attempt_submitted");
}
END_TEST

START_TEST(test_save_within_grace)
{
	const char *u = new_uuid(),
		   *a = mk_attempt(u, mk_exam("\"time_limit_s\": 60, \"grace_s\": 3600"));
	cJSON *r;

	backdate(a, 120); /* deadline passed a minute ago, grace an hour */
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q1\": 1}");
	ck_assert_ok(r);
	ck_assert_int_eq(jint(r, "time_remaining_s"), 0);
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
}
END_TEST

/* ------------------------------------------------------------ submit */

START_TEST(test_submit_receipt)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"b\": [1.0, \"x\\n\\\"\"], \"a\": {\"d\": true, \"c\": null}, "
		       "\"\xc3\xa9\": 0.10}"));
	r = J("SELECT attempts.submit_attempt($1, $2, 2)", a, "{\"z\": 1e21, \"y\": -0}");
	ck_assert_ok(r);
	ck_assert_msg(has_keys(r, STATE_KEYS ",receipt,already_submitted"), "%s", show(r));
	ck_assert(jfalse(r, "already_submitted"));
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_int_eq(jint(r, "version"), 3); /* one step, final answers included */
	ck_assert(is_ts(jstr(r, "submitted_at")));
	ck_assert(jnull(r, "time_remaining_s"));
	ck_assert_str_eq(jstr(r, "receipt"),
			 sha256_hex("{\"a\":{\"c\":null,\"d\":true},\"b\":[1,\"x\\n\\\"\"],"
				    "\"y\":0,\"z\":1e+21,\"\xc3\xa9\":0.1}"));
}
END_TEST

START_TEST(test_submit_idempotent)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *first, *again;

	first = J("SELECT attempts.submit_attempt($1, $2)", a, "{\"q\": \"x\"}");
	ck_assert_ok(first);
	again = J("SELECT attempts.submit_attempt($1, $2, 1)", a, "{\"q\": \"changed\"}");
	ck_assert_ok(again);
	ck_assert(jtrue(again, "already_submitted"));
	ck_assert_str_eq(jstr(again, "receipt"), jstr(first, "receipt"));
	ck_assert_int_eq(jint(again, "version"), jint(first, "version"));
	ck_assert_str_eq(show(jget(again, "answers")), "{\"q\":\"x\"}");
	ck_assert_str_eq(jstr(again, "receipt"), sha256_hex("{\"q\":\"x\"}"));
}
END_TEST

START_TEST(test_submit_version_conflict)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *before, *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	before = row(a);
	r = J("SELECT attempts.submit_attempt($1, $2, 1)", a, "{\"q\": 2}");
	ck_assert_err(r, "version_conflict");
	ck_assert_int_eq(jint(r, "error.details.current_version"), 2);
	ck_assert_str_eq(show(row(a)), show(before));
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
}
END_TEST

START_TEST(test_submit_after_deadline)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 1"));
	cJSON *info;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	backdate(a, 60);
	ck_assert_err(J("SELECT attempts.submit_attempt($1, $2)", a, "{\"q\": 2}"),
		      "attempt_closed");
	info = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(info, "submit_reason"), "deadline");
	ck_assert_str_eq(jstr(info, "receipt"), sha256_hex("{\"q\":1}"));
}
END_TEST

/* ------------------------------------------------------------ activity */

START_TEST(test_activity_dedupe)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"answer_changed\", \"payload\": {\"q\": 1}, \"client_event_id\": "
	      "\"tab1-1\","
	      "  \"occurred_at\": \"2024-05-01T10:00:00.123Z\"},"
	      " {\"event_type\": \"answer_changed\", \"client_event_id\": \"tab1-1\"},"
	      " {\"event_type\": \"focus\"}, {\"event_type\": \"focus\"}]");
	ck_assert_ok(r);
	ck_assert(has_keys(r, "logged,duplicates"));
	ck_assert_int_eq(jint(r, "logged"), 3);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	/* the first occurrence won */
	ck_assert_str_eq(V("SELECT payload::text FROM attempts.attempt_activity "
			   "WHERE attempt_id = $1 AND client_event_id = 'tab1-1'",
			   a),
			 "{\"q\": 1}");

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"x\", \"client_event_id\": \"tab1-1\"},"
	      " {\"event_type\": \"x\", \"client_event_id\": \"tab1-2\"}]");
	ck_assert_int_eq(jint(r, "logged"), 1);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	ck_assert_int_eq(jint(state(a), "version"), 1); /* activity changes no version */
	ck_assert_int_eq(jint(J("SELECT attempts.get_attempt_info($1)", a), "activity_count"), 4);
	r = J("SELECT attempts.log_attempt_activity($1, '[]')", a);
	ck_assert_int_eq(jint(r, "logged"), 0);
}
END_TEST

/* Activity is logged on a submitted attempt too. */
START_TEST(test_activity_after_submit)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	const char *ev = "[{\"event_type\": \"late\"}]";

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_int_eq(jint(J("SELECT attempts.log_attempt_activity($1, $2)", a, ev), "logged"),
			 1);
	ck_assert_int_eq(count_of("attempt_activity", a), 1);
}
END_TEST

START_TEST(test_activity_validation)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a, "{\"event_type\": \"x\"}");
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "events");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\"}, {\"event_type\": \"Bad Type\"}]");
	ck_assert_field(r, "events[1].event_type");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\", \"occurred_at\": \"2024-13-01T00:00:00Z\"}]");
	ck_assert_field(r, "events[0].occurred_at");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\", \"client_event_id\": \"\"}]");
	ck_assert_field(r, "events[0].client_event_id");
	ck_assert_int_eq(count_of("attempt_activity", a), 0);
}
END_TEST

/* occurred_at: RFC 3339 with a "T", at most nanoseconds, Z or +hh:mm, a
 * real time (the one statement of the rule: the service sends events on
 * unchecked). client_event_id counts characters, not bytes. */
START_TEST(test_activity_timestamps_and_ids)
{
	static const char *const refused[] = {
		"2024-05-01 10:00:00Z",
		"2024-05-01T10:00:00",
		"2024-05-01T10:00:00+0100",
		"2024-05-01T10:00:00+01",
		"2024-13-01T00:00:00Z",
		"2024-02-30T00:00:00Z",
		"2024-05-01T10:00:00.Z",
		"2024-05-01T10:00:00.1234567890Z",
		"now",
		"2024-05-01T25:00:00Z",
		"",
	};
	static const char *const accepted[] = {
		"2024-05-01T10:00:00Z",		  "2024-05-01t10:00:00z",
		"2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00+05:30",
		"2024-05-01T10:00:00-00:00",
	};
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	for (size_t i = 0; i < N_OF(refused); i++) {
		r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
		      fmt("[{\"event_type\": \"x\", \"occurred_at\": \"%s\"}]", refused[i]));
		ck_assert_msg(strcmp(jstr(r, "error.details.field"), "events[0].occurred_at") == 0,
			      "%s: %s", refused[i], show(r));
	}
	ck_assert_int_eq(count_of("attempt_activity", a), 0);
	for (size_t i = 0; i < N_OF(accepted); i++) {
		r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
		      fmt("[{\"event_type\": \"x\", \"occurred_at\": \"%s\"}]", accepted[i]));
		ck_assert_msg(jint(r, "logged") == 1, "%s: %s", accepted[i], show(r));
	}
	/* 128 characters of three bytes each are allowed, 129 are not */
	r = J("SELECT attempts.log_attempt_activity($1, jsonb_build_array(jsonb_build_object("
	      "'event_type', 'x', 'client_event_id', repeat('\u20ac', 128))))",
	      a);
	ck_assert_int_eq(jint(r, "logged"), 1);
	r = J("SELECT attempts.log_attempt_activity($1, jsonb_build_array(jsonb_build_object("
	      "'event_type', 'x', 'client_event_id', repeat('\u20ac', 129))))",
	      a);
	ck_assert_field(r, "events[0].client_event_id");
}
END_TEST

/* A malformed request is refused as such whoever sends it: the events are
 * checked before the caller's access (so are extend's extra_s before its
 * role), as the service always answered. */
START_TEST(test_validation_before_access)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 600"));
	cJSON *r;

	as(new_uuid(), "student");
	r = J("SELECT attempts.log_attempt_activity($1, '[{\"event_type\": \"NO\"}]')", a);
	ck_assert_field(r, "events[0].event_type");
	r = J0("SELECT attempts.log_attempt_activity(gen_random_uuid(), '{}')");
	ck_assert_field(r, "events");
	r = J("SELECT attempts.extend_attempt($1, 0)", a);
	ck_assert_field(r, "extra_s");
	ck_assert_err(J0("SELECT attempts.extend_attempt(gen_random_uuid(), 60)"), "forbidden");
	as(new_uuid(), "proctor");
	ck_assert_err(J0("SELECT attempts.extend_attempt(gen_random_uuid(), 60)"), "not_found");
	ck_assert_int_eq(count_of("attempt_activity", a), 0);
}
END_TEST

void sql_add_attempts(Suite *s)
{
	TCase *tc = sql_tcase("reads");

	tcase_add_test(tc, test_attempt_refusals);
	tcase_add_test(tc, test_state_access);
	tcase_add_test(tc, test_info_shape);
	tcase_add_test(tc, test_ts_format);
	suite_add_tcase(s, tc);

	tc = sql_tcase("save");
	tcase_add_test(tc, test_save_versions);
	tcase_add_test(tc, test_save_merge);
	tcase_add_test(tc, test_save_auto_save_replaced);
	tcase_add_test(tc, test_save_version_conflict);
	tcase_add_test(tc, test_save_validation);
	tcase_add_test(tc, test_save_payload_too_large);
	tcase_add_test(tc, test_save_after_deadline_closes);
	tcase_add_test(tc, test_save_within_grace);
	suite_add_tcase(s, tc);

	tc = sql_tcase("submit");
	tcase_add_test(tc, test_submit_receipt);
	tcase_add_test(tc, test_submit_idempotent);
	tcase_add_test(tc, test_submit_version_conflict);
	tcase_add_test(tc, test_submit_after_deadline);
	suite_add_tcase(s, tc);

	tc = sql_tcase("activity");
	tcase_add_test(tc, test_activity_dedupe);
	tcase_add_test(tc, test_activity_after_submit);
	tcase_add_test(tc, test_activity_validation);
	tcase_add_test(tc, test_activity_timestamps_and_ids);
	tcase_add_test(tc, test_validation_before_access);
	suite_add_tcase(s, tc);
}
