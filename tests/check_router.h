/* check_router: what the router's test files share (check_router_util.c):
 * an app whose database points nowhere reachable, so every request that
 * gets as far as the database answers 503; whole requests served through
 * app_serve with a fake parameter table, body reader and capture writer;
 * checks of the answers. */
#ifndef ATT_CHECK_ROUTER_H
#define ATT_CHECK_ROUTER_H

#include <stddef.h>

#include "app.h"
#include "buf.h"
#include "check_suites.h"
#include "../lib/config.h" /* not autoconf's config.h, see check_config.c */

#define SECRET "router-test-secret-0123456789abcdef"
#define UUID_A "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define UUID_U "user0000-0000-4000-8000-000000000001"
#define SUB "11111111-2222-4333-8444-555555555555"
#define ATTEMPT "/api/attempts/" UUID_A
#define MAX_BODY 4096

/* One answered request, taken apart. */
typedef struct rt_result {
	int ret;    /* what app_serve returned */
	int status; /* from the Status: line */
	buf raw;
	char *head; /* header lines after the status line, NUL-terminated */
	const char *body;
	size_t body_len;
	cJSON *json; /* the body parsed, or NULL */
} rt_result;

extern char *student_token; /* "Bearer <jwt>", valid for an hour */
extern char *proctor_token;
extern char *admin_token;

/* The checked fixture: the app and the three tokens. */
void router_setup(void);
void router_teardown(void);

/* Serves one request. extra (NULL-terminated pairs, may be NULL) comes
 * first and so overrides the defaults, CONTENT_LENGTH included. The caller
 * frees r with rt_result_free(). */
void rt_serve(rt_result *r, const char *method, const char *uri, const char *query,
	      const char *authorization, const char *body, const char *const *extra);
void rt_result_free(rt_result *r);
/* The value of header name (first occurrence) copied into out, and the
 * number of times it occurs. */
int rt_header(const rt_result *r, const char *name, char *out, size_t cap);
/* name occurs once, with value. */
void rt_expect_header(const rt_result *r, const char *name, const char *value);
void rt_expect_no_header(const rt_result *r, const char *name);
/* Checks the response is the section 3 error shape with this status and
 * code (and details.field when field is not NULL), well framed. */
void rt_expect_error(const rt_result *r, int status, const char *code, const char *field);
/* Serves and checks an error answer in one go. */
void rt_expect(const char *method, const char *uri, const char *query, const char *authorization,
	       const char *body, int status, const char *code, const char *field);
/* Who sends a request in an rt_case: nobody (no Authorization) or a
 * holder of one of the three tokens. */
typedef enum rt_who { RT_NOBODY, RT_STUDENT, RT_PROCTOR, RT_ADMIN } rt_who;

/* One request and the error answer it must meet, as rt_expect() takes them. */
typedef struct rt_case {
	const char *method, *uri, *query;
	rt_who who;
	const char *body;
	int status;
	const char *code, *field;
} rt_case;

/* rt_expect() on each of the n rows, in order. */
void rt_expect_all(const rt_case *rows, int n);
/* Serves a request the route refuses with 405 and checks its Allow. */
void rt_expect_not_allowed(const char *method, const char *uri, const char *query,
			   const char *authorization, const char *body, const char *allow);
/* Asserts the request (as the student, or as authorization) passed every
 * check and met the unreachable database: 503 with Retry-After. */
void rt_expect_unavailable(const char *method, const char *uri, const char *query, const char *body,
			   const char *const *extra);
void rt_expect_unavailable_as(const char *authorization, const char *method, const char *uri,
			      const char *query, const char *body);

#endif
