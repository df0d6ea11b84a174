/* check_authz_matrix: the HTTP matrix of check_authz: every route and
 * action of API.md section 2 against every token defect and role
 * mismatch, the status each cell must answer, and the test of one cell
 * (with its control: the same request by someone who may send it). */
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

/* ================================================================ the matrix */

/* Who may send a request (the identity the token cases forge and the
 * control column uses). */
typedef enum who {
	WHO_ANYONE,  /* health: no token */
	WHO_OWNER,   /* the attempt's owner (a student) */
	WHO_STARTER, /* a student without attempts (start) */
	WHO_PROCTOR,
	WHO_ADMIN
} who;

typedef struct route_spec {
	const char *name;
	const char *method;
	const char *path;  /* {A} attempt id, {E} exam id, {U} upload id */
	const char *body;  /* NULL: no body; same placeholders */
	const char *ctype; /* NULL: application/json */
	who legit;
	int items; /* batch: number of result items; 0 for other routes */
	/* The role cases send {A} = the other student's own attempt, so the
	 * foreign id is {U} (an upload of the owner's attempt). */
	int foreign_upload;
	const char *header; /* an extra request header line, or NULL */
} route_spec;

#define ATT "/api/attempts/{A}?action="
#define BATCH "/api/attempts/any-id?action=batch"

static const route_spec routes[] = {
	{"health", "GET", "/api/health", NULL, NULL, WHO_ANYONE, 0, 0, NULL},
	{"ready", "GET", "/api/ready", NULL, NULL, WHO_ANYONE, 0, 0, NULL},
	{"exams POST", "POST", "/api/exams", "{\"title\":\"authz probe\"}", NULL, WHO_PROCTOR, 0, 0,
	 NULL},
	{"exams GET (list)", "GET", "/api/exams", NULL, NULL, WHO_PROCTOR, 0, 0, NULL},
	{"exams/{id} GET", "GET", "/api/exams/{E}", NULL, NULL, WHO_OWNER, 0, 0, NULL},
	{"exams/{id}/stats", "GET", "/api/exams/{E}/stats", NULL, NULL, WHO_PROCTOR, 0, 0, NULL},
	{"exams/{id}/active", "GET", "/api/exams/{E}/active", NULL, NULL, WHO_PROCTOR, 0, 0, NULL},
	{"state", "GET", ATT "state", NULL, NULL, WHO_OWNER, 0, 0, NULL},
	{"info", "GET", ATT "info", NULL, NULL, WHO_OWNER, 0, 0, NULL},
	{"stats type=stats", "GET", ATT "stats&type=stats", NULL, NULL, WHO_PROCTOR, 0, 0, NULL},
	{"stats type=active", "GET", ATT "stats&type=active", NULL, NULL, WHO_PROCTOR, 0, 0, NULL},
	{"stats type=optimization", "GET", ATT "stats&type=optimization", NULL, NULL, WHO_ADMIN, 0,
	 0, NULL},
	{"upload GET", "GET", ATT "upload&upload_id={U}", NULL, NULL, WHO_OWNER, 0, 0, NULL},
	/* An upload id of the owner's attempt through another attempt's path. */
	{"upload GET, foreign id", "GET", ATT "upload&upload_id={U}", NULL, NULL, WHO_OWNER, 0, 1,
	 NULL},
	{"uploads", "GET", ATT "uploads", NULL, NULL, WHO_OWNER, 0, 0, NULL},
	{"activity", "POST", ATT "activity",
	 "{\"events\":[{\"event_type\":\"authz_probe\",\"payload\":{\"x\":1}}]}", NULL, WHO_OWNER,
	 0, 0, NULL},
	{"submit", "POST", ATT "submit", "{\"answers\":{\"authz_probe\":1}}", NULL, WHO_OWNER, 0, 0,
	 NULL},
	{"upload POST", "POST", ATT "upload&filename=probe.txt", "authz probe bytes", "text/plain",
	 WHO_OWNER, 0, 0, NULL},
	{"batch batch_save", "POST", BATCH,
	 "{\"operation\":\"batch_save\",\"data\":[{\"attempt_id\":\"{A}\","
	 "\"answers\":{\"authz_probe\":1},\"auto_save_data\":{\"p\":2}}]}",
	 NULL, WHO_OWNER, 1, 0, NULL},
	{"batch multiple_states", "POST", BATCH,
	 "{\"operation\":\"multiple_states\",\"data\":[\"{A}\"]}", NULL, WHO_OWNER, 1, 0, NULL},
	{"batch batch_log", "POST", BATCH,
	 "{\"operation\":\"batch_log\",\"data\":[{\"attempt_id\":\"{A}\","
	 "\"events\":[{\"event_type\":\"authz_probe\"}]}]}",
	 NULL, WHO_OWNER, 1, 0, NULL},
	{"batch validate_multiple", "POST", BATCH,
	 "{\"operation\":\"validate_multiple\",\"data\":[\"{A}\"]}", NULL, WHO_OWNER, 1, 0, NULL},
	{"batch batch_submit", "POST", BATCH, "{\"operation\":\"batch_submit\",\"data\":[\"{A}\"]}",
	 NULL, WHO_PROCTOR, 1, 0, NULL},
	{"batch query", "POST", BATCH,
	 "{\"operation\":\"query\",\"data\":[{\"type\":\"state\",\"attempt_id\":\"{A}\"},"
	 "{\"type\":\"info\",\"attempt_id\":\"{A}\"}]}",
	 NULL, WHO_OWNER, 2, 0, NULL},
	{"start", "POST", "/api/attempts/new?action=start", "{\"exam_id\":\"{E}\"}", NULL,
	 WHO_STARTER, 0, 0, NULL},
	{"save", "PATCH", ATT "save",
	 "{\"answers\":{\"authz_probe\":1},\"auto_save_data\":{\"p\":2}}", NULL, WHO_OWNER, 0, 0,
	 NULL},
	{"optimize clear_cache", "PATCH", ATT "optimize", "{\"operation\":\"clear_cache\"}", NULL,
	 WHO_ADMIN, 0, 0, NULL},
	{"optimize preload", "PATCH", ATT "optimize",
	 "{\"operation\":\"preload\",\"exam_ids\":[\"{E}\"]}", NULL, WHO_ADMIN, 0, 0, NULL},
	{"optimize analyze", "PATCH", ATT "optimize", "{\"operation\":\"analyze\"}", NULL,
	 WHO_ADMIN, 0, 0, NULL},
	{"extend", "PATCH", ATT "extend", "{\"extra_s\":600}", NULL, WHO_PROCTOR, 0, 0, NULL},
	/* The seed's /route.ts alias (API.md §2) follows the same rules. */
	{"state via route.ts", "GET", "/api/attempts/{A}/route.ts?action=state", NULL, NULL,
	 WHO_OWNER, 0, 0, NULL},
	/* A conditional read must not tell another student the attempt exists. */
	{"state, If-None-Match: *", "GET", ATT "state", NULL, NULL, WHO_OWNER, 0, 0,
	 "If-None-Match: *"},
	{"save via route.ts", "PATCH", "/api/attempts/{A}/route.ts?action=save",
	 "{\"answers\":{\"authz_probe\":2}}", NULL, WHO_OWNER, 0, 0, NULL},
};

#define NROUTES ((int)(sizeof routes / sizeof routes[0]))

static const char *const kase_names[K_COUNT] = {"no token",
						"malformed token",
						"bad signature",
						"expired",
						"nbf in future",
						"alg none",
						"alg HS512",
						"unknown role",
						"other student",
						"student on staff action",
						"proctor on admin action",
						"proctor on owner write",
						"admin on owner write",
						"control"};

/* One cell: the status, and for errors the code. A 200 with a code is a
 * batch whose every item must fail with that code. status 0: the case does
 * not apply to the route. */
typedef struct expect {
	short status;
	const char *code;
} expect;

/* clang-format off */
#define NA_  {0, NULL}
#define HLTH {200, NULL}         /* health ignores the token */
#define E401 {401, "unauthorized"}
#define E403 {403, "forbidden"}
#define E404 {404, "not_found"}
#define I404 {200, "not_found"}  /* every batch item not_found */
#define I403 {200, "forbidden"}  /* every batch item forbidden */
#define S200 {200, NULL}
#define S201 {201, NULL}
#define S304 {304, NULL}         /* the owner's conditional read: not modified */
#define TOKENS E401, E401, E401, E401, E401, E401, E401, E401

static const expect matrix[][K_COUNT] = {
/*                          8 token cases  other  stu-staff pro-admin pro-owner adm-owner control */
/* health                */ {HLTH, HLTH, HLTH, HLTH, HLTH, HLTH, HLTH, HLTH,
			     NA_,   NA_,   NA_,   NA_,   NA_,   S200},
/* ready                 */ {HLTH, HLTH, HLTH, HLTH, HLTH, HLTH, HLTH, HLTH,
			     NA_,   NA_,   NA_,   NA_,   NA_,   S200},
/* exams POST            */ {TOKENS, NA_,  E403,  NA_,   NA_,   NA_,   S201},
/* exams GET (list)      */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* exams/{id} GET        */ {TOKENS, NA_,  NA_,   NA_,   NA_,   NA_,   S200},
/* exams/{id}/stats      */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* exams/{id}/active     */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* state                 */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* info                  */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* stats type=stats      */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* stats type=active     */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* stats type=optimiz.   */ {TOKENS, E403, E403,  E403,  NA_,   NA_,   S200},
/* upload GET            */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* upload GET, foreign id*/ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* uploads               */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* activity              */ {TOKENS, E404, NA_,   NA_,   E403,  E403,  S200},
/* submit                */ {TOKENS, E404, NA_,   NA_,   E403,  E403,  S200},
/* upload POST           */ {TOKENS, E404, NA_,   NA_,   E403,  E403,  S201},
/* batch batch_save      */ {TOKENS, I404, NA_,   NA_,   I403,  I403,  S200},
/* batch multiple_states */ {TOKENS, I404, NA_,   NA_,   NA_,   NA_,   S200},
/* batch batch_log       */ {TOKENS, I404, NA_,   NA_,   I403,  I403,  S200},
/* batch validate_mult.  */ {TOKENS, I404, NA_,   NA_,   NA_,   NA_,   S200},
/* batch batch_submit    */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* batch query           */ {TOKENS, I404, NA_,   NA_,   NA_,   NA_,   S200},
/* start                 */ {TOKENS, NA_,  NA_,   NA_,   NA_,   NA_,   S201},
/* save                  */ {TOKENS, E404, NA_,   NA_,   E403,  E403,  S200},
/* optimize clear_cache  */ {TOKENS, E403, E403,  E403,  NA_,   NA_,   S200},
/* optimize preload      */ {TOKENS, E403, E403,  E403,  NA_,   NA_,   S200},
/* optimize analyze      */ {TOKENS, E403, E403,  E403,  NA_,   NA_,   S200},
/* extend                */ {TOKENS, E403, E403,  NA_,   NA_,   NA_,   S200},
/* state via route.ts    */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S200},
/* state, If-None-Match  */ {TOKENS, E404, NA_,   NA_,   NA_,   NA_,   S304},
/* save via route.ts     */ {TOKENS, E404, NA_,   NA_,   E403,  E403,  S200},
};
/* clang-format on */

_Static_assert(sizeof matrix / sizeof matrix[0] == sizeof routes / sizeof routes[0],
	       "one matrix row per route");

/* The applicable cells (route * K_COUNT + case), in table order. */
static int g_cells[sizeof routes / sizeof routes[0] * K_COUNT];
static int g_ncells;

static const user *legit_user(who w)
{
	switch (w) {
	case WHO_PROCTOR:
		return &W.proctor;
	case WHO_ADMIN:
		return &W.admin;
	case WHO_STARTER:
		return &W.starter;
	case WHO_ANYONE:
	case WHO_OWNER:
		break;
	}
	return &W.owner;
}

/* The valid token of the role-mismatch cases. */
static const user *role_case_user(kase k)
{
	switch (k) {
	case K_OTHER_STUDENT:
		return &W.other;
	case K_STUDENT_STAFF:
		return &W.owner;
	case K_PROCTOR_ADMIN:
	case K_PROCTOR_OWNER:
		return &W.proctor;
	case K_ADMIN_OWNER:
		return &W.admin;
	default:
		ck_abort_msg("not a role case: %d", (int)k);
	}
	return NULL;
}

/* Sends route r to target t with the header line auth (may be NULL). */
static void send_route(resp *out, int r, const target *t, const char *auth)
{
	const route_spec *rs = &routes[r];
	char *path = fill_target(rs->path, t);
	char *body = fill_target(rs->body, t);
	const char *ctype = rs->ctype ? rs->ctype : "application/json";
	/* The header lines: auth and the route's own, either may be NULL. */
	const char *lines[3] = {auth ? auth : rs->header, auth ? rs->header : NULL, NULL};

	send_plain(out, rs->method, path, NULL, body ? ctype : NULL, body, body ? strlen(body) : 0,
		   lines);
	free(path);
	free(body);
}

/* Fills the workers' caches with route ri's answer to someone who may
 * read it (a GET: state, info, statistics...), so that the refused
 * caller's request that follows meets a cached answer wherever it lands:
 * no cached answer may reach a caller the database would refuse. */
static void warm_caches(int ri, const target *t)
{
	char line[AUTH_MAX_TOKEN_LEN + 64];
	resp w;

	if (strcmp(routes[ri].method, "GET") != 0 || routes[ri].legit == WHO_ANYONE)
		return;
	bearer_line(line, sizeof line, legit_user(routes[ri].legit)->token);
	for (int i = 0; i < 8; i++) {
		send_route(&w, ri, t, line);
		resp_free(&w);
	}
}

/* Asserts the answer r to route ri matches cell e. */
static void expect_cell(const resp *r, int ri, expect e, const char *where)
{
	ck_assert_msg(r->r.status == e.status, "%s: %s: status %d, want %d; body %.400s", where,
		      r->what, r->r.status, e.status, r->r.body);
	if (e.status >= 400) {
		expect_error_shape(r, e.code, where);
		if (e.status == 401) {
			const char *www = http_client_header(&r->r, "WWW-Authenticate");
			ck_assert_msg(www != NULL && strncmp(www, "Bearer", 6) == 0,
				      "%s: %s: WWW-Authenticate %s, want Bearer", where, r->what,
				      www ? www : "(none)");
		}
	} else if (e.code != NULL) {
		const cJSON *results = batch_results(r, routes[ri].items, where), *item;
		cJSON_ArrayForEach(item, results)
		{
			const char *code = item_error_code(item);
			const cJSON *ok = cJSON_GetObjectItemCaseSensitive(item, "success");
			ck_assert_msg(code != NULL && strcmp(code, e.code) == 0,
				      "%s: %s: item error %s, want %s: %.400s", where, r->what,
				      code ? code : "(none)", e.code, r->r.body);
			ck_assert_msg(ok == NULL || cJSON_IsFalse(ok),
				      "%s: %s: a refused item says success: %.400s", where, r->what,
				      r->r.body);
		}
	} else if (ri == 0) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(r->json, "status");
		ck_assert_msg(cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0,
			      "%s: %s: health says %.200s", where, r->what, r->r.body);
	}
}

/* A student's answer on someone else's attempt must be the answer on a
 * missing attempt (API.md §4: no existence leak): same status, code and
 * message (for a batch, per item). */
static void expect_same_as_missing(const resp *got, int ri, const char *auth)
{
	char missing[ID_LEN];
	target t = {missing, W.exam, W.upload_id};
	const cJSON *a, *b;
	resp m;

	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	if (routes[ri].foreign_upload) {
		t.attempt = W.other_attempt_id;
		t.upload = missing;
	}
	send_route(&m, ri, &t, auth);
	ck_assert_msg(m.r.status == got->r.status,
		      "%s: status %d on another's attempt but %d on a missing one", got->what,
		      got->r.status, m.r.status);
	if (routes[ri].items > 0 && got->r.status == 200) {
		a = cJSON_GetObjectItemCaseSensitive(got->json, "results")->child;
		b = cJSON_GetObjectItemCaseSensitive(m.json, "results");
		ck_assert_msg(cJSON_IsArray(b), "%s: missing: %.300s", m.what, m.r.body);
		b = b->child;
		for (; a != NULL && b != NULL; a = a->next, b = b->next) {
			const cJSON *ea = cJSON_GetObjectItemCaseSensitive(a, "error");
			const cJSON *eb = cJSON_GetObjectItemCaseSensitive(b, "error");
			ck_assert_msg(
				cJSON_Compare(ea, eb, 1),
				"%s: item error differs from a missing attempt's: %.300s vs %.300s",
				got->what, got->r.body, m.r.body);
		}
	} else {
		a = cJSON_GetObjectItemCaseSensitive(got->json, "error");
		b = cJSON_GetObjectItemCaseSensitive(m.json, "error");
		ck_assert_msg(a != NULL && cJSON_Compare(a, b, 1),
			      "%s: error differs from a missing attempt's: %.300s vs %.300s",
			      got->what, got->r.body, m.r.body);
	}
	resp_free(&m);
}

/* The control: the request, by someone allowed, on a fresh attempt of a
 * fresh student (with an upload), succeeds with the cell's status. */
static void control_cell(int ri, expect e)
{
	const route_spec *rs = &routes[ri];
	char auth[AUTH_MAX_TOKEN_LEN + 64];
	char attempt[ID_LEN], upload[ID_LEN];
	target t = {attempt, W.exam, upload};
	user fresh = user_new(AUTH_ROLE_STUDENT);
	const user *u;
	resp r;

	attempt_start(&fresh, W.exam, attempt);
	upload_new(&fresh, attempt, upload);
	if (rs->legit == WHO_OWNER) {
		u = &fresh;
	} else if (rs->legit == WHO_STARTER) {
		user_free(&fresh);
		fresh = user_new(AUTH_ROLE_STUDENT); /* no attempt yet */
		u = &fresh;
	} else {
		u = legit_user(rs->legit);
	}
	if (rs->legit != WHO_ANYONE)
		bearer_line(auth, sizeof auth, u->token);
	send_route(&r, ri, &t, rs->legit != WHO_ANYONE ? auth : NULL);
	ck_assert_msg(r.r.status == e.status, "control: %s: status %d, want %d; body %.400s",
		      r.what, r.r.status, e.status, r.r.body);
	if (strstr(rs->path, "action=upload&upload_id=") != NULL) { /* a download */
		ck_assert_msg(r.r.body_len == strlen(upload_bytes) &&
				      memcmp(r.r.body, upload_bytes, r.r.body_len) == 0,
			      "control: %s: the download is not the uploaded bytes: %.200s", r.what,
			      r.r.body);
	} else if (e.status != 304) {
		const cJSON *results = cJSON_GetObjectItemCaseSensitive(r.json, "results"), *item;
		ck_assert_msg(cJSON_IsObject(r.json), "control: %s: not a JSON object: %.300s",
			      r.what, r.r.body);
		if (rs->items > 0)
			batch_results(&r, rs->items, "control");
		cJSON_ArrayForEach(item, results)
		{
			ck_assert_msg(item_error_code(item) == NULL,
				      "control: %s: item failed: %.400s", r.what, r.r.body);
		}
	}
	resp_free(&r);
	user_free(&fresh);
}

START_TEST(test_cell)
{
	int ri = g_cells[_i] / K_COUNT;
	kase k = (kase)(g_cells[_i] % K_COUNT);
	expect e = matrix[ri][k];
	target t = {W.attempt_id, W.exam, W.upload_id};
	char where[160], vauth[AUTH_MAX_TOKEN_LEN + 64];
	char *auth = NULL, *before, *after;
	long files_before, files_after;
	PGconn *c;
	resp r;

	snprintf(where, sizeof where, "[%s x %s]", routes[ri].name, kase_names[k]);
	if (k == K_CONTROL) {
		control_cell(ri, e);
		return;
	}
	if (k <= K_UNKNOWN_ROLE) {
		auth = authz_token_case_header(k, legit_user(routes[ri].legit), ri);
	} else {
		bearer_line(vauth, sizeof vauth, role_case_user(k)->token);
		auth = strdup(vauth);
		ck_assert_ptr_nonnull(auth);
	}
	if (routes[ri].foreign_upload && k >= K_OTHER_STUDENT)
		t.attempt = W.other_attempt_id;
	c = db_connect();
	before = db_snapshot(c, W.attempt_id);
	files_before = store_entries();

	if (k >= K_OTHER_STUDENT)
		warm_caches(ri, &t);
	send_route(&r, ri, &t, auth);
	expect_cell(&r, ri, e, where);
	if (k == K_OTHER_STUDENT)
		expect_same_as_missing(&r, ri, auth);

	after = db_snapshot(c, W.attempt_id);
	ck_assert_msg(strcmp(before, after) == 0,
		      "%s: %s changed the database:\n  before %s\n  after  %s", where, r.what,
		      before, after);
	files_after = store_entries();
	ck_assert_msg(files_before == files_after,
		      "%s: %s: the upload store went from %ld to %ld entries", where, r.what,
		      files_before, files_after);
	resp_free(&r);
	free(before);
	free(after);
	free(auth);
	PQfinish(c);
}
END_TEST

void authz_print_matrix(void)
{
	int applicable = 0, items = 0, per_status[600] = {0};

	printf("authz matrix (status per route x case; '-' = not applicable):\n");
	printf("  %-24s", "route \\ case");
	for (int k = 0; k < K_COUNT; k++)
		printf(" %2d", k);
	printf("\n");
	for (int r = 0; r < NROUTES; r++) {
		printf("  %-24s", routes[r].name);
		for (int k = 0; k < K_COUNT; k++) {
			expect e = matrix[r][k];
			if (e.status == 0) {
				printf("  -");
				continue;
			}
			applicable++;
			if (e.code != NULL && e.status == 200)
				items++;
			else
				per_status[e.status]++;
			printf(" %c%c", e.code != NULL && e.status == 200 ? '*' : ' ',
			       e.status == 401	 ? 'U'
			       : e.status == 403 ? 'F'
			       : e.status == 404 ? 'N'
						 : 'S');
		}
		printf("\n");
	}
	printf("  cases:");
	for (int k = 0; k < K_COUNT; k++)
		printf(" %d=%s%s", k, kase_names[k], k + 1 < K_COUNT ? "," : "\n");
	printf("  U=401 unauthorized, F=403 forbidden, N=404 not_found, S=2xx,"
	       " *=200 with every batch item refused\n");
	printf("authz matrix: %d routes x %d cases = %d cells, %d applicable (%d x 401, %d x 403,"
	       " %d x 404, %d x 200 with every item refused, %d x success: health and control);"
	       " SQL level: %d cases, and %d claims x %d functions unauthorized\n",
	       NROUTES, (int)K_COUNT, NROUTES * (int)K_COUNT, applicable, per_status[401],
	       per_status[403], per_status[404], items,
	       per_status[200] + per_status[201] + per_status[304], authz_sql_cases(),
	       authz_bad_claims(), authz_sql_calls());
	fflush(stdout);
}

void authz_matrix_tests(Suite *s)
{
	g_ncells = 0;
	for (int r = 0; r < NROUTES; r++)
		for (int k = 0; k < K_COUNT; k++)
			if (matrix[r][k].status != 0)
				g_cells[g_ncells++] = r * K_COUNT + k;

	E2E_ADD_TESTS(s, "matrix", 60, E2E_ROWS(test_cell, 0, g_ncells));
}
