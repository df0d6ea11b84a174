/* check_sql_util.c — the shared part of the SQL layer's Check tests
 * (check_sql.h): bookkeeping, libpq calls, JSON access, world builders,
 * the refusal table runner, and main(). The tests are in
 * tests/check_sql_*.c; every test makes its own exam and random users, so
 * tests do not depend on each other. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf */
#endif

#include "check_sql.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *conninfo;
PGconn *db;

/* ------------------------------------------------------------ bookkeeping */

/* Everything a test allocates is kept here and freed by teardown, so the
 * tests read as straight lines. */
enum kept_kind { KEPT_MALLOC, KEPT_JSON, KEPT_PRINTED };
struct kept {
	void *ptr;
	enum kept_kind kind;
};
static struct kept *kept;
static size_t n_kept, cap_kept;

static void *keep(void *ptr, enum kept_kind kind)
{
	if (ptr == NULL)
		return NULL;
	if (n_kept == cap_kept) {
		size_t cap = cap_kept ? 2 * cap_kept : 64;
		struct kept *k = realloc(kept, cap * sizeof(*k));

		ck_assert_msg(k != NULL, "out of memory");
		kept = k;
		cap_kept = cap;
	}
	kept[n_kept].ptr = ptr;
	kept[n_kept].kind = kind;
	n_kept++;
	return ptr;
}

static void free_kept(void)
{
	for (size_t i = 0; i < n_kept; i++) {
		switch (kept[i].kind) {
		case KEPT_MALLOC:
			free(kept[i].ptr);
			break;
		case KEPT_JSON:
			cJSON_Delete(kept[i].ptr);
			break;
		case KEPT_PRINTED:
			cJSON_free(kept[i].ptr);
			break;
		}
	}
	free(kept);
	kept = NULL;
	n_kept = cap_kept = 0;
}

/* printf into a string that lives until the end of the test. */
__attribute__((format(printf, 1, 2))) const char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	ck_assert_msg(n >= 0, "vasprintf failed");
	return keep(s, KEPT_MALLOC);
}

/* ------------------------------------------------------------ libpq */

PGconn *connect_db(void)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
	r = PQexecParams(c, "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)", 0,
			 NULL, NULL, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "search_path: %s",
		      PQresultErrorMessage(r));
	PQclear(r);
	return c;
}

static void setup(void)
{
	db = connect_db();
}

static void teardown(void)
{
	PQfinish(db);
	db = NULL;
	free_kept();
}

/* Runs sql with out-of-line text parameters (NULL = SQL NULL); returns the
 * first column of the first row (NULL if none or NULL), kept. */
const char *val_on(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	char *v = NULL;

	ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
		v = strdup(PQgetvalue(r, 0, 0));
		ck_assert_msg(v != NULL, "out of memory");
	}
	PQclear(r);
	return keep(v, KEPT_MALLOC);
}

/* As val_on, parsing the value as JSON (kept). The value must not be NULL. */
cJSON *json_on(PGconn *c, const char *sql, int n, const char *const *params)
{
	const char *v = val_on(c, sql, n, params);
	cJSON *j;

	ck_assert_msg(v != NULL, "%s returned NULL", sql);
	j = cJSON_Parse(v);
	ck_assert_msg(j != NULL, "%s returned bad JSON: %s", sql, v);
	return keep(j, KEPT_JSON);
}

/* Sets request.jwt.claims (session-wide) on c to the given raw text. */
void claims_on(PGconn *c, const char *claims)
{
	val_on(c, "SELECT pg_catalog.set_config('request.jwt.claims', $1, false)", 1,
	       (const char *[]){claims});
}

/* Acts as user sub with role on connection c. */
void as_on(PGconn *c, const char *sub, const char *role)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	ck_assert_msg(o != NULL, "out of memory");
	cJSON_AddStringToObject(o, "sub", sub);
	cJSON_AddStringToObject(o, "role", role);
	text = keep(cJSON_PrintUnformatted(o), KEPT_PRINTED);
	cJSON_Delete(o);
	claims_on(c, text);
}

void as(const char *sub, const char *role)
{
	as_on(db, sub, role);
}

const char *new_uuid(void)
{
	return V0("SELECT pg_catalog.gen_random_uuid()::text");
}

/* ------------------------------------------------------------ JSON access */

const char *show(const cJSON *o)
{
	if (o == NULL)
		return "(none)";
	return keep(cJSON_PrintUnformatted(o), KEPT_PRINTED);
}

/* The node at a dotted path ("state.attempt_id", "results.0.error");
 * a numeric segment indexes an array. NULL if absent. */
const cJSON *jget(const cJSON *o, const char *path)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t != NULL && o != NULL;
	     t = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(o) && strspn(t, "0123456789") == strlen(t))
			o = cJSON_GetArrayItem(o, atoi(t));
		else
			o = cJSON_GetObjectItemCaseSensitive(o, t);
	}
	return o;
}

const char *jstr_(const cJSON *o, const char *path, const char *file, int line)
{
	const cJSON *x = jget(o, path);

	ck_assert_msg(cJSON_IsString(x), "%s:%d: no string at %s in %s", file, line, path, show(o));
	return x->valuestring;
}

double jnum_(const cJSON *o, const char *path, const char *file, int line)
{
	const cJSON *x = jget(o, path);

	ck_assert_msg(cJSON_IsNumber(x), "%s:%d: no number at %s in %s", file, line, path, show(o));
	return x->valuedouble;
}

int jtrue(const cJSON *o, const char *path)
{
	return cJSON_IsTrue(jget(o, path));
}

int jfalse(const cJSON *o, const char *path)
{
	return cJSON_IsFalse(jget(o, path));
}

int jnull(const cJSON *o, const char *path)
{
	return cJSON_IsNull(jget(o, path));
}

int jsize(const cJSON *o, const char *path)
{
	const cJSON *x = path ? jget(o, path) : o;

	ck_assert_msg(cJSON_IsArray(x) || cJSON_IsObject(x), "no array at %s in %s",
		      path ? path : "(root)", show(o));
	return cJSON_GetArraySize(x);
}

/* True when object o has exactly the comma-separated keys. */
int has_keys(const cJSON *o, const char *keys)
{
	char buf[512];
	char *save = NULL;
	int n = 0;

	if (!cJSON_IsObject(o))
		return 0;
	snprintf(buf, sizeof(buf), "%s", keys);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!cJSON_HasObjectItem(o, t))
			return 0;
		n++;
	}
	return n == cJSON_GetArraySize(o);
}

int is_ts(const char *s)
{
	regex_t re;
	int ok;

	ck_assert_int_eq(
		regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
			REG_EXTENDED | REG_NOSUB),
		0);
	ok = s != NULL && regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* ------------------------------------------------------------ world builders */

/* Creates an exam as a fresh proctor; extra is more JSON members (or NULL).
 * Leaves the proctor's claims set. Returns the exam id. */
const char *mk_exam(const char *extra)
{
	cJSON *r;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.create_exam($1)", fmt("{\"title\": \"exam %s\"%s%s}", new_uuid(),
						     extra ? ", " : "", extra ? extra : ""));
	ck_assert_ok(r);
	return jstr(r, "exam_id");
}

/* Starts user's attempt of exam as that student (claims stay set). */
const char *mk_attempt(const char *user, const char *exam)
{
	cJSON *r;

	as(user, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	return jstr(r, "state.attempt_id");
}

two_students mk_two_students(void)
{
	const char *exam = mk_exam(NULL);
	two_students t = {.me = new_uuid(), .other = new_uuid()};

	t.theirs = mk_attempt(t.other, exam);
	t.mine = mk_attempt(t.me, exam);
	return t;
}

/* The attempt's state under the current claims. */
cJSON *state(const char *attempt)
{
	return J("SELECT attempts.get_attempt_state($1)", attempt);
}

/* The attempt row as JSON, read directly (no access rules). */
cJSON *row(const char *attempt)
{
	return J("SELECT pg_catalog.to_jsonb(a) FROM attempts.attempts a WHERE attempt_id = $1",
		 attempt);
}

/* Moves the attempt's start and deadline secs seconds into the past. */
void backdate(const char *attempt, int secs)
{
	V("UPDATE attempts.attempts SET started_at = started_at - pg_catalog.make_interval(secs => "
	  "$2), "
	  "deadline_at = deadline_at - pg_catalog.make_interval(secs => $2) WHERE attempt_id = $1",
	  attempt, fmt("%d", secs));
}

/* Lowercase hex SHA-256 of text, by PostgreSQL's sha256() (not by jcs()). */
const char *sha256_hex(const char *text)
{
	return V("SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')), "
		 "'hex')",
		 text);
}

long count_of(const char *table, const char *attempt)
{
	return atol(
		V(fmt("SELECT count(*) FROM attempts.%s WHERE attempt_id = $1", table), attempt));
}

cJSON *kept_json(cJSON *j)
{
	return keep(j, KEPT_JSON);
}

void expect_same_text(const char *what, const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	ck_assert_msg(a[i] == b[i], "%s differ at byte %zu:\n  %.120s\n  %.120s", what, i,
		      a + (i > 40 ? i - 40 : 0), b + (i > 40 ? i - 40 : 0));
}

/* Notifications reach a listener on the same session once the statement's
 * transaction commits; PQexecParams returns after that. */
const char *next_notify(PGconn *c, const char *channel)
{
	PGnotify *n;
	const char *extra = NULL;

	ck_assert_int_eq(PQconsumeInput(c), 1);
	while ((n = PQnotifies(c)) != NULL) {
		if (extra == NULL && strcmp(n->relname, channel) == 0)
			extra = fmt("%s", n->extra);
		PQfreemem(n);
	}
	return extra;
}

/* One call of expect_refusals as caller who (role: NULL for the owner)
 * with $1 = id; asserts the answer's code. */
static void expect_refused(const refusal *r, const char *who, const char *role, const char *sub,
			   const char *id, const char *code)
{
	cJSON *got;

	if (code == NULL)
		return;
	as(sub, role);
	got = strstr(r->sql, "$1") != NULL ? J(r->sql, id) : J0(r->sql);
	ck_assert_msg(strcmp(jstr(got, "error.code"), code) == 0, "%s as %s: want %s, got %s",
		      r->sql, who, code, show(got));
}

void expect_refusals(const char *owner, const char *id, const char *attempt, const refusal *r,
		     size_t n)
{
	const char *before = attempt != NULL ? show(row(attempt)) : NULL;

	for (size_t i = 0; i < n; i++) {
		expect_refused(&r[i], "owner", "student", owner, id, r[i].owner);
		expect_refused(&r[i], "another student", "student", new_uuid(), id, r[i].other);
		expect_refused(&r[i], "proctor", "proctor", new_uuid(), id, r[i].proctor);
		expect_refused(&r[i], "admin", "admin", new_uuid(), id, r[i].admin);
		expect_refused(&r[i], "admin (missing id)", "admin", new_uuid(), new_uuid(),
			       r[i].missing);
	}
	if (attempt != NULL)
		ck_assert_str_eq(show(row(attempt)), before);
}

TCase *sql_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	return tc;
}

/* Refuses a database that already holds exams (the sweep test would close
 * other people's expired attempts) unless ATTEMPTS_TEST_ALLOW_NONEMPTY=1. */
static int database_usable(void)
{
	PGconn *c = PQconnectdb(conninfo);
	const char *allow = getenv("ATTEMPTS_TEST_ALLOW_NONEMPTY");
	PGresult *r = NULL;
	int ok = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "check_sql: cannot connect to ATTEMPTS_TEST_DB: %s",
			PQerrorMessage(c));
		goto out;
	}
	r = PQexecParams(c, "SELECT pg_catalog.count(*) FROM attempts.exams", 0, NULL, NULL, NULL,
			 NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "check_sql: database not migrated (run sql/migrate.sh): %s",
			PQresultErrorMessage(r));
	} else if (strcmp(PQgetvalue(r, 0, 0), "0") != 0 &&
		   (allow == NULL || strcmp(allow, "1") != 0)) {
		fprintf(stderr,
			"check_sql: refusing to run against a database that already has exams "
			"(set ATTEMPTS_TEST_ALLOW_NONEMPTY=1 to override)\n");
	} else {
		ok = 1;
	}
	PQclear(r);
out:
	PQfinish(c);
	return ok;
}

int main(void)
{
	Suite *s;
	SRunner *sr;
	int failed;

	conninfo = getenv("ATTEMPTS_TEST_DB");
	if (conninfo == NULL || *conninfo == '\0') {
		printf("check_sql: ATTEMPTS_TEST_DB is not set (run tests/sql_test.sh); "
		       "skipping\n");
		return 77;
	}
	if (!database_usable())
		return 99;
	s = suite_create("sql");
	sql_add_exams(s);
	sql_add_attempts(s);
	sql_add_admin(s);
	sql_add_batch(s);
	sql_add_uploads(s);
	sql_add_coalesced(s);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
