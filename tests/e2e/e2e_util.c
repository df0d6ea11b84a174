/* e2e_util: helpers shared by the end-to-end suites (see e2e_util.h); the
 * JSON accessors are in e2e_json.c, the database helpers in e2e_db.c. */
#include "e2e_util.h"

#include <check.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *g_url;
const char *g_secret;
const char *g_db;

/* ------------------------------------------------------------ environment */

int e2e_read_env(const char *prog, const char *extra)
{
	const char *vars[] = {"ATTEMPTS_TEST_URL", "ATTEMPTS_JWT_SECRET", "ATTEMPTS_TEST_DB",
			      extra};

	for (size_t i = 0; i < sizeof vars / sizeof vars[0] && vars[i] != NULL; i++) {
		const char *v = getenv(vars[i]);
		if (v == NULL || *v == '\0') {
			fprintf(stderr,
				"%s: %s is not set; these tests need a running stack"
				" (see tests/e2e/README.md). Skipping.\n",
				prog, vars[i]);
			return 77;
		}
	}
	g_url = getenv("ATTEMPTS_TEST_URL");
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	g_db = getenv("ATTEMPTS_TEST_DB");
	return 0;
}

/* ------------------------------------------------------------ users, answers */

user user_new(auth_role role)
{
	user u;
	time_t now = time(NULL);

	memset(&u, 0, sizeof u);
	ck_assert_int_eq(uuid_generate(u.sub), ATT_OK);
	u.role = role;
	u.token = auth_sign(u.sub, role, now, now + 3600, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(u.token);
	return u;
}

void user_free(user *u)
{
	free(u->token);
	u->token = NULL;
}

void resp_free(resp *r)
{
	http_client_response_free(&r->r);
	cJSON_Delete(r->json);
	r->json = NULL;
}

void expect_json_type(const resp *r)
{
	const char *ct = http_client_header(&r->r, "Content-Type");

	ck_assert_msg(ct != NULL && strncmp(ct, "application/json", 16) == 0,
		      "%s: Content-Type %s, want application/json", r->what, ct ? ct : "(none)");
}

const cJSON *expect_ok(const resp *r, int status)
{
	ck_assert_msg(r->r.status == status, "%s: status %d, want %d; body %.600s", r->what,
		      r->r.status, status, r->r.body);
	expect_json_type(r);
	ck_assert_msg(cJSON_IsObject(r->json), "%s: body is not a JSON object: %.300s", r->what,
		      r->r.body);
	return r->json;
}

char *sign_raw(const char *header, const char *payload, const EVP_MD *md, const char *key)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *tok =
		malloc(4 * ((hl + 2) / 3) + 4 * ((pl + 2) / 3) + 4 * (EVP_MAX_MD_SIZE / 3 + 1) + 8);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t n;

	ck_assert_ptr_nonnull(tok);
	auth_b64url_encode((const unsigned char *)header, hl, tok);
	n = strlen(tok);
	tok[n++] = '.';
	auth_b64url_encode((const unsigned char *)payload, pl, tok + n);
	n = strlen(tok);
	if (md != NULL)
		ck_assert_ptr_nonnull(HMAC(md, key, (int)strlen(key), (const unsigned char *)tok, n,
					   mac, &mac_len));
	tok[n++] = '.';
	tok[n] = '\0';
	if (md != NULL)
		auth_b64url_encode(mac, mac_len, tok + n);
	return tok;
}

/* ------------------------------------------------------------ requests */

void bearer_line(char *out, size_t cap, const char *token)
{
	snprintf(out, cap, "Authorization: Bearer %s", token);
}

size_t header_count(const resp *r, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < r->r.nfields; i++)
		if (strcasecmp(r->r.fields[i].name, name) == 0)
			n++;
	return n;
}

void expect_request_id(const resp *r)
{
	const char *id = http_client_header(&r->r, "X-Request-Id");
	size_t n;

	ck_assert_msg(id != NULL, "%s: status %d without X-Request-Id", r->what, r->r.status);
	n = strlen(id);
	ck_assert_msg(n >= 1 && n <= 128 &&
			      strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789._-") == n,
		      "%s: X-Request-Id \"%s\" is not 1..128 of [A-Za-z0-9._-]", r->what, id);
	ck_assert_msg(header_count(r, "X-Request-Id") == 1, "%s: %zu X-Request-Id headers", r->what,
		      header_count(r, "X-Request-Id"));
}

void send_plain(resp *out, const char *method, const char *path, const char *token,
		const char *content_type, const void *body, size_t body_len,
		const char *const *extra)
{
	const char *headers[16];
	char auth[AUTH_MAX_TOKEN_LEN + 32], ct[256];
	size_t n = 0;

	memset(out, 0, sizeof *out);
	snprintf(out->what, sizeof out->what, "%s %.180s", method, path);
	if (token != NULL) {
		bearer_line(auth, sizeof auth, token);
		headers[n++] = auth;
	}
	if (content_type != NULL) {
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
		headers[n++] = ct;
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
		headers[n++] = extra[i];
	headers[n] = NULL;
	ck_assert_msg(http_client_request(g_url, method, path, headers, body, body_len, &out->r) ==
			      0,
		      "%s: %s", out->what, out->r.error);
	out->json = cJSON_ParseWithLength(out->r.body, out->r.body_len);
}

void send_typed(resp *out, const char *method, const char *path, const char *token,
		const char *content_type, const void *body, size_t body_len,
		const char *const *extra)
{
	send_plain(out, method, path, token, content_type, body, body_len, extra);
	expect_request_id(out);
}

void send_raw(resp *out, const char *method, const char *path, const char *token, const char *body,
	      size_t body_len, const char *const *extra)
{
	send_typed(out, method, path, token, body ? "application/json" : NULL, body, body_len,
		   extra);
}

void send_req(resp *out, const char *method, const char *path, const user *u, const char *body,
	      const char *const *extra)
{
	send_raw(out, method, path, u ? u->token : NULL, body, body ? strlen(body) : 0, extra);
}

void attempt_path(char *out, size_t cap, const char *id, const char *action)
{
	snprintf(out, cap, "/api/attempts/%.64s?action=%.32s", id, action);
}

void act(resp *r, const char *method, const user *u, const char *attempt_id, const char *action,
	 const char *body)
{
	char path[192];

	attempt_path(path, sizeof path, attempt_id, action);
	send_req(r, method, path, u, body, NULL);
}

void get_action(resp *r, const user *u, const char *attempt_id, const char *action)
{
	act(r, "GET", u, attempt_id, action, NULL);
}

void get_version(const user *u, const char *attempt_id, const char *action, long version)
{
	resp r;

	get_action(&r, u, attempt_id, action);
	expect_num(expect_ok(&r, 200), "version", (double)version);
	resp_free(&r);
}

void save(resp *r, const user *u, const char *attempt_id, const char *body,
	  const char *const *extra)
{
	char path[128];

	attempt_path(path, sizeof path, attempt_id, "save");
	send_req(r, "PATCH", path, u, body, extra);
}

void save_ok(const user *u, const char *attempt_id, const char *body)
{
	resp r;

	save(&r, u, attempt_id, body, NULL);
	expect_ok(&r, 200);
	resp_free(&r);
}

void save_version(const user *u, const char *attempt_id, const char *body, const char *const *extra,
		  long version)
{
	resp r;

	save(&r, u, attempt_id, body, extra);
	expect_num(expect_ok(&r, 200), "version", (double)version);
	resp_free(&r);
}

/* ------------------------------------------------------------ errors */

const cJSON *expect_error_object(const cJSON *err, const char *code, const char *what)
{
	const cJSON *c, *m, *d, *it;

	ck_assert_msg(cJSON_IsObject(err), "%s: error is not an object", what);
	cJSON_ArrayForEach(it, err)
	{
		ck_assert_msg(strcmp(it->string, "code") == 0 ||
				      strcmp(it->string, "message") == 0 ||
				      strcmp(it->string, "details") == 0,
			      "%s: unexpected key error.%s", what, it->string);
	}
	c = cJSON_GetObjectItemCaseSensitive(err, "code");
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	d = cJSON_GetObjectItemCaseSensitive(err, "details");
	ck_assert_msg(cJSON_IsString(c) && c->valuestring[0] != '\0' &&
			      (code == NULL || strcmp(c->valuestring, code) == 0),
		      "%s: error code %s, want %s", what,
		      cJSON_IsString(c) ? c->valuestring : "(not a string)",
		      code ? code : "a non-empty string");
	ck_assert_msg(cJSON_IsString(m) && m->valuestring[0] != '\0',
		      "%s: error.message must be a non-empty string", what);
	ck_assert_msg(d == NULL || cJSON_IsObject(d),
		      "%s: error.details must be an object when present", what);
	return d;
}

const cJSON *expect_error_body(const resp *r, const char *code, const char *what)
{
	const cJSON *err, *it;
	char where[640];
	int top = 0;

	if (what == NULL)
		what = r->what;
	expect_json_type(r);
	ck_assert_msg(cJSON_IsObject(r->json), "%s: error body is not a JSON object: %.300s", what,
		      r->r.body);
	cJSON_ArrayForEach(it, r->json) top++;
	err = cJSON_GetObjectItemCaseSensitive(r->json, "error");
	ck_assert_msg(top == 1 && cJSON_IsObject(err),
		      "%s: error body must be exactly {\"error\": {...}}: %.300s", what, r->r.body);
	snprintf(where, sizeof where, "%s (body %.200s)", what, r->r.body);
	expect_error_object(err, code, where);
	return err;
}

const cJSON *expect_error(const resp *r, int status, const char *code)
{
	ck_assert_msg(r->r.status == status, "%s: status %d, want %d; body %.600s", r->what,
		      r->r.status, status, r->r.body);
	return cJSON_GetObjectItemCaseSensitive(expect_error_body(r, code, NULL), "details");
}

void expect_error_free(resp *r, int status, const char *code)
{
	expect_error(r, status, code);
	resp_free(r);
}

void expect_field_free(resp *r, const char *field)
{
	expect_field(r, field);
	resp_free(r);
}

void refused(const char *method, const char *path, const user *u, const char *body, int status,
	     const char *code)
{
	resp r;

	send_req(&r, method, path, u, body, NULL);
	expect_error_free(&r, status, code);
}

void act_refused(const char *method, const user *u, const char *attempt_id, const char *action,
		 const char *body, int status, const char *code)
{
	char path[192];

	attempt_path(path, sizeof path, attempt_id, action);
	refused(method, path, u, body, status, code);
}

void expect_as_missing(const char *method, const user *u, const char *attempt_id,
		       const char *action, const char *body)
{
	char missing[ID_LEN];
	resp r1, r2;

	act(&r1, method, u, attempt_id, action, body);
	expect_error(&r1, 404, "not_found");
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	act(&r2, method, u, missing, action, body);
	expect_error(&r2, 404, "not_found");
	ck_assert_msg(cJSON_Compare(r1.json, r2.json, 1),
		      "%s: someone else's attempt answers %s, a missing one %s", r1.what, r1.r.body,
		      r2.r.body);
	resp_free(&r1);
	resp_free(&r2);
}

void act_field_refused(const char *method, const user *u, const char *attempt_id,
		       const char *action, const char *body, const char *field)
{
	resp r;

	act(&r, method, u, attempt_id, action, body);
	expect_field_free(&r, field);
}

void expect_details_field(const cJSON *details, const char *field, const char *what)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(details, "field");

	ck_assert_msg(cJSON_IsString(f) && strcmp(f->valuestring, field) == 0,
		      "%s: details.field %s, want %s", what,
		      cJSON_IsString(f) ? f->valuestring : "(absent)", field);
}

void expect_field(const resp *r, const char *field)
{
	expect_details_field(expect_error(r, 422, "validation_failed"), field, r->what);
}

void expect_405(const resp *r, const char *allow, int exact)
{
	const char *got = http_client_header(&r->r, "Allow");

	expect_error(r, 405, "method_not_allowed");
	ck_assert_msg(got != NULL && (exact ? strcmp(got, allow) == 0 : strstr(got, allow) != NULL),
		      "%s: Allow %s, want %s%s", r->what, got ? got : "(none)",
		      exact ? "" : "one with ", allow);
}

void expect_unauthorized(const resp *r)
{
	const char *www = http_client_header(&r->r, "WWW-Authenticate");

	expect_error(r, 401, "unauthorized");
	ck_assert_msg(www != NULL && strncmp(www, "Bearer", 6) == 0,
		      "%s: WWW-Authenticate %s, want Bearer", r->what, www ? www : "(none)");
}

/* ------------------------------------------------------------ fixtures */

void expect_created(const resp *r, const char *key, char id[ID_LEN])
{
	const cJSON *o = expect_ok(r, 201);

	expect_uuid(o, key);
	memcpy(id, jstr(o, key), ID_LEN);
}

/* POSTs body to path as u expecting 201; copies the answer's key. */
static void create_201(const user *u, const char *path, const char *body, const char *key,
		       char id[ID_LEN])
{
	resp r;

	send_req(&r, "POST", path, u, body, NULL);
	expect_created(&r, key, id);
	resp_free(&r);
}

void exam_create(const user *u, const char *body, char id[ID_LEN])
{
	create_201(u, "/api/exams", body, "exam_id", id);
}

void attempt_start(const user *u, const char *exam_id, char id[ID_LEN])
{
	char body[128];

	snprintf(body, sizeof body, "{\"exam_id\":\"%s\"}", exam_id);
	create_201(u, "/api/attempts/new?action=start", body, "attempt_id", id);
}

void world_new(world *w, const char *exam_body)
{
	memset(w, 0, sizeof *w);
	w->proctor = user_new(AUTH_ROLE_PROCTOR);
	w->student = user_new(AUTH_ROLE_STUDENT);
	w->admin = user_new(AUTH_ROLE_ADMIN);
	exam_create(&w->proctor, exam_body, w->exam_id);
	attempt_start(&w->student, w->exam_id, w->attempt_id);
}

void world_add_other(world *w)
{
	w->other = user_new(AUTH_ROLE_STUDENT);
	attempt_start(&w->other, w->exam_id, w->other_attempt_id);
}

void world_free(world *w)
{
	user_free(&w->proctor);
	user_free(&w->student);
	user_free(&w->admin);
	user_free(&w->other);
}

/* ------------------------------------------------------------ runner */

TCase *tcase(Suite *s, const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

TCase *tcase_named(Suite *s, const char *name, int timeout_s)
{
	static struct {
		Suite *suite;
		const char *name;
		TCase *tc;
	} known[64];
	static size_t n;

	for (size_t i = 0; i < n; i++)
		if (known[i].suite == s && strcmp(known[i].name, name) == 0)
			return known[i].tc;
	if (n == sizeof known / sizeof known[0]) {
		fprintf(stderr, "tcase_named: more than %zu test cases\n", n);
		abort();
	}
	known[n].suite = s;
	known[n].name = name;
	known[n].tc = tcase(s, name, timeout_s);
	return known[n++].tc;
}

const TTest e2e_loop_mark = {"e2e_loop_mark", NULL, __FILE__, __LINE__};

void e2e_add_tests(Suite *s, const char *name, int timeout_s, ...)
{
	TCase *tc = tcase_named(s, name, timeout_s);
	const TTest *t;
	va_list ap;

	va_start(ap, timeout_s);
	while ((t = va_arg(ap, const TTest *)) != NULL) {
		if (t == &e2e_loop_mark) {
			const TTest *loop = va_arg(ap, const TTest *);
			int from = va_arg(ap, int);

			tcase_add_loop_test(tc, loop, from, va_arg(ap, int));
		} else {
			tcase_add_test(tc, t);
		}
	}
	va_end(ap);
}

Suite *e2e_suite(const char *name, const e2e_case *cases, size_t ncases, const e2e_adder *adds,
		 size_t nadds)
{
	Suite *s = suite_create(name);

	for (size_t i = 0; i < ncases; i++)
		tcase_named(s, cases[i].name, cases[i].timeout_s);
	for (size_t i = 0; i < nadds; i++)
		adds[i](s);
	return s;
}

int e2e_main(const char *prog, const char *name, const e2e_case *cases, size_t ncases,
	     const e2e_adder *adds, size_t nadds, enum print_output mode)
{
	if (e2e_read_env(prog, NULL) != 0)
		return 77;
	return e2e_run(e2e_suite(name, cases, ncases, adds, nadds), mode);
}

int e2e_run(Suite *s, enum print_output mode)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
