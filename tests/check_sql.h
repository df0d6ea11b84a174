/* check_sql.h — what the Check tests of the SQL layer (tests/check_sql_*.c)
 * share (tests/check_sql_util.c): the test's connection and the
 * allocations freed after it, calls through libpq, JSON access and
 * assertions, the world builders (an exam, an attempt, a backdated
 * deadline), and each file's part of the suite. Needs a migrated database
 * in ATTEMPTS_TEST_DB (tests/sql_test.sh makes one). */
#ifndef CHECK_SQL_H
#define CHECK_SQL_H

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <string.h>

extern PGconn *db; /* one connection per test, opened by the fixture */

/* A new connection to the test database (search_path pg_catalog). */
PGconn *connect_db(void);

/* printf into a string that lives until the end of the test. */
__attribute__((format(printf, 1, 2))) const char *fmt(const char *f, ...);

/* j, parsed elsewhere, freed at the end of the test. */
cJSON *kept_json(cJSON *j);

/* Runs sql with out-of-line text parameters (NULL = SQL NULL); returns the
 * first column of the first row (NULL if none or NULL), kept. */
const char *val_on(PGconn *c, const char *sql, int n, const char *const *params);

/* As val_on, parsing the value as JSON (kept). The value must not be NULL. */
cJSON *json_on(PGconn *c, const char *sql, int n, const char *const *params);

#define NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
#define J(sql, ...) json_on(db, (sql), NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
#define J0(sql) json_on(db, (sql), 0, NULL)
#define V(sql, ...) val_on(db, (sql), NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
#define V0(sql) val_on(db, (sql), 0, NULL)

/* Sets request.jwt.claims (session-wide) on c to the given raw text. */
void claims_on(PGconn *c, const char *claims);
/* Acts as user sub with role on connection c (as: on db). */
void as_on(PGconn *c, const char *sub, const char *role);
void as(const char *sub, const char *role);
const char *new_uuid(void);

/* ------------------------------------------------------------ JSON access */

const char *show(const cJSON *o);
/* The node at a dotted path ("state.attempt_id", "results.0.error");
 * a numeric segment indexes an array. NULL if absent. */
const cJSON *jget(const cJSON *o, const char *path);
const char *jstr_(const cJSON *o, const char *path, const char *file, int line);
double jnum_(const cJSON *o, const char *path, const char *file, int line);
#define jstr(o, path) jstr_((o), (path), __FILE__, __LINE__)
#define jnum(o, path) jnum_((o), (path), __FILE__, __LINE__)
#define jint(o, path) ((long)jnum((o), (path)))
int jtrue(const cJSON *o, const char *path);
int jfalse(const cJSON *o, const char *path);
int jnull(const cJSON *o, const char *path);
/* The size of the array or object at path (NULL: o itself). */
int jsize(const cJSON *o, const char *path);
/* True when object o has exactly the comma-separated keys. */
int has_keys(const cJSON *o, const char *keys);
/* True for an RFC 3339 UTC timestamp with microseconds. */
int is_ts(const char *s);

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

/* Asserts a and b are equal texts; on a difference, shows where (Check's
 * messages are short, the texts are not). */
void expect_same_text(const char *what, const char *a, const char *b);

/* ------------------------------------------------------------ world builders */

#define STATE_KEYS                                                                                 \
	"attempt_id,exam_id,user_id,attempt_number,status,answers,auto_save_data,"                 \
	"version,started_at,deadline_at,submitted_at,updated_at,time_remaining_s"

/* Creates an exam as a fresh proctor; extra is more JSON members (or NULL).
 * Leaves the proctor's claims set. Returns the exam id. */
const char *mk_exam(const char *extra);
/* Starts user's attempt of exam as that student (claims stay set). */
const char *mk_attempt(const char *user, const char *exam);
/* Two students' attempts of one new exam; acting as the student me. */
typedef struct two_students {
	const char *me, *mine, *other, *theirs;
} two_students;
two_students mk_two_students(void);
/* The attempt's state under the current claims. */
cJSON *state(const char *attempt);
/* The attempt row as JSON, read directly (no access rules). */
cJSON *row(const char *attempt);
/* Moves the attempt's start and deadline secs seconds into the past. */
void backdate(const char *attempt, int secs);
/* How many rows of attempts.<table> (a name written in the test, never
 * input) belong to attempt. */
long count_of(const char *table, const char *attempt);
/* Lowercase hex SHA-256 of text, by PostgreSQL's sha256() (not by jcs()). */
const char *sha256_hex(const char *text);
/* The first notification on channel that reached c, or NULL. */
const char *next_notify(PGconn *c, const char *channel);

/* One call and the error code each caller gets (NULL: not tried): the
 * owner (the attempt's student), another student, a proctor, an admin,
 * and an admin naming an id that does not exist. sql takes the attempt or
 * exam as $1, or no parameter at all. */
typedef struct refusal {
	const char *sql;
	const char *owner, *other, *proctor, *admin, *missing;
} refusal;

/* Runs each call of r[0..n) as each caller it names with $1 = id and
 * asserts the code; then the row of attempt (NULL: none) is what it was. */
void expect_refusals(const char *owner, const char *id, const char *attempt, const refusal *r,
		     size_t n);

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ the suite */

/* A TCase with the per-test connection fixture. */
TCase *sql_tcase(const char *name);

void sql_add_exams(Suite *s);	  /* check_sql_exams.c: claims, exams, start */
void sql_add_attempts(Suite *s);  /* check_sql_attempts.c: reads, save, submit, activity */
void sql_add_admin(Suite *s);	  /* check_sql_admin.c: extend, sweep, jcs, cache, schema */
void sql_add_batch(Suite *s);	  /* check_sql_batch.c: batch functions, statistics */
void sql_add_uploads(Suite *s);	  /* check_sql_uploads.c: uploads, notifications, live view */
void sql_add_coalesced(Suite *s); /* check_sql_coalesced.c: coalesced writes and reads */

#endif
