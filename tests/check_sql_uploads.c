/* check_sql_uploads.c — the SQL layer's tests of upload metadata
 * (validate, record, get, list, the limits), validate_multiple_attempts,
 * the change notifications and the proctors' live view. Part of
 * tests/check_sql (check_sql.h). */

#include "check_sql.h"

/* ------------------------------------------------------------ uploads */

START_TEST(test_validate_upload)
{
	const char *u = new_uuid(),
		   *a = mk_attempt(u, mk_exam("\"upload\": {\"max_bytes\": 1000}"));
	cJSON *r;

	r = J("SELECT attempts.validate_attempt_upload($1)", a);
	ck_assert_ok(r);
	ck_assert(has_keys(r, "valid,max_bytes,allowed_types,upload_count"));
	ck_assert(jtrue(r, "valid"));
	ck_assert_int_eq(jint(r, "max_bytes"), 1000);
	ck_assert_int_eq(jint(r, "upload_count"), 0);
	ck_assert_ok(J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 1000)", a));
	ck_assert_ok(J(
		"SELECT attempts.validate_attempt_upload($1, 'Text/Plain; charset=utf-8', 1)", a));
	r = J("SELECT attempts.validate_attempt_upload($1, 'application/x-msdownload', 10)", a);
	ck_assert_err(r, "unsupported_media_type");
	r = J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 1001)", a);
	ck_assert_err(r, "payload_too_large");
	ck_assert_int_eq(jint(r, "error.details.limit"), 1000);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 10)", a),
		      "attempt_submitted");
}
END_TEST

START_TEST(test_uploads_record_get_list)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	const char *up1 = new_uuid(), *up2 = new_uuid();
	cJSON *r;

	r = J("SELECT attempts.record_attempt_upload($1, $2, 'essay.pdf', 'application/pdf', 4, "
	      "$3)",
	      a, up1, sum);
	ck_assert_ok(r);
	ck_assert(has_keys(r, "upload_id,filename,content_type,size_bytes,sha256,created_at"));
	ck_assert_str_eq(jstr(r, "upload_id"), up1);
	ck_assert_str_eq(jstr(r, "filename"), "essay.pdf");
	ck_assert_int_eq(jint(r, "size_bytes"), 4);
	ck_assert_str_eq(jstr(r, "sha256"), sum);
	ck_assert(is_ts(jstr(r, "created_at")));
	ck_assert_ok(
		J("SELECT attempts.record_attempt_upload($1, $2, 'notes.txt', 'text/plain', 4, $3)",
		  a, up2, sum));

	r = J("SELECT attempts.record_attempt_upload($1, $2, '../x', 'text/plain', 4, $3)", a,
	      new_uuid(), sum);
	ck_assert_field(r, "filename");
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.exe', 'application/x-msdownload', "
	      "4, $3)",
	      a, new_uuid(), sum);
	ck_assert_err(r, "unsupported_media_type");
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 4, 'zz')", a,
	      new_uuid());
	ck_assert_field(r, "sha256");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.list_attempt_uploads($1)", a);
	ck_assert_int_eq(jsize(r, "uploads"), 2);
	ck_assert_str_eq(jstr(r, "uploads.0.upload_id"), up1);
	ck_assert_str_eq(jstr(r, "uploads.1.filename"), "notes.txt");
	r = J("SELECT attempts.get_attempt_upload($1, $2)", a, up2);
	ck_assert_str_eq(jstr(r, "content_type"), "text/plain");
	ck_assert_err(J("SELECT attempts.get_attempt_upload($1, $2)", a, new_uuid()), "not_found");
	as(new_uuid(), "student"); /* another student: not even a known upload */
	ck_assert_err(J("SELECT attempts.get_attempt_upload($1, $2)", a, up1), "not_found");
	as(u, "student");
	ck_assert_int_eq(jint(J("SELECT attempts.get_attempt_info($1)", a), "upload_count"), 2);
}
END_TEST

START_TEST(test_upload_count_limit)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	cJSON *r;

	for (int i = 0; i < 20; i++)
		ck_assert_ok(
			J("SELECT attempts.record_attempt_upload($1, $2, $3, 'text/plain', 1, $4)",
			  a, new_uuid(), fmt("f%d.txt", i), sum));
	r = J("SELECT attempts.validate_attempt_upload($1, 'text/plain', 1)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "upload_count");
	ck_assert_int_eq(jint(r, "error.details.limit"), 20);
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 1, $3)", a,
	      new_uuid(), sum);
	ck_assert_field(r, "upload_count");
	ck_assert_int_eq(count_of("attempt_uploads", a), 20);
}
END_TEST

START_TEST(test_upload_after_deadline)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam("\"time_limit_s\": 1"));
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

	backdate(a, 60);
	/* validation only reports it ... */
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1, 'text/plain', 1)", a),
		      "attempt_closed");
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
	/* ... recording closes it at the deadline, as a save would */
	ck_assert_err(
		J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 1, $3)", a,
		  new_uuid(), sum),
		"attempt_closed");
	ck_assert_str_eq(jstr(J("SELECT attempts.get_attempt_info($1)", a), "submit_reason"),
			 "deadline");
	ck_assert_int_eq(count_of("attempt_uploads", a), 0);
}
END_TEST

START_TEST(test_validate_multiple)
{
	const char *exam = mk_exam("\"time_limit_s\": 60, \"max_attempts\": 3"), *u = new_uuid();
	const char *ok = mk_attempt(u, exam);
	const char *theirs = mk_attempt(new_uuid(), exam);
	const char *late, *done, *big;
	cJSON *r;

	as(u, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", ok));
	done = ok;
	late = mk_attempt(u, exam);
	backdate(late, 600);
	V("UPDATE attempts.attempts SET answers = jsonb_build_object('big', repeat('x', 600000)) "
	  "WHERE attempt_id = $1",
	  late);
	big = late;
	r = J("SELECT attempts.validate_multiple_attempts($1)",
	      fmt("{%s,%s,%s}", done, big, theirs));
	ck_assert_int_eq(jsize(r, NULL), 3);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,valid,problems"));
	ck_assert(jfalse(r, "0.valid"));
	ck_assert_str_eq(show(jget(r, "0.problems")), "[\"submitted\"]");
	ck_assert(jfalse(r, "1.valid"));
	ck_assert_str_eq(show(jget(r, "1.problems")),
			 "[\"deadline_passed\",\"answers_too_large\"]");
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(state(late), "status"),
			 "in_progress"); /* validation writes nothing */

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.validate_multiple_attempts($1)", fmt("{%s}", theirs));
	ck_assert(jtrue(r, "0.valid"));
	ck_assert_int_eq(jsize(r, "0.problems"), 0);
}
END_TEST

START_TEST(test_notify_on_change)
{
	const char *u = new_uuid(), *a = mk_attempt(u, mk_exam(NULL));

	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
	/* an update that changes nothing stays silent */
	V("UPDATE attempts.attempts SET version = version WHERE attempt_id = $1", a);
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
}
END_TEST

/* The proctors' live view: a start is announced (sql/005); the snapshot
 * and the publisher's messages carry each attempt with its version and
 * the exam's counts and answers per question; who may call what. */
START_TEST(test_live_view)
{
	const char *exam = mk_exam(NULL), *u = new_uuid(), *a, *b;
	cJSON *r, *m;

	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	a = mk_attempt(u, exam);
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q1\": 1, \"q2\": 2}"));
	b = mk_attempt(new_uuid(), exam);
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", b, "{\"q2\": 3}"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", b));
	V0("UNLISTEN attempts_changed");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.get_live_snapshot($1)", exam);
	ck_assert_ok(r);
	ck_assert_str_eq(show(jget(r, "counts")),
			 "{\"total\":2,\"submitted\":1,\"in_progress\":1}");
	ck_assert_str_eq(show(jget(r, "per_question")), "{\"q1\":1,\"q2\":2}");
	ck_assert_int_eq(cJSON_GetArraySize(jget(r, "attempts")), 1);
	ck_assert_str_eq(jstr(r, "attempts.0.attempt_id"), a);
	ck_assert_str_eq(jstr(r, "attempts.0.status"), "in_progress");
	ck_assert_int_eq((int)jnum(r, "attempts.0.version"), 2);
	ck_assert_int_eq((int)jnum(r, "attempts.0.answered_count"), 2);
	ck_assert_ptr_nonnull(jget(r, "attempts.0.last_save_at"));
	ck_assert_ptr_nonnull(jget(r, "at"));

	/* The publisher's calls are the service's own (admin). */
	as("00000000-0000-0000-0000-000000000000", "admin");
	r = J("SELECT attempts.live_changes($1::uuid[], true)",
	      fmt("{%s,%s,%s}", a, b, new_uuid()));
	ck_assert_int_eq(cJSON_GetArraySize(r), 1);
	ck_assert_str_eq(jstr(r, "0.exam_id"), exam);
	m = (cJSON *)jget(r, "0.message");
	ck_assert_str_eq(jstr(m, "type"), "changes");
	ck_assert_int_eq(cJSON_GetArraySize(jget(m, "attempts")), 2);
	ck_assert_str_eq(show(jget(m, "counts")),
			 "{\"total\":2,\"submitted\":1,\"in_progress\":1}");
	ck_assert_str_eq(jstr(m, "attempts.0.attempt_id"), strcmp(a, b) < 0 ? a : b);
	/* without the summary: the rows alone */
	ck_assert_str_eq(V("SELECT attempts.live_changes($1::uuid[], false) #>> '{0,message}' "
			   "LIKE '%counts%'",
			   fmt("{%s}", a)),
			 "f");
	ck_assert_str_eq(V("SELECT attempts.live_changes($1::uuid[], false)::text", "{}"), "[]");
	ck_assert_str_eq(V("SELECT attempts.live_exams() @> jsonb_build_array($1::text)::jsonb "
			   "AND jsonb_typeof(attempts.live_exams()) = 'array'",
			   exam),
			 "t");
}
END_TEST

void sql_add_uploads(Suite *s)
{
	TCase *tc = sql_tcase("uploads");

	tcase_add_test(tc, test_validate_upload);
	tcase_add_test(tc, test_uploads_record_get_list);
	tcase_add_test(tc, test_upload_count_limit);
	tcase_add_test(tc, test_upload_after_deadline);
	tcase_add_test(tc, test_validate_multiple);
	suite_add_tcase(s, tc);

	tc = sql_tcase("live");
	tcase_add_test(tc, test_notify_on_change);
	tcase_add_test(tc, test_live_view);
	suite_add_tcase(s, tc);
}
