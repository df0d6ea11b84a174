/* db: the service's prepared statements and the one-round-trip call that
 * runs a statement under the caller's claims. Each call pipelines
 * set_config('request.jwt.claims'), the statement and a Sync, so claims,
 * call and commit cost one network round trip. Owns the statement table;
 * connections come from db_pool. */
#ifndef ATT_DB_H
#define ATT_DB_H

#include <libpq-fe.h>

#include "att_err.h"
#include "db_pool.h"

typedef enum db_stmt {
	DB_STMT_SET_CLAIMS = 0,
	DB_STMT_PING,
	DB_STMT_CREATE_EXAM,
	DB_STMT_GET_EXAM,
	DB_STMT_START_ATTEMPT,
	DB_STMT_ATTEMPT_STATE,
	DB_STMT_ATTEMPT_INFO,
	DB_STMT_SAVE_ATTEMPT,
	DB_STMT_COUNT
} db_stmt;

/* What went wrong in a failed call, for logging and retry decisions. */
typedef struct db_failure {
	char sqlstate[6];     /* "" when the failure was not an SQL error */
	int sent;             /* the statement may have reached the server */
	char message[256];
} db_failure;

/* Prepares every statement on conn; a pool_setup_fn. Returns 0 on success. */
int db_prepare_all(PGconn *conn, void *unused);

/* Number of parameters statement stmt takes. */
int db_stmt_nparams(db_stmt stmt);

/* Runs stmt with params (db_stmt_nparams(stmt) values, NULL = SQL NULL)
 * under claims_json (NULL = no claims) in one round trip, and returns in
 * *out the text of the single result value (NULL for SQL NULL), which the
 * caller frees with free(). Errors: ATT_ETIMEOUT / ATT_EUNAVAILABLE (no
 * connection), ATT_EDB (the server refused; see *why), ATT_ENOMEM. why may
 * be NULL. */
att_err db_call(db_pool *pool, const char *claims_json, db_stmt stmt,
		const char *const *params, char **out,
		db_failure *why) ATT_MUSTCHECK;

#endif
