/* check_router_requests: whole requests (check_router.h) meeting
 * authentication, body checks, request ids and the unreachable database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "check_router.h"

START_TEST(test_app_no_token)
{
	rt_result r;

	rt_serve(&r, "GET", ATTEMPT, "action=state", NULL, NULL, NULL);
	rt_expect_error(&r, 401, "unauthorized", NULL);
	rt_expect_header(&r, "WWW-Authenticate", "Bearer");
	rt_result_free(&r);
	/* authentication before the id check and the body */
	rt_serve(&r, "PATCH", "/api/attempts/not-a-uuid", "action=save", NULL, "not json", NULL);
	rt_expect_error(&r, 401, "unauthorized", NULL);
	rt_expect_header(&r, "WWW-Authenticate", "Bearer");
	rt_result_free(&r);
}
END_TEST

/* Asserts the 401 for why: the message says it, and the challenge is
 * Bearer alone when no token was sent, else invalid_token with the reason. */
static void expect_refused(const char *authorization, auth_fail why)
{
	char challenge[256];
	const cJSON *m;
	rt_result r;

	rt_serve(&r, "GET", ATTEMPT, "action=state", authorization, NULL, NULL);
	rt_expect_error(&r, 401, "unauthorized", NULL);
	m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "error"),
					     "message");
	ck_assert_str_eq(m->valuestring, auth_fail_message(why));
	if (why == AUTH_FAIL_MISSING)
		snprintf(challenge, sizeof challenge, "Bearer");
	else
		snprintf(challenge, sizeof challenge,
			 "Bearer error=\"invalid_token\", error_description=\"%s\"",
			 auth_fail_message(why));
	rt_expect_header(&r, "WWW-Authenticate", challenge);
	rt_result_free(&r);
}

START_TEST(test_app_bad_token)
{
	time_t now = time(NULL);
	char *expired =
		auth_sign(SUB, AUTH_ROLE_ADMIN, now - 7200, now - 3600, SECRET, strlen(SECRET));
	char *other = auth_sign(SUB, AUTH_ROLE_ADMIN, now, now + 3600,
				"another-secret-another-secret-xx", 32);
	char h1[1024], h2[1024], h3[1024];

	ck_assert_ptr_nonnull(expired);
	ck_assert_ptr_nonnull(other);
	snprintf(h1, sizeof h1, "Bearer %s", expired);
	snprintf(h2, sizeof h2, "Bearer %s", other);
	snprintf(h3, sizeof h3, "%s", student_token + strlen("Bearer "));
	expect_refused("Bearer junk", AUTH_FAIL_MALFORMED);
	expect_refused(h1, AUTH_FAIL_EXPIRED);
	expect_refused(h2, AUTH_FAIL_SIGNATURE);
	/* No token sent: no scheme, another scheme, nothing after Bearer. */
	expect_refused(h3, AUTH_FAIL_MISSING);
	expect_refused("Basic dXNlcjpwYXNz", AUTH_FAIL_MISSING);
	expect_refused("", AUTH_FAIL_MISSING);
	expect_refused("Bearer ", AUTH_FAIL_MISSING);
	expect_refused(NULL, AUTH_FAIL_MISSING);
	free(expired);
	free(other);
}
END_TEST

/* ------------------------------------------------------------ bodies */

START_TEST(test_app_save_if_match)
{
	static const char *const bad[] = {"\"abc\"", "\"-1\"", "\"3", "1.5", "\"3\", \"4\"", NULL};

	for (int i = 0; bad[i] != NULL; i++) {
		const char *extra[] = {"HTTP_IF_MATCH", bad[i], NULL};
		rt_result r;

		rt_serve(&r, "PATCH", ATTEMPT, "action=save", student_token,
			 "{\"answers\":{\"q1\":\"a\"}}", extra);
		rt_expect_error(&r, 422, "validation_failed", "If-Match");
		rt_result_free(&r);
	}
}
END_TEST

START_TEST(test_app_payload_too_large)
{
	char body[MAX_BODY + 64];
	size_t n;
	rt_result r;
	static const char *const lying_cl[] = {"CONTENT_LENGTH", "10", NULL};
	static const char *const no_cl[] = {"CONTENT_LENGTH", "", NULL};

	n = (size_t)snprintf(body, sizeof body, "{\"answers\":{\"q\":\"");
	memset(body + n, 'a', MAX_BODY - n);
	strcpy(body + MAX_BODY - 3, "\"}}");
	ck_assert_uint_eq(strlen(body), MAX_BODY);
	/* exactly the limit is fine: it reaches the database (503) */
	rt_serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, NULL);
	ck_assert_int_eq(r.status, 503);
	rt_result_free(&r);
	/* one byte more is not */
	strcpy(body + MAX_BODY - 3, "a\"}}");
	rt_expect("PATCH", ATTEMPT, "action=save", student_token, body, 413, "payload_too_large",
		  NULL);
	rt_serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, no_cl);
	rt_expect_error(&r, 413, "payload_too_large", NULL);
	rt_result_free(&r);
	rt_serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, lying_cl);
	rt_expect_error(&r, 413, "payload_too_large", NULL);
	rt_result_free(&r);
	rt_expect("POST", "/api/exams", NULL, student_token, body, 413, "payload_too_large", NULL);
}
END_TEST

START_TEST(test_app_short_body)
{
	static const char *const cl[] = {"CONTENT_LENGTH", "100", NULL};
	rt_result r;

	rt_serve(&r, "PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":{}}", cl);
	ck_assert_int_eq(r.status, 400);
	rt_expect_error(&r, 400, "invalid_body", NULL);
	rt_result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(test_app_request_id)
{
	static const char *const good[] = {"HTTP_X_REQUEST_ID", "client-id_1.2", NULL};
	static const char *const bad[] = {"HTTP_X_REQUEST_ID", "bad id\r\nX-Evil: 1", NULL};
	char id[256];
	rt_result r;

	rt_serve(&r, "GET", "/api/nope", NULL, NULL, NULL, good);
	rt_expect_error(&r, 404, "not_found", NULL);
	rt_expect_header(&r, "X-Request-Id", "client-id_1.2");
	rt_result_free(&r);

	rt_serve(&r, "GET", ATTEMPT, "action=state", NULL, NULL, bad);
	rt_expect_error(&r, 401, "unauthorized", NULL);
	ck_assert_int_eq(rt_header(&r, "X-Request-Id", id, sizeof id), 1);
	ck_assert_uint_eq(strlen(id), 32);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
	rt_expect_no_header(&r, "X-Evil");
	rt_result_free(&r);

	rt_serve(&r, "GET", "/api/health", NULL, NULL, NULL, good);
	rt_expect_header(&r, "X-Request-Id", "client-id_1.2");
	rt_result_free(&r);
}
END_TEST

START_TEST(test_app_request_id_fallbacks)
{
	static const char *const nginx[] = {"HTTP_X_REQUEST_ID", "no spaces please", "REQUEST_ID",
					    "abcdef0123456789abcdef0123456789", NULL};
	char id[256];
	char first[256];
	rt_result r;

	rt_serve(&r, "GET", "/api/nope", NULL, NULL, NULL, nginx);
	rt_expect_header(&r, "X-Request-Id", "abcdef0123456789abcdef0123456789");
	rt_result_free(&r);
	rt_serve(&r, "GET", "/api/nope", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(rt_header(&r, "X-Request-Id", first, sizeof first), 1);
	ck_assert_uint_eq(strspn(first, "0123456789abcdef"), 32);
	ck_assert_uint_eq(strlen(first), 32);
	rt_result_free(&r);
	rt_serve(&r, "GET", "/api/nope", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(rt_header(&r, "X-Request-Id", id, sizeof id), 1);
	ck_assert_str_ne(id, first);
	rt_result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ database */

/* Without a database: /api/ready answers 503 at once; /api/health is the
 * process's own view, ok until its breaker opens, then 503 degraded. */
START_TEST(test_app_health_degraded)
{
	rt_result r;
	char first_value[64];
	int i;

	rt_serve(&r, "GET", "/api/ready", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
			 "not_ready");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "db")->valuestring,
			 "unavailable");
	ck_assert_int_eq(rt_header(&r, "Retry-After", first_value, sizeof first_value), 1);
	rt_expect_no_header(&r, "WWW-Authenticate");
	rt_result_free(&r);
	for (i = 0; i < 50; i++) { /* each failed call counts towards opening the breaker */
		rt_serve(&r, "GET", "/api/health", NULL, NULL, NULL, NULL);
		if (r.status == 503)
			break;
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
				 "ok");
		rt_result_free(&r);
		rt_serve(&r, "GET", "/api/ready", NULL, NULL, NULL, NULL);
		rt_result_free(&r);
	}
	ck_assert_msg(i < 50, "the breaker never opened");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
			 "degraded");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "db")->valuestring,
			 "unavailable");
	ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r.json, "breaker")));
	ck_assert_int_eq(rt_header(&r, "Retry-After", first_value, sizeof first_value), 1);
	rt_expect_header(&r, "Content-Type", "application/json; charset=utf-8");
	rt_expect_no_header(&r, "WWW-Authenticate");
	rt_result_free(&r);
	/* a token changes nothing */
	rt_serve(&r, "GET", "/api/health", NULL, "Bearer junk", NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	rt_result_free(&r);
}
END_TEST

START_TEST(test_app_db_unreachable)
{
	static const char *const if_match[] = {"HTTP_IF_MATCH", "\"3\"", NULL};

	rt_expect_unavailable("GET", ATTEMPT, "action=state", NULL, NULL);
	rt_expect_unavailable("GET", ATTEMPT "/route.ts", "action=info", NULL, NULL);
	rt_expect_unavailable("GET", "/api/exams/" UUID_A, NULL, NULL, NULL);
	rt_expect_unavailable("POST", "/api/exams", NULL, "{\"title\":\"Algebra\"}", NULL);
	rt_expect_unavailable("POST", "/api/attempts/new", "action=start",
			      "{\"exam_id\":\"" UUID_A "\"}", NULL);
	rt_expect_unavailable(
		"PATCH", ATTEMPT, "action=save",
		"{\"answers\":{\"q1\":\"a\",\"q2\":null},\"auto_save_data\":{\"p\":5},"
		"\"expected_version\":3}",
		NULL);
	rt_expect_unavailable("PATCH", ATTEMPT, "action=save", " {\"auto_save_data\":{}} \n",
			      if_match);
	rt_expect_unavailable("GET", ATTEMPT, "action=state&action=bogus", NULL, NULL);
}
END_TEST

void router_requests_cases(Suite *s)
{
	check_tcase(s, "authentication", router_setup, router_teardown, test_app_no_token,
		    test_app_bad_token, NULL);

	check_tcase(s, "bodies", router_setup, router_teardown, test_app_save_if_match,
		    test_app_payload_too_large, test_app_short_body, NULL);

	check_tcase(s, "request_id", router_setup, router_teardown, test_app_request_id,
		    test_app_request_id_fallbacks, NULL);

	check_tcase(s, "database_unreachable", router_setup, router_teardown,
		    test_app_health_degraded, test_app_db_unreachable, NULL);
}
