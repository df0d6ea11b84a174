/* e2e_db: the database helpers of e2e_util.h (libpq on the stack's
 * database, g_db). */
#include "e2e_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void db_exec(const char *sql, const char *p1, const char *p2, int want_rows)
{
	const char *params[2] = {p1, p2};
	PGresult *res = db_query(sql, p2 ? 2 : p1 ? 1 : 0, params);

	if (want_rows >= 0)
		ck_assert_msg(atoi(PQcmdTuples(res)) == want_rows, "%s: %s rows, want %d", sql,
			      PQcmdTuples(res), want_rows);
	PQclear(res);
}

char *db_value2(const char *sql, const char *p1, const char *p2)
{
	const char *params[2] = {p1, p2};
	PGresult *res = db_query(sql, p2 ? 2 : p1 ? 1 : 0, params);
	char *v = NULL;

	ck_assert_msg(PQntuples(res) == 1, "%s: %d rows, want 1", sql, PQntuples(res));
	if (!PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

char *db_value(const char *sql, const char *param)
{
	return db_value2(sql, param, NULL);
}

long db_long2(const char *sql, const char *p1, const char *p2)
{
	char *v = db_value2(sql, p1, p2);
	long n;

	ck_assert_msg(v != NULL, "%s: NULL", sql);
	n = strtol(v, NULL, 10);
	free(v);
	return n;
}

long db_long(const char *sql, const char *param)
{
	return db_long2(sql, param, NULL);
}

long db_version(const char *attempt_id)
{
	return db_long("SELECT version FROM attempts.attempts WHERE attempt_id = $1", attempt_id);
}

void db_expect_answers(const char *attempt_id, const char *want)
{
	const char *params[2] = {attempt_id, want};
	PGresult *res = db_query("SELECT answers::text, answers = $2::jsonb"
				 " FROM attempts.attempts WHERE attempt_id = $1",
				 2, params);

	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_msg(strcmp(PQgetvalue(res, 0, 1), "t") == 0, "stored answers %s, want %s",
		      PQgetvalue(res, 0, 0), want);
	PQclear(res);
}

void db_expect_stored(const char *attempt_id, long version, const char *answers)
{
	ck_assert_int_eq(db_version(attempt_id), version);
	db_expect_answers(attempt_id, answers);
}

void db_submit(const char *attempt_id)
{
	db_exec("UPDATE attempts.attempts SET status = 'submitted', submitted_at = now(),"
		" submit_reason = 'student', receipt = attempts.receipt_of(answers),"
		" version = version + 1 WHERE attempt_id = $1 AND status = 'in_progress'",
		attempt_id, NULL, 1);
}
