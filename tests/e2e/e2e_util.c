/* e2e_util: helpers shared by the end-to-end suites (see e2e_util.h). */
#include "e2e_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ------------------------------------------------------------ JSON values */

const cJSON *jget(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	ck_assert_msg(v != NULL, "key %s missing", key);
	return v;
}

const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsString(v), "%s is not a string", key);
	return v->valuestring;
}

double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
	return v->valuedouble;
}

int has_key(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

int nkeys(const cJSON *obj)
{
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, obj) n++;
	return n;
}

void expect_null(const cJSON *obj, const char *key)
{
	ck_assert_msg(cJSON_IsNull(jget(obj, key)), "%s is not null", key);
}

void expect_str(const cJSON *obj, const char *key, const char *want)
{
	const char *got = jstr(obj, key);

	ck_assert_msg(strcmp(got, want) == 0, "%s is \"%s\", want \"%s\"", key, got, want);
}

void expect_num(const cJSON *obj, const char *key, double want)
{
	double got = jnum(obj, key);

	ck_assert_msg(got == want, "%s is %g, want %g", key, got, want);
}

void expect_bool(const cJSON *obj, const char *key, int want)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsBool(v), "%s is not a boolean", key);
	ck_assert_msg(cJSON_IsTrue(v) == want, "%s is %s, want %s", key,
		      cJSON_IsTrue(v) ? "true" : "false", want ? "true" : "false");
}

void expect_json_eq(const cJSON *obj, const char *key, const char *want)
{
	cJSON *w = cJSON_Parse(want);
	const cJSON *got = jget(obj, key);
	char *got_text = cJSON_PrintUnformatted(got);
	int same;

	ck_assert_ptr_nonnull(w);
	same = cJSON_Compare(got, w, 1);
	ck_assert_msg(same, "%s is %s, want %s", key, got_text, want);
	cJSON_free(got_text);
	cJSON_Delete(w);
}

void expect_ts(const cJSON *obj, const char *key)
{
	const char *s = jstr(obj, key), *p = s;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	int ok = 1;

	for (size_t i = 0; i < sizeof shape - 1 && ok; i++, p++)
		ok = shape[i] == 'd' ? (*p >= '0' && *p <= '9') : *p == shape[i];
	if (ok && *p == '.') {
		p++;
		ok = *p >= '0' && *p <= '9';
		while (*p >= '0' && *p <= '9')
			p++;
	}
	ok = ok && p[0] == 'Z' && p[1] == '\0';
	ck_assert_msg(ok, "%s is \"%s\", not an RFC 3339 UTC timestamp", key, s);
}

/* ------------------------------------------------------------ database */

PGconn *db_connect(void)
{
	PGconn *c = PQconnectdb(g_db);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", g_db, PQerrorMessage(c));
	return c;
}

PGresult *db_run(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK ||
			      PQresultStatus(res) == PGRES_COMMAND_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	return res;
}

PGresult *db_query(const char *sql, int nparams, const char *const *params)
{
	PGconn *c = db_connect();
	PGresult *res = db_run(c, sql, nparams, params);

	PQfinish(c);
	return res;
}

PGconn *sweep_hold(void)
{
	PGconn *c = db_connect();

	PQclear(db_run(c, "SELECT pg_advisory_lock(" SWEEP_LOCK_KEY ")", 0, NULL));
	return c;
}

void sweep_release(PGconn *c)
{
	PQclear(db_run(c, "SELECT pg_advisory_unlock(" SWEEP_LOCK_KEY ")", 0, NULL));
	PQfinish(c);
}
