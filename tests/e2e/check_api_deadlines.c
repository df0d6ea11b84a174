/* check_api_deadlines: deadlines, grace, the sweep and extend. Part of
 * check_api (see check_api.c). */
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

#define GRACE_EXAM "{\"title\":\"grace\",\"time_limit_s\":60,\"grace_s\":600}"

START_TEST(test_deadline_save_closes)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;
	char hex[65];

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"in time\"}}");
	lock = db_expire_held(w.attempt_id);
	act_refused("PATCH", &w.student, w.attempt_id, "save",
		    "{\"answers\":{\"q1\":\"late\",\"q2\":\"late\"}}", 409, "attempt_closed");
	sweep_release(lock);
	/* Submitted with reason deadline, keeping what was saved in time. */
	db_expect_col(w.attempt_id, "status", "submitted");
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	db_expect_stored(w.attempt_id, 3, "{\"q1\":\"in time\"}");
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_json_eq(o, "answers", "{\"q1\":\"in time\"}");
	expect_num(o, "version", 3);
	expect_null(o, "time_remaining_s");
	expect_ts(o, "submitted_at");
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "submit_reason", "deadline");
	receipt_of_text("{\"q1\":\"in time\"}", hex);
	expect_str(o, "receipt", hex);
	resp_free(&r);
	/* Now it is simply submitted. */
	act_refused("PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q1\":\"later\"}}",
		    409, "attempt_submitted");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_submit_closes)
{
	world w;
	resp r;
	PGconn *lock;
	char hex[65];

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"saved\"}}");
	lock = db_expire_held(w.attempt_id);
	/* Submit is a last save and the submit in one transaction, so past
	 * deadline + grace it answers as save does (API.md section 6). */
	submit_refused(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"too late\"}}", 409,
		       "attempt_closed");
	sweep_release(lock);
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	db_expect_stored(w.attempt_id, 3, "{\"q\":\"saved\"}");
	/* Once closed, submit is idempotent: 200, same receipt. */
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"saved\"}", 1, 3);
	receipt_of_text("{\"q\":\"saved\"}", hex);
	db_expect_col(w.attempt_id, "receipt", hex);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_within_grace)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;

	world_new(&w, GRACE_EXAM);
	lock = db_expire_held(w.attempt_id);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "in_progress");
	expect_num(o, "time_remaining_s", 0);
	resp_free(&r);
	act(&r, "GET", &w.proctor, w.attempt_id, "info", NULL);
	expect_num(expect_ok(&r, 200), "time_remaining_s", 0);
	resp_free(&r);
	/* Within the grace period a save still works (silent slack). */
	act(&r, "PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q\":\"grace\"}}");
	o = expect_ok(&r, 200);
	expect_num(o, "time_remaining_s", 0);
	expect_num(o, "version", 2);
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"grace\"}", 0, 3);
	resp_free(&r);
	db_expect_col(w.attempt_id, "submit_reason", "student");
	sweep_release(lock);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_time_remaining_counts)
{
	world w;
	resp r;
	double left;

	world_new(&w, MINUTE_EXAM);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	left = jnum(expect_ok(&r, 200), "time_remaining_s");
	ck_assert_msg(left >= 50 && left <= 60, "time_remaining_s %g, want 50..60", left);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_sweep)
{
	world w;
	resp r;
	char *status = NULL;
	char hex[65];
	const cJSON *o;

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"kept\"}}");
	db_push_past(w.attempt_id);
	warm(&w.student, w.attempt_id);
	/* Nobody writes to it: the workers' periodic sweep closes it. */
	for (int i = 0; i < 50; i++) {
		free(status);
		status = db_value("SELECT status FROM attempts.attempts WHERE attempt_id = $1",
				  w.attempt_id);
		if (strcmp(status, "submitted") == 0)
			break;
		usleep(200 * 1000);
	}
	ck_assert_msg(strcmp(status, "submitted") == 0,
		      "an expired attempt is still %s after 10 s: no deadline sweep?", status);
	free(status);
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	receipt_of_text("{\"q\":\"kept\"}", hex);
	db_expect_col(w.attempt_id, "receipt", hex);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	/* No client was answered for the sweep's write: the workers that
	 * cached the attempt hear of it by NOTIFY, with bounded staleness
	 * (API.md section 7), so wait for it rather than race it. */
	for (int i = 0; i < 100; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		o = expect_ok(&r, 200);
		if (strcmp(jstr(o, "status"), "submitted") == 0)
			break;
		resp_free(&r);
		usleep(100 * 1000);
	}
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "deadline");
	expect_num(o, "version", 3);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* The attempt's deadline as epoch seconds (microsecond precision). */
static double db_deadline_epoch(const char *attempt_id)
{
	char *v = db_value("SELECT extract(epoch FROM deadline_at) FROM attempts.attempts"
			   " WHERE attempt_id = $1",
			   attempt_id);
	double d;

	ck_assert_ptr_nonnull(v);
	d = strtod(v, NULL);
	free(v);
	return d;
}

START_TEST(test_extend_proctor)
{
	world w;
	resp r;
	const cJSON *o;
	double before, after, left;

	world_new(&w, MINUTE_EXAM);
	warm(&w.student, w.attempt_id);
	before = db_deadline_epoch(w.attempt_id);
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":600}");
	o = expect_ok(&r, 200);
	expect_keys(o, "extend answer", state_keys);
	expect_num(o, "version", 2);
	expect_str(o, "status", "in_progress");
	left = jnum(o, "time_remaining_s");
	ck_assert_msg(left > 600 && left <= 660, "time_remaining_s %g after +600 s", left);
	resp_free(&r);
	after = db_deadline_epoch(w.attempt_id);
	ck_assert_msg(fabs(after - before - 600) < 1e-3, "deadline moved by %f s, want 600",
		      after - before);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	/* The new state is what everyone reads, cached before or not. */
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	ck_assert(jnum(o, "time_remaining_s") > 600);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	ck_assert(jnum(o, "time_remaining_s") > 600);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_within_grace)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;
	double left;

	/* A proctor gives time back to an attempt already in its grace period:
	 * the countdown restarts from the moved deadline. */
	world_new(&w, GRACE_EXAM);
	lock = db_expire_held(w.attempt_id);
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":300}");
	o = expect_ok(&r, 200);
	left = jnum(o, "time_remaining_s");
	ck_assert_msg(left > 170 && left <= 180, "time_remaining_s %g, want about 180", left);
	expect_num(o, "version", 2);
	resp_free(&r);
	sweep_release(lock);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_admin_and_bounds)
{
	world w;
	resp r;
	double before;

	world_new(&w, MINUTE_EXAM);
	before = db_deadline_epoch(w.attempt_id);
	act(&r, "PATCH", &w.admin, w.attempt_id, "extend", "{\"extra_s\":1}");
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	act(&r, "PATCH", &w.admin, w.attempt_id, "extend", "{\"extra_s\":86400}");
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	ck_assert(fabs(db_deadline_epoch(w.attempt_id) - before - 86401) < 1e-3);
	world_free(&w);
}
END_TEST

/* Extends refused, the attempt untouched: by its student; with an extra_s
 * that is not an integer in 1..86400 (422 naming it), or no JSON. */
static const struct extend_refusal {
	int by_student;		    /* else by the exam's proctor */
	const char *bad_extra_s[8]; /* each refused with 422 naming extra_s */
	const char *body;
	int status;
	const char *code;
} extend_refusals[] = {
	{1, {NULL}, "{\"extra_s\":600}", 403, "forbidden"},
	{0,
	 {"{\"extra_s\":0}", "{\"extra_s\":86401}", "{\"extra_s\":\"x\"}", "{\"extra_s\":-5}",
	  "{\"extra_s\":1.5}", "{\"extra_s\":null}", "{}", "{\"extra_s\":\"600\"}"},
	 "{\"extra_s\":",
	 400,
	 "invalid_json"},
};

START_TEST(test_extend_refused)
{
	const struct extend_refusal *c = &extend_refusals[_i];
	world w;
	const user *u;

	world_new(&w, MINUTE_EXAM);
	u = c->by_student ? &w.student : &w.proctor;
	for (size_t i = 0; i < 8 && c->bad_extra_s[i] != NULL; i++)
		act_field_refused("PATCH", u, w.attempt_id, "extend", c->bad_extra_s[i], "extra_s");
	act_refused("PATCH", u, w.attempt_id, "extend", c->body, c->status, c->code);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_not_extendable)
{
	world w, u;

	world_new(&w, UNTIMED_EXAM);
	act_refused("PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":60}", 409,
		    "not_extendable");
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_new(&u, MINUTE_EXAM);
	submit_ok(&u.student, u.attempt_id, NULL);
	act_refused("PATCH", &u.proctor, u.attempt_id, "extend", "{\"extra_s\":60}", 409,
		    "not_extendable");
	ck_assert_int_eq(db_version(u.attempt_id), 2);
	world_free(&w);
	world_free(&u);
}
END_TEST

START_TEST(test_extend_missing_attempt)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	char missing[ID_LEN];

	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	act_refused("PATCH", &p, missing, "extend", "{\"extra_s\":60}", 404, "not_found");
	act_refused("PATCH", &p, "bad-id", "extend", "{\"extra_s\":60}", 400, "invalid_uuid");
	act_refused("PATCH", NULL, missing, "extend", "{\"extra_s\":60}", 401, "unauthorized");
	user_free(&p);
}
END_TEST

/* ============================================================ runner */

void api_deadlines_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "deadlines", 60, test_deadline_save_closes, test_deadline_submit_closes,
		      test_deadline_within_grace, test_deadline_time_remaining_counts,
		      test_deadline_sweep, test_extend_proctor, test_extend_within_grace,
		      test_extend_admin_and_bounds, E2E_LOOP(test_extend_refused, extend_refusals),
		      test_extend_not_extendable, test_extend_missing_attempt);
}
