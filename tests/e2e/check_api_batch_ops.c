/* check_api_batch_ops: the batch action's log, validate, submit and query
 * operations and its request errors. Part of check_api (see
 * check_api.c). */
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

START_TEST(test_batch_log)
{
	fleet f;
	resp r;
	const cJSON *res, *it;

	fleet_new_other(&f, 2, TIMED_EXAM);
	res = batch_of(
		&r, &f.student, "batch_log", 5,
		"[{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"a\",\"client_event_id\":"
		"\"1\"},"
		"{\"event_type\":\"a\",\"client_event_id\":\"1\"},{\"event_type\":\"b\"}]},"
		"{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"BAD\"}]},"
		"{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"c\",\"client_event_id\":"
		"\"9\"}]},"
		"{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"x\"}]},"
		"{\"attempt_id\":\"nope\",\"events\":[]}]",
		f.att[0], f.att[1], f.att[1], f.other.attempt_id);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_num(it, "logged", 2);
	expect_num(it, "duplicates", 1);
	ck_assert_int_eq(nkeys(it), 3);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 1), f.att[1], "validation_failed", 0),
		"data[1].events[0].event_type", "item 1");
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[1]);
	expect_num(it, "logged", 1);
	expect_num(it, "duplicates", 0);
	expect_item_error(cJSON_GetArrayItem(res, 3), f.other.attempt_id, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0);
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(f.att[0]), 2);
	ck_assert_int_eq(db_activity_count(f.att[1]), 1);
	ck_assert_int_eq(db_activity_count(f.other.attempt_id), 0);
	ck_assert_int_eq(db_version(f.att[0]), 1);
	/* Across requests too. */
	it = cJSON_GetArrayItem(batch_of(&r, &f.student, "batch_log", 1,
					 "[{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":"
					 "\"c\",\"client_event_id\":"
					 "\"9\"}]}]",
					 f.att[1]),
				0);
	expect_num(it, "logged", 0);
	expect_num(it, "duplicates", 1);
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_validate_multiple)
{
	fleet f;
	resp r;
	const cJSON *res, *it;
	PGconn *lock;

	fleet_new_other(&f, 4, MINUTE_EXAM);
	submit_ok(&f.student, f.att[1], NULL);
	lock = db_expire_held(f.att[2]);
	/* A submitted attempt past its deadline is "submitted" alone. */
	db_push_past(f.att[3]);
	db_submit(f.att[3]);
	res = batch_of(&r, &f.student, "validate_multiple", 6,
		       "[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"x\"]", f.att[0], f.att[1], f.att[2],
		       f.att[3], f.other.attempt_id);
	/* Validation writes nothing: the expired attempt is still open. */
	db_expect_col(f.att[2], "status", "in_progress");
	sweep_release(lock);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_bool(it, "valid", 1);
	expect_json_eq(it, "problems", "[]");
	ck_assert_int_eq(nkeys(it), 3);
	it = cJSON_GetArrayItem(res, 1);
	expect_str(it, "attempt_id", f.att[1]);
	expect_bool(it, "valid", 0);
	expect_json_eq(it, "problems", "[\"submitted\"]");
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[2]);
	expect_bool(it, "valid", 0);
	expect_json_eq(it, "problems", "[\"deadline_passed\"]");
	it = cJSON_GetArrayItem(res, 3);
	expect_json_eq(it, "problems", "[\"submitted\"]");
	expect_item_error(cJSON_GetArrayItem(res, 4), f.other.attempt_id, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 5), NULL, "validation_failed", 0);
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_submit_proctor)
{
	fleet f;
	resp r;
	char missing[ID_LEN], hex[65], receipt1[65];
	const cJSON *res, *it;

	fleet_new(&f, 3, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"q\":[1,{\"b\":2,\"a\":1.5}]}}");
	submit(&r, &f.student, f.att[1], "{\"answers\":{\"done\":true}}");
	expect_ok(&r, 200);
	snprintf(receipt1, sizeof receipt1, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	warm(&f.student, f.att[0]);
	res = batch_of(&r, &f.proctor, "batch_submit", 5, "[\"%s\",\"%s\",\"%s\",\"%s\",\"bad\"]",
		       f.att[0], f.att[1], missing, f.att[2]);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_bool(it, "submitted", 1);
	expect_bool(it, "already_submitted", 0);
	receipt_of_text("{\"q\":[1,{\"b\":2,\"a\":1.5}]}", hex);
	expect_str(it, "receipt", hex);
	ck_assert_int_eq(nkeys(it), 4);
	it = cJSON_GetArrayItem(res, 1);
	expect_bool(it, "submitted", 1);
	expect_bool(it, "already_submitted", 1);
	expect_str(it, "receipt", receipt1);
	expect_item_error(cJSON_GetArrayItem(res, 2), missing, "not_found", 0);
	it = cJSON_GetArrayItem(res, 3);
	expect_bool(it, "already_submitted", 0);
	receipt_of_text("{}", hex);
	expect_str(it, "receipt", hex);
	expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0);
	resp_free(&r);
	db_expect_col(f.att[0], "submit_reason", "cleanup");
	db_expect_col(f.att[1], "submit_reason", "student");
	db_expect_col(f.att[2], "submit_reason", "cleanup");
	ck_assert_int_eq(db_version(f.att[0]), 3);
	ck_assert_int_eq(db_version(f.att[1]), 2);
	ck_assert_int_eq(db_version(f.att[2]), 2);
	act(&r, "GET", &f.student, f.att[0], "info", NULL);
	it = expect_ok(&r, 200);
	expect_str(it, "status", "submitted");
	expect_str(it, "submit_reason", "cleanup");
	receipt_of_text("{\"q\":[1,{\"b\":2,\"a\":1.5}]}", hex);
	expect_str(it, "receipt", hex);
	resp_free(&r);
	/* A student's own submit afterwards is the idempotent repeat. */
	submit(&r, &f.student, f.att[2], NULL);
	expect_submitted(&r, "{}", 1, 2);
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_submit_admin)
{
	fleet f;
	user admin = user_new(AUTH_ROLE_ADMIN);
	resp r;

	fleet_new(&f, 1, TIMED_EXAM);
	expect_bool(cJSON_GetArrayItem(
			    batch_of(&r, &admin, "batch_submit", 1, "[\"%s\"]", f.att[0]), 0),
		    "submitted", 1);
	resp_free(&r);
	db_expect_col(f.att[0], "submit_reason", "cleanup");
	user_free(&admin);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_submit_student_forbidden)
{
	fleet f;
	char data[256];

	fleet_new(&f, 2, TIMED_EXAM);
	snprintf(data, sizeof data, "[\"%s\",\"%s\"]", f.att[0], f.att[1]);
	batch_refused(&f.student, "batch_submit", data, 403, "forbidden");
	db_expect_col(f.att[0], "status", "in_progress");
	db_expect_col(f.att[1], "status", "in_progress");
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_query)
{
	fleet f;
	resp r;
	const cJSON *res, *it;

	fleet_new_other(&f, 2, TIMED_EXAM);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"q\":\"s\"}}");
	res = batch_of(
		&r, &f.student, "query", 7,
		"[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		"s\"},"
		"{\"type\":\"info\",\"attempt_id\":\"%s\"},{\"type\":\"state\",\"attempt_id\":\"%"
		"s\"},"
		"{\"type\":\"stats\",\"attempt_id\":\"%s\"},{\"type\":\"state\",\"attempt_id\":"
		"\"x\"},"
		"{\"type\":\"info\",\"attempt_id\":\"%s\"}]",
		f.att[0], f.att[0], f.att[1], f.other.attempt_id, f.att[0], f.other.attempt_id);
	it = cJSON_GetArrayItem(res, 0);
	expect_keys(it, "query state", state_keys);
	expect_json_eq(it, "answers", "{\"q\":\"s\"}");
	expect_num(it, "version", 2);
	it = cJSON_GetArrayItem(res, 1);
	expect_keys(it, "query info", info_keys);
	ck_assert(!has_key(it, "answers"));
	expect_str(it, "attempt_id", f.att[0]);
	expect_str(it, "exam_title", "timed");
	expect_num(it, "version", 2);
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[1]);
	expect_null(it, "submit_reason");
	expect_item_error(cJSON_GetArrayItem(res, 3), f.other.attempt_id, "not_found", 0);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0),
		"data[4].type", "item 4");
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 5), NULL, "validation_failed", 0),
		"data[5].attempt_id", "item 5");
	expect_item_error(cJSON_GetArrayItem(res, 6), f.other.attempt_id, "not_found", 0);
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

/* A state another student's read put in a worker's cache is still
 * not_found for everyone else, through query and GET alike. */
START_TEST(test_batch_query_cache_no_leak)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	resp r;
	char data[256];

	world_new(&w, TIMED_EXAM);
	for (int i = 0; i < 4; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
	}
	snprintf(data, sizeof data,
		 "[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		 "s\"}]",
		 w.attempt_id, w.attempt_id);
	batch(&r, &other, "query", data);
	expect_item_error(cJSON_GetArrayItem(batch_results(&r, 2), 0), w.attempt_id, "not_found",
			  0);
	expect_item_error(cJSON_GetArrayItem(jget(r.json, "results"), 1), w.attempt_id, "not_found",
			  0);
	resp_free(&r);
	act_refused("GET", &other, w.attempt_id, "state", NULL, 404, "not_found");
	/* ...while the owner and staff get it. */
	batch(&r, &w.proctor, "query", data);
	expect_str(cJSON_GetArrayItem(batch_results(&r, 2), 0), "user_id", w.student.sub);
	resp_free(&r);
	user_free(&other);
	world_free(&w);
}
END_TEST

/* data: [id, id, ...] of n copies of id. */
static char *repeat_ids(const char *id, int n)
{
	buf b = BUF_INIT;
	char *out;

	buf_putc(&b, '[');
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s\"%s\"", i ? "," : "", id);
	buf_putc(&b, ']');
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(test_batch_too_large)
{
	world w;
	resp r;
	char *data;

	world_new(&w, TIMED_EXAM);
	data = repeat_ids(w.attempt_id, 101);
	batch_refused(&w.student, "multiple_states", data, 413, "batch_too_large");
	free(data);
	data = repeat_ids(w.attempt_id, 100);
	batch(&r, &w.student, "multiple_states", data);
	expect_str(cJSON_GetArrayItem(batch_results(&r, 100), 99), "attempt_id", w.attempt_id);
	resp_free(&r);
	free(data);
	world_free(&w);
}
END_TEST

START_TEST(test_batch_save_too_large_writes_nothing)
{
	world w;
	buf b = BUF_INIT;
	char *data;

	world_new(&w, TIMED_EXAM);
	buf_putc(&b, '[');
	for (int i = 0; i < 101; i++)
		buf_printf(&b, "%s{\"attempt_id\":\"%s\",\"answers\":{\"k%d\":%d}}", i ? "," : "",
			   w.attempt_id, i, i);
	buf_putc(&b, ']');
	data = buf_take(&b);
	ck_assert_ptr_nonnull(data);
	batch_refused(&w.student, "batch_save", data, 413, "batch_too_large");
	free(data);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

/* POSTs body to the batch action as u: 422 naming field. */
static void batch_body_refused(const user *u, const char *body, const char *field)
{
	resp r;

	send_req(&r, "POST", "/api/attempts/any-id?action=batch", u, body, NULL);
	expect_field_free(&r, field);
}

START_TEST(test_batch_request_errors)
{
	user s = user_new(AUTH_ROLE_STUDENT);

	batch_body_refused(&s, "{\"operation\":\"reticulate\",\"data\":[]}", "operation");
	batch_body_refused(&s, "{\"operation\":\"multiple_states\"}", "data");
	batch_body_refused(&s, "{\"operation\":\"multiple_states\",\"data\":{\"a\":1}}", "data");
	batch_body_refused(&s, "{\"data\":[]}", "operation");
	batch_body_refused(&s, "{\"operation\":7,\"data\":[]}", "operation");
	refused("POST", "/api/attempts/any-id?action=batch", &s, "{\"operation\":", 400,
		"invalid_json");
	refused("POST", "/api/attempts/any-id?action=batch", NULL,
		"{\"operation\":\"query\",\"data\":[]}", 401, "unauthorized");
	user_free(&s);
}
END_TEST

START_TEST(test_batch_empty_and_path_ignored)
{
	static const char *const ops[] = {"batch_save", "multiple_states", "batch_log",
					  "validate_multiple", "query"};
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		batch(&r, &s, ops[i], "[]");
		batch_results(&r, 0);
		resp_free(&r);
	}
	/* The path id is ignored for batch: "new", any text, a UUID. */
	send_req(&r, "POST", "/api/attempts/new?action=batch", &s,
		 "{\"operation\":\"query\",\"data\":[]}", NULL);
	batch_results(&r, 0);
	resp_free(&r);
	user_free(&s);
}
END_TEST

/* ============================================================ runner */

void api_batch_ops_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "batch", 60, test_batch_log, test_batch_validate_multiple,
		      test_batch_submit_proctor, test_batch_submit_admin,
		      test_batch_submit_student_forbidden, test_batch_query,
		      test_batch_query_cache_no_leak, test_batch_too_large,
		      test_batch_save_too_large_writes_nothing, test_batch_request_errors,
		      test_batch_empty_and_path_ignored);
}
