/* db: prepared statement table, the pipelined claims+call+commit, and the
 * breaker/retry loop around it. */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct db_statement {
	const char *name;
	const char *sql;
	int nparams;
	int idempotent; /* read-only: safe to repeat even if it may have run */
} db_statement;

static const db_statement db_statements[DB_STMT_COUNT] = {
	[DB_STMT_SET_CLAIMS] = {"set_claims",
				"SELECT pg_catalog.set_config('request.jwt.claims', $1, true)", 1,
				1},
	[DB_STMT_PING] = {"ping", "SELECT 1", 0, 1},
	/* Statements that take a request body get it verbatim ($n::jsonb) and
	 * pick their fields in SQL: numbers reach jsonb exactly as sent. */
	[DB_STMT_CREATE_EXAM] = {"create_exam", "SELECT attempts.create_exam($1::jsonb)", 1, 0},
	[DB_STMT_GET_EXAM] = {"get_exam", "SELECT attempts.get_exam($1::uuid)", 1, 1},
	[DB_STMT_LIST_EXAMS] = {"list_exams", "SELECT attempts.list_exams($1, $2)", 2, 1},
	[DB_STMT_START_ATTEMPT] = {"start_attempt", "SELECT attempts.start_attempt($1::uuid)", 1,
				   0},
	[DB_STMT_ATTEMPT_STATE] = {"attempt_state", "SELECT attempts.get_attempt_state($1::uuid)",
				   1, 1},
	[DB_STMT_ATTEMPT_INFO] = {"attempt_info", "SELECT attempts.get_attempt_info($1::uuid)", 1,
				  1},
	[DB_STMT_SAVE_ATTEMPT] =
		{"save_attempt",
		 "SELECT attempts.save_attempt($1::uuid, NULLIF($2::jsonb -> 'answers', 'null'), "
		 "NULLIF($2::jsonb -> 'auto_save_data', 'null'), $3::int, $4::int)",
		 4, 0},
	[DB_STMT_CLEAR_CACHE] = {"clear_cache", "SELECT attempts.broadcast_clear_cache()", 0, 0},
	[DB_STMT_SUBMIT_ATTEMPT] =
		{"submit_attempt",
		 "SELECT attempts.submit_attempt($1::uuid, NULLIF($2::jsonb -> 'answers', 'null'), "
		 "$3::int, $4::int)",
		 4, 0},
	[DB_STMT_LOG_ACTIVITY] =
		{"log_activity",
		 "SELECT attempts.log_attempt_activity($1::uuid, $2::jsonb -> 'events')", 2, 0},
	[DB_STMT_EXTEND_ATTEMPT] = {"extend_attempt",
				    "SELECT attempts.extend_attempt($1::uuid, $2::int)", 2, 0},
	/* $1 exam id, else the exam of attempt $2. */
	[DB_STMT_STATISTICS] =
		{"statistics",
		 "SELECT attempts.get_attempt_statistics(COALESCE($1::uuid, "
		 "(SELECT exam_id FROM attempts.attempts WHERE attempt_id = $2::uuid)))",
		 2, 1},
	[DB_STMT_ACTIVE_ATTEMPTS] =
		{"active_attempts",
		 "SELECT attempts.get_active_attempts(COALESCE($1::uuid, "
		 "(SELECT exam_id FROM attempts.attempts WHERE attempt_id = $2::uuid)))",
		 2, 1},
	[DB_STMT_BATCH_SAVE] = {"batch_save",
				"SELECT attempts.batch_save_attempts($1::jsonb -> 'data', $2::int)",
				2, 0},
	/* $2: the answer's byte budget (max_response_bytes). */
	[DB_STMT_MULTIPLE_STATES] =
		{"multiple_states",
		 "SELECT attempts.get_multiple_attempt_states($1::uuid[], $2::bigint)", 2, 1},
	[DB_STMT_MULTIPLE_INFOS] =
		{"multiple_infos",
		 "SELECT attempts.get_multiple_attempt_infos($1::uuid[], $2::bigint)", 2, 1},
	[DB_STMT_BATCH_LOG] =
		{"batch_log",
		 /* $1 the body, $2 the positions (1-based) of the items C accepted. */
		 "SELECT attempts.batch_log_attempt_activity($1::jsonb -> 'data', $2::bigint[])", 2,
		 0},
	[DB_STMT_VALIDATE_MULTIPLE] = {"validate_multiple",
				       "SELECT attempts.validate_multiple_attempts($1::uuid[])", 1,
				       1},
	[DB_STMT_BATCH_SUBMIT] = {"batch_submit",
				  "SELECT attempts.batch_submit_attempts($1::uuid[])", 1, 0},
	[DB_STMT_PRELOAD] = {"preload", "SELECT attempts.preload_attempt_states($1::uuid[])", 1, 1},
	/* The deadline sweep, run without claims (lib/app.c). */
	[DB_STMT_SWEEP_EXPIRED] = {"sweep_expired", "SELECT attempts.sweep_expired_attempts()", 0,
				   0},
	[DB_STMT_ANALYZE] = {"analyze", "SELECT attempts.analyze_observations()", 0, 1},
	[DB_STMT_VALIDATE_UPLOAD] =
		{"validate_upload",
		 "SELECT attempts.validate_attempt_upload($1::uuid, $2::text, $3::bigint)", 3, 1},
	[DB_STMT_RECORD_UPLOAD] =
		{"record_upload",
		 "SELECT attempts.record_attempt_upload($1::uuid, $2::uuid, $3::text, $4::text, "
		 "$5::bigint, $6::text)",
		 6, 0},
	[DB_STMT_GET_UPLOAD] = {"get_upload",
				"SELECT attempts.get_attempt_upload($1::uuid, $2::uuid)", 2, 1},
	[DB_STMT_LIST_UPLOADS] = {"list_uploads", "SELECT attempts.list_attempt_uploads($1::uuid)",
				  1, 1},
	/* Single writes, and single reads, of several requests, each item
	 * with its own claims (attempt_calls.h); no request's claims are set. */
	[DB_STMT_COALESCED_WRITES] = {"coalesced_writes",
				      "SELECT attempts.coalesced_writes($1::jsonb)", 1, 0},
	[DB_STMT_COALESCED_READS] = {"coalesced_reads",
				     "SELECT attempts.coalesced_reads($1::jsonb)", 1, 1},
	/* The proctors' live view (web/proctor.js): $1 exam id, else the exam
	 * of attempt $2. */
	[DB_STMT_LIVE_SNAPSHOT] =
		{"live_snapshot",
		 "SELECT attempts.get_live_snapshot(COALESCE($1::uuid, "
		 "(SELECT exam_id FROM attempts.attempts WHERE attempt_id = $2::uuid)))",
		 2, 1},
};

int db_prepare_all(PGconn *conn, void *unused)
{
	(void)unused;
	for (int i = 0; i < DB_STMT_COUNT; i++) {
		PGresult *res = PQprepare(conn, db_statements[i].name, db_statements[i].sql,
					  db_statements[i].nparams, NULL);
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		if (!ok)
			log_error("db: cannot prepare %s: %s", db_statements[i].name,
				  PQerrorMessage(conn));
		PQclear(res);
		if (!ok)
			return -1;
	}
	return 0;
}

/* How one try ended. */
typedef enum try_outcome {
	TRY_OK = 0,
	TRY_SQL_ERROR, /* the server refused the statement; it is up */
	TRY_NO_CONN,   /* no connection could be had or opened */
	TRY_NOT_SENT,  /* the connection failed before the call was sent */
	TRY_LOST,      /* the connection failed after sending: outcome unknown */
	TRY_READ_ONLY, /* the server is a standby now (25006): nothing written */
	TRY_TIMEOUT,   /* no free connection in time */
	TRY_NOMEM
} try_outcome;

static void note_failure(db_failure *why, const PGresult *res, PGconn *conn)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	snprintf(why->sqlstate, sizeof why->sqlstate, "%s", state ? state : "");
	snprintf(why->primary, sizeof why->primary, "%s", primary ? primary : "");
	if ((msg == NULL || *msg == '\0') && conn != NULL)
		msg = PQerrorMessage(conn);
	snprintf(why->message, sizeof why->message, "%s", msg ? msg : "");
	why->message[strcspn(why->message, "\n")] = '\0';
}

/* 25006 read_only_sql_transaction: the connection reached a standby (after
 * a failover, a pooler's session to the old primary now demoted). The
 * call's transaction did nothing; the connection must go, so that the
 * next one finds the primary (target_session_attrs=read-write). */
int db_sqlstate_is_standby(const char *sqlstate)
{
	return sqlstate != NULL && strcmp(sqlstate, "25006") == 0;
}

/* SQLSTATEs that say the server or the connection went away. */
static int sqlstate_is_connection_loss(const char *s)
{
	return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
	       strcmp(s, "57P03") == 0;
}

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* PQgetResult that waits at most until deadline (monotonic ms): a hung
 * server must not hold a request thread. On timeout sets *late and
 * returns NULL; the connection is then unusable (mid-protocol). */
static PGresult *get_result_by(PGconn *conn, long long deadline, int *late)
{
	while (!*late && PQisBusy(conn)) {
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		long long left = deadline - monotonic_ms();
		int rc;

		if (left <= 0) {
			*late = 1;
			break;
		}
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc < 0 && errno != EINTR)
			break; /* let PQgetResult report the broken connection */
		if (rc > 0 && PQconsumeInput(conn) != 1)
			break;
	}
	return *late ? NULL : PQgetResult(conn);
}

/* Reads the results of one pipelined query up to its terminating NULL.
 * Keeps the first result; returns it (caller clears) or NULL. */
static PGresult *read_query_results(PGconn *conn, long long deadline, int *late)
{
	PGresult *first = NULL, *res;

	while ((res = get_result_by(conn, deadline, late)) != NULL) {
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	return first;
}

/* Queues statement stmt: by its prepared name, or (unnamed) its text. */
static int send_statement(PGconn *conn, int unnamed, db_stmt stmt, const char *const *params)
{
	int nparams = db_statements[stmt].nparams;

	if (unnamed)
		return PQsendQueryParams(conn, db_statements[stmt].sql, nparams, NULL, params, NULL,
					 NULL, 0);
	return PQsendQueryPrepared(conn, db_statements[stmt].name, nparams, params, NULL, NULL, 0);
}

/* Sends claims + statement + sync; returns 0 if everything was queued and
 * flushed. */
static int send_pipeline(PGconn *conn, int unnamed, const char *claims_json, db_stmt stmt,
			 const char *const *params)
{
	const char *claims[1] = {claims_json};

	if (PQenterPipelineMode(conn) != 1)
		return -1;
	if (claims_json != NULL && send_statement(conn, unnamed, DB_STMT_SET_CLAIMS, claims) != 1)
		return -1;
	if (send_statement(conn, unnamed, stmt, params) != 1)
		return -1;
	return PQpipelineSync(conn) == 1 ? 0 : -1;
}

/* Reads what send_pipeline asked for, waiting at most timeout_ms. */
static try_outcome read_pipeline(PGconn *conn, int with_claims, int timeout_ms, char **out,
				 db_failure *why)
{
	PGresult *claims_res = NULL, *res, *sync;
	try_outcome outcome = TRY_OK;
	long long deadline = monotonic_ms() + timeout_ms;
	int late = 0;

	if (with_claims)
		claims_res = read_query_results(conn, deadline, &late);
	res = read_query_results(conn, deadline, &late);
	sync = get_result_by(conn, deadline, &late);
	if (late) {
		snprintf(why->message, sizeof why->message,
			 "no answer from the database within %d ms", timeout_ms);
		outcome = TRY_LOST;
	} else if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(conn) != 1) {
		note_failure(why, res ? res : claims_res, conn);
		outcome = TRY_LOST;
	} else if (claims_res != NULL && PQresultStatus(claims_res) != PGRES_TUPLES_OK) {
		note_failure(why, claims_res, conn);
		outcome = TRY_SQL_ERROR;
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		   PQnfields(res) != 1) {
		note_failure(why, res, conn);
		outcome = TRY_SQL_ERROR;
	} else if (PQgetisnull(res, 0, 0)) {
		*out = NULL;
	} else if ((*out = strdup(PQgetvalue(res, 0, 0))) == NULL) {
		outcome = TRY_NOMEM;
	}
	if (outcome == TRY_SQL_ERROR && sqlstate_is_connection_loss(why->sqlstate))
		outcome = TRY_LOST;
	else if (outcome == TRY_SQL_ERROR && db_sqlstate_is_standby(why->sqlstate))
		outcome = TRY_READ_ONLY;
	PQclear(claims_res);
	PQclear(res);
	PQclear(sync);
	return outcome;
}

static try_outcome try_once(const db_env *env, const char *claims_json, db_stmt stmt,
			    const char *const *params, char **out, db_failure *why)
{
	PGconn *conn = NULL;
	try_outcome outcome;
	att_err err = pool_acquire(env->pool, &conn);

	if (err == ATT_ETIMEOUT) {
		snprintf(why->message, sizeof why->message, "no free database connection");
		return TRY_TIMEOUT;
	}
	if (err != ATT_OK) {
		snprintf(why->message, sizeof why->message, "cannot connect to the database");
		return TRY_NO_CONN;
	}
	pool_count_query(env->pool);
	why->tries++;
	if (send_pipeline(conn, env->unnamed, claims_json, stmt, params) != 0) {
		note_failure(why, NULL, conn);
		outcome = TRY_NOT_SENT;
	} else {
		outcome = read_pipeline(conn, claims_json != NULL,
					env->call_timeout_ms > 0 ? env->call_timeout_ms : 60000,
					out, why);
	}
	pool_release(env->pool, conn,
		     outcome == TRY_NOT_SENT || outcome == TRY_LOST || outcome == TRY_READ_ONLY);
	return outcome;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Reports a try's outcome to the breaker. */
static void tell_breaker(breaker *b, try_outcome outcome, int probe, const db_failure *why)
{
	if (b == NULL)
		return;
	switch (outcome) {
	case TRY_OK:
	case TRY_SQL_ERROR:
		breaker_success(b, probe);
		break;
	case TRY_NO_CONN:
	case TRY_NOT_SENT:
	case TRY_LOST:
	case TRY_READ_ONLY:
		breaker_failure(b, probe, why->message);
		break;
	case TRY_TIMEOUT:
	case TRY_NOMEM:
		breaker_cancel(b, probe);
		break;
	}
}

static int outcome_is_safe_to_repeat(try_outcome outcome, const db_failure *why, int idempotent)
{
	switch (outcome) {
	case TRY_NO_CONN:
	case TRY_NOT_SENT:
	case TRY_READ_ONLY: /* rolled back: as if never sent */
		return retry_is_safe(RETRY_NOT_SENT, NULL, idempotent);
	case TRY_LOST:
		return retry_is_safe(RETRY_LOST_AFTER_SEND, NULL, idempotent);
	case TRY_SQL_ERROR:
		return retry_is_safe(RETRY_SQL_ERROR, why->sqlstate, idempotent);
	default:
		return 0;
	}
}

att_err db_call(const db_env *env, const char *claims_json, db_stmt stmt, const char *const *params,
		char **out, db_failure *why)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(size_t)why;
	try_outcome outcome = TRY_NO_CONN;
	int attempts = env->retry.attempts > 0 ? env->retry.attempts : 1;

	memset(why, 0, sizeof *why);
	for (int attempt = 1; attempt <= attempts; attempt++) {
		int probe = 0;

		if (env->breaker != NULL && !breaker_allow(env->breaker, &probe)) {
			why->breaker_open = 1;
			why->retry_after_ms = breaker_retry_after_ms(env->breaker);
			snprintf(why->message, sizeof why->message, "circuit breaker open");
			return ATT_EUNAVAILABLE;
		}
		outcome = try_once(env, claims_json, stmt, params, out, why);
		tell_breaker(env->breaker, outcome, probe, why);
		if (outcome == TRY_OK)
			return ATT_OK;
		if (attempt == attempts ||
		    !outcome_is_safe_to_repeat(outcome, why, db_statements[stmt].idempotent))
			break;
		sleep_ms(retry_delay_ms(&env->retry, attempt + 1, &seed));
	}
	why->sent = outcome == TRY_LOST || outcome == TRY_SQL_ERROR;
	switch (outcome) {
	case TRY_TIMEOUT:
		return ATT_ETIMEOUT;
	case TRY_NOMEM:
		return ATT_ENOMEM;
	case TRY_SQL_ERROR:
		return ATT_EDB;
	default:
		return ATT_EUNAVAILABLE;
	}
}
