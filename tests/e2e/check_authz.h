/* check_authz: what the files of the check_authz program share: the
 * fixed world every matrix cell and SQL case works on, the upload step
 * that builds it, the database snapshot a refusal must leave
 * alone, the checks of an error answer, the matrix's columns and their
 * tokens (check_authz_tokens.c), and one function per file that adds its
 * tests (check_authz_matrix.c: HTTP; check_authz_sql.c: SQL). */
#ifndef E2E_CHECK_AUTHZ_H
#define E2E_CHECK_AUTHZ_H

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>

#include "e2e_util.h"

/* The fixed world every matrix cell and SQL case works on. */
typedef struct matrix_world {
	user proctor, admin;
	user owner;   /* owns attempt */
	user other;   /* another student, with an attempt of its own */
	user starter; /* a student without any attempt (start's token cases) */
	char exam[ID_LEN];
	char attempt_id[ID_LEN];
	char other_attempt_id[ID_LEN];
	char upload_id[ID_LEN];
} matrix_world;

extern matrix_world W;
/* The bytes of the world's upload. */
extern const char upload_bytes[];

/* A setup step (the test fails unless it succeeds): u's new upload of
 * upload_bytes to attempt. */
void upload_new(const user *u, const char *attempt, char out[ID_LEN]);
/* Everything a refused request must leave alone, as one text: the target
 * attempt's row, its activity and upload counts, the attempts of its exam
 * (a start) and the exams the world's users created (an exam create).
 * The caller frees. */
char *db_snapshot(PGconn *c, const char *attempt_id);
/* Number of entries in the upload store; fails the test when it cannot
 * be read. */
long store_entries(void);
/* Asserts the section 3 error shape: exactly {"error": {"code",
 * "message"[, "details"]}} in application/json, with the given code.
 * Returns error. */
const cJSON *expect_error_shape(const resp *r, const char *code, const char *where);
/* The results array of a batch answer; asserts n items. */
const cJSON *batch_results(const resp *r, int n, const char *where);
/* The code of a result item's error, or NULL. */
const char *item_error_code(const cJSON *item);

/* The target of a request: the ids put in for {A}, {E}, {U}. */
typedef struct target {
	const char *attempt;
	const char *exam;
	const char *upload;
} target;

/* Replaces the placeholders of tmpl; NULL in, NULL out. Caller frees. */
char *fill_target(const char *tmpl, const target *t);

/* The columns. The first eight are token defects (sent with the identity
 * of someone who may make the request); the next five are role
 * mismatches with valid tokens; the last is the control. */
typedef enum kase {
	K_NO_TOKEN,
	K_MALFORMED,
	K_BAD_SIGNATURE,
	K_EXPIRED,    /* exp 600 s ago: beyond the 60 s leeway */
	K_NBF_FUTURE, /* nbf 600 s ahead */
	K_ALG_NONE,
	K_ALG_HS512, /* a valid HMAC-SHA512 with the stack's secret */
	K_UNKNOWN_ROLE,
	K_OTHER_STUDENT, /* another student, on the owner's attempt */
	K_STUDENT_STAFF, /* the owner, on a proctor/admin action */
	K_PROCTOR_ADMIN, /* a proctor, on an admin action */
	K_PROCTOR_OWNER, /* a proctor, on an owner-only write */
	K_ADMIN_OWNER,	 /* an admin, on an owner-only write */
	K_CONTROL,	 /* someone allowed, on a fresh attempt: succeeds */
	K_COUNT
} kase;

/* check_authz_tokens.c: the Authorization header line of token case k (up
 * to K_UNKNOWN_ROLE) for u; NULL for no header. Varies the malformed shape
 * with the route, so every shape is tried on several routes. Caller
 * frees. */
char *authz_token_case_header(kase k, const user *u, int route);

/* check_authz_matrix.c: prints the matrix; adds its cells to s. */
void authz_print_matrix(void);
void authz_matrix_tests(Suite *s);
/* check_authz_sql.c: the sizes of its tables; adds its cases to s. */
int authz_sql_cases(void);
int authz_bad_claims(void);
int authz_sql_calls(void);
void authz_sql_tests(Suite *s);

#endif
