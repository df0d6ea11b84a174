/* check_e2e_save: the save action (answers, versions, If-Match, limits,
 * read-your-writes). Part of check_e2e (see check_e2e.c). */
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
#include "fill.h"

#define ONE_MIB (1024 * 1024)

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

/* Saves in a row, each answered 200 with its version or 409
 * version_conflict with the current data, then the stored result: the
 * merge of answers (top-level keys only), auto_save_data replaced whole,
 * expected_version and If-Match. */
typedef struct save_step {
	const char *body;
	int if_match;	       /* If-Match: "<if_match>" (0: none) */
	int status;	       /* 200, or 409 version_conflict */
	long version;	       /* the new version, or the current one of a 409 */
	const char *answers;   /* a 409's details.answers (NULL: not checked) */
	const char *auto_save; /* a 409's details.auto_save_data (NULL: not checked) */
} save_step;

static const struct save_case {
	const char *exam;
	save_step steps[2];
	long version;		     /* stored after the steps */
	const char *answers;	     /* stored after the steps */
	int read_state;		     /* GET state: the same answers and version */
	const char *state_auto_save; /* and this auto_save_data (NULL: not checked) */
} save_cases[] = {
	{"{\"title\":\"Save\"}",
	 {{"{\"answers\":{\"q1\":\"a\",\"q2\":\"b\"}}", 0, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q2\":null,\"q3\":\"c\"}}", 0, 200, 3, NULL, NULL}},
	 3,
	 "{\"q1\":\"a\",\"q3\":\"c\"}",
	 1,
	 NULL},
	{"{\"title\":\"Top level\"}",
	 {{"{\"answers\":{\"q1\":{\"a\":1,\"b\":2},\"q2\":[1,2]}}", 0, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q1\":{\"c\":3},\"q2\":[3]}}", 0, 200, 3, NULL, NULL}},
	 3,
	 "{\"q1\":{\"c\":3},\"q2\":[3]}",
	 0,
	 NULL},
	{"{\"title\":\"Autosave\"}",
	 {{"{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"progress\":10,\"tab\":\"x\"}}", 0,
	   200, 2, NULL, NULL},
	  {"{\"auto_save_data\":{\"progress\":50}}", 0, 200, 3, NULL, NULL}},
	 3,
	 "{\"q1\":\"a\"}",
	 1,
	 "{\"progress\":50}"},
	{"{\"title\":\"Versions ok\"}",
	 {{"{\"answers\":{\"q1\":\"a\"},\"expected_version\":1}", 0, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q1\":\"b\"},\"expected_version\":2}", 0, 200, 3, NULL, NULL}},
	 3,
	 "{\"q1\":\"b\"}",
	 0,
	 NULL},
	/* Stale: nothing written, the current data in the details. */
	{"{\"title\":\"Versions\"}",
	 {{"{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"p\":1}}", 0, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q1\":\"LOST\"},\"auto_save_data\":{\"p\":9},\"expected_version\":1}", 0,
	   409, 2, "{\"q1\":\"a\"}", "{\"p\":1}"}},
	 2,
	 "{\"q1\":\"a\"}",
	 0,
	 NULL},
	{"{\"title\":\"Versions ahead\"}",
	 {{"{\"answers\":{\"q1\":\"b\"},\"expected_version\":7}", 0, 409, 1, NULL, NULL}},
	 1,
	 "{}",
	 0,
	 NULL},
	{"{\"title\":\"If-Match\"}",
	 {{"{\"answers\":{\"q1\":\"a\"}}", 1, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q2\":\"b\"}}", 2, 200, 3, NULL, NULL}},
	 3,
	 "{\"q1\":\"a\",\"q2\":\"b\"}",
	 0,
	 NULL},
	{"{\"title\":\"If-Match stale\"}",
	 {{"{\"answers\":{\"q1\":\"a\"}}", 0, 200, 2, NULL, NULL},
	  {"{\"answers\":{\"q1\":\"stale\"}}", 1, 409, 2, "{\"q1\":\"a\"}", NULL}},
	 2,
	 "{\"q1\":\"a\"}",
	 0,
	 NULL},
};

static void save_step_run(const world *w, const save_step *st)
{
	char if_match[32];
	const char *h[] = {if_match, NULL};
	const cJSON *d;
	resp r;

	snprintf(if_match, sizeof if_match, "If-Match: \"%d\"", st->if_match);
	if (st->status == 200) {
		save_version(&w->student, w->attempt_id, st->body, st->if_match ? h : NULL,
			     st->version);
		return;
	}
	save(&r, &w->student, w->attempt_id, st->body, st->if_match ? h : NULL);
	d = expect_error(&r, 409, "version_conflict");
	ck_assert_ptr_nonnull(d);
	expect_num(d, "current_version", (double)st->version);
	if (st->answers != NULL)
		expect_json_eq(d, "answers", st->answers);
	if (st->auto_save != NULL)
		expect_json_eq(d, "auto_save_data", st->auto_save);
	resp_free(&r);
}

START_TEST(test_save_sequence)
{
	const struct save_case *c = &save_cases[_i];
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, c->exam);
	for (size_t k = 0; k < sizeof c->steps / sizeof c->steps[0] && c->steps[k].body; k++)
		save_step_run(&w, &c->steps[k]);
	if (c->read_state) {
		get_action(&r, &w.student, w.attempt_id, "state");
		o = expect_ok(&r, 200);
		expect_json_eq(o, "answers", c->answers);
		if (c->state_auto_save != NULL)
			expect_json_eq(o, "auto_save_data", c->state_auto_save);
		expect_num(o, "version", (double)c->version);
		resp_free(&r);
	}
	db_expect_stored(w.attempt_id, c->version, c->answers);
	world_free(&w);
}
END_TEST

START_TEST(test_save_other_student)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);

	world_new(&w, "{\"title\":\"Save other\"}");
	expect_as_missing("PATCH", &other, w.attempt_id, "save", "{\"answers\":{\"q1\":\"x\"}}");
	db_expect_untouched(w.attempt_id);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_save_staff_forbidden)
{
	world w;
	user a = user_new(AUTH_ROLE_ADMIN);

	world_new(&w, "{\"title\":\"Save staff\"}");
	save_refused(&w.proctor, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL, 403,
		     "forbidden");
	save_refused(&a, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL, 403, "forbidden");
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
	save_refused(&w.student, "abc", "{\"answers\":{\"q1\":\"x\"}}", NULL, 400, "invalid_uuid");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

/* Saves refused with 400 or 422 (naming details.field where given), each
 * leaving the attempt untouched. */
static const struct save_refusal {
	const char *exam;
	const char *bodies[2];
	int status;
	const char *code;
	const char *field; /* 422 validation_failed's details.field (NULL: not checked) */
} save_refusals[] = {
	{"{\"title\":\"Save json\"}", {"{\"answers\":{\"q1\":", NULL}, 400, "invalid_json", NULL},
	{"{\"title\":\"Save answers type\"}",
	 {"{\"answers\":\"q1=a\"}", "{\"answers\":[\"a\"]}"},
	 422,
	 "validation_failed",
	 "answers"},
	{"{\"title\":\"Save version type\"}",
	 {"{\"answers\":{\"q1\":\"a\"},\"expected_version\":\"x\"}",
	  "{\"answers\":{\"q1\":\"a\"},\"expected_version\":1.5}"},
	 422,
	 "validation_failed",
	 "expected_version"},
	{"{\"title\":\"Save empty\"}",
	 {"{}", "{\"expected_version\":1}"},
	 422,
	 "validation_failed",
	 NULL},
};

START_TEST(test_save_refused)
{
	const struct save_refusal *c = &save_refusals[_i];
	world w;

	world_new(&w, c->exam);
	for (size_t k = 0; k < 2 && c->bodies[k] != NULL; k++) {
		if (c->field != NULL)
			save_field_refused(&w.student, w.attempt_id, c->bodies[k], NULL, c->field);
		else
			save_refused(&w.student, w.attempt_id, c->bodies[k], NULL, c->status,
				     c->code);
	}
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_too_large)
{
	world w;
	char *body = fill_at("{\"answers\":{\"q1\":\"@\"}}", 'x', ONE_MIB + 1024);

	ck_assert_ptr_nonnull(body);
	world_new(&w, "{\"title\":\"Big\"}");
	save_refused(&w.student, w.attempt_id, body, NULL, 413, "payload_too_large");
	free(body);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_submitted)
{
	world w;

	world_new(&w, "{\"title\":\"Submitted\"}");
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}");
	db_submit(w.attempt_id); /* version 3 */
	save_refused(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"late\"}}", NULL, 409,
		     "attempt_submitted");
	db_expect_stored(w.attempt_id, 3, "{\"q1\":\"a\"}");
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
	get_version(&w.student, w.attempt_id, "state", 1);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q9\":\"z\"}}");
	for (int i = 0; i < 4; i++) { /* several requests: several workers */
		get_action(&r, &w.student, w.attempt_id, "state");
		o = expect_ok(&r, 200);
		expect_num(o, "version", 2);
		expect_json_eq(o, "answers", "{\"q9\":\"z\"}");
		resp_free(&r);
		get_version(&w.student, w.attempt_id, "info", 2);
	}
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void e2e_save_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "save", 60, test_save_response, E2E_LOOP(test_save_sequence, save_cases),
		      test_save_untimed_and_alias, test_save_other_student,
		      test_save_staff_forbidden, test_save_bad_target,
		      E2E_LOOP(test_save_refused, save_refusals), test_save_too_large,
		      test_save_submitted, test_save_then_state_read_your_writes);
}
