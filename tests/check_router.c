/* check_router: path shapes and the route table, then whole requests
 * through app_serve with a fake parameter table, body reader and capture
 * writer. The app's database points nowhere reachable, so every request
 * that gets as far as the database must answer 503. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "attempt_ops.h"
#include "auth.h"
#include "buf.h"
#include "check_suites.h"
#include "fake_cgi.h"
#include "../lib/config.h" /* not autoconf's config.h, see check_config.c */
#include "log.h"
#include "openapi.h"
#include "router.h"

#define SECRET "router-test-secret-0123456789abcdef"
#define UUID_A "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define UUID_U "user0000-0000-4000-8000-000000000001"
#define SUB "11111111-2222-4333-8444-555555555555"
#define ATTEMPT "/api/attempts/" UUID_A
#define MAX_BODY 4096

/* ------------------------------------------------------------ fakes */

static const char *const test_env[] = {"ATTEMPTS_JWT_SECRET",
				       SECRET,
				       "ATTEMPTS_DB",
				       "host=/nonexistent port=1 dbname=x connect_timeout=1",
				       "ATTEMPTS_THREADS",
				       "2",
				       "ATTEMPTS_POOL_MIN",
				       "0",
				       "ATTEMPTS_POOL_ACQUIRE_TIMEOUT_MS",
				       "200",
				       "ATTEMPTS_MAX_BODY_BYTES",
				       "4096",
				       "ATTEMPTS_MAX_EVENTS",
				       "3",
				       "ATTEMPTS_MAX_EVENT_PAYLOAD_BYTES",
				       "64",
				       "ATTEMPTS_MAX_BATCH_ITEMS",
				       "3",
				       "ATTEMPTS_UPLOAD_DIR",
				       "/nonexistent/uploads",
				       NULL};

static const char *app_getenv(const char *name)
{
	for (const char *const *p = test_env; p[0] != NULL; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

/* One answered request, taken apart. */
typedef struct result {
	int ret;    /* what app_serve returned */
	int status; /* from the Status: line */
	buf raw;
	char *head; /* header lines after the status line, NUL-terminated */
	const char *body;
	size_t body_len;
	cJSON *json; /* the body parsed, or NULL */
} result;

static config cfg;
static app *the_app;
static char *student_token; /* "Bearer <jwt>", valid for an hour */
static char *proctor_token;
static char *admin_token;

/* "Bearer <jwt>" for role, valid for an hour; the caller frees it. */
static char *bearer(auth_role role)
{
	time_t now = time(NULL);
	char *tok = auth_sign(SUB, role, now, now + 3600, SECRET, strlen(SECRET));
	buf b = BUF_INIT;
	char *out;

	ck_assert_ptr_nonnull(tok);
	buf_printf(&b, "Bearer %s", tok);
	free(tok);
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

static void router_setup(void)
{
	char *msg = NULL;

	log_set_level(LOG_LVL_ERROR);
	ck_assert_int_eq(config_load_from(&cfg, NULL, app_getenv, &msg), ATT_OK);
	/* one-shot: no change listener or housekeeping thread dialling the
	 * unreachable database in the background */
	ck_assert_int_eq(app_create(&cfg, APP_ONESHOT, &the_app), ATT_OK);
	student_token = bearer(AUTH_ROLE_STUDENT);
	proctor_token = bearer(AUTH_ROLE_PROCTOR);
	admin_token = bearer(AUTH_ROLE_ADMIN);
}

static void router_teardown(void)
{
	app_free(the_app);
	the_app = NULL;
	config_free(&cfg);
	free(student_token);
	free(proctor_token);
	free(admin_token);
	student_token = proctor_token = admin_token = NULL;
}

static void result_free(result *r)
{
	buf_free(&r->raw);
	free(r->head);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof *r);
}

/* Serves one request. extra (NULL-terminated pairs, may be NULL) comes
 * first and so overrides the defaults, CONTENT_LENGTH included. */
static void serve(result *r, const char *method, const char *uri, const char *query,
		  const char *authorization, const char *body, const char *const *extra)
{
	const char *params[64]; /* name, value pairs, NULL-terminated */
	fake_cgi_io io;
	fake_cgi_capture cap;
	char cl[32];
	int n = 0;
	const char *sep, *eol;

	memset(&cap, 0, sizeof cap);
	memset(r, 0, sizeof *r);
	for (; extra != NULL && extra[0] != NULL; extra += 2) {
		params[n++] = extra[0];
		params[n++] = extra[1];
	}
	params[n++] = "REQUEST_METHOD";
	params[n++] = method;
	params[n++] = "DOCUMENT_URI";
	params[n++] = uri;
	params[n++] = "REQUEST_URI";
	params[n++] = uri;
	if (query != NULL) {
		params[n++] = "QUERY_STRING";
		params[n++] = query;
	}
	if (authorization != NULL) {
		params[n++] = "HTTP_AUTHORIZATION";
		params[n++] = authorization;
	}
	if (body != NULL) {
		snprintf(cl, sizeof cl, "%zu", strlen(body));
		params[n++] = "CONTENT_LENGTH";
		params[n++] = cl;
		params[n++] = "CONTENT_TYPE";
		params[n++] = "application/json";
	}
	params[n] = NULL;
	ck_assert_int_lt(n, 64);
	/* the body in small chunks, as a socket would hand it out */
	fake_cgi_init(&io, params, body, 100);

	r->ret = app_serve(the_app, fake_cgi_param, fake_cgi_read, &io, fake_cgi_write, &cap);
	r->raw = cap.out;
	ck_assert_int_eq(r->raw.failed, 0);
	ck_assert_ptr_nonnull(r->raw.data);
	ck_assert_int_eq(sscanf(r->raw.data, "Status: %d ", &r->status), 1);
	ck_assert_int_eq(r->ret, r->status);
	eol = strstr(r->raw.data, "\r\n");
	sep = strstr(r->raw.data, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	r->head = strndup(eol + 2, (size_t)(sep + 2 - (eol + 2)));
	ck_assert_ptr_nonnull(r->head);
	r->body = sep + 4;
	r->body_len = r->raw.len - (size_t)(r->body - r->raw.data);
	if (r->body_len > 0)
		r->json = cJSON_ParseWithLength(r->body, r->body_len);
}

/* The value of header name (first occurrence) copied into out, and the
 * number of times it occurs. */
static int header(const result *r, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	int count = 0;

	if (cap > 0)
		out[0] = '\0';
	for (const char *line = r->head; *line;) {
		const char *eol = strstr(line, "\r\n");
		ck_assert_ptr_nonnull(eol);
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (*v == ' ')
				v++;
			if (count++ == 0)
				snprintf(out, cap, "%.*s", (int)(eol - v), v);
		}
		line = eol + 2;
	}
	return count;
}

static void expect_header(const result *r, const char *name, const char *value)
{
	char got[512];
	int n = header(r, name, got, sizeof got);

	ck_assert_msg(n == 1, "header %s appears %d times", name, n);
	ck_assert_str_eq(got, value);
}

static void expect_no_header(const result *r, const char *name)
{
	char got[512];

	ck_assert_msg(header(r, name, got, sizeof got) == 0, "unexpected %s: %s", name, got);
}

/* Checks the response is the section 3 error shape with this status and
 * code (and details.field when field is not NULL), well framed. */
static void expect_error(const result *r, int status, const char *code, const char *field)
{
	const cJSON *err, *c, *m, *d, *it;
	char len[32];

	ck_assert_msg(r->status == status, "status %d, expected %d; body %.*s", r->status, status,
		      (int)r->body_len, r->body);
	expect_header(r, "Content-Type", "application/json; charset=utf-8");
	snprintf(len, sizeof len, "%zu", r->body_len);
	expect_header(r, "Content-Length", len);
	ck_assert_ptr_nonnull(r->json);
	ck_assert_int_eq(cJSON_GetArraySize(r->json), 1);
	err = cJSON_GetObjectItemCaseSensitive(r->json, "error");
	ck_assert(cJSON_IsObject(err));
	c = cJSON_GetObjectItemCaseSensitive(err, "code");
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	d = cJSON_GetObjectItemCaseSensitive(err, "details");
	ck_assert(cJSON_IsString(c));
	ck_assert_str_eq(c->valuestring, code);
	ck_assert(cJSON_IsString(m));
	ck_assert_uint_gt(strlen(m->valuestring), 0);
	cJSON_ArrayForEach(it, err) ck_assert_msg(strcmp(it->string, "code") == 0 ||
							  strcmp(it->string, "message") == 0 ||
							  strcmp(it->string, "details") == 0,
						  "unexpected member \"%s\" in error", it->string);
	if (field != NULL) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "field");
		ck_assert(cJSON_IsObject(d));
		ck_assert(cJSON_IsString(f));
		ck_assert_str_eq(f->valuestring, field);
	} else {
		ck_assert(d == NULL || cJSON_IsObject(d));
	}
	/* every response names its request */
	ck_assert_int_eq(header(r, "X-Request-Id", len, sizeof len), 1);
}

/* Serves and checks an error answer in one go. */
static void expect(const char *method, const char *uri, const char *query,
		   const char *authorization, const char *body, int status, const char *code,
		   const char *field)
{
	result r;

	serve(&r, method, uri, query, authorization, body, NULL);
	expect_error(&r, status, code, field);
	result_free(&r);
}

/* Asserts the request passed every check and met the unreachable database. */
static void expect_unavailable_full(const char *authorization, const char *method, const char *uri,
				    const char *query, const char *body, const char *const *extra)
{
	result r;
	char v[64];

	serve(&r, method, uri, query, authorization, body, extra);
	expect_error(&r, 503, "service_unavailable", NULL);
	ck_assert_int_eq(header(&r, "Retry-After", v, sizeof v), 1);
	ck_assert_int_ge(atoi(v), 1);
	result_free(&r);
}

static void expect_unavailable(const char *method, const char *uri, const char *query,
			       const char *body, const char *const *extra)
{
	expect_unavailable_full(student_token, method, uri, query, body, extra);
}

static void expect_unavailable_as(const char *authorization, const char *method, const char *uri,
				  const char *query, const char *body)
{
	expect_unavailable_full(authorization, method, uri, query, body, NULL);
}

/* ------------------------------------------------------------ units */

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

/* ------------------------------------------------------------ routing */

START_TEST(test_app_unknown_path)
{
	expect("GET", "/api/nope", NULL, NULL, NULL, 404, "not_found", NULL);
	expect("GET", "/api/nope", NULL, student_token, NULL, 404, "not_found", NULL);
	expect("GET", "/api/nope", NULL, "Bearer junk", NULL, 404, "not_found", NULL);
	expect("GET", "/", NULL, NULL, NULL, 404, "not_found", NULL);
	expect("GET", "/api/attempts/", "action=state", student_token, NULL, 404, "not_found",
	       NULL);
	expect("GET", "/api/exams/", NULL, student_token, NULL, 404, "not_found", NULL);
	expect("GET", ATTEMPT "/route.tsx", "action=state", student_token, NULL, 404, "not_found",
	       NULL);
	expect("GET", ATTEMPT "/extra", "action=state", NULL, NULL, 404, "not_found", NULL);
	expect("DELETE", "/api/nope", NULL, NULL, NULL, 404, "not_found", NULL);
}
END_TEST

START_TEST(test_app_missing_action)
{
	expect("GET", ATTEMPT, NULL, student_token, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "", NULL, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "action=", student_token, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "type=stats", student_token, NULL, 400, "unknown_action", NULL);
}
END_TEST

START_TEST(test_app_unknown_action)
{
	result r;

	serve(&r, "GET", ATTEMPT, "action=bogus", student_token, NULL, NULL);
	expect_error(&r, 400, "unknown_action", NULL);
	expect_no_header(&r, "Allow");
	result_free(&r);
	expect("POST", ATTEMPT, "action=State", NULL, NULL, 400, "unknown_action", NULL);
	expect("DELETE", ATTEMPT, "action=drop", NULL, NULL, 400, "unknown_action", NULL);
}
END_TEST

START_TEST(test_app_method_not_allowed)
{
	result r;

	/* routing comes before authentication: no token needed for a 405 */
	serve(&r, "DELETE", ATTEMPT, "action=state", NULL, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET");
	expect_no_header(&r, "WWW-Authenticate");
	result_free(&r);

	serve(&r, "GET", ATTEMPT, "action=save", student_token, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "PATCH");
	result_free(&r);

	serve(&r, "GET", "/api/attempts/new", "action=start", student_token, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "POST");
	result_free(&r);

	serve(&r, "DELETE", "/api/exams", NULL, student_token, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET, POST");
	result_free(&r);

	serve(&r, "POST", "/api/health", NULL, NULL, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET, HEAD");
	result_free(&r);
}
END_TEST

START_TEST(test_app_malformed_query)
{
	expect("GET", ATTEMPT, "action=state&x=%zz", student_token, NULL, 400, "invalid_query",
	       NULL);
	expect("GET", ATTEMPT, "action=st%zzate", student_token, NULL, 400, "invalid_query", NULL);
	/* a malformed escape is the query's fault, whichever parameter holds
	 * it (docs/API.md section 11) */
	expect("POST", ATTEMPT, "action=upload&filename=%zz.pdf", student_token, "data", 400,
	       "invalid_query", NULL);
	expect("POST", ATTEMPT, "action=upload&filename=essay%E", student_token, "data", 400,
	       "invalid_query", NULL);
}
END_TEST

/* Serves a request whose path comes only as REQUEST_URI (plain CGI), which
 * the service decodes itself; checks the error answer. */
static void expect_request_uri(const char *uri, const char *query, int status, const char *code)
{
	static const char *const no_doc[] = {"DOCUMENT_URI", "", NULL};
	result r;

	serve(&r, "GET", uri, query, student_token, NULL, no_doc);
	expect_error(&r, status, code, NULL);
	result_free(&r);
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
START_TEST(test_app_malformed_query_unknown_path)
{
	expect("GET", "/api/nope", "x=%zz", NULL, NULL, 404, "not_found", NULL);
	expect("GET", "/api/attempts", "action=state&x=%", student_token, NULL, 404, "not_found",
	       NULL);
	expect("GET", "/api/nope",
	       "p1&p2&p3&p4&p5&p6&p7&p8&p9&p10&p11&p12&p13&p14&p15&p16&"
	       "p17&p18&p19&p20&p21&p22&p23&p24&p25&p26&p27&p28&p29&p30&p31&p32&p33",
	       NULL, NULL, 404, "not_found", NULL);
	expect("GET", ATTEMPT, "action=state&x=%zz", NULL, NULL, 400, "invalid_query", NULL);
	expect("GET", "/api/health", "x=%zz", NULL, NULL, 400, "invalid_query", NULL);
}
END_TEST

/* An encoded NUL is a well-formed escape: the rule of the parameter that
 * holds it answers, not the query parser (API.md sections 2, 3, 6). */
START_TEST(test_app_encoded_nul)
{
	/* an action with a NUL is no action's name */
	expect("GET", ATTEMPT, "action=st%00ate", student_token, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "action=state%00", student_token, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "action=state%00x", NULL, NULL, 400, "unknown_action", NULL);
	expect("GET", ATTEMPT, "action=%00", student_token, NULL, 400, "unknown_action", NULL);
	expect("POST", ATTEMPT, "action=upload%00&filename=a.pdf", student_token, "data", 400,
	       "unknown_action", NULL);
	/* "act%00ion" is not "action" */
	expect("GET", ATTEMPT, "act%00ion=state", student_token, NULL, 400, "unknown_action", NULL);
	/* ids in the query */
	expect("GET", ATTEMPT, "action=upload&upload_id=" UUID_A "%00", student_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=upload&upload_id=%00", student_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=stats&type=active&exam_id=" UUID_A "%00", proctor_token,
	       NULL, 400, "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=stats&exam_id=%00", proctor_token, NULL, 400, "invalid_uuid",
	       NULL);
	/* "stats%00" is no supported type */
	expect("GET", ATTEMPT, "action=stats&type=stats%00", proctor_token, NULL, 400,
	       "invalid_query", NULL);
	expect("GET", ATTEMPT, "action=stats&type=%00", proctor_token, NULL, 400, "invalid_query",
	       NULL);
	/* a parameter no action reads is ignored, whatever it holds */
	expect("GET", ATTEMPT, "action=state&x=%00", NULL, NULL, 401, "unauthorized", NULL);
	expect("GET", ATTEMPT, "%00=a&action=state", NULL, NULL, 401, "unauthorized", NULL);
	expect_unavailable_as(student_token, "GET", ATTEMPT, "action=state&x=a%00b", NULL);
}
END_TEST

/* The filename rule of section 6, "however it is percent-encoded". */
START_TEST(test_app_upload_filename_encodings)
{
	static const char *const bad[] = {"x%00.pdf",
					  "%00",
					  "x.pdf%00",
					  "%00x.pdf",
					  "a%2Fb.pdf",
					  "a%2fb.pdf",
					  "a%5Cb.pdf",
					  "a%5cb.pdf",
					  "%2ehidden",
					  "%2Ehidden",
					  "%2e",
					  "a%C2%85b.pdf",
					  "a%c2%9fb.pdf",
					  "a%E2%80%8Bb.pdf",
					  "a%e2%80%8bb.pdf",
					  "a%E2%80%8Fb.pdf",
					  "invoice%E2%80%AEfdp.exe",
					  "a%E2%80%AAb.pdf",
					  "a%E2%81%A6b.pdf",
					  "a%E2%81%A9b.pdf",
					  "%EF%BB%BFa.pdf",
					  "a%C0%AFb.pdf",
					  "a%FF.pdf",
					  "a%E2%80.pdf",
					  "a%E2%80",
					  "a%ED%A0%80.pdf",
					  "%0A.pdf",
					  "a%7F.pdf",
					  NULL};
	static const char *const good[] = {"%E2%82%AC.pdf", "a%E2%80%90b.pdf", "%65ssay.pdf",
					   "caf%C3%A9.pdf", "a+b.pdf",	       NULL};
	char query[256];

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(query, sizeof query, "action=upload&filename=%s", bad[i]);
		expect("POST", ATTEMPT, query, student_token, "data", 400, "invalid_filename",
		       NULL);
		/* nginx hands the body over as a file: the same answer */
		{
			const char *const extra[] = {"REQUEST_BODY_FILE", "/nonexistent/body",
						     "ATTEMPTS_UPLOADS_VIA_FILE", "1", NULL};
			result r;
			serve(&r, "POST", ATTEMPT, query, student_token, NULL, extra);
			expect_error(&r, 400, "invalid_filename", NULL);
			result_free(&r);
		}
	}
	for (int i = 0; good[i] != NULL; i++) {
		snprintf(query, sizeof query, "action=upload&filename=%s", good[i]);
		expect_unavailable_as(student_token, "POST", ATTEMPT, query, "data");
	}
}
END_TEST

START_TEST(test_app_other_methods)
{
	result r;

	serve(&r, "BREW", ATTEMPT, "action=state", student_token, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET");
	result_free(&r);
	serve(&r, "PUT", ATTEMPT, "action=save", student_token, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "PATCH");
	result_free(&r);
}
END_TEST

START_TEST(test_app_encoded_action)
{
	/* the action is matched after percent-decoding: this one is "state" */
	expect("GET", ATTEMPT, "action=st%61te", NULL, NULL, 401, "unauthorized", NULL);
	expect("GET", ATTEMPT, "x=1&action=state", NULL, NULL, 401, "unauthorized", NULL);
	expect("GET", ATTEMPT, "action=state+", NULL, NULL, 400, "unknown_action", NULL);
}
END_TEST

START_TEST(test_app_openapi)
{
	result r;
	size_t len;
	const unsigned char *doc = openapi_document(&len);
	char etag[64], got[64];
	const char *const inm[] = {"HTTP_IF_NONE_MATCH", etag, NULL};

	/* anyone, no token; the embedded document byte for byte */
	serve(&r, "GET", "/api/openapi.json", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	expect_header(&r, "Content-Type", "application/json; charset=utf-8");
	expect_header(&r, "Cache-Control", "no-cache");
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_int_eq(memcmp(r.body, doc, len), 0);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "openapi")->valuestring, "3.1.0");
	snprintf(etag, sizeof etag, "\"%lu\"", openapi_etag());
	expect_header(&r, "ETag", etag);
	result_free(&r);
	/* a token does not hurt */
	serve(&r, "GET", "/api/openapi.json", NULL, student_token, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	result_free(&r);
	serve(&r, "GET", "/api/openapi.json", NULL, NULL, NULL, inm);
	ck_assert_int_eq(r.status, 304);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_eq(header(&r, "ETag", got, sizeof got), 1);
	ck_assert_str_eq(got, etag);
	result_free(&r);
	serve(&r, "POST", "/api/openapi.json", NULL, NULL, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET");
	result_free(&r);
	expect("GET", "/api/openapi.json/x", NULL, NULL, NULL, 404, "not_found", NULL);
}
END_TEST

START_TEST(test_router_write_table)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	router_write_table(f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_ptr_nonnull(strstr(text, "GET\t/api/health\t-\tpublic\n"));
	ck_assert_ptr_nonnull(strstr(text, "GET\t/api/openapi.json\t-\tpublic\n"));
	ck_assert_ptr_nonnull(strstr(text, "PATCH\t/api/attempts/{id}\tsave\ttoken\n"));
	ck_assert_ptr_nonnull(strstr(text, "POST\t/api/attempts/{id}\tupload\ttoken\n"));
	ck_assert_ptr_nonnull(strstr(text, "GET\t/api/attempts/{id}\tupload\ttoken\n"));
	ck_assert_ptr_nonnull(strstr(text, "POST\t/api/exams\t-\ttoken\n"));
	ck_assert_str_eq(router_path_template(ROUTE_PATH_EXAM), "/api/exams/{id}");
	ck_assert_str_eq(router_path_template(ROUTE_PATH_NONE), "");
	free(text);
}
END_TEST

/* ------------------------------------------------------------ auth */

START_TEST(test_app_no_token)
{
	result r;

	serve(&r, "GET", ATTEMPT, "action=state", NULL, NULL, NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	expect_header(&r, "WWW-Authenticate", "Bearer");
	result_free(&r);
	/* authentication before the id check and the body */
	serve(&r, "PATCH", "/api/attempts/not-a-uuid", "action=save", NULL, "not json", NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	expect_header(&r, "WWW-Authenticate", "Bearer");
	result_free(&r);
	expect("GET", "/api/exams/" UUID_A, NULL, NULL, NULL, 401, "unauthorized", NULL);
	expect("POST", "/api/exams", NULL, NULL, "{\"title\":\"t\"}", 401, "unauthorized", NULL);
	expect("POST", "/api/attempts/new", "action=start", NULL, "{\"exam_id\":\"" UUID_A "\"}",
	       401, "unauthorized", NULL);
}
END_TEST

/* Asserts the 401 for why: the message says it, and the challenge is
 * Bearer alone when no token was sent, else invalid_token with the reason. */
static void expect_refused(const char *authorization, auth_fail why)
{
	char challenge[256];
	const cJSON *m;
	result r;

	serve(&r, "GET", ATTEMPT, "action=state", authorization, NULL, NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "error"),
					     "message");
	ck_assert_str_eq(m->valuestring, auth_fail_message(why));
	if (why == AUTH_FAIL_MISSING)
		snprintf(challenge, sizeof challenge, "Bearer");
	else
		snprintf(challenge, sizeof challenge,
			 "Bearer error=\"invalid_token\", error_description=\"%s\"",
			 auth_fail_message(why));
	expect_header(&r, "WWW-Authenticate", challenge);
	result_free(&r);
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

START_TEST(test_app_invalid_uuid)
{
	expect("GET", "/api/attempts/not-a-uuid", "action=state", student_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect("GET", "/api/attempts/0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", "action=info",
	       student_token, NULL, 400, "invalid_uuid", NULL);
	expect("GET", ATTEMPT "0", "action=state", student_token, NULL, 400, "invalid_uuid", NULL);
	expect("GET", ATTEMPT "/route.ts", "action=state", NULL, NULL, 401, "unauthorized", NULL);
	expect("GET", "/api/attempts/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4/route.ts", "action=state",
	       student_token, NULL, 400, "invalid_uuid", NULL);
	expect("PATCH", "/api/attempts/new", "action=save", student_token, "{\"answers\":{}}", 400,
	       "invalid_uuid", NULL);
	expect("GET", "/api/exams/abc", NULL, student_token, NULL, 400, "invalid_uuid", NULL);
}
END_TEST

/* ------------------------------------------------------------ bodies */

START_TEST(test_app_invalid_json)
{
	expect("PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":", 400, "invalid_json",
	       NULL);
	expect("PATCH", ATTEMPT, "action=save", student_token, "", 400, "invalid_json", NULL);
	expect("PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":{}} x", 400,
	       "invalid_json", NULL);
	expect("PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":{\"q\":\"\xc3\x28\"}}",
	       400, "invalid_json", NULL);
	expect("POST", "/api/attempts/new", "action=start", student_token, "nope", 400,
	       "invalid_json", NULL);
	expect("POST", "/api/exams", NULL, student_token, "{'title':1}", 400, "invalid_json", NULL);
}
END_TEST

START_TEST(test_app_body_not_object)
{
	expect("PATCH", ATTEMPT, "action=save", student_token, "[{\"answers\":{}}]", 422,
	       "validation_failed", "body");
	expect("PATCH", ATTEMPT, "action=save", student_token, "\"answers\"", 422,
	       "validation_failed", "body");
	expect("POST", "/api/attempts/new", "action=start", student_token, "null", 422,
	       "validation_failed", "body");
}
END_TEST

START_TEST(test_app_save_fields)
{
	expect("PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":[1]}", 422,
	       "validation_failed", "answers");
	expect("PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":\"a\"}", 422,
	       "validation_failed", "answers");
	expect("PATCH", ATTEMPT, "action=save", student_token,
	       "{\"answers\":{},\"auto_save_data\":5}", 422, "validation_failed", "auto_save_data");
	/* neither answers nor auto_save_data */
	expect("PATCH", ATTEMPT, "action=save", student_token, "{}", 422, "validation_failed",
	       "answers");
	expect("PATCH", ATTEMPT, "action=save", student_token,
	       "{\"answers\":null,\"expected_version\":1}", 422, "validation_failed", "answers");
}
END_TEST

START_TEST(test_app_save_expected_version)
{
	static const char *const bad[] = {"{\"answers\":{},\"expected_version\":-1}",
					  "{\"answers\":{},\"expected_version\":1.5}",
					  "{\"answers\":{},\"expected_version\":\"3\"}",
					  "{\"answers\":{},\"expected_version\":2147483648}",
					  "{\"answers\":{},\"expected_version\":true}",
					  "{\"auto_save_data\":{},\"expected_version\":[3]}",
					  NULL};

	for (int i = 0; bad[i] != NULL; i++)
		expect("PATCH", ATTEMPT, "action=save", student_token, bad[i], 422,
		       "validation_failed", "expected_version");
}
END_TEST

START_TEST(test_app_save_if_match)
{
	static const char *const bad[] = {"\"abc\"", "\"-1\"", "\"3", "1.5", "\"3\", \"4\"", NULL};

	for (int i = 0; bad[i] != NULL; i++) {
		const char *extra[] = {"HTTP_IF_MATCH", bad[i], NULL};
		result r;

		serve(&r, "PATCH", ATTEMPT, "action=save", student_token,
		      "{\"answers\":{\"q1\":\"a\"}}", extra);
		expect_error(&r, 422, "validation_failed", "If-Match");
		result_free(&r);
	}
}
END_TEST

START_TEST(test_app_start_exam_id)
{
	expect("POST", "/api/attempts/new", "action=start", student_token, "{\"exam_id\":\"nope\"}",
	       422, "validation_failed", "exam_id");
	expect("POST", "/api/attempts/any-id", "action=start", student_token,
	       "{\"exam_id\":\"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\"}", 422, "validation_failed",
	       "exam_id");
	expect("POST", "/api/attempts/new", "action=start", student_token, "{\"exam_id\":42}", 422,
	       "validation_failed", "exam_id");
	expect("POST", "/api/attempts/new", "action=start", student_token, "{}", 422,
	       "validation_failed", "exam_id");
}
END_TEST

START_TEST(test_app_exam_create_title)
{
	expect("POST", "/api/exams", NULL, student_token, "{\"time_limit_s\":60}", 422,
	       "validation_failed", "title");
	expect("POST", "/api/exams", NULL, student_token, "{\"title\":7}", 422, "validation_failed",
	       "title");
}
END_TEST

START_TEST(test_app_payload_too_large)
{
	char body[MAX_BODY + 64];
	size_t n;
	result r;
	static const char *const lying_cl[] = {"CONTENT_LENGTH", "10", NULL};
	static const char *const no_cl[] = {"CONTENT_LENGTH", "", NULL};

	n = (size_t)snprintf(body, sizeof body, "{\"answers\":{\"q\":\"");
	memset(body + n, 'a', MAX_BODY - n);
	strcpy(body + MAX_BODY - 3, "\"}}");
	ck_assert_uint_eq(strlen(body), MAX_BODY);
	/* exactly the limit is fine: it reaches the database (503) */
	serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, NULL);
	ck_assert_int_eq(r.status, 503);
	result_free(&r);
	/* one byte more is not */
	strcpy(body + MAX_BODY - 3, "a\"}}");
	expect("PATCH", ATTEMPT, "action=save", student_token, body, 413, "payload_too_large",
	       NULL);
	serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, no_cl);
	expect_error(&r, 413, "payload_too_large", NULL);
	result_free(&r);
	serve(&r, "PATCH", ATTEMPT, "action=save", student_token, body, lying_cl);
	expect_error(&r, 413, "payload_too_large", NULL);
	result_free(&r);
	expect("POST", "/api/exams", NULL, student_token, body, 413, "payload_too_large", NULL);
}
END_TEST

START_TEST(test_app_short_body)
{
	static const char *const cl[] = {"CONTENT_LENGTH", "100", NULL};
	result r;

	serve(&r, "PATCH", ATTEMPT, "action=save", student_token, "{\"answers\":{}}", cl);
	ck_assert_int_eq(r.status, 400);
	expect_error(&r, 400, "invalid_body", NULL);
	result_free(&r);
}
END_TEST

START_TEST(test_app_exam_body_not_object)
{
	expect("POST", "/api/exams", NULL, student_token, "[\"title\"]", 422, "validation_failed",
	       "body");
	expect("POST", "/api/exams", NULL, student_token, "", 400, "invalid_json", NULL);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(test_app_request_id)
{
	static const char *const good[] = {"HTTP_X_REQUEST_ID", "client-id_1.2", NULL};
	static const char *const bad[] = {"HTTP_X_REQUEST_ID", "bad id\r\nX-Evil: 1", NULL};
	char id[256];
	result r;

	serve(&r, "GET", "/api/nope", NULL, NULL, NULL, good);
	expect_error(&r, 404, "not_found", NULL);
	expect_header(&r, "X-Request-Id", "client-id_1.2");
	result_free(&r);

	serve(&r, "GET", ATTEMPT, "action=state", NULL, NULL, bad);
	expect_error(&r, 401, "unauthorized", NULL);
	ck_assert_int_eq(header(&r, "X-Request-Id", id, sizeof id), 1);
	ck_assert_uint_eq(strlen(id), 32);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
	expect_no_header(&r, "X-Evil");
	result_free(&r);

	serve(&r, "GET", "/api/health", NULL, NULL, NULL, good);
	expect_header(&r, "X-Request-Id", "client-id_1.2");
	result_free(&r);
}
END_TEST

START_TEST(test_app_request_id_fallbacks)
{
	static const char *const nginx[] = {"HTTP_X_REQUEST_ID", "no spaces please", "REQUEST_ID",
					    "abcdef0123456789abcdef0123456789", NULL};
	char id[256];
	char first[256];
	result r;

	serve(&r, "GET", "/api/nope", NULL, NULL, NULL, nginx);
	expect_header(&r, "X-Request-Id", "abcdef0123456789abcdef0123456789");
	result_free(&r);
	serve(&r, "GET", "/api/nope", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(header(&r, "X-Request-Id", first, sizeof first), 1);
	ck_assert_uint_eq(strspn(first, "0123456789abcdef"), 32);
	ck_assert_uint_eq(strlen(first), 32);
	result_free(&r);
	serve(&r, "GET", "/api/nope", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(header(&r, "X-Request-Id", id, sizeof id), 1);
	ck_assert_str_ne(id, first);
	result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ database */

/* Without a database: /api/ready answers 503 at once; /api/health is the
 * process's own view, ok until its breaker opens, then 503 degraded. */
START_TEST(test_app_health_degraded)
{
	result r;
	char first_value[64];
	int i;

	serve(&r, "GET", "/api/ready", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
			 "not_ready");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "db")->valuestring,
			 "unavailable");
	ck_assert_int_eq(header(&r, "Retry-After", first_value, sizeof first_value), 1);
	expect_no_header(&r, "WWW-Authenticate");
	result_free(&r);
	for (i = 0; i < 50; i++) { /* each failed call counts towards opening the breaker */
		serve(&r, "GET", "/api/health", NULL, NULL, NULL, NULL);
		if (r.status == 503)
			break;
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
				 "ok");
		result_free(&r);
		serve(&r, "GET", "/api/ready", NULL, NULL, NULL, NULL);
		result_free(&r);
	}
	ck_assert_msg(i < 50, "the breaker never opened");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "status")->valuestring,
			 "degraded");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "db")->valuestring,
			 "unavailable");
	ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r.json, "breaker")));
	ck_assert_int_eq(header(&r, "Retry-After", first_value, sizeof first_value), 1);
	expect_header(&r, "Content-Type", "application/json; charset=utf-8");
	expect_no_header(&r, "WWW-Authenticate");
	result_free(&r);
	/* a token changes nothing */
	serve(&r, "GET", "/api/health", NULL, "Bearer junk", NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	result_free(&r);
}
END_TEST

START_TEST(test_app_db_unreachable)
{
	static const char *const if_match[] = {"HTTP_IF_MATCH", "\"3\"", NULL};

	expect_unavailable("GET", ATTEMPT, "action=state", NULL, NULL);
	expect_unavailable("GET", ATTEMPT "/route.ts", "action=info", NULL, NULL);
	expect_unavailable("GET", "/api/exams/" UUID_A, NULL, NULL, NULL);
	expect_unavailable("POST", "/api/exams", NULL, "{\"title\":\"Algebra\"}", NULL);
	expect_unavailable("POST", "/api/attempts/new", "action=start",
			   "{\"exam_id\":\"" UUID_A "\"}", NULL);
	expect_unavailable("PATCH", ATTEMPT, "action=save",
			   "{\"answers\":{\"q1\":\"a\",\"q2\":null},\"auto_save_data\":{\"p\":5},"
			   "\"expected_version\":3}",
			   NULL);
	expect_unavailable("PATCH", ATTEMPT, "action=save", " {\"auto_save_data\":{}} \n",
			   if_match);
	expect_unavailable("GET", ATTEMPT, "action=state&action=bogus", NULL, NULL);
}
END_TEST

/* ------------------------------------------------------------ more actions */

START_TEST(test_app_stats_checks)
{
	expect("GET", ATTEMPT, "action=stats&type=bogus", proctor_token, NULL, 400, "invalid_query",
	       NULL);
	expect("GET", ATTEMPT, "action=stats&type=stats", student_token, NULL, 403, "forbidden",
	       NULL);
	expect("GET", ATTEMPT, "action=stats", student_token, NULL, 403, "forbidden", NULL);
	expect("GET", ATTEMPT, "action=stats&type=active&exam_id=nope", proctor_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=stats&type=optimization", student_token, NULL, 403,
	       "forbidden", NULL);
	expect("GET", ATTEMPT, "action=stats&type=optimization", proctor_token, NULL, 403,
	       "forbidden", NULL);
	expect("GET", "/api/attempts/nope", "action=stats&type=stats", proctor_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect_unavailable_as(proctor_token, "GET", ATTEMPT,
			      "action=stats&type=stats&exam_id=" UUID_A, NULL);
}
END_TEST

START_TEST(test_app_stats_optimization)
{
	static const char *const sections[] = {"cache",		  "query_optimization",
					       "connection_pool", "circuit_breaker",
					       "process",	  NULL};
	result r;
	const cJSON *pool;

	/* answered from this process's own counters: no database needed */
	serve(&r, "GET", ATTEMPT, "action=stats&type=optimization", admin_token, NULL, NULL);
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
	result_free(&r);
}
END_TEST

START_TEST(test_app_activity_checks)
{
	char body[1024];

	expect("POST", ATTEMPT, "action=activity", student_token, "{}", 422, "validation_failed",
	       "events");
	expect("POST", ATTEMPT, "action=activity", student_token, "{\"events\":{}}", 422,
	       "validation_failed", "events");
	expect("POST", ATTEMPT, "action=activity", student_token, "{\"events\":[1]}", 422,
	       "validation_failed", "events[0]");
	expect("POST", ATTEMPT, "action=activity", student_token,
	       "{\"events\":[{\"event_type\":\"ok\"},{\"event_type\":\"Bad Type\"}]}", 422,
	       "validation_failed", "events[1].event_type");
	expect("POST", ATTEMPT, "action=activity", student_token, "{\"events\":[{}]}", 422,
	       "validation_failed", "events[0].event_type");
	snprintf(body, sizeof body, "{\"events\":[{\"event_type\":\"%065d\"}]}", 0);
	expect("POST", ATTEMPT, "action=activity", student_token, body, 422, "validation_failed",
	       "events[0].event_type");
	expect("POST", ATTEMPT, "action=activity", student_token,
	       "{\"events\":[{\"event_type\":\"x\",\"client_event_id\":\"\"}]}", 422,
	       "validation_failed", "events[0].client_event_id");
	expect("POST", ATTEMPT, "action=activity", student_token,
	       "{\"events\":[{\"event_type\":\"x\",\"occurred_at\":\"yesterday\"}]}", 422,
	       "validation_failed", "events[0].occurred_at");
	/* limits: max_events 3, max_event_payload_bytes 64 in this app */
	expect("POST", ATTEMPT, "action=activity", student_token,
	       "{\"events\":[{\"event_type\":\"a\"},{\"event_type\":\"b\"},"
	       "{\"event_type\":\"c\"},{\"event_type\":\"d\"}]}",
	       413, "batch_too_large", NULL);
	snprintf(body, sizeof body,
		 "{\"events\":[{\"event_type\":\"x\",\"payload\":{\"k\":\"%070d\"}}]}", 0);
	expect("POST", ATTEMPT, "action=activity", student_token, body, 413, "payload_too_large",
	       "events[0].payload");
	expect_unavailable_as(student_token, "POST", ATTEMPT, "action=activity",
			      "{\"events\":[{\"event_type\":\"answer_changed\","
			      "\"client_event_id\":\"tab1-17\",\"occurred_at\":"
			      "\"2024-05-01T12:00:00Z\",\"payload\":{\"q\":1}}]}");
}
END_TEST

START_TEST(test_app_submit_checks)
{
	static const char *const bad_if_match[] = {"HTTP_IF_MATCH", "\"x\"", NULL};
	result r;

	expect("POST", ATTEMPT, "action=submit", student_token, "{\"answers\":[]}", 422,
	       "validation_failed", "answers");
	expect("POST", ATTEMPT, "action=submit", student_token, "{\"expected_version\":-3}", 422,
	       "validation_failed", "expected_version");
	expect("POST", ATTEMPT, "action=submit", student_token, "[]", 422, "validation_failed",
	       "body");
	expect("POST", ATTEMPT, "action=submit", student_token, "{", 400, "invalid_json", NULL);
	serve(&r, "POST", ATTEMPT, "action=submit", student_token, NULL, bad_if_match);
	expect_error(&r, 422, "validation_failed", "If-Match");
	result_free(&r);
	/* the body is optional */
	expect_unavailable_as(student_token, "POST", ATTEMPT, "action=submit", NULL);
	expect_unavailable_as(student_token, "POST", ATTEMPT, "action=submit", "");
	expect_unavailable_as(student_token, "POST", ATTEMPT, "action=submit",
			      "{\"answers\":{\"q1\":\"b\"},\"expected_version\":4}");
}
END_TEST

START_TEST(test_app_extend_checks)
{
	static const char *const bad[] = {"{}",
					  "{\"extra_s\":0}",
					  "{\"extra_s\":86401}",
					  "{\"extra_s\":1.5}",
					  "{\"extra_s\":\"600\"}",
					  "{\"extra_s\":-600}",
					  NULL};

	for (int i = 0; bad[i] != NULL; i++)
		expect("PATCH", ATTEMPT, "action=extend", proctor_token, bad[i], 422,
		       "validation_failed", "extra_s");
	expect("PATCH", ATTEMPT, "action=extend", student_token, "{\"extra_s\":600}", 403,
	       "forbidden", NULL);
	expect_unavailable_as(proctor_token, "PATCH", ATTEMPT, "action=extend",
			      "{\"extra_s\":600}");
	expect_unavailable_as(admin_token, "PATCH", ATTEMPT, "action=extend",
			      "{\"extra_s\":86400}");
}
END_TEST

START_TEST(test_app_upload_checks)
{
	static const char *const bad[] = {"action=upload",
					  "action=upload&filename=",
					  "action=upload&filename=..%2Fx",
					  "action=upload&filename=a%2Fb",
					  "action=upload&filename=a%5Cb",
					  "action=upload&filename=.hidden",
					  "action=upload&filename=a%01b",
					  "action=upload&filename=a%0Ab",
					  "action=upload&filename=%C3%28.pdf",
					  NULL};
	char query[400];
	int n;

	for (int i = 0; bad[i] != NULL; i++)
		expect("POST", ATTEMPT, bad[i], student_token, "data", 400, "invalid_filename",
		       NULL);
	n = snprintf(query, sizeof query, "action=upload&filename=");
	memset(query + n, 'f', 256);
	query[n + 256] = '\0';
	expect("POST", ATTEMPT, query, student_token, "data", 400, "invalid_filename", NULL);
	query[n + 255] = '\0';
	expect_unavailable_as(student_token, "POST", ATTEMPT, query, "data");
	expect_unavailable_as(student_token, "POST", ATTEMPT,
			      "action=upload&filename=essay%20final.pdf", "%PDF-1.4");
}
END_TEST

START_TEST(test_app_download_checks)
{
	expect("GET", ATTEMPT, "action=upload", student_token, NULL, 400, "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=upload&upload_id=x", student_token, NULL, 400,
	       "invalid_uuid", NULL);
	expect("GET", ATTEMPT, "action=upload&upload_id=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
	       student_token, NULL, 400, "invalid_uuid", NULL);
	expect_unavailable_as(student_token, "GET", ATTEMPT, "action=upload&upload_id=" UUID_A,
			      NULL);
	expect_unavailable_as(student_token, "GET", ATTEMPT, "action=uploads", NULL);
	expect("DELETE", ATTEMPT, "action=upload", student_token, NULL, 405, "method_not_allowed",
	       NULL);
}
END_TEST

START_TEST(test_app_upload_allow)
{
	result r;

	serve(&r, "PATCH", ATTEMPT, "action=upload", NULL, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed", NULL);
	expect_header(&r, "Allow", "GET, POST");
	result_free(&r);
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
	result plain, check;

	serve(&plain, "POST", ATTEMPT, query, authorization, "data", NULL);
	ck_assert_int_eq(plain.status, status);
	serve(&check, "POST", ATTEMPT, NULL, authorization, NULL, extra);
	ck_assert_msg(check.status == 403, "%s: pre-check status %d, want 403", query,
		      check.status);
	ck_assert_uint_eq(check.body_len, 0);
	snprintf(text, sizeof text, "%d", status);
	expect_header(&check, "X-Attempts-Status", text);
	ck_assert_uint_lt(plain.body_len, sizeof want);
	snprintf(want, sizeof want, "%.*s", (int)plain.body_len, plain.body);
	ck_assert_int_eq(header(&check, "X-Attempts-Error", got, sizeof got), 1);
	ck_assert_msg(strcmp(got, want) == 0, "%s: pre-check body\n%s\nwant\n%s", query, got, want);
	for (int i = 0; copied[i] != NULL; i++) {
		int n = header(&plain, copied[i], want, sizeof want);

		snprintf(name, sizeof name, "X-Attempts-%s", copied[i]);
		ck_assert_int_eq(header(&check, name, got, sizeof got), n);
		ck_assert_str_eq(got, want);
	}
	expect_no_header(&check, "WWW-Authenticate");
	result_free(&plain);
	result_free(&check);
}

START_TEST(test_app_upload_precheck)
{
	const char *const submit[] = {"ATTEMPTS_PRECHECK", "1", "ATTEMPTS_QUERY",
				      "ACTION=upload&action=submit", NULL};
	const char *const unreachable[] = {"ATTEMPTS_PRECHECK", "1", "ATTEMPTS_QUERY",
					   "action=upload&filename=a.pdf", NULL};
	result r;
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
	serve(&r, "POST", ATTEMPT, NULL, student_token, NULL, submit);
	ck_assert_int_eq(r.status, 403);
	expect_header(&r, "X-Attempts-Status", "400");
	ck_assert_int_eq(header(&r, "X-Attempts-Error", v, sizeof v), 1);
	ck_assert_msg(strstr(v, "invalid_query") != NULL, "%s", v);
	result_free(&r);
	/* The database's refusal travels the same way, Retry-After too. */
	serve(&r, "POST", ATTEMPT, NULL, student_token, NULL, unreachable);
	ck_assert_int_eq(r.status, 403);
	expect_header(&r, "X-Attempts-Status", "503");
	ck_assert_int_eq(header(&r, "X-Attempts-Retry-After", v, sizeof v), 1);
	ck_assert_int_ge(atoi(v), 1);
	result_free(&r);
}
END_TEST

START_TEST(test_app_batch_checks)
{
	expect("POST", "/api/attempts/any-id", "action=batch", student_token, "{\"data\":[]}", 422,
	       "validation_failed", "operation");
	expect("POST", "/api/attempts/any-id", "action=batch", student_token,
	       "{\"operation\":\"query\"}", 422, "validation_failed", "data");
	expect("POST", "/api/attempts/any-id", "action=batch", student_token,
	       "{\"operation\":\"query\",\"data\":{}}", 422, "validation_failed", "data");
	expect("POST", "/api/attempts/any-id", "action=batch", student_token,
	       "{\"operation\":\"drop_all\",\"data\":[]}", 422, "validation_failed", "operation");
	/* max_batch_items is 3 in this app */
	expect("POST", "/api/attempts/any-id", "action=batch", student_token,
	       "{\"operation\":\"multiple_states\",\"data\":[\"" UUID_A "\",\"" UUID_A
	       "\",\"" UUID_A "\",\"" UUID_A "\"]}",
	       413, "batch_too_large", NULL);
	expect("POST", "/api/attempts/any-id", "action=batch", student_token,
	       "{\"operation\":\"batch_submit\",\"data\":[\"" UUID_A "\"]}", 403, "forbidden",
	       NULL);
	expect("POST", "/api/attempts/new", "action=batch", NULL,
	       "{\"operation\":\"query\",\"data\":[]}", 401, "unauthorized", NULL);
}
END_TEST

START_TEST(test_app_optimize_checks)
{
	expect("PATCH", ATTEMPT, "action=optimize", admin_token, "{}", 422, "validation_failed",
	       "operation");
	expect("PATCH", ATTEMPT, "action=optimize", student_token,
	       "{\"operation\":\"clear_cache\"}", 403, "forbidden", NULL);
	expect("PATCH", ATTEMPT, "action=optimize", proctor_token, "{\"operation\":\"analyze\"}",
	       403, "forbidden", NULL);
	expect("PATCH", ATTEMPT, "action=optimize", admin_token, "{\"operation\":\"vacuum\"}", 422,
	       "validation_failed", "operation");
	expect("PATCH", ATTEMPT, "action=optimize", admin_token, "{\"operation\":\"preload\"}", 422,
	       "validation_failed", "exam_ids");
	expect("PATCH", ATTEMPT, "action=optimize", admin_token,
	       "{\"operation\":\"preload\",\"exam_ids\":[\"" UUID_A "\",\"nope\"]}", 422,
	       "validation_failed", "exam_ids[1]");
	expect("PATCH", ATTEMPT, "action=optimize", admin_token,
	       "{\"operation\":\"preload\",\"exam_ids\":[\"" UUID_A "\",\"" UUID_A "\",\"" UUID_A
	       "\",\"" UUID_A "\"]}",
	       413, "batch_too_large", NULL);
	expect_unavailable_as(admin_token, "PATCH", ATTEMPT, "action=optimize",
			      "{\"operation\":\"clear_cache\"}");
}
END_TEST

Suite *router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc;

	tc = check_tcase(s, "match_path", NULL, NULL);
	tcase_add_test(tc, test_router_match_path);
	tcase_add_test(tc, test_router_match_path_none);
	tcase_add_test(tc, test_router_match_path_long_id);

	tc = check_tcase(s, "find", NULL, NULL);
	tcase_add_test(tc, test_router_find);
	tcase_add_test(tc, test_router_find_refusals);
	tcase_add_test(tc, test_router_write_table);

	tc = check_tcase(s, "routing", router_setup, router_teardown);
	tcase_add_test(tc, test_app_unknown_path);
	tcase_add_test(tc, test_app_missing_action);
	tcase_add_test(tc, test_app_unknown_action);
	tcase_add_test(tc, test_app_method_not_allowed);
	tcase_add_test(tc, test_app_malformed_query);
	tcase_add_test(tc, test_app_encoded_nul);
	tcase_add_test(tc, test_app_undecodable_path);
	tcase_add_test(tc, test_app_malformed_query_unknown_path);
	tcase_add_test(tc, test_app_other_methods);
	tcase_add_test(tc, test_app_encoded_action);
	tcase_add_test(tc, test_app_openapi);

	tc = check_tcase(s, "authentication", router_setup, router_teardown);
	tcase_add_test(tc, test_app_no_token);
	tcase_add_test(tc, test_app_bad_token);
	tcase_add_test(tc, test_app_invalid_uuid);

	tc = check_tcase(s, "bodies", router_setup, router_teardown);
	tcase_add_test(tc, test_app_invalid_json);
	tcase_add_test(tc, test_app_body_not_object);
	tcase_add_test(tc, test_app_save_fields);
	tcase_add_test(tc, test_app_save_expected_version);
	tcase_add_test(tc, test_app_save_if_match);
	tcase_add_test(tc, test_app_start_exam_id);
	tcase_add_test(tc, test_app_exam_create_title);
	tcase_add_test(tc, test_app_payload_too_large);
	tcase_add_test(tc, test_app_short_body);
	tcase_add_test(tc, test_app_exam_body_not_object);

	tc = check_tcase(s, "request_id", router_setup, router_teardown);
	tcase_add_test(tc, test_app_request_id);
	tcase_add_test(tc, test_app_request_id_fallbacks);

	tc = check_tcase(s, "database_unreachable", router_setup, router_teardown);
	tcase_add_test(tc, test_app_health_degraded);
	tcase_add_test(tc, test_app_db_unreachable);

	tc = check_tcase(s, "actions", router_setup, router_teardown);
	tcase_add_test(tc, test_app_stats_checks);
	tcase_add_test(tc, test_app_stats_optimization);
	tcase_add_test(tc, test_app_activity_checks);
	tcase_add_test(tc, test_app_submit_checks);
	tcase_add_test(tc, test_app_extend_checks);
	tcase_add_test(tc, test_app_upload_checks);
	tcase_add_test(tc, test_app_upload_filename_encodings);
	tcase_add_test(tc, test_app_download_checks);
	tcase_add_test(tc, test_app_upload_allow);
	tcase_add_test(tc, test_app_upload_precheck);
	tcase_add_test(tc, test_app_batch_checks);
	tcase_add_test(tc, test_app_optimize_checks);
	return s;
}
