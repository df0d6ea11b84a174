/* check_authz: the authorization matrix of docs/API.md §2 and §4, spoken
 * over HTTP to a running stack (real nginx, workers and PostgreSQL), and
 * the same access rules when the SQL functions are called directly.
 *
 * The matrix is a table in this file: every route and action of API.md §2
 * (one row per batch and optimize operation, one per stats type) against
 * every token defect and every role mismatch (one column each), with the
 * status API.md §4 promises in each cell. The test cases are generated
 * from the table, one per applicable cell. Each cell checks the status,
 * the §3 error shape and code (and WWW-Authenticate: Bearer on a 401), and
 * that the database did not change: the target attempt's row (version,
 * answers, auto_save_data, status, deadline, timestamps, receipt), its
 * activity and upload counts, the attempts of the exam and the exams of
 * the staff users are read through libpq before and after and must be
 * equal. A student's request on another student's attempt must also answer
 * exactly as the same request on a missing attempt does (no existence
 * leak). A control column proves that each request, sent by someone who
 * may send it, succeeds: the refusals come from the rule under test, not
 * from a malformed request.
 *
 * The SQL part calls every single-attempt function and the batch ones
 * through libpq with another user's claims in request.jwt.claims
 * (not_found), a student's on staff and admin functions and a proctor's on
 * admin functions (forbidden), staff claims on owner-only writes
 * (forbidden), and missing or unusable claims (unauthorized), each with
 * the same before/after comparison.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret), ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database) and ATTEMPTS_TEST_UPLOAD_DIR (the workers' upload_dir: a
 * refused upload must leave no file there). Exits 77 (automake SKIP) when
 * one is missing. The stack must be quiet while this
 * runs (nothing else writing to the attempts it creates).
 *
 * This file holds the runner, the world and the helpers of check_authz.h;
 * the matrix is in check_authz_matrix.c, the SQL level in
 * check_authz_sql.c. */
#include <check.h>
#include <cJSON.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_authz.h"

static const char *g_upload_dir;

/* ================================================================ users */

/* Set while Check runs the tests: a setup step then fails the test
 * instead of the program. */
static int g_in_test;

/* Fails a setup step: before the tests (building the world) the program
 * stops; inside a test (a control cell's fresh attempt), the test fails. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (g_in_test)
		ck_abort_msg("setup step failed: %s", text);
	fprintf(stderr, "check_authz: setup failed: %s\n", text);
	exit(1);
}

void user_init(user *u, auth_role role)
{
	time_t now = time(NULL);

	if (uuid_generate(u->sub) != ATT_OK)
		die("uuid_generate");
	u->role = role;
	u->token = auth_sign(u->sub, role, now, now + 3600, g_secret, strlen(g_secret));
	if (u->token == NULL)
		die("auth_sign");
}

/* ================================================================ HTTP */

/* One exchange. auth is a whole header line ("Authorization: ...") or
 * NULL; ctype the body's Content-Type (NULL: application/json when there
 * is a body). Returns 0, or -1 with the reason in out->r.error. */
int exchange(resp *out, const char *method, const char *path, const char *auth, const char *body,
	     const char *ctype, const char *extra)
{
	const char *headers[5];
	char ct[160];
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof *out);
	snprintf(out->what, sizeof out->what, "%s %.180s", method, path);
	if (auth != NULL)
		headers[n++] = auth;
	if (extra != NULL)
		headers[n++] = extra;
	if (body != NULL) {
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
		headers[n++] = ct;
	}
	headers[n] = NULL;
	rc = http_client_request(g_url, method, path, headers, body, body ? strlen(body) : 0,
				 &out->r);
	if (rc == 0)
		out->json = cJSON_ParseWithLength(out->r.body, out->r.body_len);
	return rc;
}

void bearer_line(char *out, size_t cap, const char *token)
{
	snprintf(out, cap, "Authorization: Bearer %s", token);
}

/* For the setup: sends as u (NULL: no token), dies unless the status is
 * want; returns the JSON body, which the caller deletes. */
static cJSON *setup_call(const char *method, const char *path, const user *u, const char *body,
			 const char *ctype, int want)
{
	char auth[AUTH_MAX_TOKEN_LEN + 64];
	resp r;
	cJSON *json;

	if (u != NULL)
		bearer_line(auth, sizeof auth, u->token);
	if (exchange(&r, method, path, u ? auth : NULL, body, ctype, NULL) != 0)
		die("%s: %s", r.what, r.r.error);
	if (r.r.status != want)
		die("%s: status %d, want %d: %.400s", r.what, r.r.status, want, r.r.body);
	json = r.json;
	r.json = NULL;
	resp_free(&r);
	return json;
}

static void copy_id(char out[ID_LEN], const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v) || !uuid_valid(v->valuestring))
		die("no %s in the answer", key);
	memcpy(out, v->valuestring, ID_LEN);
}

/* ================================================================ the world */

matrix_world W;

static void exam_new(const user *by, char out[ID_LEN])
{
	cJSON *o = setup_call(
		"POST", "/api/exams", by,
		"{\"title\":\"authz matrix\",\"time_limit_s\":7200,\"max_attempts\":1}", NULL, 201);

	copy_id(out, o, "exam_id");
	cJSON_Delete(o);
}

void attempt_new(const user *u, const char *exam, char out[ID_LEN])
{
	char body[128];
	cJSON *o;

	snprintf(body, sizeof body, "{\"exam_id\":\"%s\"}", exam);
	o = setup_call("POST", "/api/attempts/new?action=start", u, body, NULL, 201);
	copy_id(out, o, "attempt_id");
	cJSON_Delete(o);
}

const char upload_bytes[] = "authz upload bytes\n";

void upload_new(const user *u, const char *attempt, char out[ID_LEN])
{
	char path[160];
	cJSON *o;

	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=authz.txt", attempt);
	o = setup_call("POST", path, u, upload_bytes, "text/plain", 201);
	copy_id(out, o, "upload_id");
	cJSON_Delete(o);
}

static void world_build(void)
{
	char path[160];

	user_init(&W.proctor, AUTH_ROLE_PROCTOR);
	user_init(&W.admin, AUTH_ROLE_ADMIN);
	user_init(&W.owner, AUTH_ROLE_STUDENT);
	user_init(&W.other, AUTH_ROLE_STUDENT);
	user_init(&W.starter, AUTH_ROLE_STUDENT);
	exam_new(&W.proctor, W.exam);
	attempt_new(&W.owner, W.exam, W.attempt_id);
	attempt_new(&W.other, W.exam, W.other_attempt_id);
	/* Known content: answers, auto-save data, one event, one upload. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=save", W.attempt_id);
	cJSON_Delete(setup_call(
		"PATCH", path, &W.owner,
		"{\"answers\":{\"q1\":\"a\",\"q2\":42},\"auto_save_data\":{\"p\":1}}", NULL, 200));
	snprintf(path, sizeof path, "/api/attempts/%s?action=activity", W.attempt_id);
	cJSON_Delete(setup_call(
		"POST", path, &W.owner,
		"{\"events\":[{\"event_type\":\"focus\",\"client_event_id\":\"w1\"}]}", NULL, 200));
	upload_new(&W.owner, W.attempt_id, W.upload_id);
	/* Warm every worker's cache with the owner's reads, so that the
	 * refusals below also go through the cached path. */
	for (int i = 0; i < 16; i++) {
		snprintf(path, sizeof path, "/api/attempts/%s?action=%s", W.attempt_id,
			 i % 2 ? "info" : "state");
		cJSON_Delete(setup_call("GET", path, &W.owner, NULL, NULL, 200));
	}
}

/* ================================================================ database */

/* Everything a refused request must leave alone, as one text: the target
 * attempt's row, its activity and upload counts, the attempts of its exam
 * (a start) and the exams the world's users created (an exam create).
 * The caller frees. */
char *db_snapshot(PGconn *c, const char *attempt_id)
{
	char staff[5 * ID_LEN + 8];
	const char *params[2] = {attempt_id, staff};
	PGresult *res;
	char *text;

	snprintf(staff, sizeof staff, "{%s,%s,%s,%s,%s}", W.proctor.sub, W.admin.sub, W.owner.sub,
		 W.other.sub, W.starter.sub);
	res = PQexecParams(
		c,
		"SELECT concat_ws(' | ', 'version=' || a.version, 'status=' || a.status,"
		" 'answers=' || a.answers::text, 'auto_save=' || a.auto_save_data::text,"
		" 'deadline=' || a.deadline_at, 'submitted=' || a.submitted_at,"
		" 'reason=' || a.submit_reason, 'receipt=' || a.receipt,"
		" 'updated=' || a.updated_at, 'last_activity=' || a.last_activity_at,"
		" 'activity=' || (SELECT count(*) FROM attempts.attempt_activity v"
		"                  WHERE v.attempt_id = a.attempt_id),"
		" 'uploads=' || (SELECT count(*) FROM attempts.attempt_uploads u"
		"                 WHERE u.attempt_id = a.attempt_id),"
		" 'exam_attempts=' || (SELECT count(*) || '/' || sum(x.version)"
		"                       FROM attempts.attempts x WHERE x.exam_id = a.exam_id),"
		" 'our_exams=' || (SELECT count(*) FROM attempts.exams e"
		"                     WHERE e.created_by = ANY ($2::uuid[])))"
		" FROM attempts.attempts a WHERE a.attempt_id = $1::uuid",
		2, NULL, params, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1,
		      "snapshot of %s: %s", attempt_id, PQerrorMessage(c));
	text = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	ck_assert_ptr_nonnull(text);
	return text;
}

/* Number of entries in the upload store; fails the test when it cannot
 * be read. */
long store_entries(void)
{
	DIR *d = opendir(g_upload_dir);
	long n = 0;

	ck_assert_msg(d != NULL, "cannot read the upload store %s (ATTEMPTS_TEST_UPLOAD_DIR)",
		      g_upload_dir);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* ================================================================ checks */

/* Asserts the §3 error shape: exactly {"error": {"code", "message"[,
 * "details"]}} in application/json, with the given code. Returns error. */
const cJSON *expect_error_shape(const resp *r, const char *code, const char *where)
{
	char what[512];

	snprintf(what, sizeof what, "%s: %s", where, r->what);
	return expect_error_body(r, code, what);
}

/* The results array of a batch answer; asserts n items. */
const cJSON *batch_results(const resp *r, int n, const char *where)
{
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(r->json, "results");

	ck_assert_msg(cJSON_IsArray(results), "%s: %s: no results array: %.300s", where, r->what,
		      r->r.body);
	ck_assert_msg(cJSON_GetArraySize(results) == n, "%s: %s: %d results, want %d: %.300s",
		      where, r->what, cJSON_GetArraySize(results), n, r->r.body);
	return results;
}

/* The code of a result item's error, or NULL. */
const char *item_error_code(const cJSON *item)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(item, "error"), "code");

	return cJSON_IsString(c) ? c->valuestring : NULL;
}

char *fill_target(const char *tmpl, const target *t)
{
	size_t cap, n = 0;
	char *out;

	if (tmpl == NULL)
		return NULL;
	cap = strlen(tmpl) * 2 + 4 * ID_LEN + 1;
	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	for (const char *p = tmpl; *p;) {
		const char *v = NULL;
		if (strncmp(p, "{A}", 3) == 0)
			v = t->attempt;
		else if (strncmp(p, "{E}", 3) == 0)
			v = t->exam;
		else if (strncmp(p, "{U}", 3) == 0)
			v = t->upload;
		if (v != NULL) {
			size_t l = strlen(v);
			ck_assert(n + l < cap);
			memcpy(out + n, v, l);
			n += l;
			p += 3;
		} else {
			ck_assert(n + 1 < cap);
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

/* ================================================================ runner */

static const e2e_adder authz_adders[] = {authz_matrix_tests, authz_sql_tests};

int main(void)
{
	if (e2e_read_env("check_authz", "ATTEMPTS_TEST_UPLOAD_DIR") != 0)
		return 77;
	g_upload_dir = getenv("ATTEMPTS_TEST_UPLOAD_DIR");

	authz_print_matrix();
	world_build();
	printf("authz world: exam %s, attempt %s (owner %s), upload %s\n", W.exam, W.attempt_id,
	       W.owner.sub, W.upload_id);
	fflush(stdout);

	g_in_test = 1;
	return e2e_run(e2e_suite("authz", NULL, 0, authz_adders,
				 sizeof authz_adders / sizeof authz_adders[0]),
		       CK_NORMAL);
}
