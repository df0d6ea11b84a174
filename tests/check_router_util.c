/* check_router_util: what the router's tests share (check_router.h): the
 * app with its fake environment and tokens, serving one request through
 * app_serve, and checks of the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "check_router.h"
#include "fake_cgi.h"
#include "log.h"

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

static config cfg;
static app *the_app;
char *student_token; /* "Bearer <jwt>", valid for an hour */
char *proctor_token;
char *admin_token;

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

void router_setup(void)
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

void router_teardown(void)
{
	app_free(the_app);
	the_app = NULL;
	config_free(&cfg);
	free(student_token);
	free(proctor_token);
	free(admin_token);
	student_token = proctor_token = admin_token = NULL;
}

void rt_result_free(rt_result *r)
{
	buf_free(&r->raw);
	free(r->head);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof *r);
}

/* Serves one request. extra (NULL-terminated pairs, may be NULL) comes
 * first and so overrides the defaults, CONTENT_LENGTH included. */
void rt_serve(rt_result *r, const char *method, const char *uri, const char *query,
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
int rt_header(const rt_result *r, const char *name, char *out, size_t cap)
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

void rt_expect_header(const rt_result *r, const char *name, const char *value)
{
	char got[512];
	int n = rt_header(r, name, got, sizeof got);

	ck_assert_msg(n == 1, "header %s appears %d times", name, n);
	ck_assert_str_eq(got, value);
}

void rt_expect_no_header(const rt_result *r, const char *name)
{
	char got[512];

	ck_assert_msg(rt_header(r, name, got, sizeof got) == 0, "unexpected %s: %s", name, got);
}

/* Checks the response is the section 3 error shape with this status and
 * code (and details.field when field is not NULL), well framed. */
void rt_expect_error(const rt_result *r, int status, const char *code, const char *field)
{
	const cJSON *err, *c, *m, *d, *it;
	char len[32];

	ck_assert_msg(r->status == status, "status %d, expected %d; body %.*s", r->status, status,
		      (int)r->body_len, r->body);
	rt_expect_header(r, "Content-Type", "application/json; charset=utf-8");
	snprintf(len, sizeof len, "%zu", r->body_len);
	rt_expect_header(r, "Content-Length", len);
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
	ck_assert_int_eq(rt_header(r, "X-Request-Id", len, sizeof len), 1);
}

/* Serves and checks an error answer in one go. */
void rt_expect(const char *method, const char *uri, const char *query, const char *authorization,
	       const char *body, int status, const char *code, const char *field)
{
	rt_result r;

	rt_serve(&r, method, uri, query, authorization, body, NULL);
	rt_expect_error(&r, status, code, field);
	rt_result_free(&r);
}

/* Asserts the request passed every check and met the unreachable database. */
static void expect_unavailable_full(const char *authorization, const char *method, const char *uri,
				    const char *query, const char *body, const char *const *extra)
{
	rt_result r;
	char v[64];

	rt_serve(&r, method, uri, query, authorization, body, extra);
	rt_expect_error(&r, 503, "service_unavailable", NULL);
	ck_assert_int_eq(rt_header(&r, "Retry-After", v, sizeof v), 1);
	ck_assert_int_ge(atoi(v), 1);
	rt_result_free(&r);
}

void rt_expect_unavailable(const char *method, const char *uri, const char *query, const char *body,
			   const char *const *extra)
{
	expect_unavailable_full(student_token, method, uri, query, body, extra);
}

void rt_expect_unavailable_as(const char *authorization, const char *method, const char *uri,
			      const char *query, const char *body)
{
	expect_unavailable_full(authorization, method, uri, query, body, NULL);
}

void rt_expect_not_allowed(const char *method, const char *uri, const char *query,
			   const char *authorization, const char *body, const char *allow)
{
	rt_result r;

	rt_serve(&r, method, uri, query, authorization, body, NULL);
	rt_expect_error(&r, 405, "method_not_allowed", NULL);
	rt_expect_header(&r, "Allow", allow);
	rt_result_free(&r);
}

/* The Authorization header who sends. */
static const char *authorization_of(rt_who who)
{
	switch (who) {
	case RT_STUDENT:
		return student_token;
	case RT_PROCTOR:
		return proctor_token;
	case RT_ADMIN:
		return admin_token;
	case RT_NOBODY:
		break;
	}
	return NULL;
}

void rt_expect_all(const rt_case *rows, int n)
{
	for (int i = 0; i < n; i++)
		rt_expect(rows[i].method, rows[i].uri, rows[i].query, authorization_of(rows[i].who),
			  rows[i].body, rows[i].status, rows[i].code, rows[i].field);
}
