/* db: the service's prepared statements and the one-round-trip call that
 * runs a statement under the caller's claims. Each call pipelines
 * set_config('request.jwt.claims'), the statement and a Sync, so claims,
 * call and commit cost one network round trip. Calls pass the circuit
 * breaker and are retried with backoff where repeating is safe. Owns the
 * statement table and that call protocol; connections come from db_pool. */
#ifndef ATT_DB_H
#define ATT_DB_H

#include <libpq-fe.h>

#include "att_err.h"
#include "breaker.h"
#include "db_pool.h"
#include "retry.h"

typedef enum db_stmt {
	DB_STMT_SET_CLAIMS = 0,
	DB_STMT_PING,
	DB_STMT_CREATE_EXAM,
	DB_STMT_GET_EXAM,
	DB_STMT_LIST_EXAMS,
	DB_STMT_START_ATTEMPT,
	DB_STMT_ATTEMPT_STATE,
	DB_STMT_ATTEMPT_INFO,
	DB_STMT_SAVE_ATTEMPT,
	DB_STMT_CLEAR_CACHE,
	DB_STMT_SUBMIT_ATTEMPT,
	DB_STMT_LOG_ACTIVITY,
	DB_STMT_EXTEND_ATTEMPT,
	DB_STMT_STATISTICS,
	DB_STMT_ACTIVE_ATTEMPTS,
	DB_STMT_BATCH_SAVE,
	DB_STMT_MULTIPLE_STATES,
	DB_STMT_MULTIPLE_INFOS,
	DB_STMT_BATCH_LOG,
	DB_STMT_VALIDATE_MULTIPLE,
	DB_STMT_BATCH_SUBMIT,
	DB_STMT_PRELOAD,
	DB_STMT_SWEEP_EXPIRED,
	DB_STMT_ANALYZE,
	DB_STMT_VALIDATE_UPLOAD,
	DB_STMT_RECORD_UPLOAD,
	DB_STMT_GET_UPLOAD,
	DB_STMT_LIST_UPLOADS,
	DB_STMT_COALESCED_WRITES,
	DB_STMT_COALESCED_READS,
	DB_STMT_LIVE_SNAPSHOT,
	DB_STMT_COUNT
} db_stmt;

/* What a call needs besides its arguments. */
typedef struct db_env {
	db_pool *pool;
	breaker *breaker; /* NULL = no breaker */
	retry_policy retry;
	int call_timeout_ms; /* waiting for a result longer drops the connection */
	int unnamed;	     /* send each statement's text (unnamed statements:
				PgBouncer's transaction mode before 1.21) instead of
				the names db_prepare_all prepared */
} db_env;

/* What happened in a call, for logging, metrics and the 503 answer. */
typedef struct db_failure {
	char sqlstate[6]; /* "" when the failure was not an SQL error */
	int sent;	  /* the statement may have reached the server */
	int breaker_open; /* refused by the open breaker */
	long long retry_after_ms;
	int tries;	   /* statements sent (database round trips) */
	char message[256]; /* for logs: libpq's first line */
	char primary[256]; /* the server's primary message
			      (PG_DIAG_MESSAGE_PRIMARY); "" if none */
} db_failure;

/* Prepares every statement on conn; a pool_setup_fn. Returns 0 on success. */
int db_prepare_all(PGconn *conn, void *unused);

/* True for the SQLSTATE of a write refused by a standby (25006): db_call
 * drops that connection and repeats the call on a new one (the primary). */
int db_sqlstate_is_standby(const char *sqlstate);

/* Runs stmt with params (as many values as its SQL takes, NULL = SQL NULL)
 * under claims_json (NULL = no claims) in one round trip, and returns in
 * *out the text of the single result value (NULL for SQL NULL), which the
 * caller frees with free(). Errors: ATT_ETIMEOUT (no free connection in
 * time), ATT_EUNAVAILABLE (database unreachable, connection lost, or the
 * breaker is open), ATT_EDB (the server refused the statement),
 * ATT_ENOMEM. *why is always filled. */
att_err db_call(const db_env *env, const char *claims_json, db_stmt stmt, const char *const *params,
		char **out, db_failure *why) ATT_MUSTCHECK;

#endif
