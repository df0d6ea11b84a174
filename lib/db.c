/* db: prepared statement table and the pipelined claims+call+commit. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct db_statement {
	const char *name;
	const char *sql;
	int nparams;
} db_statement;

static const db_statement db_statements[DB_STMT_COUNT] = {
	[DB_STMT_SET_CLAIMS] = {"set_claims",
		"SELECT pg_catalog.set_config('request.jwt.claims', $1, true)", 1},
	[DB_STMT_PING] = {"ping", "SELECT 1", 0},
	[DB_STMT_CREATE_EXAM] = {"create_exam",
		"SELECT attempts.create_exam($1::jsonb)", 1},
	[DB_STMT_GET_EXAM] = {"get_exam", "SELECT attempts.get_exam($1::uuid)", 1},
	[DB_STMT_START_ATTEMPT] = {"start_attempt",
		"SELECT attempts.start_attempt($1::uuid)", 1},
	[DB_STMT_ATTEMPT_STATE] = {"attempt_state",
		"SELECT attempts.get_attempt_state($1::uuid)", 1},
	[DB_STMT_ATTEMPT_INFO] = {"attempt_info",
		"SELECT attempts.get_attempt_info($1::uuid)", 1},
	[DB_STMT_SAVE_ATTEMPT] = {"save_attempt",
		"SELECT attempts.save_attempt($1::uuid, $2::jsonb, $3::jsonb, $4::int, $5::int)", 5},
};

int db_stmt_nparams(db_stmt stmt)
{
	return db_statements[stmt].nparams;
}

int db_prepare_all(PGconn *conn, void *unused)
{
	(void)unused;
	for (int i = 0; i < DB_STMT_COUNT; i++) {
		PGresult *res = PQprepare(conn, db_statements[i].name,
					  db_statements[i].sql,
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

static void set_failure(db_failure *why, const PGresult *res, PGconn *conn,
			int sent)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;

	if (why == NULL)
		return;
	why->sent = sent;
	snprintf(why->sqlstate, sizeof why->sqlstate, "%s", state ? state : "");
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(conn);
	snprintf(why->message, sizeof why->message, "%s", msg ? msg : "");
	why->message[strcspn(why->message, "\n")] = '\0';
}

/* Reads the results of one pipelined query up to its terminating NULL.
 * Keeps the first result; returns it (caller clears) or NULL. */
static PGresult *read_query_results(PGconn *conn)
{
	PGresult *first = NULL, *res;

	while ((res = PQgetResult(conn)) != NULL) {
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	return first;
}

/* Sends claims + statement + sync; returns 0 if everything was queued. */
static int send_pipeline(PGconn *conn, const char *claims_json, db_stmt stmt,
			 const char *const *params)
{
	const char *claims[1] = {claims_json};

	if (PQenterPipelineMode(conn) != 1)
		return -1;
	if (claims_json != NULL &&
	    PQsendQueryPrepared(conn, db_statements[DB_STMT_SET_CLAIMS].name, 1,
				claims, NULL, NULL, 0) != 1)
		return -1;
	if (PQsendQueryPrepared(conn, db_statements[stmt].name,
				db_statements[stmt].nparams, params, NULL, NULL,
				0) != 1)
		return -1;
	return PQpipelineSync(conn) == 1 ? 0 : -1;
}

att_err db_call(db_pool *pool, const char *claims_json, db_stmt stmt,
		const char *const *params, char **out, db_failure *why)
{
	PGconn *conn = NULL;
	PGresult *claims_res = NULL, *res = NULL, *sync = NULL;
	att_err err;
	int broken = 0;

	err = pool_acquire(pool, &conn);
	if (err != ATT_OK) {
		if (why != NULL) {
			memset(why, 0, sizeof *why);
			snprintf(why->message, sizeof why->message, "%s", att_strerror(err));
		}
		return err;
	}
	pool_count_query(pool);
	if (send_pipeline(conn, claims_json, stmt, params) != 0) {
		set_failure(why, NULL, conn, 0);
		err = ATT_EUNAVAILABLE;
		broken = 1;
		goto out;
	}
	if (claims_json != NULL)
		claims_res = read_query_results(conn);
	res = read_query_results(conn);
	sync = PQgetResult(conn);
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC ||
	    PQexitPipelineMode(conn) != 1) {
		/* The connection died mid-call: the outcome is unknown. */
		set_failure(why, res, conn, 1);
		err = ATT_EUNAVAILABLE;
		broken = 1;
		goto out;
	}
	if (claims_res != NULL && PQresultStatus(claims_res) != PGRES_TUPLES_OK) {
		set_failure(why, claims_res, conn, 1);
		err = ATT_EDB;
		goto out;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 1) {
		set_failure(why, res, conn, 1);
		err = ATT_EDB;
		goto out;
	}
	if (PQgetisnull(res, 0, 0)) {
		*out = NULL;
	} else {
		*out = strdup(PQgetvalue(res, 0, 0));
		if (*out == NULL) {
			err = ATT_ENOMEM;
			goto out;
		}
	}
	err = ATT_OK;
out:
	PQclear(claims_res);
	PQclear(res);
	PQclear(sync);
	pool_release(pool, conn, broken);
	return err;
}
