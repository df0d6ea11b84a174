/* check_cors: the cors_origins check, the CORS headers and the preflight,
 * unit by unit and then whole requests through app_serve (a fake CGI
 * server; the database points nowhere, so nothing here reaches one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "check_proto_util.h"
#include "check_suites.h"
#include "cors.h"
#include "fake_cgi.h"
#include "../lib/config.h" /* not autoconf's config.h, see check_config.c */
#include "log.h"

#define ALLOWED "https://exam.example.edu"
#define ALLOWED2 "http://localhost:5173"
#define OTHER "https://evil.example"
#define ATTEMPT "/api/attempts/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static const char *origins_env; /* ATTEMPTS_CORS_ORIGINS for load() */

static const char *cors_getenv(const char *name)
{
	if (strcmp(name, "ATTEMPTS_JWT_SECRET") == 0)
		return "cors-test-secret-0123456789abcdef0123";
	if (strcmp(name, "ATTEMPTS_DB") == 0)
		return "host=/nonexistent port=1 dbname=x connect_timeout=1";
	if (strcmp(name, "ATTEMPTS_POOL_MIN") == 0)
		return "0";
	if (strcmp(name, "ATTEMPTS_POOL_ACQUIRE_TIMEOUT_MS") == 0)
		return "200";
	if (strcmp(name, "ATTEMPTS_CORS_ORIGINS") == 0)
		return origins_env;
	return NULL;
}

/* Loads a configuration with cors_origins = origins (NULL: unset);
 * returns config_load_from's answer, the message in *msg (freed by the
 * caller). */
static att_err load(config *cfg, const char *origins, char **msg)
{
	origins_env = origins;
	*msg = NULL;
	return config_load_from(cfg, NULL, cors_getenv, msg);
}

/* ------------------------------------------------------------ config */

START_TEST(test_cors_config_accepts)
{
	static const char *const good[] = {ALLOWED,
					   ALLOWED " " ALLOWED2,
					   ALLOWED "," ALLOWED2,
					   " " ALLOWED " ,\t" ALLOWED2 ", ",
					   "http://127.0.0.1:8080",
					   "http://[::1]:8080",
					   "https://a-b.c.example:443",
					   "",
					   NULL};
	config cfg;
	char *msg;

	for (int i = 0; good[i] != NULL; i++) {
		ck_assert_msg(load(&cfg, good[i], &msg) == ATT_OK, "%s: %s", good[i], msg);
		config_free(&cfg);
		free(msg);
	}
	ck_assert_int_eq(load(&cfg, NULL, &msg), ATT_OK);
	ck_assert_ptr_null(cfg.cors_origins); /* the default: none */
	config_free(&cfg);
}
END_TEST

START_TEST(test_cors_config_refuses)
{
	static const char *const bad[] = {"*",
					  "null",
					  "exam.example.edu",
					  "https://",
					  "https://Exam.example.edu",
					  "https://exam.example.edu/",
					  "https://exam.example.edu/path",
					  "ftp://exam.example.edu",
					  "https://exam.example.edu:",
					  "https://exam.example.edu:123456",
					  "https://a_b.example",
					  "https://exam.example.edu;",
					  "\"https://x\"",
					  "https://[::1",
					  "https://[::G]",
					  ALLOWED " *",
					  NULL};
	config cfg;
	char *msg;

	for (int i = 0; bad[i] != NULL; i++) {
		ck_assert_msg(load(&cfg, bad[i], &msg) == ATT_ECONFIG, "accepted %s", bad[i]);
		ck_assert_ptr_nonnull(msg);
		ck_assert_msg(strncmp(msg, "cors_origins: ", 14) == 0, "message %s", msg);
		config_free(&cfg);
		free(msg);
	}
}
END_TEST

/* ------------------------------------------------------------ units */

START_TEST(test_cors_origin_allowed)
{
	const char *list = " " ALLOWED ",\t" ALLOWED2 " ";

	ck_assert(cors_origin_allowed(list, ALLOWED));
	ck_assert(cors_origin_allowed(list, ALLOWED2));
	ck_assert(!cors_origin_allowed(list, OTHER));
	ck_assert(!cors_origin_allowed(list, "https://exam.example"));	   /* a prefix */
	ck_assert(!cors_origin_allowed(list, ALLOWED "x"));		   /* longer */
	ck_assert(!cors_origin_allowed(list, "HTTPS://EXAM.EXAMPLE.EDU")); /* byte for byte */
	ck_assert(!cors_origin_allowed(list, "null"));
	ck_assert(!cors_origin_allowed(list, ""));
	ck_assert(!cors_origin_allowed(list, NULL));
	ck_assert(!cors_origin_allowed(NULL, ALLOWED));
	ck_assert(!cors_origin_allowed("", ALLOWED));
	ck_assert(!cors_origin_allowed(", ,", ""));
}
END_TEST

START_TEST(test_cors_nginx_map)
{
	static const char *const both[] = {
		"\n\"" ALLOWED "\" $http_origin;\n\"" ALLOWED2 "\" $http_origin;\n", NULL};
	proto_text t;
	char *text;

	cors_write_nginx_map(ALLOWED ", " ALLOWED2, proto_text_open(&t));
	text = proto_text_close(&t);
	proto_expect_contains(text, both);
	free(text);
	cors_write_nginx_map(NULL, proto_text_open(&t));
	text = proto_text_close(&t);
	ck_assert_ptr_null(strstr(text, "$http_origin")); /* comments only */
	free(text);
}
END_TEST

/* ------------------------------------------------------------ requests */

static config cfg;
static app *the_app;

static void setup_with(const char *origins)
{
	char *msg = NULL;

	log_set_level(LOG_LVL_ERROR);
	ck_assert_int_eq(load(&cfg, origins, &msg), ATT_OK);
	ck_assert_int_eq(app_create(&cfg, APP_ONESHOT, &the_app), ATT_OK);
}

static void setup_allowing(void)
{
	setup_with(ALLOWED " " ALLOWED2);
}

static void setup_default(void)
{
	setup_with(NULL);
}

static void teardown(void)
{
	app_free(the_app);
	the_app = NULL;
	config_free(&cfg);
}

/* One answer: status, headers, body. */
typedef struct answer {
	int status;
	buf raw;
	char *head; /* header lines after the status line */
	const char *body;
} answer;

/* Serves method uri?query with the given Origin (NULL: none), optional
 * Access-Control-Request-Method (acrm) and Authorization. */
static void serve(answer *a, const char *method, const char *uri, const char *query,
		  const char *origin, const char *acrm, const char *authorization)
{
	const char *params[16] = {
		"REQUEST_METHOD",	    method, "DOCUMENT_URI", uri, "QUERY_STRING",
		query != NULL ? query : "", NULL};
	fake_cgi_io io;
	fake_cgi_capture cap;
	const char *eol, *sep;

	memset(a, 0, sizeof *a);
	memset(&cap, 0, sizeof cap);
	proto_param_add(params, CHECK_ROWS(params), "HTTP_ORIGIN", origin);
	if (acrm != NULL) {
		proto_param_add(params, CHECK_ROWS(params), "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
				acrm);
		proto_param_add(params, CHECK_ROWS(params), "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
				"authorization, content-type");
	}
	proto_param_add(params, CHECK_ROWS(params), "HTTP_AUTHORIZATION", authorization);
	fake_cgi_init(&io, params, NULL, 0);
	a->status = app_serve(the_app, fake_cgi_param, fake_cgi_read, &io, fake_cgi_write, &cap);
	a->raw = cap.out;
	ck_assert_ptr_nonnull(a->raw.data);
	eol = strstr(a->raw.data, "\r\n");
	sep = strstr(a->raw.data, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	a->head = strndup(eol + 2, (size_t)(sep + 2 - (eol + 2)));
	a->body = sep + 4;
}

static void answer_free(answer *a)
{
	buf_free(&a->raw);
	free(a->head);
}

/* The value of header name, or NULL; fails if it appears more than once. */
static const char *header(const answer *a, const char *name)
{
	static char value[512];
	size_t nlen = strlen(name);
	const char *found = NULL;

	for (const char *line = a->head; *line;) {
		const char *eol = strstr(line, "\r\n");
		ck_assert_ptr_nonnull(eol);
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			ck_assert_msg(found == NULL, "%s twice", name);
			found = line + nlen + 2;
			snprintf(value, sizeof value, "%.*s", (int)(eol - found), found);
		}
		line = eol + 2;
	}
	return found != NULL ? value : NULL;
}

static void expect_header(const answer *a, const char *name, const char *value)
{
	const char *got = header(a, name);

	ck_assert_msg(got != NULL, "no %s", name);
	ck_assert_str_eq(got, value);
}

/* An allowed origin's answer: its origin, Vary, the exposed headers. */
static void expect_cors(const answer *a, const char *origin)
{
	expect_header(a, "Access-Control-Allow-Origin", origin);
	expect_header(a, "Vary", "Origin");
	expect_header(a, "Access-Control-Expose-Headers",
		      "ETag, Retry-After, X-Request-Id, X-Cache");
	ck_assert_ptr_nonnull(header(a, "X-Request-Id"));
}

/* Not one CORS header (Vary: Origin aside, which vary says). */
static void expect_no_cors(const answer *a, int vary)
{
	ck_assert_ptr_null(strcasestr(a->head, "Access-Control-"));
	if (vary)
		expect_header(a, "Vary", "Origin");
	else
		ck_assert_ptr_null(header(a, "Vary"));
}

static void expect_code(const answer *a, int status, const char *code)
{
	char want[128];

	ck_assert_msg(a->status == status, "status %d, expected %d: %s", a->status, status,
		      a->body);
	snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\"", code);
	ck_assert_msg(strncmp(a->body, want, strlen(want)) == 0, "body %s", a->body);
}

START_TEST(test_cors_preflight_allowed)
{
	static const char *const paths[][2] = {
		{ATTEMPT, "action=save"},     {ATTEMPT, NULL},
		{ATTEMPT, "action=nonsense"}, {"/api/attempts/new/route.ts", "action=start"},
		{"/api/exams", NULL},	      {"/api/exams/x", NULL},
		{"/api/health", NULL},	      {"/api/openapi.json", NULL}};
	answer a;

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		/* no token: a preflight never carries one */
		serve(&a, "OPTIONS", paths[i][0], paths[i][1], ALLOWED2, "PATCH", NULL);
		ck_assert_msg(a.status == 204, "%s: %d", paths[i][0], a.status);
		ck_assert_str_eq(a.body, "");
		ck_assert_ptr_null(header(&a, "Content-Length"));
		expect_cors(&a, ALLOWED2);
		expect_header(&a, "Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH");
		expect_header(&a, "Access-Control-Allow-Headers",
			      "Authorization, Content-Type, If-Match, If-None-Match, "
			      "Cache-Control, X-Request-Id");
		expect_header(&a, "Access-Control-Max-Age", "600");
		answer_free(&a);
	}
}
END_TEST

/* What an answer must carry of CORS: the row's origin, Vary, the exposed
 * headers (AS_ALLOWED); no CORS header but Vary: Origin (VARY_ONLY); none
 * at all, no Vary either (NO_CORS). */
enum cors_want { NO_CORS, VARY_ONLY, AS_ALLOWED };

/* A request (method uri?query, Origin, Access-Control-Request-Method; no
 * token) and its answer: status, the error code (NULL: not an error),
 * Allow (NULL: not checked), its CORS. */
typedef struct cors_row {
	const char *method, *uri, *query, *origin, *acrm;
	int status;
	const char *code, *allow;
	enum cors_want cors;
} cors_row;

static void expect_answer(const cors_row *r)
{
	answer a;

	serve(&a, r->method, r->uri, r->query, r->origin, r->acrm, NULL);
	if (r->code != NULL)
		expect_code(&a, r->status, r->code);
	else
		ck_assert_int_eq(a.status, r->status);
	if (r->allow != NULL)
		expect_header(&a, "Allow", r->allow);
	if (r->cors == AS_ALLOWED)
		expect_cors(&a, r->origin);
	else
		expect_no_cors(&a, r->cors == VARY_ONLY);
	answer_free(&a);
}

/* With cors_origins ALLOWED and ALLOWED2. */
static const cors_row allowing_rows[] = {
	/* a preflight from another origin: 403 in the error shape, no CORS header */
	{"OPTIONS", ATTEMPT, "action=save", OTHER, "PATCH", 403, "origin_not_allowed", NULL,
	 VARY_ONLY},
	{"OPTIONS", ATTEMPT, "action=save", "null", "PATCH", 403, "origin_not_allowed", NULL,
	 VARY_ONLY},
	/* the path comes first: no route, 404 (with CORS: the origin is allowed) */
	{"OPTIONS", "/api/nothing", NULL, ALLOWED, "GET", 404, "not_found", NULL, AS_ALLOWED},
	/* OPTIONS that is no preflight (no Access-Control-Request-Method): 405 */
	{"OPTIONS", ATTEMPT, "action=state", ALLOWED, NULL, 405, "method_not_allowed", "GET",
	 AS_ALLOWED},
	{"OPTIONS", "/api/health", NULL, NULL, NULL, 405, "method_not_allowed", NULL, VARY_ONLY},
	/* CORS on every answer, errors included: 401, 400, 404, 405, 503 */
	{"GET", ATTEMPT, "action=state", ALLOWED, NULL, 401, "unauthorized", NULL, AS_ALLOWED},
	{"GET", ATTEMPT, "action=nonsense", ALLOWED, NULL, 400, "unknown_action", NULL, AS_ALLOWED},
	{"GET", ATTEMPT, "action=%zz", ALLOWED, NULL, 400, "invalid_query", NULL, AS_ALLOWED},
	{"GET", "/api/nothing", NULL, ALLOWED2, NULL, 404, "not_found", NULL, AS_ALLOWED},
	{"DELETE", "/api/health", NULL, ALLOWED, NULL, 405, "method_not_allowed", NULL, AS_ALLOWED},
	{"GET", "/api/ready", NULL, ALLOWED, NULL, 503, NULL, NULL, AS_ALLOWED}, /* no database */
	{"GET", "/api/openapi.json", NULL, ALLOWED, NULL, 200, NULL, NULL, AS_ALLOWED},
	/* another origin, or none: Vary only */
	{"GET", ATTEMPT, "action=state", OTHER, NULL, 401, "unauthorized", NULL, VARY_ONLY},
	{"GET", "/api/openapi.json", NULL, NULL, NULL, 200, NULL, NULL, VARY_ONLY},
};

START_TEST(test_cors_allowing_answers)
{
	expect_answer(&allowing_rows[_i]);
}
END_TEST

START_TEST(test_cors_shed)
{
	const char *params[] = {
		"REQUEST_METHOD", "GET", "DOCUMENT_URI", "/api/health", "HTTP_ORIGIN",
		ALLOWED,	  NULL};
	fake_cgi_io io;
	fake_cgi_capture cap;

	memset(&cap, 0, sizeof cap);
	fake_cgi_init(&io, params, NULL, 0);
	ck_assert_int_eq(
		app_shed(the_app, fake_cgi_param, fake_cgi_read, &io, fake_cgi_write, &cap, 5000),
		503);
	ck_assert_ptr_nonnull(
		strstr(cap.out.data, "\r\nAccess-Control-Allow-Origin: " ALLOWED "\r\n"));
	ck_assert_ptr_nonnull(strstr(cap.out.data, "\r\nVary: Origin\r\n"));
	buf_free(&cap.out);
}
END_TEST

/* cors_origins unset: same origin only - no CORS header, no Vary; a
 * preflight is refused. */
static const cors_row default_rows[] = {
	{"OPTIONS", ATTEMPT, "action=save", ALLOWED, "PATCH", 403, "origin_not_allowed", NULL,
	 NO_CORS},
	{"GET", ATTEMPT, "action=state", ALLOWED, NULL, 401, "unauthorized", NULL, NO_CORS},
};

START_TEST(test_cors_default_answers)
{
	expect_answer(&default_rows[_i]);
}
END_TEST

void cors_cases(Suite *s)
{
	TCase *tc;

	check_tcase(s, "units", NULL, NULL, test_cors_config_accepts, test_cors_config_refuses,
		    test_cors_origin_allowed, test_cors_nginx_map, NULL);
	tc = check_tcase(s, "allowed origins", setup_allowing, teardown,
			 test_cors_preflight_allowed, test_cors_shed, NULL);
	tcase_add_loop_test(tc, test_cors_allowing_answers, 0, CHECK_ROWS(allowing_rows));
	tc = check_tcase(s, "default", setup_default, teardown, NULL);
	tcase_add_loop_test(tc, test_cors_default_answers, 0, CHECK_ROWS(default_rows));
}
