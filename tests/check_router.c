/* check_router: the router's units: path shapes and the route table.
 * Whole requests through app_serve: check_router_routing.c,
 * check_router_requests.c and check_router_actions.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attempt_ops.h"
#include "check_proto_util.h"
#include "check_suites.h"
#include "router.h"
#include "uuid.h"

#define UUID_A "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define ATTEMPT "/api/attempts/" UUID_A

START_TEST(test_router_match_path)
{
	char id[64];

	ck_assert_int_eq(router_match_path("/api/health", id, sizeof id), ROUTE_PATH_HEALTH);
	ck_assert_int_eq(router_match_path("/api/openapi.json", id, sizeof id), ROUTE_PATH_OPENAPI);
	ck_assert_str_eq(id, "");
	ck_assert_int_eq(router_match_path("/api/exams", id, sizeof id), ROUTE_PATH_EXAMS);
	ck_assert_int_eq(router_match_path("/api/exams/" UUID_A, id, sizeof id), ROUTE_PATH_EXAM);
	ck_assert_str_eq(id, UUID_A);
	ck_assert_int_eq(router_match_path("/api/ready", id, sizeof id), ROUTE_PATH_READY);
	ck_assert_int_eq(router_match_path("/api/exams/" UUID_A "/stats", id, sizeof id),
			 ROUTE_PATH_EXAM_STATS);
	ck_assert_str_eq(id, UUID_A);
	ck_assert_int_eq(router_match_path("/api/exams/x/active", id, sizeof id),
			 ROUTE_PATH_EXAM_ACTIVE);
	ck_assert_str_eq(id, "x");
	ck_assert_int_eq(router_match_path(ATTEMPT, id, sizeof id), ROUTE_PATH_ATTEMPT);
	ck_assert_str_eq(id, UUID_A);
	ck_assert_int_eq(router_match_path("/api/attempts/new", id, sizeof id), ROUTE_PATH_ATTEMPT);
	ck_assert_str_eq(id, "new");
	ck_assert_int_eq(router_match_path(ATTEMPT "/route.ts", id, sizeof id), ROUTE_PATH_ATTEMPT);
	ck_assert_str_eq(id, UUID_A);
	ck_assert_int_eq(router_match_path("/api/attempts/any-id/route.ts", id, sizeof id),
			 ROUTE_PATH_ATTEMPT);
	ck_assert_str_eq(id, "any-id");
}
END_TEST

START_TEST(test_router_match_path_none)
{
	static const char *const paths[] = {"",
					    "/",
					    "/api",
					    "/api/",
					    "/api/health/",
					    "/api/healthz",
					    "/API/health",
					    "/api/exams/",
					    "/api/exams/" UUID_A "/x",
					    "/api/exams/" UUID_A "/stats/",
					    "/api/exams//stats",
					    "/api/exams/" UUID_A "/activex",
					    "/api/ready/",
					    "/api/readyz",
					    "/api/examsx",
					    "/api/attempts",
					    "/api/attempts/",
					    "/api/attempts//route.ts",
					    ATTEMPT "/",
					    ATTEMPT "/route",
					    ATTEMPT "/route.tsx",
					    ATTEMPT "/route.ts/",
					    ATTEMPT "/other",
					    ATTEMPT "/route.ts/x",
					    "api/health",
					    "/api/health?x=1",
					    "//api/health",
					    NULL};
	char id[64];

	for (int i = 0; paths[i] != NULL; i++)
		ck_assert_msg(router_match_path(paths[i], id, sizeof id) == ROUTE_PATH_NONE,
			      "\"%s\" matched", paths[i]);
	ck_assert_int_eq(router_match_path(NULL, id, sizeof id), ROUTE_PATH_NONE);
	ck_assert_str_eq(id, "");
}
END_TEST

START_TEST(test_router_match_path_long_id)
{
	char id[UUID_STR_LEN + 1];
	char longpath[512];

	/* an id that does not fit is not cut down to one that might pass */
	ck_assert_int_eq(router_match_path(ATTEMPT "0", id, sizeof id), ROUTE_PATH_ATTEMPT);
	ck_assert(!uuid_valid(id));
	ck_assert_str_ne(id, UUID_A);
	ck_assert_int_eq(router_match_path("/api/exams/" UUID_A "0", id, sizeof id),
			 ROUTE_PATH_EXAM);
	ck_assert(!uuid_valid(id));
	memset(longpath, 0, sizeof longpath);
	strcpy(longpath, "/api/attempts/");
	memset(longpath + strlen(longpath), 'a', 300);
	ck_assert_int_eq(router_match_path(longpath, id, sizeof id), ROUTE_PATH_ATTEMPT);
	ck_assert_uint_lt(strlen(id), sizeof id);
	ck_assert(!uuid_valid(id));
}
END_TEST

START_TEST(test_router_find)
{
	unsigned allowed = 0xffff;
	const route *r;

	r = router_find(ROUTE_PATH_ATTEMPT, "state", HTTP_GET, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq((void *)r->handler, (void *)attempt_ops_state);
	ck_assert_uint_eq(r->flags & (ROUTE_AUTH | ROUTE_PATH_UUID), ROUTE_AUTH | ROUTE_PATH_UUID);
	r = router_find(ROUTE_PATH_ATTEMPT, "save", HTTP_PATCH, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq((void *)r->handler, (void *)attempt_ops_save);
	ck_assert_uint_ne(r->flags & ROUTE_JSON_BODY, 0);
	r = router_find(ROUTE_PATH_ATTEMPT, "start", HTTP_POST, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq((void *)r->handler, (void *)attempt_ops_start);
	ck_assert_uint_eq(r->flags & ROUTE_PATH_UUID, 0); /* path id ignored */
	r = router_find(ROUTE_PATH_ATTEMPT, "info", HTTP_GET, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq((void *)r->handler, (void *)attempt_ops_info);
	r = router_find(ROUTE_PATH_HEALTH, NULL, HTTP_GET, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->flags & ROUTE_AUTH, 0);
	r = router_find(ROUTE_PATH_HEALTH, "state", HTTP_GET, &allowed);
	ck_assert_ptr_nonnull(r);
	r = router_find(ROUTE_PATH_EXAM, NULL, HTTP_GET, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->flags & (ROUTE_AUTH | ROUTE_PATH_UUID), ROUTE_AUTH | ROUTE_PATH_UUID);
	r = router_find(ROUTE_PATH_EXAMS, NULL, HTTP_POST, &allowed);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_ne(r->flags & ROUTE_AUTH, 0);
}
END_TEST

START_TEST(test_router_find_refusals)
{
	unsigned allowed;

	allowed = 0xffff;
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, "bogus", HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, 0);
	allowed = 0xffff;
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, NULL, HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, 0);
	allowed = 0xffff;
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, "STATE", HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, 0);
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, "state", HTTP_DELETE, &allowed));
	ck_assert_uint_eq(allowed, HTTP_GET);
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, "save", HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, HTTP_PATCH);
	ck_assert_ptr_null(router_find(ROUTE_PATH_ATTEMPT, "start", HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, HTTP_POST);
	ck_assert_ptr_null(router_find(ROUTE_PATH_EXAMS, NULL, HTTP_DELETE, &allowed));
	ck_assert_uint_eq(allowed, HTTP_POST | HTTP_GET);
	ck_assert_ptr_null(router_find(ROUTE_PATH_HEALTH, NULL, HTTP_POST, &allowed));
	ck_assert_uint_eq(allowed, HTTP_GET | HTTP_HEAD);
	ck_assert_ptr_null(router_find(ROUTE_PATH_HEALTH, NULL, HTTP_OTHER, &allowed));
	ck_assert_uint_eq(allowed, HTTP_GET | HTTP_HEAD);
	allowed = 0xffff;
	ck_assert_ptr_null(router_find(ROUTE_PATH_NONE, NULL, HTTP_GET, &allowed));
	ck_assert_uint_eq(allowed, 0);
}
END_TEST

START_TEST(test_router_write_table)
{
	static const char *const rows[] = {"GET\t/api/health\t-\tpublic\n",
					   "GET\t/api/openapi.json\t-\tpublic\n",
					   "PATCH\t/api/attempts/{id}\tsave\ttoken\n",
					   "POST\t/api/attempts/{id}\tupload\ttoken\n",
					   "GET\t/api/attempts/{id}\tupload\ttoken\n",
					   "POST\t/api/exams\t-\ttoken\n",
					   NULL};

	proto_expect_written(router_write_table, rows);
	ck_assert_str_eq(router_path_template(ROUTE_PATH_EXAM), "/api/exams/{id}");
	ck_assert_str_eq(router_path_template(ROUTE_PATH_NONE), "");
}
END_TEST

void router_cases(Suite *s)
{
	check_tcase(s, "match_path", NULL, NULL, test_router_match_path,
		    test_router_match_path_none, test_router_match_path_long_id, NULL);

	check_tcase(s, "find", NULL, NULL, test_router_find, test_router_find_refusals,
		    test_router_write_table, NULL);
}
