/* check_router_routing: whole requests (check_router.h) meeting the
 * routing: unknown paths and actions, methods, malformed queries and
 * paths, encoded NULs, the OpenAPI document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_router.h"
#include "openapi.h"

START_TEST(test_app_unknown_path)
{
	rt_expect("GET", "/api/nope", NULL, NULL, NULL, 404, "not_found", NULL);
	rt_expect("GET", "/api/nope", NULL, student_token, NULL, 404, "not_found", NULL);
	rt_expect("GET", "/api/nope", NULL, "Bearer junk", NULL, 404, "not_found", NULL);
}
END_TEST

START_TEST(test_app_unknown_action)
{
	rt_result r;

	rt_serve(&r, "GET", ATTEMPT, "action=bogus", student_token, NULL, NULL);
	rt_expect_error(&r, 400, "unknown_action", NULL);
	rt_expect_no_header(&r, "Allow");
	rt_result_free(&r);
	rt_expect("POST", ATTEMPT, "action=State", NULL, NULL, 400, "unknown_action", NULL);
	rt_expect("DELETE", ATTEMPT, "action=drop", NULL, NULL, 400, "unknown_action", NULL);
}
END_TEST

START_TEST(test_app_method_not_allowed)
{
	rt_result r;

	/* routing comes before authentication: no token needed for a 405 */
	rt_serve(&r, "DELETE", ATTEMPT, "action=state", NULL, NULL, NULL);
	rt_expect_error(&r, 405, "method_not_allowed", NULL);
	rt_expect_header(&r, "Allow", "GET");
	rt_expect_no_header(&r, "WWW-Authenticate");
	rt_result_free(&r);

	rt_expect_not_allowed("GET", ATTEMPT, "action=save", student_token, NULL, "PATCH");

	rt_expect_not_allowed("GET", "/api/attempts/new", "action=start", student_token, NULL,
			      "POST");

	rt_expect_not_allowed("DELETE", "/api/exams", NULL, student_token, NULL, "GET, POST");

	rt_expect_not_allowed("POST", "/api/health", NULL, NULL, "{}", "GET, HEAD");
}
END_TEST

START_TEST(test_app_malformed_query)
{
	rt_expect("GET", ATTEMPT, "action=state&x=%zz", student_token, NULL, 400, "invalid_query",
		  NULL);
	rt_expect("GET", ATTEMPT, "action=st%zzate", student_token, NULL, 400, "invalid_query",
		  NULL);
	/* a malformed escape is the query's fault, whichever parameter holds
	 * it (docs/API.md section 11) */
	rt_expect("POST", ATTEMPT, "action=upload&filename=%zz.pdf", student_token, "data", 400,
		  "invalid_query", NULL);
	rt_expect("POST", ATTEMPT, "action=upload&filename=essay%E", student_token, "data", 400,
		  "invalid_query", NULL);
}
END_TEST

/* Serves a request whose path comes only as REQUEST_URI (plain CGI), which
 * the service decodes itself; checks the error answer. */
static void expect_request_uri(const char *uri, const char *query, int status, const char *code)
{
	static const char *const no_doc[] = {"DOCUMENT_URI", "", NULL};
	rt_result r;

	rt_serve(&r, "GET", uri, query, student_token, NULL, no_doc);
	rt_expect_error(&r, status, code, NULL);
	rt_result_free(&r);
}

/* A path the service cannot decode is no route (404) or no UUID
 * (invalid_uuid), as the contract says for paths, not invalid_query. */
START_TEST(test_app_undecodable_path)
{
	expect_request_uri("/api/a%00b", NULL, 404, "not_found");
	expect_request_uri("/api/health%00", NULL, 404, "not_found");
	expect_request_uri("/api/%zz", NULL, 404, "not_found");
	expect_request_uri(ATTEMPT "/route.ts%00", "action=state", 404, "not_found");
	expect_request_uri(ATTEMPT "%00", "action=state", 400, "invalid_uuid");
	expect_request_uri("/api/attempts/%zz", "action=state", 400, "invalid_uuid");
	expect_request_uri("/api/exams/%00", NULL, 400, "invalid_uuid");
	/* decodable paths still decode */
	expect_request_uri("/api/attempts/%30a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "action=bogus",
			   400, "unknown_action");
}
END_TEST

/* The path comes before the query: no route is 404 whatever the query
 * holds; on a route, a malformed query is invalid_query. */
/* An encoded NUL is a well-formed escape: the rule of the parameter that
 * holds it answers, not the query parser (API.md sections 2, 3, 6). */
START_TEST(test_app_encoded_nul)
{
	/* an action with a NUL is no action's name */
	/* "act%00ion" is not "action" */
	rt_expect("GET", ATTEMPT, "act%00ion=state", student_token, NULL, 400, "unknown_action",
		  NULL);
	/* ids in the query */
	/* "stats%00" is no supported type */
	rt_expect("GET", ATTEMPT, "action=stats&type=stats%00", proctor_token, NULL, 400,
		  "invalid_query", NULL);
	rt_expect("GET", ATTEMPT, "action=stats&type=%00", proctor_token, NULL, 400,
		  "invalid_query", NULL);
	/* a parameter no action reads is ignored, whatever it holds */
	rt_expect("GET", ATTEMPT, "action=state&x=%00", NULL, NULL, 401, "unauthorized", NULL);
	rt_expect("GET", ATTEMPT, "%00=a&action=state", NULL, NULL, 401, "unauthorized", NULL);
	rt_expect_unavailable_as(student_token, "GET", ATTEMPT, "action=state&x=a%00b", NULL);
}
END_TEST

START_TEST(test_app_other_methods)
{
	rt_expect_not_allowed("BREW", ATTEMPT, "action=state", student_token, NULL, "GET");
	rt_expect_not_allowed("PUT", ATTEMPT, "action=save", student_token, "{}", "PATCH");
}
END_TEST

START_TEST(test_app_openapi)
{
	rt_result r;
	size_t len;
	const unsigned char *doc = openapi_document(&len);
	char etag[64], got[64];
	const char *const inm[] = {"HTTP_IF_NONE_MATCH", etag, NULL};

	/* anyone, no token; the embedded document byte for byte */
	rt_serve(&r, "GET", "/api/openapi.json", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	rt_expect_header(&r, "Content-Type", "application/json; charset=utf-8");
	rt_expect_header(&r, "Cache-Control", "no-cache");
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_int_eq(memcmp(r.body, doc, len), 0);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "openapi")->valuestring, "3.1.0");
	snprintf(etag, sizeof etag, "\"%lu\"", openapi_etag());
	rt_expect_header(&r, "ETag", etag);
	rt_result_free(&r);
	/* a token does not hurt */
	rt_serve(&r, "GET", "/api/openapi.json", NULL, student_token, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	rt_result_free(&r);
	rt_serve(&r, "GET", "/api/openapi.json", NULL, NULL, NULL, inm);
	ck_assert_int_eq(r.status, 304);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_eq(rt_header(&r, "ETag", got, sizeof got), 1);
	ck_assert_str_eq(got, etag);
	rt_result_free(&r);
	rt_expect_not_allowed("POST", "/api/openapi.json", NULL, NULL, "{}", "GET");
	rt_expect("GET", "/api/openapi.json/x", NULL, NULL, NULL, 404, "not_found", NULL);
}
END_TEST

void router_routing_cases(Suite *s)
{
	check_tcase(s, "routing", router_setup, router_teardown, test_app_unknown_path,
		    test_app_unknown_action, test_app_method_not_allowed, test_app_malformed_query,
		    test_app_encoded_nul, test_app_undecodable_path, test_app_other_methods,
		    test_app_openapi, NULL);
}
