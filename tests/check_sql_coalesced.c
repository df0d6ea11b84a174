/* check_sql_coalesced.c — the SQL layer's tests of coalesced_writes and
 * coalesced_reads: each item answered, and every row left, exactly as the
 * single functions do one by one; one notification per statement. Part
 * of tests/check_sql (check_sql.h). */

#include "check_sql.h"

/* ------------------------------------------------------------ coalesced writes */

/* One write as the service sends it: kind, claims text, attempt, body,
 * expected version (NULL: none), answers limit. */
typedef struct cw_item {
	const char *kind, *claims, *attempt, *body, *version, *limit;
} cw_item;

static const char *cw_claims(const char *sub, const char *role)
{
	return fmt("{\"sub\":\"%s\",\"role\":\"%s\"}", sub, role);
}

/* text with timestamps and remaining seconds blanked: two transactions
 * have two now()s. */
static const char *cw_normalize(const char *text)
{
	return V("SELECT regexp_replace(regexp_replace($1, '\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z', 'T', "
		 "'g'),"
		 " '\"time_remaining_s\": \\d+', '\"time_remaining_s\": N', 'g')",
		 text);
}

/* The rows the items may touch, and their activity, without timestamps. */
static const char *cw_rows(const char *const *attempts, int n)
{
	const char *ids = "{";

	for (int i = 0; i < n; i++)
		ids = fmt("%s%s%s", ids, i ? "," : "", attempts[i]);
	ids = fmt("%s}", ids);
	return V("SELECT jsonb_agg(jsonb_build_array(a.attempt_id, a.status, a.submit_reason, "
		 "a.answers,"
		 " a.auto_save_data, a.version, a.receipt,"
		 " (SELECT jsonb_agg(jsonb_build_array(v.event_type, v.client_event_id) ORDER BY "
		 "v.activity_id)"
		 "    FROM attempts.attempt_activity v WHERE v.attempt_id = a.attempt_id))"
		 " ORDER BY a.attempt_id)::text FROM attempts.attempts a WHERE a.attempt_id = ANY "
		 "($1::uuid[])",
		 ids);
}

/* What each item answers alone, through the single functions exactly as
 * lib/db.c calls them, in input order, as one JSON array text. */
static const char *cw_alone(const cw_item *items, int n)
{
	const char *out = "[";

	for (int i = 0; i < n; i++) {
		const char *r;

		claims_on(db, items[i].claims);
		if (strcmp(items[i].kind, "save") == 0)
			r = V("SELECT attempts.save_attempt($1::uuid, NULLIF($2::jsonb -> "
			      "'answers', 'null'),"
			      " NULLIF($2::jsonb -> 'auto_save_data', 'null'), $3::int, "
			      "$4::int)::text",
			      items[i].attempt, items[i].body, items[i].version, items[i].limit);
		else if (strcmp(items[i].kind, "submit") == 0)
			r = V("SELECT attempts.submit_attempt($1::uuid, NULLIF($2::jsonb -> "
			      "'answers', 'null'),"
			      " $3::int, $4::int)::text",
			      items[i].attempt, items[i].body, items[i].version, items[i].limit);
		else
			r = V("SELECT attempts.log_attempt_activity($1::uuid, $2::jsonb -> "
			      "'events')::text",
			      items[i].attempt, items[i].body);
		out = fmt("%s%s%s", out, i ? ", " : "", r);
	}
	return fmt("%s]", out);
}

/* The coalesced_writes argument for the items (as lib/attempt_calls.c
 * builds it). */
static const char *cw_batch(const cw_item *items, int n)
{
	const char *out = "[";

	for (int i = 0; i < n; i++)
		out = fmt("%s%s{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\",\"body\":%s,"
			  "\"expected_version\":%s,\"max_answers_bytes\":%s}",
			  out, i ? "," : "", items[i].kind, items[i].claims, items[i].attempt,
			  items[i].body ? items[i].body : "null",
			  items[i].version ? items[i].version : "null", items[i].limit);
	return fmt("%s]", out);
}

/* coalesced_writes answers each item, and leaves every row, exactly as
 * the single functions do one by one - for a batch mixing students, a
 * proctor, another student's attempt, a past-deadline and a submitted
 * attempt, two saves of one attempt (applied in arrival order), duplicate
 * activity, a stale version, bad claims and an answers limit. */
START_TEST(test_coalesced_writes_match_singles)
{
	const char *exam = mk_exam(NULL);
	const char *u1 = new_uuid(), *u2 = new_uuid(), *u3 = new_uuid(), *u4 = new_uuid();
	const char *p = new_uuid();
	const char *a[4];
	const char *s1, *s2, *s3, *s4, *pr;

	a[0] = mk_attempt(u1, exam);
	a[1] = mk_attempt(u2, exam);
	a[2] = mk_attempt(u3, mk_exam("\"time_limit_s\": 60"));
	a[3] = mk_attempt(u4, exam);
	backdate(a[2], 3600);
	as(u4, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a[3]));
	s1 = cw_claims(u1, "student");
	s2 = cw_claims(u2, "student");
	s3 = cw_claims(u3, "student");
	s4 = cw_claims(u4, "student");
	pr = cw_claims(p, "proctor");
	{
		const cw_item items[] = {
			{"save", s1, a[0], "{\"answers\": {\"q\": 1, \"n\": 1.50}}", "1", "524288"},
			{"log", s2, a[1],
			 "{\"events\": [{\"event_type\": \"focus\", \"client_event_id\": \"e1\"},"
			 " {\"event_type\": \"blur\", \"client_event_id\": \"e1\"}]}",
			 NULL, "524288"},
			{"save", s1, a[1], "{\"answers\": {\"stolen\": 1}}", NULL, "524288"},
			{"save", s1, a[0],
			 "{\"answers\": {\"q\": null, \"r\": [2]}, \"auto_save_data\": {\"c\": 3}}",
			 "2", "524288"},
			{"save", pr, a[0], "{\"answers\": {\"p\": 1}}", NULL, "524288"},
			{"save", s3, a[2], "{\"answers\": {\"late\": 1}}", NULL, "524288"},
			{"submit", s4, a[3], NULL, NULL, "524288"},
			{"save", s4, a[3], "{\"answers\": {\"after\": 1}}", NULL, "524288"},
			{"log", s2, a[1],
			 "{\"events\": [{\"event_type\": \"focus\", \"client_event_id\": \"e1\"}]}",
			 NULL, "524288"},
			{"submit", s2, a[1], "{\"answers\": {\"final\": 1}}", "1", "524288"},
			{"save", s1, a[0], "{\"answers\": {\"stale\": 1}}", "1", "524288"},
			{"save", "{\"sub\":\"x\",\"role\":\"student\"}", a[0], "{\"answers\": {}}",
			 NULL, "524288"},
			{"save", s1, a[0],
			 "{\"answers\": {\"big\": \"0123456789012345678901234567890123456789\"}}",
			 NULL, "60"},
			{"log", s3, a[2], "{\"events\": [{\"event_type\": \"late.telemetry\"}]}",
			 NULL, "524288"},
		};
		const int n = (int)(sizeof items / sizeof items[0]);
		const char *together, *alone, *rows_together, *rows_alone;

		V0("BEGIN");
		together = cw_normalize(
			V("SELECT attempts.coalesced_writes($1)::text", cw_batch(items, n)));
		rows_together = cw_rows(a, 4);
		V0("ROLLBACK");
		V0("BEGIN");
		alone = cw_normalize(cw_alone(items, n));
		rows_alone = cw_rows(a, 4);
		V0("ROLLBACK");
		expect_same_text("answers (coalesced, alone)", together, alone);
		expect_same_text("rows (coalesced, alone)", rows_together, rows_alone);
		/* the comparison saw every kind of answer */
		for (const char *const *w =
			     (const char *const[]){"version_conflict", "not_found", "forbidden",
						   "attempt_closed", "attempt_submitted",
						   "unauthorized", "payload_too_large",
						   "\"already_submitted\": true",
						   "\"duplicates\": 1", "\"version\": 3", NULL};
		     *w != NULL; w++)
			ck_assert_msg(strstr(together, *w) != NULL, "no answer has %s: %s", *w,
				      together);
	}
}
END_TEST

/* A coalesced statement announces its changed attempts in one
 * notification (ids sorted, comma-separated, each once), at most 200 ids
 * per notification; failed items announce nothing. */
START_TEST(test_coalesced_writes_one_notification)
{
	enum { N = 205 };
	const char *exam = mk_exam(NULL);
	const char *a[N], *items = "[", *want = "", *got = "";
	const char *stranger = cw_claims(new_uuid(), "student");
	PGnotify *note;
	int notes = 0;

	for (int i = 0; i < N; i++) {
		const char *u = new_uuid();

		a[i] = mk_attempt(u, exam);
		items = fmt("%s{\"kind\":\"save\",\"claims\":%s,\"attempt_id\":\"%s\","
			    "\"body\":{\"answers\":{\"q\":%d}},\"expected_version\":null,"
			    "\"max_answers_bytes\":524288},",
			    items, cw_claims(u, "student"), a[i], i);
	}
	/* and one item that fails: another student's attempt */
	items = fmt("%s{\"kind\":\"save\",\"claims\":%s,\"attempt_id\":\"%s\",\"body\":{"
		    "\"answers\":{}},"
		    "\"expected_version\":null,\"max_answers_bytes\":524288}]",
		    items, stranger, a[0]);
	want = V("SELECT string_agg(DISTINCT id, ',' ORDER BY id) FROM unnest($1::text[]) AS t(id)",
		 fmt("{%s}", V("SELECT string_agg(x, ',') FROM jsonb_array_elements_text("
			       "jsonb_path_query_array($1::jsonb, '$[*].attempt_id')) AS x",
			       items)));
	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ptr_nonnull(
		strstr(V("SELECT attempts.coalesced_writes($1)::text", items), "not_found"));
	ck_assert_int_eq(PQconsumeInput(db), 1);
	while ((note = PQnotifies(db)) != NULL) {
		if (strcmp(note->relname, "attempts_changed") == 0) {
			int ids = 1;

			for (const char *c = note->extra; *c; c++)
				ids += *c == ',';
			ck_assert_int_le(ids, 200);
			got = fmt("%s%s%s", got, notes ? "," : "", note->extra);
			notes++;
		}
		PQfreemem(note);
	}
	ck_assert_int_eq(notes, 2);
	expect_same_text("the ids announced (got, want)", got, want);
	/* after it, the session announces row by row again */
	ck_assert_str_ne(
		V0("SELECT coalesce(current_setting('attempts.announce_changes', true), '')"),
		"statement");
}
END_TEST

/* coalesced_reads answers each item exactly as get_attempt_state or
 * get_attempt_info does alone for its caller: owner, another student,
 * proctor, admin, an unknown attempt, bad claims; in one transaction, so
 * even the remaining seconds agree. */
START_TEST(test_coalesced_reads_match_singles)
{
	const char *exam = mk_exam("\"time_limit_s\": 600");
	const char *u1 = new_uuid(), *u2 = new_uuid();
	const char *a1 = mk_attempt(u1, exam), *a2 = mk_attempt(u2, exam);
	const char *who[][2] = {{cw_claims(u1, "student"), a1},
				{cw_claims(u2, "student"), a1},
				{cw_claims(new_uuid(), "proctor"), a2},
				{cw_claims(new_uuid(), "admin"), a1},
				{cw_claims(u1, "student"), new_uuid()},
				{"{\"sub\":\"nope\",\"role\":\"student\"}", a1},
				{cw_claims(u2, "student"), a2},
				{cw_claims(u1, "teacher"), a1}};
	const int n = (int)(sizeof who / sizeof who[0]);
	const char *items = "[", *alone = "[", *together;

	as(u1, "student");
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a1, "{\"q\": 1.50}"));
	V0("BEGIN");
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "info" : "state";

		for (int i = 0; i < n; i++) {
			items = fmt("%s%s{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\"}",
				    items, k || i ? "," : "", kind, who[i][0], who[i][1]);
			claims_on(db, who[i][0]);
			alone = fmt("%s%s%s", alone, k || i ? ", " : "",
				    V(fmt("SELECT attempts.get_attempt_%s($1)::text", kind),
				      who[i][1]));
		}
	}
	together = V("SELECT attempts.coalesced_reads($1)::text", fmt("%s]", items));
	V0("COMMIT");
	expect_same_text("reads (coalesced, alone)", together, fmt("%s]", alone));
	for (const char *const *w =
		     (const char *const[]){"not_found", "unauthorized", "\"activity_count\"",
					   "\"answers\": {\"q\": 1.50}", NULL};
	     *w != NULL; w++)
		ck_assert_msg(strstr(together, *w) != NULL, "no answer has %s", *w);
}
END_TEST

void sql_add_coalesced(Suite *s)
{
	TCase *tc = sql_tcase("coalesced");

	tcase_add_test(tc, test_coalesced_writes_match_singles);
	tcase_add_test(tc, test_coalesced_writes_one_notification);
	tcase_add_test(tc, test_coalesced_reads_match_singles);
	suite_add_tcase(s, tc);
}
