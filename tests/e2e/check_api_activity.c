/* check_api_activity: the activity action (logging events, duplicates,
 * limits, read-your-writes). Part of check_api (see check_api.c). */
#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "e2e_util.h"
#include "http_client.h"
#include "json.h"
#include "uuid.h"
#include "check_api.h"
#include "fill.h"

/* Logs events_json expecting 200 {"logged": logged, "duplicates": dups}. */
static void activity_ok(const user *u, const char *attempt_id, const char *events_json, int logged,
			int dups)
{
	resp r;
	const cJSON *o;

	activity(&r, u, attempt_id, events_json);
	o = expect_ok(&r, 200);
	expect_num(o, "logged", logged);
	expect_num(o, "duplicates", dups);
	ck_assert_msg(nkeys(o) == 2, "activity answer is exactly {logged, duplicates}: %s",
		      r.r.body);
	resp_free(&r);
}

/* One activity request: what it logs, what the table then holds, and one
 * stored value. */
static const struct activity_case {
	const char *events;
	int logged, dups;
	const char *check_sql; /* one number of the attempt ($1); NULL: none */
	long check_want;
} activity_cases[] = {
	{"[{\"event_type\":\"answer_changed\",\"payload\":{\"q\":1},"
	 "\"client_event_id\":\"tab1-1\",\"occurred_at\":\"2024-05-01T10:00:00Z\"},"
	 "{\"event_type\":\"focus.lost\",\"client_event_id\":\"tab1-2\"},"
	 "{\"event_type\":\"a-b_c.9\",\"client_event_id\":\"tab1-3\",\"payload\":null}]",
	 3, 0,
	 "SELECT count(*) FROM attempts.attempt_activity WHERE"
	 " attempt_id = $1 AND client_event_id = 'tab1-1' AND"
	 " event_type = 'answer_changed' AND payload = '{\"q\":1}' AND"
	 " occurred_at = '2024-05-01T10:00:00Z'",
	 1},
	/* Of two events with one id in a request, the first is the one kept. */
	{"[{\"event_type\":\"x\",\"client_event_id\":\"e1\",\"payload\":{\"n\":1}},"
	 "{\"event_type\":\"x\",\"client_event_id\":\"e1\",\"payload\":{\"n\":2}},"
	 "{\"event_type\":\"x\",\"client_event_id\":\"e2\"}]",
	 2, 1,
	 "SELECT (payload->>'n')::int FROM attempts.attempt_activity"
	 " WHERE attempt_id = $1 AND client_event_id = 'e1'",
	 1},
	{"[]", 0, 0, NULL, 0},
};

START_TEST(test_activity_request)
{
	const struct activity_case *c = &activity_cases[_i];
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id, c->events, c->logged, c->dups);
	ck_assert_int_eq(db_activity_count(w.attempt_id), c->logged);
	if (c->check_sql != NULL)
		ck_assert_int_eq(db_long(c->check_sql, w.attempt_id), c->check_want);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_duplicate_across_requests)
{
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"a\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"b\"}]",
		    2, 0);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"b\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"c\"}]",
		    1, 1);
	/* A retry of the whole request is all duplicates. */
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"b\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"c\"}]",
		    0, 2);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_same_id_other_attempt)
{
	world w;
	char other[ID_LEN], exam2[ID_LEN];

	/* Dedupe is per attempt: the same client_event_id on another attempt
	 * is a new event. */
	world_new(&w, TIMED_EXAM);
	exam_create(&w.proctor, TIMED_EXAM, exam2);
	attempt_start(&w.student, exam2, other);
	activity_ok(&w.student, w.attempt_id, "[{\"event_type\":\"x\",\"client_event_id\":\"k\"}]",
		    1, 0);
	activity_ok(&w.student, other, "[{\"event_type\":\"x\",\"client_event_id\":\"k\"}]", 1, 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_without_client_id)
{
	world w;
	const char *ev = "[{\"event_type\":\"tick\"},{\"event_type\":\"tick\"},"
			 "{\"event_type\":\"tick\",\"client_event_id\":null}]";

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id, ev, 3, 0);
	activity_ok(&w.student, w.attempt_id, ev, 3, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 6);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_moves_last_activity_not_version)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}");
	db_exec("UPDATE attempts.attempts SET last_activity_at = now() - interval '1 hour'"
		" WHERE attempt_id = $1",
		w.attempt_id, NULL, 1);
	activity_ok(&w.student, w.attempt_id, "[{\"event_type\":\"blur\"}]", 1, 0);
	ck_assert_int_eq(db_long("SELECT (last_activity_at > now() - interval '1 minute')::int"
				 " FROM attempts.attempts WHERE attempt_id = $1",
				 w.attempt_id),
			 1);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	expect_num(expect_ok(&r, 200), "activity_count", 1);
	expect_num(r.json, "version", 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* Read-your-writes (API.md section 7): logging changes no version, but
 * the info's activity_count must not be served stale from a cache right
 * after the write was acknowledged. Each round caches the info, logs one
 * event, reads again. 300 rounds, because a write that does not invalidate
 * its own worker's cache at once (API.md section 7) only shows when the
 * read beats the NOTIFY that invalidates asynchronously; save, which does
 * invalidate locally, never fails this loop. Logs through activity
 * (via_batch 0) or batch_log (1). */
static void activity_read_your_writes(int via_batch)
{
	world w;
	resp r;
	char ev[128], data[256];

	world_new(&w, TIMED_EXAM);
	for (int i = 1; i <= 300; i++) {
		for (int k = 0; k < 2; k++) {
			act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
			expect_num(expect_ok(&r, 200), "activity_count", i - 1);
			resp_free(&r);
		}
		snprintf(ev, sizeof ev, "[{\"event_type\":\"x\",\"client_event_id\":\"ryw%d\"}]",
			 i);
		if (via_batch) {
			snprintf(data, sizeof data, "[{\"attempt_id\":\"%s\",\"events\":%s}]",
				 w.attempt_id, ev);
			batch(&r, &w.student, "batch_log", data);
			expect_num(cJSON_GetArrayItem(batch_results(&r, 1), 0), "logged", 1);
			resp_free(&r);
		} else {
			activity_ok(&w.student, w.attempt_id, ev, 1, 0);
		}
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		ck_assert_msg(
			jnum(expect_ok(&r, 200), "activity_count") == i,
			"info right after %s acknowledged event %d: activity_count %g (X-Cache %s)",
			via_batch ? "batch_log" : "activity", i, jnum(r.json, "activity_count"),
			http_client_header(&r.r, "X-Cache") ? http_client_header(&r.r, "X-Cache")
							    : "(none)");
		resp_free(&r);
	}
	world_free(&w);
}

START_TEST(test_activity_read_your_writes)
{
	activity_read_your_writes(0);
}
END_TEST

START_TEST(test_batch_log_read_your_writes)
{
	activity_read_your_writes(1);
}
END_TEST

/* Events refused with 422 naming the offending element, nothing of the
 * request written; where ok is given, the longest allowed value is then
 * accepted. An '@' in a text stands for fill_n copies of fill (fill_n - 1
 * in ok). */
static const struct activity_field_case {
	struct {
		const char *events, *field;
	} refusals[3];
	const char *ok; /* NULL: none, and no event is stored */
	char fill;
	size_t fill_n;
} activity_field_cases[] = {
	{{{"[{\"event_type\":\"Answer\"}]", "events[0].event_type"}}, NULL, 0, 0},
	/* 64 characters are allowed. */
	{{{"[{\"event_type\":\"@\"}]", "events[0].event_type"},
	  {"[{\"event_type\":\"\"}]", "events[0].event_type"}},
	 "[{\"event_type\":\"@\"}]",
	 'a',
	 65},
	/* The path names the offending element; nothing of the request is
	 * written, not even the valid events before it. */
	{{{"[{\"payload\":{}}]", "events[0].event_type"},
	  {"[{\"event_type\":\"ok\",\"client_event_id\":\"z\"},{\"event_type\":7}]",
	   "events[1].event_type"},
	  {"[\"click\"]", "events[0]"}},
	 NULL,
	 0,
	 0},
	{{{"[{\"event_type\":\"x\",\"client_event_id\":\"@\"}]", "events[0].client_event_id"},
	  {"[{\"event_type\":\"x\",\"client_event_id\":\"\"}]", "events[0].client_event_id"},
	  {"[{\"event_type\":\"x\",\"client_event_id\":5}]", "events[0].client_event_id"}},
	 "[{\"event_type\":\"x\",\"client_event_id\":\"@\"}]",
	 'i',
	 129},
	{{{"[{\"event_type\":\"x\",\"occurred_at\":\"yesterday\"}]", "events[0].occurred_at"}},
	 NULL,
	 0,
	 0},
};

START_TEST(test_activity_field_refused)
{
	const struct activity_field_case *c = &activity_field_cases[_i];
	world w;
	char *ev;

	world_new(&w, TIMED_EXAM);
	for (size_t k = 0; k < 3 && c->refusals[k].events != NULL; k++) {
		ev = fill_at(c->refusals[k].events, c->fill, c->fill_n);
		ck_assert_ptr_nonnull(ev);
		activity_field_refused(&w.student, w.attempt_id, ev, c->refusals[k].field);
		free(ev);
	}
	if (c->ok == NULL) {
		ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	} else {
		ev = fill_at(c->ok, c->fill, c->fill_n - 1);
		ck_assert_ptr_nonnull(ev);
		activity_ok(&w.student, w.attempt_id, ev, 1, 0);
		free(ev);
	}
	world_free(&w);
}
END_TEST

START_TEST(test_activity_payload_too_large)
{
	static const char tmpl[] = "[{\"event_type\":\"big\",\"payload\":{\"blob\":\"@\"}}]";
	world w;
	char *ev = fill_at(tmpl, 'x', 17 * 1024);

	ck_assert_ptr_nonnull(ev);
	world_new(&w, TIMED_EXAM);
	activity_refused(&w.student, w.attempt_id, ev, 413, "payload_too_large");
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	free(ev);
	/* 16 000 bytes of payload text are within the 16 KiB limit. */
	ev = fill_at(tmpl, 'y', 16000);
	ck_assert_ptr_nonnull(ev);
	activity_ok(&w.student, w.attempt_id, ev, 1, 0);
	free(ev);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_too_many_events)
{
	world w;
	char *ev;

	world_new(&w, TIMED_EXAM);
	ev = many_events(501);
	activity_refused(&w.student, w.attempt_id, ev, 413, "batch_too_large");
	free(ev);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	ev = many_events(500);
	activity_ok(&w.student, w.attempt_id, ev, 500, 0);
	free(ev);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 500);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_events_not_array)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	activity_field_refused(&w.student, w.attempt_id, "{\"event_type\":\"x\"}", "events");
	activity_field_refused(&w.student, w.attempt_id, "\"x\"", "events");
	act(&r, "POST", &w.student, w.attempt_id, "activity", "{}");
	expect_field_free(&r, "events");
	act(&r, "POST", &w.student, w.attempt_id, "activity", "[]");
	expect_field_free(&r, "body");
	world_free(&w);
}
END_TEST

START_TEST(test_activity_on_submitted)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	act(&r, "POST", &w.student, w.attempt_id, "submit", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"late\",\"client_event_id\":\"l1\"}]", 1, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 1);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_access)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[ID_LEN];

	world_new(&w, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	activity_refused(&other, w.attempt_id, "[{\"event_type\":\"x\"}]", 404, "not_found");
	activity_refused(&w.student, missing, "[{\"event_type\":\"x\"}]", 404, "not_found");
	/* Activity is an owner-only write (docs/SQL.md): staff is forbidden. */
	activity_refused(&w.proctor, w.attempt_id, "[{\"event_type\":\"x\"}]", 403, "forbidden");
	activity_refused(NULL, w.attempt_id, "[{\"event_type\":\"x\"}]", 401, "unauthorized");
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_invalid_json)
{
	world w;

	world_new(&w, TIMED_EXAM);
	act_refused("POST", &w.student, w.attempt_id, "activity", "{\"events\": [", 400,
		    "invalid_json");
	act_refused("POST", &w.student, "not-a-uuid", "activity", "{\"events\":[]}", 400,
		    "invalid_uuid");
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void api_activity_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "activity", 60, E2E_LOOP(test_activity_request, activity_cases),
		      test_activity_duplicate_across_requests, test_activity_same_id_other_attempt,
		      test_activity_without_client_id,
		      test_activity_moves_last_activity_not_version, test_activity_read_your_writes,
		      E2E_LOOP(test_activity_field_refused, activity_field_cases),
		      test_activity_payload_too_large, test_activity_too_many_events,
		      test_activity_events_not_array, test_activity_on_submitted,
		      test_activity_access, test_activity_invalid_json);
	E2E_ADD_TESTS(s, "batch", 60, test_batch_log_read_your_writes);
}
