/* check_router_actions: whole requests (check_router.h) meeting the
 * checks of each action that a row of check_router_errors' table cannot
 * hold (bodies made at run time, headers, filenames however encoded, the
 * upload's pre-check), and the requests that pass every check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_router.h"

/* Requests that pass every check of their action and meet the unreachable
 * database (503, Retry-After): who sends them (a token of the fixture),
 * the method, the query to the attempt, the body. */
static const struct pass_row {
	char *const *token;
	const char *method, *query, *body;
} passes[] = {
	{&proctor_token, "GET", "action=stats&type=stats&exam_id=" UUID_A, NULL},
	{&student_token, "POST", "action=activity",
	 "{\"events\":[{\"event_type\":\"answer_changed\",\"client_event_id\":\"tab1-17\","
	 "\"occurred_at\":\"2024-05-01T12:00:00Z\",\"payload\":{\"q\":1}}]}"},
	/* submit: the body is optional */
	{&student_token, "POST", "action=submit", NULL},
	{&student_token, "POST", "action=submit", ""},
	{&student_token, "POST", "action=submit",
	 "{\"answers\":{\"q1\":\"b\"},\"expected_version\":4}"},
	/* the shape of events is events_error's (sql/attempt_writes.sql): C
	 * sends these on; tests/e2e/check_api_activity.c sees the answers */
	{&student_token, "POST", "action=activity", "{}"},
	{&student_token, "POST", "action=activity", "{\"events\":{}}"},
	{&student_token, "POST", "action=activity", "{\"events\":[1]}"},
	{&student_token, "POST", "action=activity", "{\"events\":[{}]}"},
	{&student_token, "POST", "action=activity",
	 "{\"events\":[{\"event_type\":\"ok\"},{\"event_type\":\"Bad Type\"}]}"},
	{&student_token, "POST", "action=activity",
	 "{\"events\":[{\"event_type\":\"x\",\"client_event_id\":\"\"}]}"},
	{&student_token, "POST", "action=activity",
	 "{\"events\":[{\"event_type\":\"x\",\"occurred_at\":\"yesterday\"}]}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":600}"},
	{&admin_token, "PATCH", "action=extend", "{\"extra_s\":86400}"},
	/* extra_s's range and the role are extend_attempt's (sql/attempts.sql);
	 * tests/e2e/check_api_deadlines.c sees the answers */
	{&proctor_token, "PATCH", "action=extend", "{}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":0}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":86401}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":1.5}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":\"600\"}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":-600}"},
	{&proctor_token, "PATCH", "action=extend", "{\"extra_s\":1e300}"},
	{&student_token, "PATCH", "action=extend", "{\"extra_s\":600}"},
	{&student_token, "POST", "action=upload&filename=essay%20final.pdf", "%PDF-1.4"},
	{&student_token, "GET", "action=upload&upload_id=" UUID_A, NULL},
	{&student_token, "GET", "action=uploads", NULL},
	{&admin_token, "PATCH", "action=optimize", "{\"operation\":\"clear_cache\"}"},
};

START_TEST(test_app_passes)
{
	const struct pass_row *r = &passes[_i];

	rt_expect_unavailable_as(*r->token, r->method, ATTEMPT, r->query, r->body);
}
END_TEST

START_TEST(test_app_stats_optimization)
{
	static const char *const sections[] = {"cache",		  "query_optimization",
					       "connection_pool", "circuit_breaker",
					       "process",	  NULL};
	rt_result r;
	const cJSON *pool;

	/* answered from this process's own counters: no database needed */
	rt_serve(&r, "GET", ATTEMPT, "action=stats&type=optimization", admin_token, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(r.json);
	for (int i = 0; sections[i] != NULL; i++)
		ck_assert_msg(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r.json, sections[i])),
			      "section %s missing", sections[i]);
	pool = cJSON_GetObjectItemCaseSensitive(r.json, "connection_pool");
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(pool, "active_connections")));
	ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r.json, "circuit_breaker"), "state")));
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r.json, "cache"), "hit_rate")));
	rt_result_free(&r);
}
END_TEST

/* The limits are C's (events.h); the shape is SQL's (the passes above). */
START_TEST(test_app_activity_checks)
{
	char body[1024];

	/* limits: max_event_payload_bytes 64 in this app */
	snprintf(body, sizeof body,
		 "{\"events\":[{\"event_type\":\"x\",\"payload\":{\"k\":\"%070d\"}}]}", 0);
	rt_expect("POST", ATTEMPT, "action=activity", student_token, body, 413, "payload_too_large",
		  "events[0].payload");
}
END_TEST

START_TEST(test_app_submit_checks)
{
	static const char *const bad_if_match[] = {"HTTP_IF_MATCH", "\"x\"", NULL};
	rt_result r;

	rt_serve(&r, "POST", ATTEMPT, "action=submit", student_token, NULL, bad_if_match);
	rt_expect_error(&r, 422, "validation_failed", "If-Match");
	rt_result_free(&r);
}
END_TEST

/* A filename of 256 bytes is refused, of 255 taken. */
START_TEST(test_app_upload_long_name)
{
	char query[400];
	int n = snprintf(query, sizeof query, "action=upload&filename=");

	memset(query + n, 'f', 256);
	query[n + 256] = '\0';
	rt_expect("POST", ATTEMPT, query, student_token, "data", 400, "invalid_filename", NULL);
	query[n + 255] = '\0';
	rt_expect_unavailable_as(student_token, "POST", ATTEMPT, query, "data");
}
END_TEST

/* The filename rule of section 6, "however it is percent-encoded". */
START_TEST(test_app_upload_filename_encodings)
{
	static const char *const bad[] = {
		"..%2Fx",	   "a%2Fb",	      "a%5Cb",
		".hidden",	   "a%01b",	      "a%0Ab",
		"%C3%28.pdf",	   "x%00.pdf",	      "%00",
		"x.pdf%00",	   "%00x.pdf",	      "a%2Fb.pdf",
		"a%2fb.pdf",	   "a%5Cb.pdf",	      "a%5cb.pdf",
		"%2ehidden",	   "%2Ehidden",	      "%2e",
		"a%C2%85b.pdf",	   "a%c2%9fb.pdf",    "a%E2%80%8Bb.pdf",
		"a%e2%80%8bb.pdf", "a%E2%80%8Fb.pdf", "invoice%E2%80%AEfdp.exe",
		"a%E2%80%AAb.pdf", "a%E2%81%A6b.pdf", "a%E2%81%A9b.pdf",
		"%EF%BB%BFa.pdf",  "a%C0%AFb.pdf",    "a%FF.pdf",
		"a%E2%80.pdf",	   "a%E2%80",	      "a%ED%A0%80.pdf",
		"%0A.pdf",	   "a%7F.pdf",	      NULL};
	static const char *const good[] = {"%E2%82%AC.pdf", "a%E2%80%90b.pdf", "%65ssay.pdf",
					   "caf%C3%A9.pdf", "a+b.pdf",	       NULL};
	char query[256];

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(query, sizeof query, "action=upload&filename=%s", bad[i]);
		rt_expect("POST", ATTEMPT, query, student_token, "data", 400, "invalid_filename",
			  NULL);
		/* nginx hands the body over as a file: the same answer */
		{
			const char *const extra[] = {"REQUEST_BODY_FILE", "/nonexistent/body",
						     "ATTEMPTS_UPLOADS_VIA_FILE", "1", NULL};
			rt_result r;
			rt_serve(&r, "POST", ATTEMPT, query, student_token, NULL, extra);
			rt_expect_error(&r, 400, "invalid_filename", NULL);
			rt_result_free(&r);
		}
	}
	for (int i = 0; good[i] != NULL; i++) {
		snprintf(query, sizeof query, "action=upload&filename=%s", good[i]);
		rt_expect_unavailable_as(student_token, "POST", ATTEMPT, query, "data");
	}
}
END_TEST

START_TEST(test_app_upload_allow)
{
	rt_expect_not_allowed("PATCH", ATTEMPT, "action=upload", NULL, NULL, "GET, POST");
}
END_TEST

/* The pre-check nginx makes before it reads an upload's body (http.h,
 * ATTEMPTS_PRECHECK) refuses with 403 and the refusal in X-Attempts-*
 * headers: exactly the answer the upload itself gets (status, body, its
 * headers), for nginx to hand on. Its query comes in ATTEMPTS_QUERY. */
static void expect_precheck_refuses(const char *query, const char *authorization, int status)
{
	const char *const extra[] = {"ATTEMPTS_PRECHECK",
				     "1",
				     "ATTEMPTS_QUERY",
				     query,
				     "CONTENT_LENGTH",
				     "314572800",
				     "CONTENT_TYPE",
				     "application/pdf",
				     NULL};
	static const char *const copied[] = {"WWW-Authenticate", "Allow", NULL};
	char want[512], got[512], name[64], text[16];
	rt_result plain, check;

	rt_serve(&plain, "POST", ATTEMPT, query, authorization, "data", NULL);
	ck_assert_int_eq(plain.status, status);
	rt_serve(&check, "POST", ATTEMPT, NULL, authorization, NULL, extra);
	ck_assert_msg(check.status == 403, "%s: pre-check status %d, want 403", query,
		      check.status);
	ck_assert_uint_eq(check.body_len, 0);
	snprintf(text, sizeof text, "%d", status);
	rt_expect_header(&check, "X-Attempts-Status", text);
	ck_assert_uint_lt(plain.body_len, sizeof want);
	snprintf(want, sizeof want, "%.*s", (int)plain.body_len, plain.body);
	ck_assert_int_eq(rt_header(&check, "X-Attempts-Error", got, sizeof got), 1);
	ck_assert_msg(strcmp(got, want) == 0, "%s: pre-check body\n%s\nwant\n%s", query, got, want);
	for (int i = 0; copied[i] != NULL; i++) {
		int n = rt_header(&plain, copied[i], want, sizeof want);

		snprintf(name, sizeof name, "X-Attempts-%s", copied[i]);
		ck_assert_int_eq(rt_header(&check, name, got, sizeof got), n);
		ck_assert_str_eq(got, want);
	}
	rt_expect_no_header(&check, "WWW-Authenticate");
	rt_result_free(&plain);
	rt_result_free(&check);
}

START_TEST(test_app_upload_precheck)
{
	const char *const submit[] = {"ATTEMPTS_PRECHECK", "1", "ATTEMPTS_QUERY",
				      "ACTION=upload&action=submit", NULL};
	const char *const unreachable[] = {"ATTEMPTS_PRECHECK", "1", "ATTEMPTS_QUERY",
					   "action=upload&filename=a.pdf", NULL};
	rt_result r;
	char v[64];

	expect_precheck_refuses("action=upload&filename=a.pdf", NULL, 401);
	expect_precheck_refuses("action=upload&filename=a.pdf", "Bearer x.y.z", 401);
	expect_precheck_refuses("action=upload&filename=.a.pdf", student_token, 400);
	expect_precheck_refuses("action=upload&filename=a%2Fb.pdf", student_token, 400);
	expect_precheck_refuses("action=upload", student_token, 400);
	expect_precheck_refuses("ACTION=upload&action=state", student_token, 405);
	expect_precheck_refuses("ACTION=upload", student_token, 400);
	/* nginx pre-checks only what it takes for an upload: a query the
	 * service reads as another action is refused, not run. */
	rt_serve(&r, "POST", ATTEMPT, NULL, student_token, NULL, submit);
	ck_assert_int_eq(r.status, 403);
	rt_expect_header(&r, "X-Attempts-Status", "400");
	ck_assert_int_eq(rt_header(&r, "X-Attempts-Error", v, sizeof v), 1);
	ck_assert_msg(strstr(v, "invalid_query") != NULL, "%s", v);
	rt_result_free(&r);
	/* The database's refusal travels the same way, Retry-After too. */
	rt_serve(&r, "POST", ATTEMPT, NULL, student_token, NULL, unreachable);
	ck_assert_int_eq(r.status, 403);
	rt_expect_header(&r, "X-Attempts-Status", "503");
	ck_assert_int_eq(rt_header(&r, "X-Attempts-Retry-After", v, sizeof v), 1);
	ck_assert_int_ge(atoi(v), 1);
	rt_result_free(&r);
}
END_TEST

void router_actions_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "actions", router_setup, router_teardown,
				test_app_stats_optimization, test_app_activity_checks,
				test_app_submit_checks, test_app_upload_long_name,
				test_app_upload_filename_encodings, test_app_upload_allow,
				test_app_upload_precheck, NULL);

	tcase_add_loop_test(tc, test_app_passes, 0, CHECK_ROWS(passes));
}
