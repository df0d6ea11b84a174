/* e2e_util: the helpers the end-to-end suites (check_e2e, check_api,
 * check_uploads, check_authz) share, under the names they already used:
 *
 *  - a test user (user: a random sub and its token) and an HTTP answer
 *    (resp: the response, its parsed JSON and "METHOD path" for messages):
 *    user_new, user_free, resp_free, expect_json_type, expect_ok;
 *  - the stack's environment: g_url, g_secret, g_db and e2e_read_env(),
 *    which checks ATTEMPTS_TEST_URL, ATTEMPTS_JWT_SECRET, ATTEMPTS_TEST_DB
 *    (and one optional extra variable) and fills the three globals;
 *  - JSON accessors that fail the test on a missing or mistyped key: jget,
 *    jstr, jnum, has_key, nkeys, and the assertions expect_null,
 *    expect_str, expect_num, expect_bool, expect_json_eq, expect_ts;
 *  - database access on the stack's database: db_connect, db_run,
 *    db_query, and sweep_hold / sweep_release (the deadline sweep's
 *    advisory lock).
 *
 * All failures are Check assertions (ck_assert_msg). */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <cJSON.h>
#include <libpq-fe.h>

#include "auth.h"
#include "http_client.h"
#include "uuid.h"

/* The key of the advisory lock close_expired_attempts() tries before it
 * sweeps (sql/attempt_rpcs.sql): holding it keeps the workers' sweep from
 * racing a test that needs an expired attempt to stay in progress. */
#define SWEEP_LOCK_KEY "7310594523462267185"

/* ------------------------------------------------------------ environment */

extern const char *g_url;    /* ATTEMPTS_TEST_URL */
extern const char *g_secret; /* ATTEMPTS_JWT_SECRET */
extern const char *g_db;     /* ATTEMPTS_TEST_DB (libpq conninfo) */

/* Checks that ATTEMPTS_TEST_URL, ATTEMPTS_JWT_SECRET, ATTEMPTS_TEST_DB and
 * extra (NULL: none) are set and not empty, and fills g_url, g_secret and
 * g_db. Returns 0, or 77 (automake SKIP) after telling stderr, as prog,
 * which one is missing. */
int e2e_read_env(const char *prog, const char *extra);

/* ------------------------------------------------------------ users, answers */

typedef struct user {
	char sub[UUID_STR_LEN + 1];
	char *token; /* freed with user_free() */
	auth_role role;
} user;

typedef struct resp {
	http_client_response r;
	cJSON *json;	/* the parsed body, NULL if it is not JSON */
	char what[200]; /* "METHOD path", for messages */
} resp;

/* A fresh user with a random sub and a token valid for an hour (signed
 * with g_secret). */
user user_new(auth_role role);
void user_free(user *u);
void resp_free(resp *r);
/* Asserts a Content-Type of application/json. */
void expect_json_type(const resp *r);
/* Asserts the status and a JSON object body; returns the body. */
const cJSON *expect_ok(const resp *r, int status);

/* ------------------------------------------------------------ JSON values */

const cJSON *jget(const cJSON *obj, const char *key);
const char *jstr(const cJSON *obj, const char *key);
double jnum(const cJSON *obj, const char *key);
int has_key(const cJSON *obj, const char *key);
int nkeys(const cJSON *obj);
void expect_null(const cJSON *obj, const char *key);
void expect_str(const cJSON *obj, const char *key, const char *want);
void expect_num(const cJSON *obj, const char *key, double want);
void expect_bool(const cJSON *obj, const char *key, int want);
/* obj[key] equals the JSON text want (structurally). */
void expect_json_eq(const cJSON *obj, const char *key, const char *want);
/* An RFC 3339 UTC timestamp: YYYY-MM-DDTHH:MM:SS[.frac]Z. */
void expect_ts(const cJSON *obj, const char *key);

/* ------------------------------------------------------------ database */

/* A connection to g_db; the caller PQfinish()es it. */
PGconn *db_connect(void);
/* Runs sql with text parameters on c; the caller PQclear()s the result. */
PGresult *db_run(PGconn *c, const char *sql, int nparams, const char *const *params);
/* As db_run on a fresh connection. */
PGresult *db_query(const char *sql, int nparams, const char *const *params);
/* Holds the sweep's advisory lock on a connection of its own, so that no
 * worker closes an expired attempt behind the test's back. */
PGconn *sweep_hold(void);
void sweep_release(PGconn *c);

#endif
