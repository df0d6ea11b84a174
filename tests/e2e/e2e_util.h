/* e2e_util: the helpers the end-to-end suites (check_e2e, check_api,
 * check_uploads, check_authz, check_consistency) share, each defined once:
 *
 *  - a test user (user: a random sub and its token) and an HTTP answer
 *    (resp: the response, its parsed JSON and "METHOD path" for messages):
 *    user_new, user_free, resp_free, expect_json_type, expect_ok, and
 *    sign_raw for hand-made tokens;
 *  - requests: send_plain, send_typed, send_raw, send_req, attempt_path,
 *    act, get_action, get_version, save, save_ok, save_version,
 *    bearer_line (an Authorization header line of a token); the
 *    checks every answer gets: expect_request_id; error answers (API.md
 *    section 3): expect_error, expect_error_body, expect_as_missing,
 *    expect_error_object, expect_details_field, expect_field, expect_405,
 *    expect_error_free, expect_field_free (and resp_free),
 *    expect_unauthorized;
 *  - fixtures: exam_create, attempt_start, expect_created and the world
 *    most tests need (world_new, world_add_other, world_free);
 *  - the runner: tcase, tcase_named, E2E_ADD_TESTS (E2E_LOOP, E2E_ROWS),
 *    e2e_suite, e2e_main, e2e_run;
 *  - the stack's environment: g_url, g_secret, g_db and e2e_read_env(),
 *    which checks ATTEMPTS_TEST_URL, ATTEMPTS_JWT_SECRET, ATTEMPTS_TEST_DB
 *    (and one optional extra variable) and fills the three globals;
 *  - JSON accessors that fail the test on a missing or mistyped key: jget,
 *    jstr, jnum, has_key, nkeys, and the assertions expect_null,
 *    expect_str, expect_num, expect_bool, expect_json_eq, expect_ts;
 *  - database access on the stack's database: db_connect, db_run,
 *    db_query, db_exec, db_value, db_long, db_version, db_expect_answers,
 *    db_expect_stored, db_submit, and sweep_hold / sweep_release (the deadline sweep's
 *    advisory lock).
 *
 * All failures are Check assertions (ck_assert_msg). */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "auth.h"
#include "http_client.h"
#include "uuid.h"

/* The key of the advisory lock sweep_expired_attempts() tries before it
 * sweeps (sql/admin.sql): holding it keeps the workers' sweep from
 * racing a test that needs an expired attempt to stay in progress. */
#define SWEEP_LOCK_KEY "7310594523462267185"

/* A UUID's text and its NUL. */
#define ID_LEN (UUID_STR_LEN + 1)

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

/* A JWT of the given header and payload (JSON texts), signed with HMAC md
 * under key; md NULL leaves the signature part empty. The caller frees it. */
char *sign_raw(const char *header, const char *payload, const EVP_MD *md, const char *key);

/* ------------------------------------------------------------ requests */

/* "Authorization: Bearer <token>" into out. */
void bearer_line(char *out, size_t cap, const char *token);
/* How many header lines called name (case-insensitive) r has. */
size_t header_count(const resp *r, const char *name);
/* Every answer carries exactly one X-Request-Id of 1..128 characters of
 * [A-Za-z0-9._-] (API.md section 3). */
void expect_request_id(const resp *r);
/* Sends one request to g_url: optional bearer token, optional body with an
 * optional Content-Type (NULL: none sent), optional extra header lines
 * (NULL-terminated). Fails the test if the exchange itself fails; does not
 * look at the answer. The caller frees *out with resp_free(). */
void send_plain(resp *out, const char *method, const char *path, const char *token,
		const char *content_type, const void *body, size_t body_len,
		const char *const *extra);
/* As send_plain, and asserts the answer's X-Request-Id. */
void send_typed(resp *out, const char *method, const char *path, const char *token,
		const char *content_type, const void *body, size_t body_len,
		const char *const *extra);
/* As send_typed with a JSON body (Content-Type: application/json when body
 * is not NULL). */
void send_raw(resp *out, const char *method, const char *path, const char *token, const char *body,
	      size_t body_len, const char *const *extra);
/* As send_raw as u (NULL: no token) with a NUL-terminated body. */
void send_req(resp *out, const char *method, const char *path, const user *u, const char *body,
	      const char *const *extra);
/* "/api/attempts/{id}?action={action}" into out. */
void attempt_path(char *out, size_t cap, const char *id, const char *action);
/* Sends METHOD /api/attempts/{id}?action=... as u. */
void act(resp *r, const char *method, const user *u, const char *attempt_id, const char *action,
	 const char *body);
/* GET ?action=action as u; get_version asserts 200 with version and frees. */
void get_action(resp *r, const user *u, const char *attempt_id, const char *action);
void get_version(const user *u, const char *attempt_id, const char *action, long version);
/* PATCH ?action=save as u with body and extra header lines (NULL: none);
 * save_ok asserts 200, save_version 200 with version, and both free. */
void save(resp *r, const user *u, const char *attempt_id, const char *body,
	  const char *const *extra);
void save_ok(const user *u, const char *attempt_id, const char *body);
void save_version(const user *u, const char *attempt_id, const char *body, const char *const *extra,
		  long version);

/* ------------------------------------------------------------ errors */

/* Sends the request as u (NULL: no token), asserts an error answer with
 * status and code (as expect_error), and frees it. */
void refused(const char *method, const char *path, const user *u, const char *body, int status,
	     const char *code);
/* As refused, for METHOD /api/attempts/{id}?action=... */
void act_refused(const char *method, const user *u, const char *attempt_id, const char *action,
		 const char *body, int status, const char *code);
/* METHOD ?action=action with body as u on attempt_id (someone else's) and
 * on a missing attempt: both 404 not_found, the same answer (API.md
 * section 4: no existence leak). */
void expect_as_missing(const char *method, const user *u, const char *attempt_id,
		       const char *action, const char *body);
/* As act_refused, asserting 422 validation_failed naming field. */
void act_field_refused(const char *method, const user *u, const char *attempt_id,
		       const char *action, const char *body, const char *field);

/* Asserts that err is an error object {"code", "message"[, "details"]}
 * whose code is code (NULL: any non-empty string); what names it in
 * messages. Returns details (NULL when absent). */
const cJSON *expect_error_object(const cJSON *err, const char *code, const char *what);
/* Asserts r's body is exactly {"error": {...}} in application/json, the
 * object as expect_error_object wants it; what names the request in
 * messages (NULL: r->what). Returns the error object. */
const cJSON *expect_error_body(const resp *r, const char *code, const char *what);
/* Asserts status and the error body with code; returns details (or NULL). */
const cJSON *expect_error(const resp *r, int status, const char *code);
/* expect_error, expect_field, then resp_free(r). */
void expect_error_free(resp *r, int status, const char *code);
void expect_field_free(resp *r, const char *field);
/* details.field of an error's details object equals field. */
void expect_details_field(const cJSON *details, const char *field, const char *what);
/* Asserts 422 validation_failed naming field in details.field. */
void expect_field(const resp *r, const char *field);
/* Asserts 405 method_not_allowed with the Allow header allow (exact) or
 * one that contains it (!exact). */
void expect_405(const resp *r, const char *allow, int exact);
/* Asserts 401 unauthorized with a WWW-Authenticate: Bearer challenge. */
void expect_unauthorized(const resp *r);

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
/* obj[key] is a canonical UUID. */
void expect_uuid(const cJSON *obj, const char *key);
/* Asserts obj has every key of the NULL-terminated list. */
void expect_keys(const cJSON *obj, const char *what, const char *const *keys);

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
/* Runs sql with up to two text parameters (the first NULL one ends them)
 * and asserts how many rows it changed (want_rows -1: any). */
void db_exec(const char *sql, const char *p1, const char *p2, int want_rows);
/* The one value of the one row sql returns, as text the caller frees
 * (NULL for SQL NULL); parameters as db_exec. */
char *db_value2(const char *sql, const char *p1, const char *p2);
char *db_value(const char *sql, const char *param);
/* As db_value2, as a number; asserts the value is not NULL. */
long db_long2(const char *sql, const char *p1, const char *p2);
long db_long(const char *sql, const char *param);
/* The attempt's stored version. */
long db_version(const char *attempt_id);
/* Asserts the stored answers equal the JSON text want. */
void db_expect_answers(const char *attempt_id, const char *want);
/* Asserts the stored version and answers (the JSON text answers). */
void db_expect_stored(const char *attempt_id, long version, const char *answers);
/* Marks an in-progress attempt submitted directly in the database (reason
 * student, the receipt of the service's own SQL function, version + 1). */
void db_submit(const char *attempt_id);

/* ------------------------------------------------------------ fixtures */

/* Creates an exam as u from the JSON body, expecting 201; copies its id. */
void exam_create(const user *u, const char *body, char id[ID_LEN]);
/* Asserts r is 201 with a UUID under key, which it copies into id. */
void expect_created(const resp *r, const char *key, char id[ID_LEN]);
/* Starts u's attempt of exam_id, expecting 201; copies its id. */
void attempt_start(const user *u, const char *exam_id, char id[ID_LEN]);

/* A proctor, an exam made by it, a student and the student's started
 * attempt, and an admin: the world most tests need; world_add_other adds
 * a second student with an attempt of its own. */
typedef struct world {
	user proctor, student, admin;
	user other; /* only after world_add_other */
	char exam_id[ID_LEN];
	char attempt_id[ID_LEN];
	char other_attempt_id[ID_LEN];
} world;

void world_new(world *w, const char *exam_body);
void world_add_other(world *w);
/* Frees the users' tokens. */
void world_free(world *w);

/* ------------------------------------------------------------ runner */

/* A new test case of s with a timeout in seconds. */
TCase *tcase(Suite *s, const char *name, int timeout_s);
/* The test case called name of s: made by tcase() the first time it is
 * asked for, the same one after that (for suites whose tests are spread
 * over several files). At most 64 names. */
TCase *tcase_named(Suite *s, const char *name, int timeout_s);
/* The mark that starts a loop test in e2e_add_tests' list (E2E_ROWS). */
extern const TTest e2e_loop_mark;
/* In e2e_add_tests' list: test as a loop test, run once per row from..to-1
 * (_i the row); E2E_LOOP: once per row of the static array table. */
#define E2E_ROWS(test, from, to) &e2e_loop_mark, test, (int)(from), (int)(to)
#define E2E_LOOP(test, table) E2E_ROWS(test, 0, sizeof(table) / sizeof((table)[0]))
/* Adds its tests, in order up to a NULL, to the test case called name of s
 * (see tcase_named): each a START_TEST name or an E2E_ROWS/E2E_LOOP. */
void e2e_add_tests(Suite *s, const char *name, int timeout_s, ...) __attribute__((sentinel));
/* e2e_add_tests with the NULL that ends the list. */
#define E2E_ADD_TESTS(s, name, timeout_s, ...) e2e_add_tests(s, name, timeout_s, __VA_ARGS__, NULL)
/* A test case of a suite: its name and timeout. */
typedef struct e2e_case {
	const char *name;
	int timeout_s;
} e2e_case;
/* A function of one file of a suite that adds its tests to s. */
typedef void (*e2e_adder)(Suite *s);
/* The suite called name with the ncases test cases (in the order they
 * run), to which each of the nadds adders adds its tests. */
Suite *e2e_suite(const char *name, const e2e_case *cases, size_t ncases, const e2e_adder *adds,
		 size_t nadds);
/* A whole program: checks the environment as e2e_read_env(prog, NULL)
 * (77 when it is missing), then runs e2e_suite(...) in mode; returns the
 * exit status. */
int e2e_main(const char *prog, const char *name, const e2e_case *cases, size_t ncases,
	     const e2e_adder *adds, size_t nadds, enum print_output mode);
/* Runs s (the srunner frees it) in print mode mode; returns the exit
 * status: 0 when every test passed, 1 otherwise. */
int e2e_run(Suite *s, enum print_output mode);

#endif
