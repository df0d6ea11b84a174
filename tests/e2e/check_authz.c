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
 * This file holds the runner, the world (built with e2e_util's requests
 * before the first test) and the helpers of check_authz.h;
 * the matrix is in check_authz_matrix.c, the SQL level in
 * check_authz_sql.c. */
#include <check.h>
#include <cJSON.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_authz.h"

static const char *g_upload_dir;

/* ================================================================ the world */

matrix_world W;

const char upload_bytes[] = "authz upload bytes\n";

void upload_new(const user *u, const char *attempt, char out[ID_LEN])
{
	char path[160];
	resp r;

	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=authz.txt", attempt);
	send_plain(&r, "POST", path, u->token, "text/plain", upload_bytes, strlen(upload_bytes),
		   NULL);
	expect_created(&r, "upload_id", out);
	resp_free(&r);
}

/* Builds W the first time it is called: the unchecked fixture of every
 * test case, so it runs in the runner's own process (each test's fork
 * sees W) and a failing step fails the test case. */
static void world_build(void)
{
	static int built;
	resp r;

	if (built)
		return;
	W.proctor = user_new(AUTH_ROLE_PROCTOR);
	W.admin = user_new(AUTH_ROLE_ADMIN);
	W.owner = user_new(AUTH_ROLE_STUDENT);
	W.other = user_new(AUTH_ROLE_STUDENT);
	W.starter = user_new(AUTH_ROLE_STUDENT);
	exam_create(&W.proctor,
		    "{\"title\":\"authz matrix\",\"time_limit_s\":7200,\"max_attempts\":1}",
		    W.exam);
	attempt_start(&W.owner, W.exam, W.attempt_id);
	attempt_start(&W.other, W.exam, W.other_attempt_id);
	/* Known content: answers, auto-save data, one event, one upload. */
	save_ok(&W.owner, W.attempt_id,
		"{\"answers\":{\"q1\":\"a\",\"q2\":42},\"auto_save_data\":{\"p\":1}}");
	act(&r, "POST", &W.owner, W.attempt_id, "activity",
	    "{\"events\":[{\"event_type\":\"focus\",\"client_event_id\":\"w1\"}]}");
	expect_ok(&r, 200);
	resp_free(&r);
	upload_new(&W.owner, W.attempt_id, W.upload_id);
	/* Warm every worker's cache with the owner's reads, so that the
	 * refusals below also go through the cached path (each refused read
	 * of the matrix warms its own route first: warm_caches). */
	for (int i = 0; i < 16; i++) {
		get_action(&r, &W.owner, W.attempt_id, i % 2 ? "info" : "state");
		expect_ok(&r, 200);
		resp_free(&r);
	}
	printf("authz world: exam %s, attempt %s (owner %s), upload %s\n", W.exam, W.attempt_id,
	       W.owner.sub, W.upload_id);
	fflush(stdout);
	built = 1;
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

static const e2e_case authz_cases[] = {{"matrix", 60}, {"sql", 60}};
static const e2e_adder authz_adders[] = {authz_matrix_tests, authz_sql_tests};

int main(void)
{
	Suite *s;

	if (e2e_read_env("check_authz", "ATTEMPTS_TEST_UPLOAD_DIR") != 0)
		return 77;
	g_upload_dir = getenv("ATTEMPTS_TEST_UPLOAD_DIR");

	authz_print_matrix();
	s = e2e_suite("authz", authz_cases, sizeof authz_cases / sizeof authz_cases[0],
		      authz_adders, sizeof authz_adders / sizeof authz_adders[0]);
	for (size_t i = 0; i < sizeof authz_cases / sizeof authz_cases[0]; i++)
		tcase_add_unchecked_fixture(
			tcase_named(s, authz_cases[i].name, authz_cases[i].timeout_s), world_build,
			NULL);
	return e2e_run(s, CK_NORMAL);
}
