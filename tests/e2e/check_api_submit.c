/* check_api_submit: submit and its JCS (RFC 8785) receipt, with a
 * self-check of the serializer the receipts are checked with. Part of
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
#include "fill.h"

/* The JCS text of a JSON text. The caller frees it. */
static char *jcs_of_text(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	buf b = BUF_INIT;
	char *out;

	ck_assert_msg(v != NULL, "bad JSON in test: %s", json);
	jcs_value(&b, v);
	cJSON_Delete(v);
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* The serializer the receipts are checked with must itself be right:
 * vectors from RFC 8785 (sections 3.2.2, 3.2.3, appendix B). */
START_TEST(test_jcs_self_check)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"{\"numbers\":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"
		 "\"string\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
		 "\"literals\":[null,true,false]}",
		 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,"
		 "1e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"},
		{"{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,\"\\ud83d\\ude00\":5,"
		 "\"\\u0080\":6,\"\\u00f6\":7}",
		 "{\"\\r\":2,\"1\":4,\"\xc2\x80\":6,\"\xc3\xb6\":7,\"\xe2\x82\xac\":1,"
		 "\"\xf0\x9f\x98\x80\":5,\"\xef\xac\xb3\":3}"},
		{"[0,-0,1,-1,10,1.5,0.1,100,1e21,1e20,1e-7,0.000001,-2.75,123e-20,"
		 "9007199254740993,1152921504606846976]",
		 "[0,0,1,-1,10,1.5,0.1,100,1e+21,100000000000000000000,1e-7,0.000001,-2.75,"
		 "1.23e-18,9007199254740992,1152921504606847000]"},
		{"{\"b\":{\"y\":[],\"x\":{}},\"a\":\"\\t\\b\\f\\u0001\\u001f\\u007f\"}",
		 "{\"a\":\"\\t\\b\\f\\u0001\\u001f\x7f\",\"b\":{\"x\":{},\"y\":[]}}"},
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char *got = jcs_of_text(v[i].in);

		ck_assert_msg(strcmp(got, v[i].out) == 0, "JCS of %s\n is %s\nwant %s", v[i].in,
			      got, v[i].out);
		free(got);
	}
}
END_TEST

/* A submit after an optional save: the final state and receipt, and the
 * stored row (status, reason, version, answers). A body with answers is
 * one last save and the submit in one request: the version goes up once,
 * null removes a key, the rest is merged at the top level. */
static const struct submit_case {
	const char *exam;
	const char *save;   /* saved first, version 2 (NULL: none) */
	const char *submit; /* the submit's body (NULL: none) */
	const char *answers;
	long version;
	const char *auto_save; /* the answer's auto_save_data (NULL: not checked) */
} submit_cases[] = {
	{TIMED_EXAM, "{\"answers\":{\"q1\":\"a\",\"q2\":[1,2]}}", NULL,
	 "{\"q1\":\"a\",\"q2\":[1,2]}", 3, NULL},
	{UNTIMED_EXAM, NULL, "{}", "{}", 2, NULL},
	{TIMED_EXAM,
	 "{\"answers\":{\"q1\":\"a\",\"q2\":\"b\",\"q3\":{\"x\":1}},\"auto_save_data\":{\"p\":1}}",
	 "{\"answers\":{\"q2\":null,\"q3\":{\"y\":2},\"q4\":true},\"expected_version\":2}",
	 "{\"q1\":\"a\",\"q3\":{\"y\":2},\"q4\":true}", 3, "{\"p\":1}"},
	{TIMED_EXAM, "{\"answers\":{\"q\":1}}", "{\"expected_version\":2}", "{\"q\":1}", 3, NULL},
};

START_TEST(test_submit_final_state)
{
	const struct submit_case *c = &submit_cases[_i];
	world w;
	resp r;

	world_new(&w, c->exam);
	if (c->save != NULL) {
		save_version(&w.student, w.attempt_id, c->save, NULL, 2);
		ck_assert_int_eq(db_version(w.attempt_id), 2);
	}
	submit(&r, &w.student, w.attempt_id, c->submit);
	expect_submitted(&r, c->answers, 0, c->version);
	expect_str(r.json, "attempt_id", w.attempt_id);
	if (c->auto_save != NULL)
		expect_json_eq(r.json, "auto_save_data", c->auto_save);
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "submitted");
	db_expect_col(w.attempt_id, "submit_reason", "student");
	db_expect_stored(w.attempt_id, c->version, c->answers);
	world_free(&w);
}
END_TEST

/* Saves answers_json then submits, asserting the receipt against our own
 * JCS of the stored answers (and of what the state answers). */
static void receipt_case(const char *answers_json)
{
	world w;
	resp r;
	char *body;
	size_t cap = strlen(answers_json) + 32;
	char hex[65];

	world_new(&w, UNTIMED_EXAM);
	body = malloc(cap);
	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"answers\":%s}", answers_json);
	submit(&r, &w.student, w.attempt_id, body);
	expect_submitted(&r, answers_json, 0, 2);
	receipt_of(jget(r.json, "answers"), hex);
	ck_assert_str_eq(jstr(r.json, "receipt"), hex);
	resp_free(&r);
	db_expect_col(w.attempt_id, "receipt", hex);
	free(body);
	world_free(&w);
}

START_TEST(test_submit_receipt_nested)
{
	receipt_case("{\"zeta\":{\"b\":[{\"y\":1,\"x\":[true,false,null]},[],{}],\"a\":\"s\"},"
		     "\"alpha\":[3,2,1,{\"k2\":\"v\",\"k10\":\"w\",\"K\":0}],"
		     "\"mid\":{\"\":\"empty key\",\"nested\":{\"deeper\":{\"deepest\":[[[]]]}}},"
		     "\"B\":false,\"n\":{\"inner "
		     "null\":null},\"aa\":\"\",\"a_b\":\"u\",\"a-b\":\"h\",\"10\":1,\"2\":2}");
}
END_TEST

START_TEST(test_submit_receipt_numbers)
{
	receipt_case("{\"half\":1.5,\"ten\":10,\"tenth\":0.1,\"neg\":-2.75,\"zero\":0,"
		     "\"negzero\":-0,\"big\":1e21,\"tiny\":1e-7,\"micro\":0.000001,"
		     "\"hundred\":100.0,\"frac\":123.456,\"exp\":2.5E+3,\"max\":1e308,"
		     "\"beyond53\":1152921504606846976,\"list\":[1,1.25,-1,1e20,5e-324]}");
}
END_TEST

/* Numbers are stored as jsonb numeric, exactly as sent (API.md section
 * 3), so a client's own JCS of its answers verifies the receipt:
 * neighbours of a double one ulp apart and the largest double must
 * survive. */
START_TEST(test_submit_numbers_exact)
{
	static const char answers[] = "{\"a\":0.30000000000000004,\"b\":1.0000000000000002,"
				      "\"c\":1.7976931348623157e308,\"d\":0.1}";
	world w;
	resp r;
	char *got;

	world_new(&w, UNTIMED_EXAM);
	act(&r, "PATCH", &w.student, w.attempt_id, "save",
	    "{\"answers\":{\"a\":0.30000000000000004,"
	    "\"b\":1.0000000000000002,\"c\":1.7976931348623157e308,\"d\":0.1}}");
	expect_ok(&r, 200);
	resp_free(&r);
	got = db_value(
		"SELECT concat_ws(' ', (answers->>'a')::float8 = 0.30000000000000004::float8,"
		" (answers->>'b')::float8 = 1.0000000000000002::float8,"
		" (answers->>'c')::numeric <= 1.7976931348623157081e308"
		" AND (answers->>'c')::float8 = 1.7976931348623157e308::float8,"
		" (answers->>'d')::float8 = 0.1::float8, '|', answers::text)"
		" FROM attempts.attempts WHERE attempt_id = $1",
		w.attempt_id);
	ck_assert_msg(strncmp(got, "t t t t |", 9) == 0,
		      "stored numbers differ from the doubles sent %s: %.200s", answers, got);
	free(got);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, answers, 0, 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_receipt_unicode)
{
	/* Keys and strings outside ASCII, and the characters JCS escapes (or
	 * leaves raw). Keys avoid mixing characters above U+FFFF with ones in
	 * U+E000..U+FFFF, the one place docs/API.md section 11 says the
	 * service's order (code points) and RFC 8785's (UTF-16) differ. */
	receipt_case("{\"\\u00e9t\\u00e9\":\"caf\\u00e9\",\"e\":\"plain\",\"\\u65e5\\u672c\":"
		     "\"\\u65e5\\u672c\\u8a9e\",\"emoji\":\"\\ud83d\\ude00 \\ud83c\\udf89\","
		     "\"\\ud83d\\ude00\":\"key above U+FFFF\",\"\\u20ac\":\"euro\","
		     "\"esc\":\"quote\\\" backslash\\\\ slash/ tab\\t nl\\n cr\\r bs\\b ff\\f "
		     "ctl\\u0001\\u001f del\\u007f ls\\u2028 nbsp\\u00a0\","
		     "\"Z\":\"upper\",\"\\u00f6\":[\"\\u00d6\",\"o\\u0308\"]}");
}
END_TEST

START_TEST(test_submit_repeat_idempotent)
{
	world w;
	resp r;
	char receipt[65];

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"final\"}}");
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"final\"}", 0, 3);
	snprintf(receipt, sizeof receipt, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"final\"}", 1, 3);
	expect_str(r.json, "receipt", receipt);
	resp_free(&r);
	/* A repeat carrying answers changes nothing either. */
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":\"changed\",\"r\":1}}");
	expect_submitted(&r, "{\"q\":\"final\"}", 1, 3);
	expect_str(r.json, "receipt", receipt);
	resp_free(&r);
	db_expect_stored(w.attempt_id, 3, "{\"q\":\"final\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_stale_version)
{
	world w;
	resp r;
	const cJSON *d;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1},\"auto_save_data\":{\"s\":1}}");
	submit(&r, &w.student, w.attempt_id,
	       "{\"answers\":{\"q\":2,\"extra\":true},\"expected_version\":1}");
	d = expect_error(&r, 409, "version_conflict");
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q\":1}");
	expect_json_eq(d, "auto_save_data", "{\"s\":1}");
	resp_free(&r);
	db_expect_stored(w.attempt_id, 2, "{\"q\":1}");
	db_expect_col(w.attempt_id, "status", "in_progress");
	db_expect_col(w.attempt_id, "receipt", NULL);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_if_match)
{
	world w;
	resp r;
	char path[160];
	const char *stale[] = {"If-Match: \"5\"", NULL};
	const char *good[] = {"If-Match: \"1\"", NULL};

	world_new(&w, TIMED_EXAM);
	attempt_path(path, sizeof path, w.attempt_id, "submit");
	send_req(&r, "POST", path, &w.student, NULL, stale);
	expect_error_free(&r, 409, "version_conflict");
	db_expect_col(w.attempt_id, "status", "in_progress");
	send_req(&r, "POST", path, &w.student, NULL, good);
	expect_submitted(&r, "{}", 0, 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_save_after_submit)
{
	world w;

	world_new(&w, TIMED_EXAM);
	submit_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1}}");
	act_refused("PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q\":2}}", 409,
		    "attempt_submitted");
	db_expect_stored(w.attempt_id, 2, "{\"q\":1}");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_info)
{
	world w;
	resp r;
	char receipt[65];
	const cJSON *o;

	world_new(&w, TIMED_EXAM);
	warm(&w.student, w.attempt_id);
	warm(&w.proctor, w.attempt_id);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":\"x\"}}");
	expect_ok(&r, 200);
	snprintf(receipt, sizeof receipt, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_keys(o, "info", info_keys);
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "student");
	expect_str(o, "receipt", receipt);
	expect_num(o, "version", 2);
	expect_null(o, "time_remaining_s");
	ck_assert(!has_key(o, "answers"));
	resp_free(&r);
	act(&r, "GET", &w.proctor, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_json_eq(o, "answers", "{\"q\":\"x\"}");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_access)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);

	world_new(&w, TIMED_EXAM);
	submit_refused(&other, w.attempt_id, NULL, 404, "not_found");
	submit_refused(&w.proctor, w.attempt_id, NULL, 403, "forbidden");
	submit_refused(&w.admin, w.attempt_id, "{}", 403, "forbidden");
	submit_refused(NULL, w.attempt_id, NULL, 401, "unauthorized");
	db_expect_col(w.attempt_id, "status", "in_progress");
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_bad_bodies)
{
	world w;

	world_new(&w, TIMED_EXAM);
	submit_refused(&w.student, w.attempt_id, "{\"answers\":", 400, "invalid_json");
	submit_field_refused(&w.student, w.attempt_id, "{\"answers\":[1]}", "answers");
	submit_field_refused(&w.student, w.attempt_id, "{\"answers\":\"a\"}", "answers");
	submit_field_refused(&w.student, w.attempt_id, "{\"expected_version\":\"1\"}",
			     "expected_version");
	submit_field_refused(&w.student, w.attempt_id, "[]", "body");
	db_expect_col(w.attempt_id, "status", "in_progress");
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_if_match_malformed)
{
	world w;
	resp r;
	char path[160];
	const char *bad[] = {"If-Match: version-one", NULL};

	world_new(&w, TIMED_EXAM);
	attempt_path(path, sizeof path, w.attempt_id, "submit");
	send_req(&r, "POST", path, &w.student, NULL, bad);
	expect_field_free(&r, "If-Match");
	db_expect_col(w.attempt_id, "status", "in_progress");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_too_large)
{
	world w;
	char *body = fill_at("{\"answers\":{\"essay\":\"@\"}}", 'w', 600 * 1024);

	ck_assert_ptr_nonnull(body);
	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1}}");
	submit_refused(&w.student, w.attempt_id, body, 413, "payload_too_large");
	free(body);
	db_expect_col(w.attempt_id, "status", "in_progress");
	db_expect_stored(w.attempt_id, 2, "{\"q\":1}");
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

void api_submit_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "jcs", 10, test_jcs_self_check);
	E2E_ADD_TESTS(s, "submit", 60, E2E_LOOP(test_submit_final_state, submit_cases),
		      test_submit_receipt_nested, test_submit_receipt_numbers,
		      test_submit_receipt_unicode, test_submit_numbers_exact,
		      test_submit_repeat_idempotent, test_submit_stale_version,
		      test_submit_if_match, test_save_after_submit, test_submit_info,
		      test_submit_access, test_submit_bad_bodies, test_submit_if_match_malformed,
		      test_submit_too_large);
}
