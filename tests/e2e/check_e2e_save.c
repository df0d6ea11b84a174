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

START_TEST(test_save_merge)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Save\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\",\"q2\":\"b\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);

	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q2\":null,\"q3\":\"c\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);

	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_json_eq(o, "answers", "{\"q1\":\"a\",\"q3\":\"c\"}");
	expect_num(o, "version", 3);
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\",\"q3\":\"c\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_merge_top_level_only)
{
	world w;

	resp r;

	world_new(&w, "{\"title\":\"Top level\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":{\"a\":1,\"b\":2},\"q2\":[1,2]}}",
	     NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":{\"c\":3},\"q2\":[3]}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":{\"c\":3},\"q2\":[3]}");
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

START_TEST(test_save_auto_save_replaced)
{
	world w;
	resp r;
	const cJSON *o;

	world_new(&w, "{\"title\":\"Autosave\"}");
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"progress\":10,\"tab\":\"x\"}}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"auto_save_data\":{\"progress\":50}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);

	get_action(&r, &w.student, w.attempt_id, "state");
	o = expect_ok(&r, 200);
	expect_json_eq(o, "auto_save_data", "{\"progress\":50}");
	expect_json_eq(o, "answers", "{\"q1\":\"a\"}");
	expect_num(o, "version", 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_save_expected_version_ok)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Versions ok\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"},\"expected_version\":1}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"b\"},\"expected_version\":2}",
	     NULL);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"b\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_version_conflict)
{
	world w;
	resp r;
	const cJSON *d;

	world_new(&w, "{\"title\":\"Versions\"}");
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"a\"},\"auto_save_data\":{\"p\":1}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);

	/* Stale: nothing written, the current data in the details. */
	save(&r, &w.student, w.attempt_id,
	     "{\"answers\":{\"q1\":\"LOST\"},\"auto_save_data\":{\"p\":9},\"expected_version\":1}",
	     NULL);
	d = expect_error(&r, 409, "version_conflict");
	ck_assert_ptr_nonnull(d);
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q1\":\"a\"}");
	expect_json_eq(d, "auto_save_data", "{\"p\":1}");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_version_ahead_conflict)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Versions ahead\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"b\"},\"expected_version\":7}",
	     NULL);
	expect_num(expect_error(&r, 409, "version_conflict"), "current_version", 1);
	resp_free(&r);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_if_match)
{
	world w;
	const char *v1[] = {"If-Match: \"1\"", NULL};
	const char *v2[] = {"If-Match: \"2\"", NULL};
	resp r;

	world_new(&w, "{\"title\":\"If-Match\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", v1);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q2\":\"b\"}}", v2);
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\",\"q2\":\"b\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_if_match_stale)
{
	world w;
	const char *v1[] = {"If-Match: \"1\"", NULL};
	resp r;
	const cJSON *d;

	world_new(&w, "{\"title\":\"If-Match stale\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"stale\"}}", v1);
	d = expect_error(&r, 409, "version_conflict");
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q1\":\"a\"}");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_save_other_student)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[UUID_STR_LEN + 1];
	resp r1, r2;

	world_new(&w, "{\"title\":\"Save other\"}");
	save(&r1, &other, w.attempt_id, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r1, 404, "not_found");
	db_expect_untouched(w.attempt_id);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save(&r2, &other, missing, "{\"answers\":{\"q1\":\"x\"}}", NULL);
	expect_error(&r2, 404, "not_found");
	ck_assert_msg(cJSON_Compare(r1.json, r2.json, 1),
		      "someone else's attempt answers %s, a missing one %s", r1.r.body, r2.r.body);
	resp_free(&r1);
	resp_free(&r2);
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

START_TEST(test_save_invalid_json)
{
	world w;

	world_new(&w, "{\"title\":\"Save json\"}");
	save_refused(&w.student, w.attempt_id, "{\"answers\":{\"q1\":", NULL, 400, "invalid_json");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_answers_not_object)
{
	world w;

	world_new(&w, "{\"title\":\"Save answers type\"}");
	save_field_refused(&w.student, w.attempt_id, "{\"answers\":\"q1=a\"}", NULL, "answers");
	save_field_refused(&w.student, w.attempt_id, "{\"answers\":[\"a\"]}", NULL, "answers");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_expected_version_not_number)
{
	world w;

	world_new(&w, "{\"title\":\"Save version type\"}");
	save_field_refused(&w.student, w.attempt_id,
			   "{\"answers\":{\"q1\":\"a\"},\"expected_version\":\"x\"}", NULL,
			   "expected_version");
	save_field_refused(&w.student, w.attempt_id,
			   "{\"answers\":{\"q1\":\"a\"},\"expected_version\":1.5}", NULL,
			   "expected_version");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_nothing_to_save)
{
	world w;

	world_new(&w, "{\"title\":\"Save empty\"}");
	save_refused(&w.student, w.attempt_id, "{}", NULL, 422, "validation_failed");
	save_refused(&w.student, w.attempt_id, "{\"expected_version\":1}", NULL, 422,
		     "validation_failed");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_too_large)
{
	static const char prefix[] = "{\"answers\":{\"q1\":\"";
	world w;
	size_t n = ONE_MIB + 1024;
	char *body = malloc(sizeof prefix + n + 8);
	char path[128];
	resp r;

	ck_assert_ptr_nonnull(body);
	world_new(&w, "{\"title\":\"Big\"}");
	memcpy(body, prefix, sizeof prefix - 1);
	memset(body + sizeof prefix - 1, 'x', n);
	strcpy(body + sizeof prefix - 1 + n, "\"}}");
	attempt_path(path, sizeof path, w.attempt_id, "save");
	send_raw(&r, "PATCH", path, w.student.token, body, strlen(body), NULL);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	free(body);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_save_submitted)
{
	world w;
	resp r;

	world_new(&w, "{\"title\":\"Submitted\"}");
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	db_submit(w.attempt_id); /* version 3 */
	save_refused(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"late\"}}", NULL, 409,
		     "attempt_submitted");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\"}");
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
	get_action(&r, &w.student, w.attempt_id, "state");
	expect_num(expect_ok(&r, 200), "version", 1);
	resp_free(&r);
	save(&r, &w.student, w.attempt_id, "{\"answers\":{\"q9\":\"z\"}}", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	for (int i = 0; i < 4; i++) { /* several requests: several workers */
		get_action(&r, &w.student, w.attempt_id, "state");
		o = expect_ok(&r, 200);
		expect_num(o, "version", 2);
		expect_json_eq(o, "answers", "{\"q9\":\"z\"}");
		resp_free(&r);
		get_action(&r, &w.student, w.attempt_id, "info");
		expect_num(expect_ok(&r, 200), "version", 2);
		resp_free(&r);
	}
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void e2e_save_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "save", 60, test_save_response, test_save_merge,
		      test_save_merge_top_level_only, test_save_untimed_and_alias,
		      test_save_auto_save_replaced, test_save_expected_version_ok,
		      test_save_version_conflict, test_save_version_ahead_conflict,
		      test_save_if_match, test_save_if_match_stale, test_save_other_student,
		      test_save_staff_forbidden, test_save_bad_target, test_save_invalid_json,
		      test_save_answers_not_object, test_save_expected_version_not_number,
		      test_save_nothing_to_save, test_save_too_large, test_save_submitted,
		      test_save_then_state_read_your_writes);
}
