/* check_sql.c — Check tests of the SQL layer (the functions in sql/) through libpq:
 * every RPC function, its access rules, its error paths and the JCS receipt.
 * Needs a migrated database in ATTEMPTS_TEST_DB (tests/sql_test.sh makes
 * one); without it the program exits 77 (skip). Every test makes its own
 * exam and random users, so tests do not depend on each other. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf */
#endif

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>
#include <regex.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *sql_suite(void);

static const char *conninfo;
static PGconn *db; /* one connection per test, opened by the fixture */

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
__attribute__((format(printf, 1, 2))) static const char *fmt(const char *f, ...)
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

static PGconn *connect_db(void)
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
static const char *val_on(PGconn *c, const char *sql, int n, const char *const *params)
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
static cJSON *json_on(PGconn *c, const char *sql, int n, const char *const *params)
{
	const char *v = val_on(c, sql, n, params);
	cJSON *j;

	ck_assert_msg(v != NULL, "%s returned NULL", sql);
	j = cJSON_Parse(v);
	ck_assert_msg(j != NULL, "%s returned bad JSON: %s", sql, v);
	return keep(j, KEPT_JSON);
}

#define NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
#define J(sql, ...) json_on(db, (sql), NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
#define J0(sql) json_on(db, (sql), 0, NULL)
#define V(sql, ...) val_on(db, (sql), NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
#define V0(sql) val_on(db, (sql), 0, NULL)

/* Sets request.jwt.claims (session-wide) on c to the given raw text. */
static void claims_on(PGconn *c, const char *claims)
{
	val_on(c, "SELECT pg_catalog.set_config('request.jwt.claims', $1, false)", 1,
	       (const char *[]){claims});
}

/* Acts as user sub with role on connection c. */
static void as_on(PGconn *c, const char *sub, const char *role)
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

static void as(const char *sub, const char *role)
{
	as_on(db, sub, role);
}

static const char *new_uuid(void)
{
	return V0("SELECT pg_catalog.gen_random_uuid()::text");
}

/* ------------------------------------------------------------ JSON access */

static const char *show(const cJSON *o)
{
	if (o == NULL)
		return "(none)";
	return keep(cJSON_PrintUnformatted(o), KEPT_PRINTED);
}

/* The node at a dotted path ("state.attempt_id", "results.0.error");
 * a numeric segment indexes an array. NULL if absent. */
static const cJSON *jget(const cJSON *o, const char *path)
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

#define jstr(o, path) jstr_((o), (path), __FILE__, __LINE__)
static const char *jstr_(const cJSON *o, const char *path, const char *file, int line)
{
	const cJSON *x = jget(o, path);

	ck_assert_msg(cJSON_IsString(x), "%s:%d: no string at %s in %s", file, line, path, show(o));
	return x->valuestring;
}

#define jnum(o, path) jnum_((o), (path), __FILE__, __LINE__)
static double jnum_(const cJSON *o, const char *path, const char *file, int line)
{
	const cJSON *x = jget(o, path);

	ck_assert_msg(cJSON_IsNumber(x), "%s:%d: no number at %s in %s", file, line, path, show(o));
	return x->valuedouble;
}

#define jint(o, path) ((long)jnum((o), (path)))

static int jtrue(const cJSON *o, const char *path)
{
	return cJSON_IsTrue(jget(o, path));
}

static int jfalse(const cJSON *o, const char *path)
{
	return cJSON_IsFalse(jget(o, path));
}

static int jnull(const cJSON *o, const char *path)
{
	return cJSON_IsNull(jget(o, path));
}

static int jsize(const cJSON *o, const char *path)
{
	const cJSON *x = path ? jget(o, path) : o;

	ck_assert_msg(cJSON_IsArray(x) || cJSON_IsObject(x), "no array at %s in %s",
		      path ? path : "(root)", show(o));
	return cJSON_GetArraySize(x);
}

/* True when object o has exactly the comma-separated keys. */
static int has_keys(const cJSON *o, const char *keys)
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

static int is_ts(const char *s)
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

#define ck_assert_err(r, want)                                                                     \
	do {                                                                                       \
		const cJSON *e_ = jget((r), "error.code");                                         \
		ck_assert_msg(cJSON_IsString(e_) && strcmp(e_->valuestring, (want)) == 0,          \
			      "expected error %s, got %s", (want), show(r));                       \
	} while (0)

#define ck_assert_field(r, want)                                                                   \
	do {                                                                                       \
		const cJSON *f_ = jget((r), "error.details.field");                                \
		ck_assert_msg(cJSON_IsString(f_) && strcmp(f_->valuestring, (want)) == 0,          \
			      "expected details.field %s, got %s", (want), show(r));               \
	} while (0)

#define ck_assert_ok(r) ck_assert_msg(jget((r), "error") == NULL, "unexpected error: %s", show(r))

/* ------------------------------------------------------------ world builders */

#define STATE_KEYS                                                                                 \
	"attempt_id,exam_id,user_id,attempt_number,status,answers,auto_save_data,"                 \
	"version,started_at,deadline_at,submitted_at,updated_at,time_remaining_s"

/* Creates an exam as a fresh proctor; extra is more JSON members (or NULL).
 * Leaves the proctor's claims set. Returns the exam id. */
static const char *mk_exam(const char *extra)
{
	cJSON *r;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.create_exam($1)", fmt("{\"title\": \"exam %s\"%s%s}", new_uuid(),
						     extra ? ", " : "", extra ? extra : ""));
	ck_assert_ok(r);
	return jstr(r, "exam_id");
}

/* Starts user's attempt of exam as that student (claims stay set). */
static const char *mk_attempt(const char *user, const char *exam)
{
	cJSON *r;

	as(user, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	return jstr(r, "state.attempt_id");
}

/* The attempt's state under the current claims. */
static cJSON *state(const char *attempt)
{
	return J("SELECT attempts.get_attempt_state($1)", attempt);
}

/* The attempt row as JSON, read directly (no access rules). */
static cJSON *row(const char *attempt)
{
	return J("SELECT pg_catalog.to_jsonb(a) FROM attempts.attempts a WHERE attempt_id = $1",
		 attempt);
}

/* Moves the attempt's start and deadline secs seconds into the past. */
static void backdate(const char *attempt, int secs)
{
	V("UPDATE attempts.attempts SET started_at = started_at - pg_catalog.make_interval(secs => "
	  "$2), "
	  "deadline_at = deadline_at - pg_catalog.make_interval(secs => $2) WHERE attempt_id = $1",
	  attempt, fmt("%d", secs));
}

/* Lowercase hex SHA-256 of text, by PostgreSQL's sha256() (not by jcs()). */
static const char *sha256_hex(const char *text)
{
	return V("SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')), "
		 "'hex')",
		 text);
}

/* ------------------------------------------------------------ claims */

START_TEST(test_unauthorized)
{
	const char *exam = mk_exam(NULL);
	const char *bad[] = {
		"",
		"not json",
		"[1]",
		"{\"role\": \"student\"}",
		"{\"sub\": \"x\", \"role\": \"student\"}",
		fmt("{\"sub\": \"%s\", \"role\": \"teacher\"}", new_uuid()),
		fmt("{\"sub\": \"%s\"}", new_uuid()),
		/* near misses of the compact form the service writes */
		fmt("{\"sub\":\"%s\",\"role\":\"studentx\"}", new_uuid()),
		fmt("{\"sub\":\"%s\",\"role\":\"\"}", new_uuid()),
		"{\"sub\":\"00000000-0000-4000-8000-00000000000g\",\"role\":\"admin\"}",
		"{\"sub\":\"00000000-0000-4000-8000-0000000000001\",\"role\":\"admin\"}",
		fmt("{\"sub\":\"%s\",\"role\":\"admin\"", new_uuid()),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		claims_on(db, bad[i]);
		ck_assert_err(J("SELECT attempts.get_exam($1)", exam), "unauthorized");
		ck_assert_err(J("SELECT attempts.start_attempt($1)", exam), "unauthorized");
	}
	V0("RESET request.jwt.claims");
	ck_assert_err(J("SELECT attempts.get_exam($1)", exam), "unauthorized");
	ck_assert_err(J0("SELECT attempts.close_expired_attempts()"), "unauthorized");
	ck_assert_err(J("SELECT attempts.get_multiple_attempt_states($1)", "{}"), "unauthorized");
}
END_TEST

/* The caller is the same whether the claims come in the compact form the
 * service writes (read by position) or in any other JSON spelling (parsed). */
START_TEST(test_claims_forms)
{
	const char *u = new_uuid(), *exam = mk_exam(NULL);
	const char *attempt = mk_attempt(u, exam);
	char upper[64];
	const char *forms[5];

	snprintf(upper, sizeof upper, "%s", u);
	for (char *c = upper; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	forms[0] = fmt("{\"sub\":\"%s\",\"role\":\"student\"}", u);
	forms[1] = fmt("{\"sub\":\"%s\",\"role\":\"student\"}", upper);
	forms[2] = fmt("{\"sub\": \"%s\", \"role\": \"student\", \"exp\": 1}", u);
	forms[3] = fmt("{\"role\":\"student\",\"sub\":\"%s\"}", u);
	forms[4] = fmt("{\"sub\":\"%s\",\"role\":\"stud\\u0065nt\"} ", u);
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		claims_on(db, forms[i]);
		ck_assert_msg(strcmp(jstr(state(attempt), "attempt_id"), attempt) == 0,
			      "claims %s: %s", forms[i], show(state(attempt)));
	}
	claims_on(db, fmt("{\"sub\":\"%s\",\"role\":\"proctor\"}", new_uuid()));
	ck_assert_str_eq(jstr(state(attempt), "attempt_id"), attempt); /* staff reads any */
	claims_on(db, fmt("{\"sub\":\"%s\",\"role\":\"student\"}", new_uuid()));
	ck_assert_err(state(attempt), "not_found"); /* another student */
}
END_TEST

/* require_caller, the one check every entry point starts with: the caller
 * for any role with NULL, forbidden (naming the roles) outside the list,
 * unauthorized without claims, whatever the list. */
START_TEST(test_require_caller)
{
	const char *u = new_uuid();
	const char *q = "SELECT concat_ws('|', c.sub, c.role, c.error #>> '{error,code}', "
			"c.error #>> '{error,message}') FROM attempts.require_caller($1::text[]) c";

	as_on(db, u, "proctor");
	ck_assert_str_eq(V(q, NULL), fmt("%s|proctor", u));
	ck_assert_str_eq(V(q, "{proctor,admin}"), fmt("%s|proctor", u));
	ck_assert_str_eq(V(q, "{admin}"), fmt("%s|proctor|forbidden|admin role required", u));
	as_on(db, u, "student");
	ck_assert_str_eq(V(q, "{proctor,admin}"),
			 fmt("%s|student|forbidden|proctor or admin role required", u));
	V0("RESET request.jwt.claims");
	ck_assert_str_eq(V(q, NULL), "unauthorized|missing or invalid request.jwt.claims");
	ck_assert_str_eq(V(q, "{admin}"), "unauthorized|missing or invalid request.jwt.claims");
}
END_TEST

/* ------------------------------------------------------------ exams */

START_TEST(test_create_exam_defaults)
{
	const char *title = fmt("defaults %s", new_uuid());
	cJSON *r, *g;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.create_exam($1)", fmt("{\"title\": \"%s\"}", title));
	ck_assert_ok(r);
	ck_assert(has_keys(
		r, "exam_id,title,time_limit_s,grace_s,max_attempts,opens_at,closes_at,upload"));
	ck_assert_str_eq(jstr(r, "title"), title);
	ck_assert(jnull(r, "time_limit_s"));
	ck_assert_int_eq(jint(r, "grace_s"), 0);
	ck_assert_int_eq(jint(r, "max_attempts"), 1);
	ck_assert(jnull(r, "opens_at"));
	ck_assert(jnull(r, "closes_at"));
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 10485760);
	ck_assert_str_eq(show(jget(r, "upload.allowed_types")),
			 "[\"application/pdf\",\"image/png\",\"image/jpeg\",\"text/plain\"]");

	as(new_uuid(), "student");
	g = J("SELECT attempts.get_exam($1)", jstr(r, "exam_id"));
	ck_assert_str_eq(show(g), show(r));
}
END_TEST

START_TEST(test_create_exam_fields)
{
	cJSON *r;

	as(new_uuid(), "admin");
	r = J("SELECT attempts.create_exam($1)",
	      "{\"title\": \"full\", \"time_limit_s\": 3600, \"grace_s\": 30, \"max_attempts\": 3,"
	      " \"opens_at\": \"2020-01-01T00:00:00Z\", \"closes_at\": "
	      "\"2099-01-01T10:00:00+02:00\","
	      " \"upload\": {\"max_bytes\": 2048}}");
	ck_assert_ok(r);
	ck_assert_int_eq(jint(r, "time_limit_s"), 3600);
	ck_assert_int_eq(jint(r, "grace_s"), 30);
	ck_assert_int_eq(jint(r, "max_attempts"), 3);
	ck_assert_str_eq(jstr(r, "opens_at"), "2020-01-01T00:00:00.000000Z");
	ck_assert_str_eq(jstr(r, "closes_at"), "2099-01-01T08:00:00.000000Z");
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 2048);
	/* a partial upload object keeps the other defaults */
	ck_assert_int_eq(jsize(r, "upload.allowed_types"), 4);

	r = J("SELECT attempts.create_exam($1)",
	      "{\"title\": \"types\", \"upload\": {\"allowed_types\": [\"Text/Plain\", "
	      "\"text/plain\", \"application/zip\"]}}");
	ck_assert_ok(r);
	ck_assert_str_eq(show(jget(r, "upload.allowed_types")),
			 "[\"text/plain\",\"application/zip\"]");
	ck_assert_int_eq(jint(r, "upload.max_bytes"), 10485760);
}
END_TEST

START_TEST(test_create_exam_forbidden)
{
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.create_exam($1)", "{\"title\": \"no\"}"), "forbidden");
}
END_TEST

/* list_exams: staff only, newest first, limit and before checked. */
START_TEST(test_list_exams)
{
	const char *older = mk_exam(NULL), *newer = mk_exam(NULL);

	as(new_uuid(), "proctor");
	ck_assert_str_eq(V0("SELECT string_agg(e ->> 'exam_id', ',') FROM "
			    "jsonb_array_elements(attempts.list_exams('2') -> 'exams') e"),
			 fmt("%s,%s", newer, older));
	ck_assert_str_eq(
		V("SELECT attempts.list_exams('5', $1) #>> '{exams,0,exam_id}'",
		  V("SELECT attempts.ts(created_at) FROM attempts.exams WHERE exam_id = $1",
		    newer)),
		older);
	ck_assert_err(J0("SELECT attempts.list_exams('0')"), "validation_failed");
	ck_assert_err(J0("SELECT attempts.list_exams('1001')"), "validation_failed");
	ck_assert_err(J0("SELECT attempts.list_exams(NULL, 'soon')"), "validation_failed");
	as(new_uuid(), "student");
	ck_assert_err(J0("SELECT attempts.list_exams()"), "forbidden");
}
END_TEST

START_TEST(test_create_exam_validation)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{}", "title"},
		{"{\"title\": \"\"}", "title"},
		{"{\"title\": 5}", "title"},
		{"{\"title\": \"t\", \"time_limit_s\": 0}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": 604801}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": 1.5}", "time_limit_s"},
		{"{\"title\": \"t\", \"time_limit_s\": \"60\"}", "time_limit_s"},
		{"{\"title\": \"t\", \"grace_s\": -1}", "grace_s"},
		{"{\"title\": \"t\", \"max_attempts\": 0}", "max_attempts"},
		{"{\"title\": \"t\", \"max_attempts\": 1001}", "max_attempts"},
		{"{\"title\": \"t\", \"opens_at\": \"yesterday\"}", "opens_at"},
		{"{\"title\": \"t\", \"closes_at\": \"now\"}", "closes_at"},
		{"{\"title\": \"t\", \"opens_at\": \"2030-01-02T00:00:00Z\", \"closes_at\": "
		 "\"2030-01-01T00:00:00Z\"}",
		 "closes_at"},
		{"{\"title\": \"t\", \"upload\": 5}", "upload"},
		{"{\"title\": \"t\", \"upload\": {\"max_bytes\": 0}}", "upload.max_bytes"},
		{"{\"title\": \"t\", \"upload\": {\"max_bytes\": 1073741825}}", "upload.max_bytes"},
		{"{\"title\": \"t\", \"upload\": {\"allowed_types\": []}}", "upload.allowed_types"},
		{"{\"title\": \"t\", \"upload\": {\"allowed_types\": [\"text/plain\", \"pdf\"]}}",
		 "upload.allowed_types[1]"},
	};
	const char *before;

	as(new_uuid(), "proctor");
	before = V0("SELECT count(*) FROM attempts.exams");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *r = J("SELECT attempts.create_exam($1)", cases[i].body);

		ck_assert_err(r, "validation_failed");
		ck_assert_field(r, cases[i].field);
	}
	ck_assert_err(J("SELECT attempts.create_exam($1)", "[]"), "validation_failed");
	ck_assert_str_eq(V0("SELECT count(*) FROM attempts.exams"), before);
}
END_TEST

START_TEST(test_get_exam_not_found)
{
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.get_exam($1)", new_uuid()), "not_found");
}
END_TEST

/* ------------------------------------------------------------ start */

START_TEST(test_start_creates_state)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	cJSON *r;

	as(u, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	ck_assert(jtrue(r, "created"));
	ck_assert(has_keys(r, "created,state"));
	ck_assert_msg(has_keys(jget(r, "state"), STATE_KEYS), "state keys: %s", show(r));
	ck_assert_str_eq(jstr(r, "state.exam_id"), exam);
	ck_assert_str_eq(jstr(r, "state.user_id"), u);
	ck_assert_int_eq(jint(r, "state.attempt_number"), 1);
	ck_assert_str_eq(jstr(r, "state.status"), "in_progress");
	ck_assert_str_eq(show(jget(r, "state.answers")), "{}");
	ck_assert_str_eq(show(jget(r, "state.auto_save_data")), "{}");
	ck_assert_int_eq(jint(r, "state.version"), 1);
	ck_assert(is_ts(jstr(r, "state.started_at")));
	ck_assert(is_ts(jstr(r, "state.updated_at")));
	ck_assert(jnull(r, "state.deadline_at"));
	ck_assert(jnull(r, "state.submitted_at"));
	ck_assert(jnull(r, "state.time_remaining_s"));
}
END_TEST

START_TEST(test_start_twice_same_attempt)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r = J("SELECT attempts.start_attempt($1)", exam);

	ck_assert_ok(r);
	ck_assert(jfalse(r, "created"));
	ck_assert_str_eq(jstr(r, "state.attempt_id"), a);
	ck_assert_str_eq(V("SELECT count(*) FROM attempts.attempts WHERE exam_id = $1", exam), "1");
}
END_TEST

START_TEST(test_start_deadline)
{
	const char *exam = mk_exam("\"time_limit_s\": 600"), *u = new_uuid();
	cJSON *r;
	long left;

	as(u, "student");
	r = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert_ok(r);
	ck_assert(is_ts(jstr(r, "state.deadline_at")));
	left = jint(r, "state.time_remaining_s");
	ck_assert_msg(left >= 598 && left <= 600, "time_remaining_s %ld", left);
	ck_assert_str_eq(
		V("SELECT deadline_at - started_at = interval '600 s' FROM attempts.attempts "
		  "WHERE attempt_id = $1",
		  jstr(r, "state.attempt_id")),
		"t");
}
END_TEST

START_TEST(test_start_max_attempts)
{
	const char *one = mk_exam(NULL), *two = mk_exam("\"max_attempts\": 2");
	const char *u = new_uuid(), *a;
	cJSON *r;

	a = mk_attempt(u, one);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.start_attempt($1)", one);
	ck_assert_err(r, "max_attempts_reached");

	a = mk_attempt(u, two);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.start_attempt($1)", two);
	ck_assert_ok(r);
	ck_assert(jtrue(r, "created"));
	ck_assert_int_eq(jint(r, "state.attempt_number"), 2);
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", jstr(r, "state.attempt_id")));
	ck_assert_err(J("SELECT attempts.start_attempt($1)", two), "max_attempts_reached");
}
END_TEST

START_TEST(test_start_exam_closed)
{
	const char *past = mk_exam("\"closes_at\": \"2001-01-01T00:00:00Z\"");
	const char *future = mk_exam("\"opens_at\": \"2999-01-01T00:00:00Z\"");
	const char *open = mk_exam(
		"\"opens_at\": \"2001-01-01T00:00:00Z\", \"closes_at\": \"2999-01-01T00:00:00Z\"");

	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.start_attempt($1)", past), "exam_closed");
	ck_assert_err(J("SELECT attempts.start_attempt($1)", future), "exam_closed");
	ck_assert_ok(J("SELECT attempts.start_attempt($1)", open));
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempts WHERE exam_id IN ($1, $2)", past, future),
		"0");
}
END_TEST

START_TEST(test_start_unknown_exam)
{
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.start_attempt($1)", new_uuid()), "not_found");
	ck_assert_err(J0("SELECT attempts.start_attempt(NULL)"), "validation_failed");
}
END_TEST

/* Two concurrent starts: the second waits for the first and gets its attempt. */
START_TEST(test_start_concurrent)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	PGconn *other = connect_db();
	const char *params[] = {exam};
	PGresult *res;
	cJSON *first, *second;

	as(u, "student");
	as_on(other, u, "student");
	V0("BEGIN");
	first = J("SELECT attempts.start_attempt($1)", exam);
	ck_assert(jtrue(first, "created"));

	ck_assert_int_eq(PQsendQueryParams(other, "SELECT attempts.start_attempt($1)", 1, NULL,
					   params, NULL, NULL, 0),
			 1);
	nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
	ck_assert_int_eq(PQconsumeInput(other), 1);
	ck_assert_msg(PQisBusy(other), "the second start did not wait for the first");
	V0("COMMIT");

	res = PQgetResult(other);
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	second = keep(cJSON_Parse(PQgetvalue(res, 0, 0)), KEPT_JSON);
	PQclear(res);
	ck_assert_ptr_null(PQgetResult(other));
	PQfinish(other);

	ck_assert_msg(jfalse(second, "created"), "second: %s", show(second));
	ck_assert_str_eq(jstr(second, "state.attempt_id"), jstr(first, "state.attempt_id"));
	ck_assert_str_eq(V("SELECT count(*) FROM attempts.attempts WHERE exam_id = $1", exam), "1");
}
END_TEST

/* ------------------------------------------------------------ reads */

START_TEST(test_state_access)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	r = state(a);
	ck_assert_msg(has_keys(r, STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "attempt_id"), a);

	as(new_uuid(), "student");
	ck_assert_err(state(a), "not_found");
	ck_assert_err(J("SELECT attempts.get_attempt_info($1)", a), "not_found");
	as(new_uuid(), "proctor");
	ck_assert_str_eq(jstr(state(a), "attempt_id"), a);
	as(new_uuid(), "admin");
	ck_assert_str_eq(jstr(state(a), "attempt_id"), a);
	ck_assert_err(state(new_uuid()), "not_found");
}
END_TEST

START_TEST(test_info_shape)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *title = V("SELECT title FROM attempts.exams WHERE exam_id = $1", exam);
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.log_attempt_activity($1, $2)", a,
		       "[{\"event_type\": \"focus\"}, {\"event_type\": \"blur\"}]"));
	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_msg(has_keys(r, "attempt_id,exam_id,user_id,attempt_number,status,version,"
				  "started_at,deadline_at,submitted_at,updated_at,time_remaining_s,"
				  "exam_title,activity_count,upload_count,submit_reason,receipt"),
		      "info keys: %s", show(r));
	ck_assert_str_eq(jstr(r, "exam_title"), title);
	ck_assert_int_eq(jint(r, "activity_count"), 2);
	ck_assert_int_eq(jint(r, "upload_count"), 0);
	ck_assert(jnull(r, "submit_reason"));
	ck_assert(jnull(r, "receipt"));

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(r, "submit_reason"), "student");
	ck_assert_int_eq((int)strlen(jstr(r, "receipt")), 64);
	ck_assert(is_ts(jstr(r, "submitted_at")));
}
END_TEST

START_TEST(test_ts_format)
{
	ck_assert_str_eq(V0("SELECT attempts.ts('2024-02-29 23:59:58.5-01:30')"),
			 "2024-03-01T01:29:58.500000Z");
	ck_assert_ptr_null(V0("SELECT attempts.ts(NULL)"));
	ck_assert(is_ts(V0("SELECT attempts.ts(now())")));
}
END_TEST

/* ------------------------------------------------------------ save */

START_TEST(test_save_versions)
{
	const char *exam = mk_exam("\"time_limit_s\": 900"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"a\"}");
	ck_assert_ok(r);
	ck_assert(has_keys(r, "attempt_id,version,saved_at,time_remaining_s"));
	ck_assert_str_eq(jstr(r, "attempt_id"), a);
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert(is_ts(jstr(r, "saved_at")));
	ck_assert(jint(r, "time_remaining_s") > 890);
	r = J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "{\"p\": 1}");
	ck_assert_int_eq(jint(r, "version"), 3);
	r = J("SELECT attempts.save_attempt($1, $2, $3, 3)", a, "{\"q2\": 2}", "{\"p\": 2}");
	ck_assert_int_eq(jint(r, "version"), 4);
	ck_assert_int_eq(jint(state(a), "version"), 4);
}
END_TEST

START_TEST(test_save_merge)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *s;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": \"a\", \"q2\": {\"x\": null, \"y\": 1}, \"q3\": [1, null]}"));
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": null, \"q4\": false, \"absent\": null}"));
	s = state(a);
	ck_assert_ptr_null(jget(s, "answers.q1")); /* null removes the key */
	ck_assert_ptr_null(jget(s, "answers.absent"));
	ck_assert(jnull(s, "answers.q2.x"));	      /* only at the top level */
	ck_assert_int_eq(jint(s, "answers.q2.y"), 1); /* other keys kept */
	ck_assert(jnull(s, "answers.q3.1"));
	ck_assert(jfalse(s, "answers.q4"));
	ck_assert_int_eq(jsize(s, "answers"), 3);
}
END_TEST

START_TEST(test_save_auto_save_replaced)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *s;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "{\"a\": 1, \"b\": 2}"));
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, $3, NULL)", a, "{\"q\": 1}", "{\"c\": 3}"));
	s = state(a);
	ck_assert_str_eq(show(jget(s, "auto_save_data")), "{\"c\":3}");
	/* answers alone leave auto_save_data as it is */
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 2}"));
	ck_assert_str_eq(show(jget(state(a), "auto_save_data")), "{\"c\":3}");
}
END_TEST

START_TEST(test_save_version_conflict)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r, *before;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, $3, 1)", a, "{\"q1\": \"a\"}",
		       "{\"p\": 1}"));
	before = row(a);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"b\"}");
	ck_assert_err(r, "version_conflict");
	ck_assert_int_eq(jint(r, "error.details.current_version"), 2);
	ck_assert_str_eq(show(jget(r, "error.details.answers")), "{\"q1\":\"a\"}");
	ck_assert_str_eq(show(jget(r, "error.details.auto_save_data")), "{\"p\":1}");
	ck_assert_str_eq(show(row(a)), show(before));
	ck_assert_int_eq(jint(state(a), "version"), 2);
}
END_TEST

START_TEST(test_save_access)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *before = row(a);

	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"),
		      "not_found");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"),
		      "forbidden");
	as(new_uuid(), "admin");
	ck_assert_err(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"),
		      "forbidden");
	ck_assert_err(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", new_uuid(), "{\"q\": 1}"),
		"not_found");
	ck_assert_str_eq(show(row(a)), show(before));
}
END_TEST

START_TEST(test_save_validation)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *before = row(a), *r;

	r = J("SELECT attempts.save_attempt($1, NULL, NULL, NULL)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, 'null', 'null', NULL)", a);
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "[1, 2]");
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "answers");
	r = J("SELECT attempts.save_attempt($1, NULL, $2, NULL)", a, "\"text\"");
	ck_assert_field(r, "auto_save_data");
	ck_assert_str_eq(show(row(a)), show(before));
}
END_TEST

START_TEST(test_save_payload_too_large)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *before, *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a,
		       "{\"q1\": \"short\"}"));
	before = row(a);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a,
	      "{\"q2\": "
	      "\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901"
	      "234567890123456789\"}");
	ck_assert_err(r, "payload_too_large");
	ck_assert_int_eq(jint(r, "error.details.limit"), 100);
	ck_assert_str_eq(show(row(a)), show(before));
	/* removing keys shrinks the text again */
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL, 100)", a, "{\"q1\": null}"));
}
END_TEST

START_TEST(test_save_after_deadline_closes)
{
	const char *exam = mk_exam("\"time_limit_s\": 1"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r, *info;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, 1)", a, "{\"q1\": \"in time\"}"));
	backdate(a, 3600);
	r = J("SELECT attempts.save_attempt($1, $2, NULL, 2)", a, "{\"q1\": \"late\", \"q2\": 1}");
	ck_assert_err(r, "attempt_closed");

	info = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(info, "status"), "submitted");
	ck_assert_str_eq(jstr(info, "submit_reason"), "deadline");
	ck_assert_int_eq(jint(info, "version"), 3);
	ck_assert_str_eq(jstr(info, "receipt"), sha256_hex("{\"q1\":\"in time\"}"));
	ck_assert_str_eq(show(jget(state(a), "answers")), "{\"q1\":\"in time\"}");
	ck_assert(jnull(state(a), "time_remaining_s"));
	/* from now on it is simply submitted */
	ck_assert_err(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"),
		      "attempt_submitted");
}
END_TEST

START_TEST(test_save_within_grace)
{
	const char *exam = mk_exam("\"time_limit_s\": 60, \"grace_s\": 3600"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	backdate(a, 120); /* deadline passed a minute ago, grace an hour */
	r = J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q1\": 1}");
	ck_assert_ok(r);
	ck_assert_int_eq(jint(r, "time_remaining_s"), 0);
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
}
END_TEST

/* ------------------------------------------------------------ submit */

START_TEST(test_submit_receipt)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"b\": [1.0, \"x\\n\\\"\"], \"a\": {\"d\": true, \"c\": null}, "
		       "\"\xc3\xa9\": 0.10}"));
	r = J("SELECT attempts.submit_attempt($1, $2, 2)", a, "{\"z\": 1e21, \"y\": -0}");
	ck_assert_ok(r);
	ck_assert_msg(has_keys(r, STATE_KEYS ",receipt,already_submitted"), "%s", show(r));
	ck_assert(jfalse(r, "already_submitted"));
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_int_eq(jint(r, "version"), 3); /* one step, final answers included */
	ck_assert(is_ts(jstr(r, "submitted_at")));
	ck_assert(jnull(r, "time_remaining_s"));
	ck_assert_str_eq(jstr(r, "receipt"),
			 sha256_hex("{\"a\":{\"c\":null,\"d\":true},\"b\":[1,\"x\\n\\\"\"],"
				    "\"y\":0,\"z\":1e+21,\"\xc3\xa9\":0.1}"));
}
END_TEST

START_TEST(test_submit_idempotent)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *first, *again;

	first = J("SELECT attempts.submit_attempt($1, $2)", a, "{\"q\": \"x\"}");
	ck_assert_ok(first);
	again = J("SELECT attempts.submit_attempt($1, $2, 1)", a, "{\"q\": \"changed\"}");
	ck_assert_ok(again);
	ck_assert(jtrue(again, "already_submitted"));
	ck_assert_str_eq(jstr(again, "receipt"), jstr(first, "receipt"));
	ck_assert_int_eq(jint(again, "version"), jint(first, "version"));
	ck_assert_str_eq(show(jget(again, "answers")), "{\"q\":\"x\"}");
	ck_assert_str_eq(jstr(again, "receipt"), sha256_hex("{\"q\":\"x\"}"));
}
END_TEST

START_TEST(test_submit_version_conflict)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *before, *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	before = row(a);
	r = J("SELECT attempts.submit_attempt($1, $2, 1)", a, "{\"q\": 2}");
	ck_assert_err(r, "version_conflict");
	ck_assert_int_eq(jint(r, "error.details.current_version"), 2);
	ck_assert_str_eq(show(row(a)), show(before));
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
}
END_TEST

START_TEST(test_submit_access)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *before = row(a);

	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.submit_attempt($1)", a), "not_found");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.submit_attempt($1)", a), "forbidden");
	ck_assert_str_eq(show(row(a)), show(before));
}
END_TEST

START_TEST(test_submit_after_deadline)
{
	const char *exam = mk_exam("\"time_limit_s\": 1"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *info;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	backdate(a, 60);
	ck_assert_err(J("SELECT attempts.submit_attempt($1, $2)", a, "{\"q\": 2}"),
		      "attempt_closed");
	info = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(info, "submit_reason"), "deadline");
	ck_assert_str_eq(jstr(info, "receipt"), sha256_hex("{\"q\":1}"));
}
END_TEST

/* ------------------------------------------------------------ activity */

START_TEST(test_activity_dedupe)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"answer_changed\", \"payload\": {\"q\": 1}, \"client_event_id\": "
	      "\"tab1-1\","
	      "  \"occurred_at\": \"2024-05-01T10:00:00.123Z\"},"
	      " {\"event_type\": \"answer_changed\", \"client_event_id\": \"tab1-1\"},"
	      " {\"event_type\": \"focus\"}, {\"event_type\": \"focus\"}]");
	ck_assert_ok(r);
	ck_assert(has_keys(r, "logged,duplicates"));
	ck_assert_int_eq(jint(r, "logged"), 3);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	/* the first occurrence won */
	ck_assert_str_eq(V("SELECT payload::text FROM attempts.attempt_activity "
			   "WHERE attempt_id = $1 AND client_event_id = 'tab1-1'",
			   a),
			 "{\"q\": 1}");

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"x\", \"client_event_id\": \"tab1-1\"},"
	      " {\"event_type\": \"x\", \"client_event_id\": \"tab1-2\"}]");
	ck_assert_int_eq(jint(r, "logged"), 1);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	ck_assert_int_eq(jint(state(a), "version"), 1); /* activity changes no version */
	ck_assert_int_eq(jint(J("SELECT attempts.get_attempt_info($1)", a), "activity_count"), 4);
	r = J("SELECT attempts.log_attempt_activity($1, '[]')", a);
	ck_assert_int_eq(jint(r, "logged"), 0);
}
END_TEST

START_TEST(test_activity_access)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	const char *ev = "[{\"event_type\": \"late\"}]";

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_int_eq(jint(J("SELECT attempts.log_attempt_activity($1, $2)", a, ev), "logged"),
			 1);
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.log_attempt_activity($1, $2)", a, ev), "not_found");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.log_attempt_activity($1, $2)", a, ev), "forbidden");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1", a), "1");
}
END_TEST

START_TEST(test_activity_validation)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.log_attempt_activity($1, $2)", a, "{\"event_type\": \"x\"}");
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "events");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\"}, {\"event_type\": \"Bad Type\"}]");
	ck_assert_field(r, "events[1].event_type");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\", \"occurred_at\": \"2024-13-01T00:00:00Z\"}]");
	ck_assert_field(r, "events[0].occurred_at");
	r = J("SELECT attempts.log_attempt_activity($1, $2)", a,
	      "[{\"event_type\": \"ok\", \"client_event_id\": \"\"}]");
	ck_assert_field(r, "events[0].client_event_id");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1", a), "0");
}
END_TEST

/* ------------------------------------------------------------ extend, sweep */

START_TEST(test_extend_by_proctor)
{
	const char *exam = mk_exam("\"time_limit_s\": 600"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	const char *deadline = jstr(state(a), "deadline_at");
	cJSON *r;

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.extend_attempt($1, 600)", a);
	ck_assert_ok(r);
	ck_assert_msg(has_keys(r, STATE_KEYS), "%s", show(r));
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert_str_eq(V("SELECT ($1::timestamptz - $2::timestamptz)::text",
			   jstr(r, "deadline_at"), deadline),
			 "00:10:00");
	ck_assert(jint(r, "time_remaining_s") > 1190);
	as(new_uuid(), "admin");
	ck_assert_int_eq(jint(J("SELECT attempts.extend_attempt($1, 1)", a), "version"), 3);
}
END_TEST

START_TEST(test_extend_refusals)
{
	const char *timed = mk_exam("\"time_limit_s\": 600"), *open = mk_exam(NULL);
	const char *u = new_uuid();
	const char *a = mk_attempt(u, timed), *b = mk_attempt(u, open);
	cJSON *r;

	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", a), "forbidden");
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", a), "not_found");
	as(new_uuid(), "proctor");
	r = J("SELECT attempts.extend_attempt($1, 0)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "extra_s");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 86401)", a), "validation_failed");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", b), "not_extendable");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", new_uuid()), "not_found");
	as(u, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.extend_attempt($1, 60)", a), "not_extendable");
	ck_assert_int_eq(jint(state(b), "version"), 1);
}
END_TEST

START_TEST(test_sweep)
{
	const char *exam = mk_exam("\"time_limit_s\": 60, \"max_attempts\": 5");
	const char *graced = mk_exam("\"time_limit_s\": 60, \"grace_s\": 3600");
	const char *u = new_uuid();
	const char *running = mk_attempt(new_uuid(), exam);
	const char *in_grace = mk_attempt(new_uuid(), graced);
	const char *expired = mk_attempt(u, exam);
	cJSON *r;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", expired, "{\"q\": [1, 2]}"));
	backdate(expired, 600);
	backdate(in_grace, 600);
	ck_assert_err(J0("SELECT attempts.close_expired_attempts()"), "forbidden");
	as(new_uuid(), "proctor");
	ck_assert_err(J0("SELECT attempts.close_expired_attempts()"), "forbidden");
	as(new_uuid(), "admin");
	r = J0("SELECT attempts.close_expired_attempts()");
	ck_assert_ok(r);
	ck_assert_msg(jint(r, "closed") >= 1, "%s", show(r));

	r = J("SELECT attempts.get_attempt_info($1)", expired);
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_str_eq(jstr(r, "submit_reason"), "deadline");
	ck_assert_int_eq(jint(r, "version"), 3);
	ck_assert_str_eq(jstr(r, "receipt"), sha256_hex("{\"q\":[1,2]}"));
	ck_assert_str_eq(jstr(state(running), "status"), "in_progress");
	ck_assert_str_eq(jstr(state(in_grace), "status"), "in_progress");
	ck_assert_int_eq(jint(J0("SELECT attempts.close_expired_attempts()"), "closed"), 0);
}
END_TEST

/* A second sweep while one runs is skipped; a row another transaction holds
 * is left alone instead of waited for. */
START_TEST(test_sweep_concurrent)
{
	const char *exam = mk_exam("\"time_limit_s\": 1");
	const char *held = mk_attempt(new_uuid(), exam);
	const char *admin = new_uuid();
	PGconn *other = connect_db();
	cJSON *r;

	backdate(held, 60);
	as(admin, "admin");
	as_on(other, admin, "admin");
	val_on(other, "BEGIN", 0, NULL);
	ck_assert_ok(json_on(other, "SELECT attempts.close_expired_attempts()", 0, NULL));
	r = J0("SELECT attempts.close_expired_attempts()");
	ck_assert_str_eq(show(r), "{\"closed\":0,\"skipped\":true}");
	val_on(other, "ROLLBACK", 0, NULL);

	val_on(other, "BEGIN", 0, NULL);
	val_on(other, "SELECT 1 FROM attempts.attempts WHERE attempt_id = $1 FOR UPDATE", 1,
	       (const char *[]){held});
	ck_assert_ok(J0("SELECT attempts.close_expired_attempts()"));
	ck_assert_str_eq(jstr(state(held), "status"), "in_progress");
	val_on(other, "ROLLBACK", 0, NULL);
	PQfinish(other);
	ck_assert_ok(J0("SELECT attempts.close_expired_attempts()"));
	ck_assert_str_eq(jstr(state(held), "status"), "submitted");
}
END_TEST

/* ------------------------------------------------------------ JCS */

static const char *jcs(const char *json)
{
	return V("SELECT attempts.jcs($1::jsonb)", json);
}

START_TEST(test_jcs_structure)
{
	ck_assert_str_eq(jcs("{\"b\": 1, \"a\": {\"d\": [], \"c\": {}}, \"A\": null}"),
			 "{\"A\":null,\"a\":{\"c\":{},\"d\":[]},\"b\":1}");
	ck_assert_str_eq(jcs("[3, [2, [1]], true, false, null]"), "[3,[2,[1]],true,false,null]");
	/* keys by code point: "" < "A" < "a" < "z" < "é" < "€" */
	ck_assert_str_eq(jcs("{\"\xe2\x82\xac\": 1, \"\xc3\xa9\": 2, \"z\": 3, \"a\": 4, \"A\": 5, "
			     "\"\": 6}"),
			 "{\"\":6,\"A\":5,\"a\":4,\"z\":3,\"\xc3\xa9\":2,\"\xe2\x82\xac\":1}");
	ck_assert_str_eq(jcs("{}"), "{}");
	ck_assert_str_eq(jcs("\"x\""), "\"x\"");
}
END_TEST

START_TEST(test_jcs_strings)
{
	/* quotes, backslash, the short escapes, other controls as \u00xx, rest raw */
	ck_assert_str_eq(jcs("\"q\\\"b\\\\s\\/\""), "\"q\\\"b\\\\s/\"");
	ck_assert_str_eq(jcs("\"\\n\\r\\t\\b\\f\""), "\"\\n\\r\\t\\b\\f\"");
	ck_assert_str_eq(jcs("\"\\u0001\\u001F\\u007f\""), "\"\\u0001\\u001f\x7f\"");
	ck_assert_str_eq(jcs("\"\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\""),
			 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc3\xa9\"");
	ck_assert_str_eq(jcs("{\"k\\n\\\"\": \"v\"}"), "{\"k\\n\\\"\":\"v\"}");
}
END_TEST

START_TEST(test_jcs_numbers)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"1.0", "1"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0.1", "0.1"},
		{"1e21", "1e+21"},
		{"1e20", "100000000000000000000"},
		{"1e-7", "1e-7"},
		{"0.000001", "0.000001"},
		{"1.5e-10", "1.5e-10"},
		{"-1e-7", "-1e-7"},
		{"123.4500", "123.45"},
		{"1E30", "1e+30"},
		{"4.50", "4.5"},
		{"2e-3", "0.002"},
		{"333333333.33333329", "333333333.3333333"},
		{"0.000000000000000000000000001", "1e-27"},
		{"9007199254740993", "9007199254740992"},
		{"12345678901234567890", "12345678901234567000"},
		{"123456789012345678901234", "1.2345678901234569e+23"},
		{"-3.9126e21", "-3.9126e+21"}, /* a boundary case PostgreSQL prints longer */
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"1e400", "null"},
		{"-1e-400", "0"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = jcs(cases[i].in);

		ck_assert_msg(strcmp(got, cases[i].out) == 0, "jcs(%s) = %s, want %s", cases[i].in,
			      got, cases[i].out);
	}
	V0("SET extra_float_digits = 0"); /* the session's setting must not matter */
	ck_assert_str_eq(jcs("[0.1, 333333333.33333329]"), "[0.1,333333333.3333333]");
}
END_TEST

/* ------------------------------------------------------------ batch */

START_TEST(test_batch_save)
{
	const char *exam = mk_exam(NULL), *u = new_uuid(), *other = new_uuid();
	const char *theirs = mk_attempt(other, exam);
	const char *mine = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1}, \"expected_version\": 1},"
		  " {\"attempt_id\": \"not-a-uuid\", \"answers\": {}},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		  " {\"attempt_id\": \"%s\", \"answers\": [1]},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q1\": 2}, \"expected_version\": 1},"
		  " {\"attempt_id\": \"%s\", \"auto_save_data\": {\"p\": 9}, \"expected_version\": "
		  "2},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}}]",
		  mine, theirs, mine, mine, mine, new_uuid()));
	ck_assert_int_eq(jsize(r, NULL), 7);
	ck_assert(jtrue(r, "0.success"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "0.version"), 2);
	ck_assert(jfalse(r, "1.success"));
	ck_assert_str_eq(jstr(r, "1.error.code"), "validation_failed");
	ck_assert_str_eq(jstr(r, "1.error.details.field"), "data[1].attempt_id");
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "2.attempt_id"), theirs);
	ck_assert_str_eq(jstr(r, "3.error.details.field"), "data[3].answers");
	ck_assert_str_eq(jstr(r, "4.error.code"), "version_conflict");
	ck_assert_int_eq(jint(r, "4.error.details.current_version"), 2);
	ck_assert(jtrue(r, "5.success"));
	ck_assert_int_eq(jint(r, "5.version"), 3);
	ck_assert_str_eq(jstr(r, "6.error.code"), "not_found");

	r = state(mine);
	ck_assert_str_eq(show(jget(r, "answers")), "{\"q1\":1}");
	ck_assert_str_eq(show(jget(r, "auto_save_data")), "{\"p\":9}");
	as(other, "student");
	ck_assert_int_eq(jint(state(theirs), "version"), 1);
	ck_assert_err(J("SELECT attempts.batch_save_attempts($1)", "{}"), "validation_failed");
	ck_assert_int_eq(jsize(J0("SELECT attempts.batch_save_attempts('[]')"), NULL), 0);
}
END_TEST

/* Items naming one attempt twice are applied in input order, each seeing
 * the one before (batch_save takes the item-by-item path for them). */
START_TEST(test_batch_save_same_attempt_twice)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *mine = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1, \"q2\": 2}, "
		  "\"expected_version\": 1},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q1\": null}, \"expected_version\": 2},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q3\": 3}, \"expected_version\": 2}]",
		  mine, mine, mine));
	ck_assert_int_eq(jsize(r, NULL), 3);
	ck_assert_int_eq(jint(r, "0.version"), 2);
	ck_assert_int_eq(jint(r, "1.version"), 3);
	ck_assert_str_eq(jstr(r, "2.error.code"), "version_conflict");
	ck_assert_int_eq(jint(r, "2.error.details.current_version"), 3);
	ck_assert_str_eq(show(jget(state(mine), "answers")), "{\"q2\":2}");
}
END_TEST

/* An item for an attempt past its deadline closes it (reason deadline) as
 * save_attempt does, and the other items are saved. */
START_TEST(test_batch_save_past_deadline_closes)
{
	const char *u = new_uuid();
	const char *late = mk_attempt(u, mk_exam("\"time_limit_s\": 60"));
	const char *open = mk_attempt(u, mk_exam(NULL));
	cJSON *r;

	backdate(late, 120);
	r = J("SELECT attempts.batch_save_attempts($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		  " {\"attempt_id\": \"%s\", \"answers\": {\"q\": 2}}]",
		  open, late));
	ck_assert(jtrue(r, "0.success"));
	ck_assert_str_eq(jstr(r, "1.error.code"), "attempt_closed");
	r = row(late);
	ck_assert_str_eq(jstr(r, "status"), "submitted");
	ck_assert_str_eq(jstr(r, "submit_reason"), "deadline");
	ck_assert_str_eq(show(jget(r, "answers")), "{}");
	ck_assert_str_eq(show(jget(row(open), "answers")), "{\"q\":1}");
}
END_TEST

/* Runs batch function fn (batch_save_each or batch_save_set) for sub/role
 * on items with an answers limit of 200 bytes, in a transaction it rolls
 * back; returns its answer and sets *rows to sub's attempt rows as they
 * were before the rollback. */
static const char *batch_path(const char *fn, const char *sub, const char *role, const char *items,
			      const char **rows)
{
	const char *out;

	V0("BEGIN");
	out = V(fmt("SELECT attempts.%s($1, $2, $3, 200)::text", fn), sub, role, items);
	*rows = V("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(attempt_id, status,"
		  " submit_reason, answers, auto_save_data, version) ORDER BY attempt_id)::text"
		  " FROM attempts.attempts WHERE user_id = $1",
		  sub);
	V0("ROLLBACK");
	return out;
}

/* Asserts a and b are equal texts; on a difference, shows where (Check's
 * messages are short, the texts are not). */
static void expect_same_text(const char *what, const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	ck_assert_msg(a[i] == b[i], "%s differ at byte %zu:\n  %.120s\n  %.120s", what, i,
		      a + (i > 40 ? i - 40 : 0), b + (i > 40 ? i - 40 : 0));
}

/* The one-statement path (batch_save_set) answers and writes exactly what
 * the item-by-item path (batch_save_each) does, for every kind of item it
 * serves (distinct attempts, none past its deadline), as a student and as
 * staff saving their own attempts. */
START_TEST(test_batch_save_paths_agree)
{
	static const char *const roles[] = {"student", "proctor", "admin"};
	const char *u = new_uuid(), *theirs = mk_attempt(new_uuid(), mk_exam(NULL));
	const char *a[12], *items;

	for (int i = 0; i < 12; i++)
		a[i] = mk_attempt(u, mk_exam(NULL));
	as(u, "student");
	ck_assert_ok(J("SELECT attempts.save_attempt($1::uuid, $2::jsonb, '{\"p\": 1}'::jsonb, "
		       "NULL::int, 524288)",
		       a[1], "{\"q1\": \"x\", \"q2\": {\"n\": null}, \"q3\": 3}"));
	V("UPDATE attempts.attempts SET status = 'submitted', submitted_at = now(),"
	  " submit_reason = 'student', receipt = repeat('0', 64) WHERE attempt_id = $1",
	  a[9]);
	items = fmt(
		"[{\"attempt_id\": \"%s\", \"answers\": {\"q1\": 1}, \"expected_version\": 1},"
		" 7, [1], null,"
		" {\"attempt_id\": \"%s\", \"answers\": {\"q1\": null, \"q3\": [null], \"q4\": {}},"
		"  \"auto_save_data\": {\"p\": 2}, \"expected_version\": 2},"
		" {\"attempt_id\": \"%s\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": [1]},"
		" {\"attempt_id\": \"%s\", \"auto_save_data\": \"x\"},"
		" {\"attempt_id\": \"%s\", \"expected_version\": \"1\", \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"expected_version\": 1.5, \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"expected_version\": 9, \"answers\": {}},"
		" {\"attempt_id\": \"%s\", \"answers\": null, \"auto_save_data\": null},"
		" {\"attempt_id\": \"%s\", \"answers\": {\"big\": \"%0300d\"}},"
		" {\"attempt_id\": \"%s\", \"answers\": {\"q\": 1}},"
		" {\"attempt_id\": \"NOT-A-UUID\"}, {\"attempt_id\": 5}, {},"
		" {\"attempt_id\": \"%s\", \"auto_save_data\": {\"only\": true}},"
		" {\"attempt_id\": \"%s\", \"answers\": {}, \"expected_version\": 1}]",
		a[0], a[1], theirs, new_uuid(), a[2], a[3], a[4], a[5], a[6], a[7], a[8], 0, a[9],
		a[10], a[11]);
	for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++) {
		const char *rows_each, *rows_set;
		const char *each = batch_path("batch_save_each", u, roles[k], items, &rows_each);
		const char *set = batch_path("batch_save_set", u, roles[k], items, &rows_set);

		expect_same_text(fmt("answers as %s (each, set)", roles[k]), each, set);
		expect_same_text(fmt("rows as %s (each, set)", roles[k]), rows_each, rows_set);
	}
	/* The comparison saw every kind of answer. */
	ck_assert_msg(
		strstr(V("SELECT attempts.batch_save_each($1, 'student', $2, 200)::text", u, items),
		       "payload_too_large") != NULL,
		"no item hit the size limit");
}
END_TEST

START_TEST(test_multiple_states)
{
	const char *exam = mk_exam(NULL), *u = new_uuid(), *other = new_uuid();
	const char *theirs = mk_attempt(other, exam);
	const char *mine = mk_attempt(u, exam);
	const char *missing = new_uuid();
	cJSON *r;

	r = J("SELECT attempts.get_multiple_attempt_states($1)",
	      fmt("{%s,%s,%s,%s}", mine, theirs, missing, mine));
	ck_assert_int_eq(jsize(r, NULL), 4);
	ck_assert_msg(has_keys(jget(r, "0"), STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_str_eq(jstr(r, "1.attempt_id"), theirs);
	ck_assert_str_eq(jstr(r, "1.error.code"), "not_found");
	ck_assert(has_keys(jget(r, "1"), "attempt_id,error"));
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "3.attempt_id"), mine);
	ck_assert_str_eq(jstr(r, "3.status"), "in_progress");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.get_multiple_attempt_states($1)", fmt("{%s,%s}", theirs, mine));
	ck_assert_str_eq(jstr(r, "0.user_id"), other);
	ck_assert_str_eq(jstr(r, "1.user_id"), u);
	ck_assert_int_eq(jsize(J0("SELECT attempts.get_multiple_attempt_states('{}')"), NULL), 0);
}
END_TEST

START_TEST(test_multiple_infos)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *mine = mk_attempt(u, exam);
	cJSON *r = J("SELECT attempts.get_multiple_attempt_infos($1)",
		     fmt("{%s,%s}", new_uuid(), mine));

	ck_assert_str_eq(jstr(r, "0.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "1.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "1.activity_count"), 0);
	ck_assert_ptr_null(jget(r, "1.answers"));
}
END_TEST

START_TEST(test_batch_log)
{
	const char *exam = mk_exam(NULL), *u = new_uuid(), *other = new_uuid();
	const char *theirs = mk_attempt(other, exam);
	const char *mine = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.batch_log_attempt_activity($1)",
	      fmt("[{\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\", "
		  "\"client_event_id\": \"e1\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\"}]},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"a\", "
		  "\"client_event_id\": \"e1\"},"
		  "                                    {\"event_type\": \"b\", "
		  "\"client_event_id\": \"e2\"}]},"
		  " {\"attempt_id\": 7, \"events\": []},"
		  " {\"attempt_id\": \"%s\", \"events\": [{\"event_type\": \"NO\"}]}]",
		  mine, theirs, mine, mine));
	ck_assert_int_eq(jsize(r, NULL), 5);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,logged,duplicates"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), mine);
	ck_assert_int_eq(jint(r, "0.logged"), 1);
	ck_assert_str_eq(jstr(r, "1.error.code"), "not_found");
	ck_assert_str_eq(jstr(r, "1.attempt_id"), theirs);
	ck_assert_int_eq(jint(r, "2.logged"), 1);
	ck_assert_int_eq(jint(r, "2.duplicates"), 1);
	ck_assert_str_eq(jstr(r, "3.error.details.field"), "data[3].attempt_id");
	ck_assert_str_eq(jstr(r, "4.error.details.field"), "data[4].events[0].event_type");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1", mine),
		"2");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1", theirs),
		"0");
}
END_TEST

START_TEST(test_batch_submit)
{
	const char *exam = mk_exam(NULL);
	const char *a = mk_attempt(new_uuid(), exam);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *missing = new_uuid();
	const char *receipt_b;
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", b, "{\"x\": \"y\"}"));
	receipt_b = jstr(J("SELECT attempts.submit_attempt($1)", b), "receipt");
	as(new_uuid(), "student");
	r = J("SELECT attempts.batch_submit_attempts($1)", fmt("{%s}", a));
	ck_assert_err(r, "forbidden");
	ck_assert(cJSON_IsObject(r));

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.batch_submit_attempts($1)", fmt("{%s,%s,%s,%s}", a, b, missing, a));
	ck_assert_int_eq(jsize(r, NULL), 4);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,submitted,already_submitted,receipt"));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), a);
	ck_assert(jtrue(r, "0.submitted"));
	ck_assert(jfalse(r, "0.already_submitted"));
	ck_assert_str_eq(jstr(r, "0.receipt"), sha256_hex("{}"));
	ck_assert(jtrue(r, "1.already_submitted"));
	ck_assert_str_eq(jstr(r, "1.receipt"), receipt_b);
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert(jtrue(r, "3.already_submitted"));

	r = J("SELECT attempts.get_attempt_info($1)", a);
	ck_assert_str_eq(jstr(r, "submit_reason"), "cleanup");
	ck_assert_int_eq(jint(r, "version"), 2);
	ck_assert_str_eq(jstr(J("SELECT attempts.get_attempt_info($1)", b), "submit_reason"),
			 "student");
}
END_TEST

/* ------------------------------------------------------------ statistics */

START_TEST(test_statistics)
{
	const char *exam = mk_exam(NULL), *empty = mk_exam(NULL);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *a = mk_attempt(new_uuid(), exam);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a,
		       "{\"q1\": 1, \"q2\": 2, \"q3\": 3}"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	V("UPDATE attempts.attempts SET started_at = submitted_at - interval '90 s' WHERE "
	  "attempt_id = $1",
	  a);
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.get_attempt_statistics($1)", exam), "forbidden");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.get_attempt_statistics($1)", exam);
	ck_assert_msg(has_keys(r, "exam_id,total,in_progress,submitted,avg_duration_s,"
				  "median_duration_s,avg_answered,last_activity_at"),
		      "%s", show(r));
	ck_assert_str_eq(jstr(r, "exam_id"), exam);
	ck_assert_int_eq(jint(r, "total"), 2);
	ck_assert_int_eq(jint(r, "in_progress"), 1);
	ck_assert_int_eq(jint(r, "submitted"), 1);
	ck_assert_double_eq_tol(jnum(r, "avg_duration_s"), 90.0, 0.001);
	ck_assert_double_eq_tol(jnum(r, "median_duration_s"), 90.0, 0.001);
	ck_assert_double_eq_tol(jnum(r, "avg_answered"), 1.5, 0.001);
	ck_assert(is_ts(jstr(r, "last_activity_at")));
	(void)b;

	r = J("SELECT attempts.get_attempt_statistics($1)", empty);
	ck_assert_int_eq(jint(r, "total"), 0);
	ck_assert(jnull(r, "avg_duration_s"));
	ck_assert(jnull(r, "median_duration_s"));
	ck_assert_err(J("SELECT attempts.get_attempt_statistics($1)", new_uuid()), "not_found");
}
END_TEST

START_TEST(test_active_attempts)
{
	const char *exam = mk_exam("\"time_limit_s\": 3600");
	const char *a = mk_attempt(new_uuid(), exam);
	const char *b = mk_attempt(new_uuid(), exam);
	const char *c = mk_attempt(new_uuid(), exam);
	cJSON *r;

	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", c, "{\"q1\": 1, \"q2\": 2}"));
	V("UPDATE attempts.attempts SET started_at = started_at - interval '1 min' WHERE "
	  "attempt_id = $1",
	  c);
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.get_active_attempts($1)", exam), "forbidden");
	as(new_uuid(), "admin");
	ck_assert_ok(J("SELECT attempts.batch_submit_attempts($1)", fmt("{%s}", b)));
	r = J("SELECT attempts.get_active_attempts($1)", exam);
	ck_assert(has_keys(r, "exam_id,attempts"));
	ck_assert_int_eq(jsize(r, "attempts"), 2);
	ck_assert_msg(has_keys(jget(r, "attempts.0"),
			       "attempt_id,user_id,started_at,last_activity_at,"
			       "time_remaining_s,version,answered_count"),
		      "%s", show(r));
	ck_assert_str_eq(jstr(r, "attempts.0.attempt_id"), c); /* oldest first */
	ck_assert_int_eq(jint(r, "attempts.0.answered_count"), 2);
	ck_assert_int_eq(jint(r, "attempts.0.version"), 2);
	ck_assert_str_eq(jstr(r, "attempts.1.attempt_id"), a);
	ck_assert(jint(r, "attempts.1.time_remaining_s") > 3500);
	ck_assert_err(J("SELECT attempts.get_active_attempts($1)", new_uuid()), "not_found");
}
END_TEST

/* ------------------------------------------------------------ uploads */

START_TEST(test_validate_upload)
{
	const char *exam = mk_exam("\"upload\": {\"max_bytes\": 1000}"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	cJSON *r;

	r = J("SELECT attempts.validate_attempt_upload($1)", a);
	ck_assert_ok(r);
	ck_assert(has_keys(r, "valid,max_bytes,allowed_types,upload_count"));
	ck_assert(jtrue(r, "valid"));
	ck_assert_int_eq(jint(r, "max_bytes"), 1000);
	ck_assert_int_eq(jint(r, "upload_count"), 0);
	ck_assert_ok(J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 1000)", a));
	ck_assert_ok(J(
		"SELECT attempts.validate_attempt_upload($1, 'Text/Plain; charset=utf-8', 1)", a));
	r = J("SELECT attempts.validate_attempt_upload($1, 'application/x-msdownload', 10)", a);
	ck_assert_err(r, "unsupported_media_type");
	r = J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 1001)", a);
	ck_assert_err(r, "payload_too_large");
	ck_assert_int_eq(jint(r, "error.details.limit"), 1000);

	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1)", a), "not_found");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1)", a), "forbidden");
	as(u, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1, 'application/pdf', 10)", a),
		      "attempt_submitted");
}
END_TEST

START_TEST(test_uploads_record_get_list)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	const char *up1 = new_uuid(), *up2 = new_uuid();
	cJSON *r;

	r = J("SELECT attempts.record_attempt_upload($1, $2, 'essay.pdf', 'application/pdf', 4, "
	      "$3)",
	      a, up1, sum);
	ck_assert_ok(r);
	ck_assert(has_keys(r, "upload_id,filename,content_type,size_bytes,sha256,created_at"));
	ck_assert_str_eq(jstr(r, "upload_id"), up1);
	ck_assert_str_eq(jstr(r, "filename"), "essay.pdf");
	ck_assert_int_eq(jint(r, "size_bytes"), 4);
	ck_assert_str_eq(jstr(r, "sha256"), sum);
	ck_assert(is_ts(jstr(r, "created_at")));
	ck_assert_ok(
		J("SELECT attempts.record_attempt_upload($1, $2, 'notes.txt', 'text/plain', 4, $3)",
		  a, up2, sum));

	r = J("SELECT attempts.record_attempt_upload($1, $2, '../x', 'text/plain', 4, $3)", a,
	      new_uuid(), sum);
	ck_assert_field(r, "filename");
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.exe', 'application/x-msdownload', "
	      "4, $3)",
	      a, new_uuid(), sum);
	ck_assert_err(r, "unsupported_media_type");
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 4, 'zz')", a,
	      new_uuid());
	ck_assert_field(r, "sha256");

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.list_attempt_uploads($1)", a);
	ck_assert_int_eq(jsize(r, "uploads"), 2);
	ck_assert_str_eq(jstr(r, "uploads.0.upload_id"), up1);
	ck_assert_str_eq(jstr(r, "uploads.1.filename"), "notes.txt");
	r = J("SELECT attempts.get_attempt_upload($1, $2)", a, up2);
	ck_assert_str_eq(jstr(r, "content_type"), "text/plain");
	ck_assert_err(J("SELECT attempts.get_attempt_upload($1, $2)", a, new_uuid()), "not_found");
	as(new_uuid(), "student");
	ck_assert_err(J("SELECT attempts.get_attempt_upload($1, $2)", a, up1), "not_found");
	ck_assert_err(J("SELECT attempts.list_attempt_uploads($1)", a), "not_found");
	as(u, "student");
	ck_assert_int_eq(jint(J("SELECT attempts.get_attempt_info($1)", a), "upload_count"), 2);
}
END_TEST

START_TEST(test_upload_count_limit)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	cJSON *r;

	for (int i = 0; i < 20; i++)
		ck_assert_ok(
			J("SELECT attempts.record_attempt_upload($1, $2, $3, 'text/plain', 1, $4)",
			  a, new_uuid(), fmt("f%d.txt", i), sum));
	r = J("SELECT attempts.validate_attempt_upload($1, 'text/plain', 1)", a);
	ck_assert_err(r, "validation_failed");
	ck_assert_field(r, "upload_count");
	ck_assert_int_eq(jint(r, "error.details.limit"), 20);
	r = J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 1, $3)", a,
	      new_uuid(), sum);
	ck_assert_field(r, "upload_count");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_uploads WHERE attempt_id = $1", a), "20");
}
END_TEST

START_TEST(test_upload_after_deadline)
{
	const char *exam = mk_exam("\"time_limit_s\": 1"), *u = new_uuid();
	const char *a = mk_attempt(u, exam);
	const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

	backdate(a, 60);
	/* validation only reports it ... */
	ck_assert_err(J("SELECT attempts.validate_attempt_upload($1, 'text/plain', 1)", a),
		      "attempt_closed");
	ck_assert_str_eq(jstr(state(a), "status"), "in_progress");
	/* ... recording closes it at the deadline, as a save would */
	ck_assert_err(
		J("SELECT attempts.record_attempt_upload($1, $2, 'x.txt', 'text/plain', 1, $3)", a,
		  new_uuid(), sum),
		"attempt_closed");
	ck_assert_str_eq(jstr(J("SELECT attempts.get_attempt_info($1)", a), "submit_reason"),
			 "deadline");
	ck_assert_str_eq(
		V("SELECT count(*) FROM attempts.attempt_uploads WHERE attempt_id = $1", a), "0");
}
END_TEST

START_TEST(test_validate_multiple)
{
	const char *exam = mk_exam("\"time_limit_s\": 60, \"max_attempts\": 3"), *u = new_uuid();
	const char *ok = mk_attempt(u, exam);
	const char *theirs = mk_attempt(new_uuid(), exam);
	const char *late, *done, *big;
	cJSON *r;

	as(u, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", ok));
	done = ok;
	late = mk_attempt(u, exam);
	backdate(late, 600);
	V("UPDATE attempts.attempts SET answers = jsonb_build_object('big', repeat('x', 600000)) "
	  "WHERE attempt_id = $1",
	  late);
	big = late;
	r = J("SELECT attempts.validate_multiple_attempts($1)",
	      fmt("{%s,%s,%s}", done, big, theirs));
	ck_assert_int_eq(jsize(r, NULL), 3);
	ck_assert(has_keys(jget(r, "0"), "attempt_id,valid,problems"));
	ck_assert(jfalse(r, "0.valid"));
	ck_assert_str_eq(show(jget(r, "0.problems")), "[\"submitted\"]");
	ck_assert(jfalse(r, "1.valid"));
	ck_assert_str_eq(show(jget(r, "1.problems")),
			 "[\"deadline_passed\",\"answers_too_large\"]");
	ck_assert_str_eq(jstr(r, "2.error.code"), "not_found");
	ck_assert_str_eq(jstr(state(late), "status"),
			 "in_progress"); /* validation writes nothing */

	as(new_uuid(), "proctor");
	r = J("SELECT attempts.validate_multiple_attempts($1)", fmt("{%s}", theirs));
	ck_assert(jtrue(r, "0.valid"));
	ck_assert_int_eq(jsize(r, "0.problems"), 0);
}
END_TEST

/* ------------------------------------------------------------ cache support */

START_TEST(test_preload)
{
	const char *e1 = mk_exam(NULL), *e2 = mk_exam(NULL);
	const char *a = mk_attempt(new_uuid(), e1);
	const char *b = mk_attempt(new_uuid(), e2);
	const char *c = mk_attempt(new_uuid(), e2);
	cJSON *r;

	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", c));
	ck_assert_err(J("SELECT attempts.preload_attempt_states($1)", fmt("{%s}", e1)),
		      "forbidden");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.preload_attempt_states($1)", fmt("{%s}", e1)),
		      "forbidden");
	as(new_uuid(), "admin");
	r = J("SELECT attempts.preload_attempt_states($1)", fmt("{%s,%s}", e1, e2));
	ck_assert_int_eq(jsize(r, NULL), 2);
	ck_assert_msg(has_keys(jget(r, "0"), STATE_KEYS), "%s", show(r));
	ck_assert_str_eq(jstr(r, "0.attempt_id"), a);
	ck_assert_str_eq(jstr(r, "1.attempt_id"), b);
}
END_TEST

/* Notifications reach a listener on the same session once the statement's
 * transaction commits; PQexecParams returns after that. */
static const char *next_notify(PGconn *c, const char *channel)
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

START_TEST(test_broadcast_clear_cache)
{
	cJSON *r;

	as(new_uuid(), "proctor");
	ck_assert_err(J0("SELECT attempts.broadcast_clear_cache()"), "forbidden");
	as(new_uuid(), "admin");
	V0("LISTEN attempts_clear_cache");
	r = J0("SELECT attempts.broadcast_clear_cache()");
	ck_assert_str_eq(show(r), "{\"broadcast\":true}");
	ck_assert_str_eq(next_notify(db, "attempts_clear_cache"), fmt("%d", PQbackendPID(db)));
}
END_TEST

START_TEST(test_notify_on_change)
{
	const char *exam = mk_exam(NULL), *u = new_uuid();
	const char *a = mk_attempt(u, exam);

	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q\": 1}"));
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
	/* an update that changes nothing stays silent */
	V("UPDATE attempts.attempts SET version = version WHERE attempt_id = $1", a);
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a));
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
}
END_TEST

/* The proctors' live view: a start is announced (sql/005); the snapshot
 * and the publisher's messages carry each attempt with its version and
 * the exam's counts and answers per question; who may call what. */
START_TEST(test_live_view)
{
	const char *exam = mk_exam(NULL), *u = new_uuid(), *a, *b;
	cJSON *r, *m;

	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	a = mk_attempt(u, exam);
	ck_assert_str_eq(next_notify(db, "attempts_changed"), a);
	ck_assert_ok(
		J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a, "{\"q1\": 1, \"q2\": 2}"));
	b = mk_attempt(new_uuid(), exam);
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", b, "{\"q2\": 3}"));
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", b));
	V0("UNLISTEN attempts_changed");

	ck_assert_err(J("SELECT attempts.get_live_snapshot($1)", exam), "forbidden");
	as(new_uuid(), "proctor");
	ck_assert_err(J("SELECT attempts.get_live_snapshot($1)", new_uuid()), "not_found");
	r = J("SELECT attempts.get_live_snapshot($1)", exam);
	ck_assert_ok(r);
	ck_assert_str_eq(show(jget(r, "counts")),
			 "{\"total\":2,\"submitted\":1,\"in_progress\":1}");
	ck_assert_str_eq(show(jget(r, "per_question")), "{\"q1\":1,\"q2\":2}");
	ck_assert_int_eq(cJSON_GetArraySize(jget(r, "attempts")), 1);
	ck_assert_str_eq(jstr(r, "attempts.0.attempt_id"), a);
	ck_assert_str_eq(jstr(r, "attempts.0.status"), "in_progress");
	ck_assert_int_eq((int)jnum(r, "attempts.0.version"), 2);
	ck_assert_int_eq((int)jnum(r, "attempts.0.answered_count"), 2);
	ck_assert_ptr_nonnull(jget(r, "attempts.0.last_save_at"));
	ck_assert_ptr_nonnull(jget(r, "at"));

	/* The publisher's calls are the service's own (admin). */
	ck_assert_err(J("SELECT attempts.live_changes($1::uuid[], true)", fmt("{%s}", a)),
		      "forbidden");
	ck_assert_err(J0("SELECT attempts.live_exams()"), "forbidden");
	as("00000000-0000-0000-0000-000000000000", "admin");
	r = J("SELECT attempts.live_changes($1::uuid[], true)",
	      fmt("{%s,%s,%s}", a, b, new_uuid()));
	ck_assert_int_eq(cJSON_GetArraySize(r), 1);
	ck_assert_str_eq(jstr(r, "0.exam_id"), exam);
	m = (cJSON *)jget(r, "0.message");
	ck_assert_str_eq(jstr(m, "type"), "changes");
	ck_assert_int_eq(cJSON_GetArraySize(jget(m, "attempts")), 2);
	ck_assert_str_eq(show(jget(m, "counts")),
			 "{\"total\":2,\"submitted\":1,\"in_progress\":1}");
	ck_assert_str_eq(jstr(m, "attempts.0.attempt_id"), strcmp(a, b) < 0 ? a : b);
	/* without the summary: the rows alone */
	ck_assert_str_eq(V("SELECT attempts.live_changes($1::uuid[], false) #>> '{0,message}' "
			   "LIKE '%counts%'",
			   fmt("{%s}", a)),
			 "f");
	ck_assert_str_eq(V("SELECT attempts.live_changes($1::uuid[], false)::text", "{}"), "[]");
	ck_assert_str_eq(V("SELECT attempts.live_exams() @> jsonb_build_array($1::text)::jsonb "
			   "AND jsonb_typeof(attempts.live_exams()) = 'array'",
			   exam),
			 "t");
}
END_TEST

/* ------------------------------------------------------------ coalesced writes */

/* One write as the service sends it: kind, claims text, attempt, body,
 * expected version (NULL: none), answers limit. */
typedef struct cw_item {
	const char *kind, *claims, *attempt, *body, *version, *limit;
} cw_item;

static const char *cw_claims(const char *sub, const char *role)
{
	return fmt("{\"sub\":\"%s\",\"role\":\"%s\"}", sub, role);
}

/* text with timestamps and remaining seconds blanked: two transactions
 * have two now()s. */
static const char *cw_normalize(const char *text)
{
	return V("SELECT regexp_replace(regexp_replace($1, '\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z', 'T', "
		 "'g'),"
		 " '\"time_remaining_s\": \\d+', '\"time_remaining_s\": N', 'g')",
		 text);
}

/* The rows the items may touch, and their activity, without timestamps. */
static const char *cw_rows(const char *const *attempts, int n)
{
	const char *ids = "{";

	for (int i = 0; i < n; i++)
		ids = fmt("%s%s%s", ids, i ? "," : "", attempts[i]);
	ids = fmt("%s}", ids);
	return V("SELECT jsonb_agg(jsonb_build_array(a.attempt_id, a.status, a.submit_reason, "
		 "a.answers,"
		 " a.auto_save_data, a.version, a.receipt,"
		 " (SELECT jsonb_agg(jsonb_build_array(v.event_type, v.client_event_id) ORDER BY "
		 "v.activity_id)"
		 "    FROM attempts.attempt_activity v WHERE v.attempt_id = a.attempt_id))"
		 " ORDER BY a.attempt_id)::text FROM attempts.attempts a WHERE a.attempt_id = ANY "
		 "($1::uuid[])",
		 ids);
}

/* What each item answers alone, through the single functions exactly as
 * lib/db.c calls them, in input order, as one JSON array text. */
static const char *cw_alone(const cw_item *items, int n)
{
	const char *out = "[";

	for (int i = 0; i < n; i++) {
		const char *r;

		claims_on(db, items[i].claims);
		if (strcmp(items[i].kind, "save") == 0)
			r = V("SELECT attempts.save_attempt($1::uuid, NULLIF($2::jsonb -> "
			      "'answers', 'null'),"
			      " NULLIF($2::jsonb -> 'auto_save_data', 'null'), $3::int, "
			      "$4::int)::text",
			      items[i].attempt, items[i].body, items[i].version, items[i].limit);
		else if (strcmp(items[i].kind, "submit") == 0)
			r = V("SELECT attempts.submit_attempt($1::uuid, NULLIF($2::jsonb -> "
			      "'answers', 'null'),"
			      " $3::int, $4::int)::text",
			      items[i].attempt, items[i].body, items[i].version, items[i].limit);
		else
			r = V("SELECT attempts.log_attempt_activity($1::uuid, $2::jsonb -> "
			      "'events')::text",
			      items[i].attempt, items[i].body);
		out = fmt("%s%s%s", out, i ? ", " : "", r);
	}
	return fmt("%s]", out);
}

/* The coalesced_writes argument for the items (as lib/attempt_calls.c
 * builds it). */
static const char *cw_batch(const cw_item *items, int n)
{
	const char *out = "[";

	for (int i = 0; i < n; i++)
		out = fmt("%s%s{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\",\"body\":%s,"
			  "\"expected_version\":%s,\"max_answers_bytes\":%s}",
			  out, i ? "," : "", items[i].kind, items[i].claims, items[i].attempt,
			  items[i].body ? items[i].body : "null",
			  items[i].version ? items[i].version : "null", items[i].limit);
	return fmt("%s]", out);
}

/* coalesced_writes answers each item, and leaves every row, exactly as
 * the single functions do one by one - for a batch mixing students, a
 * proctor, another student's attempt, a past-deadline and a submitted
 * attempt, two saves of one attempt (applied in arrival order), duplicate
 * activity, a stale version, bad claims and an answers limit. */
START_TEST(test_coalesced_writes_match_singles)
{
	const char *exam = mk_exam(NULL);
	const char *u1 = new_uuid(), *u2 = new_uuid(), *u3 = new_uuid(), *u4 = new_uuid();
	const char *p = new_uuid();
	const char *a[4];
	const char *s1, *s2, *s3, *s4, *pr;

	a[0] = mk_attempt(u1, exam);
	a[1] = mk_attempt(u2, exam);
	a[2] = mk_attempt(u3, mk_exam("\"time_limit_s\": 60"));
	a[3] = mk_attempt(u4, exam);
	backdate(a[2], 3600);
	as(u4, "student");
	ck_assert_ok(J("SELECT attempts.submit_attempt($1)", a[3]));
	s1 = cw_claims(u1, "student");
	s2 = cw_claims(u2, "student");
	s3 = cw_claims(u3, "student");
	s4 = cw_claims(u4, "student");
	pr = cw_claims(p, "proctor");
	{
		const cw_item items[] = {
			{"save", s1, a[0], "{\"answers\": {\"q\": 1, \"n\": 1.50}}", "1", "524288"},
			{"log", s2, a[1],
			 "{\"events\": [{\"event_type\": \"focus\", \"client_event_id\": \"e1\"},"
			 " {\"event_type\": \"blur\", \"client_event_id\": \"e1\"}]}",
			 NULL, "524288"},
			{"save", s1, a[1], "{\"answers\": {\"stolen\": 1}}", NULL, "524288"},
			{"save", s1, a[0],
			 "{\"answers\": {\"q\": null, \"r\": [2]}, \"auto_save_data\": {\"c\": 3}}",
			 "2", "524288"},
			{"save", pr, a[0], "{\"answers\": {\"p\": 1}}", NULL, "524288"},
			{"save", s3, a[2], "{\"answers\": {\"late\": 1}}", NULL, "524288"},
			{"submit", s4, a[3], NULL, NULL, "524288"},
			{"save", s4, a[3], "{\"answers\": {\"after\": 1}}", NULL, "524288"},
			{"log", s2, a[1],
			 "{\"events\": [{\"event_type\": \"focus\", \"client_event_id\": \"e1\"}]}",
			 NULL, "524288"},
			{"submit", s2, a[1], "{\"answers\": {\"final\": 1}}", "1", "524288"},
			{"save", s1, a[0], "{\"answers\": {\"stale\": 1}}", "1", "524288"},
			{"save", "{\"sub\":\"x\",\"role\":\"student\"}", a[0], "{\"answers\": {}}",
			 NULL, "524288"},
			{"save", s1, a[0],
			 "{\"answers\": {\"big\": \"0123456789012345678901234567890123456789\"}}",
			 NULL, "60"},
			{"log", s3, a[2], "{\"events\": [{\"event_type\": \"late.telemetry\"}]}",
			 NULL, "524288"},
		};
		const int n = (int)(sizeof items / sizeof items[0]);
		const char *together, *alone, *rows_together, *rows_alone;

		V0("BEGIN");
		together = cw_normalize(
			V("SELECT attempts.coalesced_writes($1)::text", cw_batch(items, n)));
		rows_together = cw_rows(a, 4);
		V0("ROLLBACK");
		V0("BEGIN");
		alone = cw_normalize(cw_alone(items, n));
		rows_alone = cw_rows(a, 4);
		V0("ROLLBACK");
		expect_same_text("answers (coalesced, alone)", together, alone);
		expect_same_text("rows (coalesced, alone)", rows_together, rows_alone);
		/* the comparison saw every kind of answer */
		for (const char *const *w =
			     (const char *const[]){"version_conflict", "not_found", "forbidden",
						   "attempt_closed", "attempt_submitted",
						   "unauthorized", "payload_too_large",
						   "\"already_submitted\": true",
						   "\"duplicates\": 1", "\"version\": 3", NULL};
		     *w != NULL; w++)
			ck_assert_msg(strstr(together, *w) != NULL, "no answer has %s: %s", *w,
				      together);
	}
}
END_TEST

/* A coalesced statement announces its changed attempts in one
 * notification (ids sorted, comma-separated, each once), at most 200 ids
 * per notification; failed items announce nothing. */
START_TEST(test_coalesced_writes_one_notification)
{
	enum { N = 205 };
	const char *exam = mk_exam(NULL);
	const char *a[N], *items = "[", *want = "", *got = "";
	const char *stranger = cw_claims(new_uuid(), "student");
	PGnotify *note;
	int notes = 0;

	for (int i = 0; i < N; i++) {
		const char *u = new_uuid();

		a[i] = mk_attempt(u, exam);
		items = fmt("%s{\"kind\":\"save\",\"claims\":%s,\"attempt_id\":\"%s\","
			    "\"body\":{\"answers\":{\"q\":%d}},\"expected_version\":null,"
			    "\"max_answers_bytes\":524288},",
			    items, cw_claims(u, "student"), a[i], i);
	}
	/* and one item that fails: another student's attempt */
	items = fmt("%s{\"kind\":\"save\",\"claims\":%s,\"attempt_id\":\"%s\",\"body\":{"
		    "\"answers\":{}},"
		    "\"expected_version\":null,\"max_answers_bytes\":524288}]",
		    items, stranger, a[0]);
	want = V("SELECT string_agg(DISTINCT id, ',' ORDER BY id) FROM unnest($1::text[]) AS t(id)",
		 fmt("{%s}", V("SELECT string_agg(x, ',') FROM jsonb_array_elements_text("
			       "jsonb_path_query_array($1::jsonb, '$[*].attempt_id')) AS x",
			       items)));
	V0("LISTEN attempts_changed");
	ck_assert_ptr_null(next_notify(db, "attempts_changed"));
	ck_assert_ptr_nonnull(
		strstr(V("SELECT attempts.coalesced_writes($1)::text", items), "not_found"));
	ck_assert_int_eq(PQconsumeInput(db), 1);
	while ((note = PQnotifies(db)) != NULL) {
		if (strcmp(note->relname, "attempts_changed") == 0) {
			int ids = 1;

			for (const char *c = note->extra; *c; c++)
				ids += *c == ',';
			ck_assert_int_le(ids, 200);
			got = fmt("%s%s%s", got, notes ? "," : "", note->extra);
			notes++;
		}
		PQfreemem(note);
	}
	ck_assert_int_eq(notes, 2);
	expect_same_text("the ids announced (got, want)", got, want);
	/* after it, the session announces row by row again */
	ck_assert_str_ne(
		V0("SELECT coalesce(current_setting('attempts.announce_changes', true), '')"),
		"statement");
}
END_TEST

/* coalesced_reads answers each item exactly as get_attempt_state or
 * get_attempt_info does alone for its caller: owner, another student,
 * proctor, admin, an unknown attempt, bad claims; in one transaction, so
 * even the remaining seconds agree. */
START_TEST(test_coalesced_reads_match_singles)
{
	const char *exam = mk_exam("\"time_limit_s\": 600");
	const char *u1 = new_uuid(), *u2 = new_uuid();
	const char *a1 = mk_attempt(u1, exam), *a2 = mk_attempt(u2, exam);
	const char *who[][2] = {{cw_claims(u1, "student"), a1},
				{cw_claims(u2, "student"), a1},
				{cw_claims(new_uuid(), "proctor"), a2},
				{cw_claims(new_uuid(), "admin"), a1},
				{cw_claims(u1, "student"), new_uuid()},
				{"{\"sub\":\"nope\",\"role\":\"student\"}", a1},
				{cw_claims(u2, "student"), a2},
				{cw_claims(u1, "teacher"), a1}};
	const int n = (int)(sizeof who / sizeof who[0]);
	const char *items = "[", *alone = "[", *together;

	as(u1, "student");
	ck_assert_ok(J("SELECT attempts.save_attempt($1, $2, NULL, NULL)", a1, "{\"q\": 1.50}"));
	V0("BEGIN");
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "info" : "state";

		for (int i = 0; i < n; i++) {
			items = fmt("%s%s{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\"}",
				    items, k || i ? "," : "", kind, who[i][0], who[i][1]);
			claims_on(db, who[i][0]);
			alone = fmt("%s%s%s", alone, k || i ? ", " : "",
				    V(fmt("SELECT attempts.get_attempt_%s($1)::text", kind),
				      who[i][1]));
		}
	}
	together = V("SELECT attempts.coalesced_reads($1)::text", fmt("%s]", items));
	V0("COMMIT");
	expect_same_text("reads (coalesced, alone)", together, fmt("%s]", alone));
	for (const char *const *w =
		     (const char *const[]){"not_found", "unauthorized", "\"activity_count\"",
					   "\"answers\": {\"q\": 1.50}", NULL};
	     *w != NULL; w++)
		ck_assert_msg(strstr(together, *w) != NULL, "no answer has %s", *w);
}
END_TEST

/* refresh_statistics analyzes attempts once it has grown by enough rows
 * since its last ANALYZE, and not again until it grows again (an ANALYZE
 * of a column list leaves the change count as it was: counting changes
 * would analyze on every sweep); the sweep runs it. */
START_TEST(test_refresh_statistics)
{
	const char *exam = mk_exam(NULL);

	V0("ANALYZE attempts.attempts");
	V0("ANALYZE attempts.attempt_activity");
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "0");
	V("INSERT INTO attempts.attempts (exam_id, user_id, attempt_number)"
	  " SELECT $1::uuid, gen_random_uuid(), 1 FROM generate_series(1, 300 + ("
	  "SELECT (count(*) / 4)::int FROM attempts.attempts))",
	  exam);
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "1");
	/* ANALYZE counted the rows: nothing to do now */
	V0("SELECT pg_stat_force_next_flush()");
	ck_assert_str_eq(V0("SELECT attempts.refresh_statistics()"), "0");
}
END_TEST

START_TEST(test_migrations_recorded)
{
	ck_assert_str_eq(
		V0("SELECT string_agg(name, ',' ORDER BY name) FROM attempts.schema_migrations "
		   "WHERE checksum ~ '^[0-9a-f]{64}$'"),
		"001_schema.sql,002_body_bytes.sql,003_changes_per_statement.sql,004_exams_newest_"
		"first.sql,"
		"005_announce_starts.sql,"
		"admin.sql,attempt_rules.sql,"
		"attempt_writes.sql,attempts.sql,batch.sql,canonical_json.sql,exams.sql,helpers."
		"sql,uploads.sql");
	/* every plpgsql function (the RPCs) carries the fixed search_path */
	ck_assert_str_eq(
		V0("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
		   "JOIN pg_language l ON l.oid = p.prolang "
		   "WHERE n.nspname = 'attempts' AND l.lanname <> 'sql' AND NOT "
		   "coalesce(p.proconfig @> "
		   "'{\"search_path=pg_catalog, attempts\"}', false)"),
		"0");
	/* and no LANGUAGE sql helper has a SET clause, which would stop the
	 * planner from inlining it */
	ck_assert_str_eq(
		V0("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
		   "JOIN pg_language l ON l.oid = p.prolang "
		   "WHERE n.nspname = 'attempts' AND l.lanname = 'sql' AND p.proconfig IS NOT "
		   "NULL"),
		"0");
}
END_TEST

/* ------------------------------------------------------------ suite */

/* ------------------------------------------------------------ inlining */

/* Every helper that the entry points call per row is inlined by
 * PostgreSQL into the calling statement: not inlined, each call runs as a
 * statement of its own (~170 µs per batch_save item where that happened:
 * docs/SQL.md, "Performance rules"). A helper stops inlining when it is
 * declared IMMUTABLE but calls a stable function, has a SET clause or a
 * sub-select. The check: EXPLAIN VERBOSE of a call with column arguments
 * must not name the helper. */
START_TEST(test_helpers_inline)
{
	static const struct {
		const char *name, *call, *from;
	} helpers[] = {
		{"err", "attempts.err(a.status, a.status, a.answers)", "attempts.attempts a"},
		{"invalid", "attempts.invalid(a.status, a.status)", "attempts.attempts a"},
		{"unauthorized", "attempts.unauthorized()", "attempts.attempts a"},
		{"ts", "attempts.ts(a.updated_at)", "attempts.attempts a"},
		{"is_uuid", "attempts.is_uuid(a.status)", "attempts.attempts a"},
		{"json_int", "attempts.json_int(a.answers, 0, 9)", "attempts.attempts a"},
		{"access_error", "attempts.access_error(a, a.user_id, a.status, 'owner')",
		 "attempts.attempts a"},
		{"past_deadline", "attempts.past_deadline(a, a.version)", "attempts.attempts a"},
		{"attempt_problems", "attempts.attempt_problems(a, a.version)",
		 "attempts.attempts a"},
		{"writable_error", "attempts.writable_error(a, a.version, a.version)",
		 "attempts.attempts a"},
		{"merge_answers", "attempts.merge_answers(a.answers, a.auto_save_data)",
		 "attempts.attempts a"},
		{"time_remaining_s", "attempts.time_remaining_s(a)", "attempts.attempts a"},
		{"attempt_state_json", "attempts.attempt_state_json(a)", "attempts.attempts a"},
		{"prefix_field", "attempts.prefix_field(a.answers, a.status)",
		 "attempts.attempts a"},
		{"batch_save_shape_error", "attempts.batch_save_shape_error(a.answers, a.status)",
		 "attempts.attempts a"},
		{"batch_save_result", "attempts.batch_save_result(a.answers, a.auto_save_data)",
		 "attempts.attempts a"},
		{"exam_json", "attempts.exam_json(e)", "attempts.exams e"},
		{"upload_json", "attempts.upload_json(u)", "attempts.attempt_uploads u"},
	};

	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		const char *sql = fmt("EXPLAIN (VERBOSE, COSTS OFF) SELECT %s FROM %s",
				      helpers[i].call, helpers[i].from);
		PGresult *r = PQexec(db, sql);
		const char *called = fmt("attempts.%s(", helpers[i].name);
		int found = 0;

		ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
			      PQresultErrorMessage(r));
		for (int row = 0; row < PQntuples(r); row++)
			found |= strstr(PQgetvalue(r, row, 0), called) != NULL;
		PQclear(r);
		ck_assert_msg(!found, "attempts.%s is not inlined (EXPLAIN VERBOSE names it)",
			      helpers[i].name);
	}
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	return tc;
}

Suite *sql_suite(void)
{
	Suite *s = suite_create("sql");
	TCase *tc;

	tc = tcase("exams");
	tcase_add_test(tc, test_unauthorized);
	tcase_add_test(tc, test_claims_forms);
	tcase_add_test(tc, test_require_caller);
	tcase_add_test(tc, test_create_exam_defaults);
	tcase_add_test(tc, test_create_exam_fields);
	tcase_add_test(tc, test_create_exam_forbidden);
	tcase_add_test(tc, test_list_exams);
	tcase_add_test(tc, test_create_exam_validation);
	tcase_add_test(tc, test_get_exam_not_found);
	suite_add_tcase(s, tc);

	tc = tcase("start");
	tcase_add_test(tc, test_start_creates_state);
	tcase_add_test(tc, test_start_twice_same_attempt);
	tcase_add_test(tc, test_start_deadline);
	tcase_add_test(tc, test_start_max_attempts);
	tcase_add_test(tc, test_start_exam_closed);
	tcase_add_test(tc, test_start_unknown_exam);
	tcase_add_test(tc, test_start_concurrent);
	suite_add_tcase(s, tc);

	tc = tcase("reads");
	tcase_add_test(tc, test_state_access);
	tcase_add_test(tc, test_info_shape);
	tcase_add_test(tc, test_ts_format);
	suite_add_tcase(s, tc);

	tc = tcase("save");
	tcase_add_test(tc, test_save_versions);
	tcase_add_test(tc, test_save_merge);
	tcase_add_test(tc, test_save_auto_save_replaced);
	tcase_add_test(tc, test_save_version_conflict);
	tcase_add_test(tc, test_save_access);
	tcase_add_test(tc, test_save_validation);
	tcase_add_test(tc, test_save_payload_too_large);
	tcase_add_test(tc, test_save_after_deadline_closes);
	tcase_add_test(tc, test_save_within_grace);
	suite_add_tcase(s, tc);

	tc = tcase("submit");
	tcase_add_test(tc, test_submit_receipt);
	tcase_add_test(tc, test_submit_idempotent);
	tcase_add_test(tc, test_submit_version_conflict);
	tcase_add_test(tc, test_submit_access);
	tcase_add_test(tc, test_submit_after_deadline);
	suite_add_tcase(s, tc);

	tc = tcase("activity");
	tcase_add_test(tc, test_activity_dedupe);
	tcase_add_test(tc, test_activity_access);
	tcase_add_test(tc, test_activity_validation);
	suite_add_tcase(s, tc);

	tc = tcase("extend_sweep");
	tcase_add_test(tc, test_extend_by_proctor);
	tcase_add_test(tc, test_extend_refusals);
	tcase_add_test(tc, test_sweep);
	tcase_add_test(tc, test_sweep_concurrent);
	suite_add_tcase(s, tc);

	tc = tcase("jcs");
	tcase_add_test(tc, test_jcs_structure);
	tcase_add_test(tc, test_jcs_strings);
	tcase_add_test(tc, test_jcs_numbers);
	suite_add_tcase(s, tc);

	tc = tcase("batch");
	tcase_add_test(tc, test_batch_save);
	tcase_add_test(tc, test_batch_save_same_attempt_twice);
	tcase_add_test(tc, test_batch_save_past_deadline_closes);
	tcase_add_test(tc, test_batch_save_paths_agree);
	tcase_add_test(tc, test_multiple_states);
	tcase_add_test(tc, test_multiple_infos);
	tcase_add_test(tc, test_batch_log);
	tcase_add_test(tc, test_batch_submit);
	suite_add_tcase(s, tc);

	tc = tcase("stats");
	tcase_add_test(tc, test_statistics);
	tcase_add_test(tc, test_active_attempts);
	suite_add_tcase(s, tc);

	tc = tcase("uploads");
	tcase_add_test(tc, test_validate_upload);
	tcase_add_test(tc, test_uploads_record_get_list);
	tcase_add_test(tc, test_upload_count_limit);
	tcase_add_test(tc, test_upload_after_deadline);
	tcase_add_test(tc, test_validate_multiple);
	suite_add_tcase(s, tc);

	tc = tcase("cache");
	tcase_add_test(tc, test_preload);
	tcase_add_test(tc, test_broadcast_clear_cache);
	tcase_add_test(tc, test_notify_on_change);
	tcase_add_test(tc, test_live_view);
	tcase_add_test(tc, test_coalesced_writes_match_singles);
	tcase_add_test(tc, test_coalesced_writes_one_notification);
	tcase_add_test(tc, test_coalesced_reads_match_singles);
	tcase_add_test(tc, test_refresh_statistics);
	tcase_add_test(tc, test_migrations_recorded);
	suite_add_tcase(s, tc);

	tc = tcase("inlining");
	tcase_add_test(tc, test_helpers_inline);
	suite_add_tcase(s, tc);

	return s;
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
	sr = srunner_create(sql_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
