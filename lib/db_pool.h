/* db_pool: a per-process pool of libpq connections shared by the
 * process's threads: min/max size, acquire timeout, idle timeout, health
 * check of connections that sat idle, reconnect after loss, and the
 * per-connection setup (search_path, timeouts, prepared statements).
 * Owns connections only; what runs on them is db's business. */
#ifndef ATT_DB_POOL_H
#define ATT_DB_POOL_H

#include <libpq-fe.h>

#include "att_err.h"

typedef struct db_pool db_pool;

/* Called on every new connection (after the session setup); returns 0 if
 * the connection is ready, else it is closed. Used to prepare statements. */
typedef int (*pool_setup_fn)(PGconn *conn, void *arg);

typedef struct pool_options {
	const char *conninfo;
	int min_size;
	int max_size;
	int acquire_timeout_ms;
	int idle_timeout_ms;	   /* close idle connections above min */
	int health_check_after_ms; /* ping a connection idle this long */
	int statement_timeout_ms;  /* 0 = server default */
	pool_setup_fn setup;
	void *setup_arg;
} pool_options;

typedef struct pool_stats {
	int size;
	int active;
	int idle;
	unsigned long long queries;
	unsigned long long reconnects;
	unsigned long long acquire_waits;
	unsigned long long acquire_timeouts;
	unsigned long long connect_failures;
} pool_stats;

/* Creates the pool and opens min_size connections (failures to connect
 * are not fatal: the pool reconnects on demand). The caller frees the
 * pool with pool_free(). */
att_err pool_create(const pool_options *opt, db_pool **out) ATT_MUSTCHECK;

/* Closes every connection. Accepts NULL. No connection may be in use. */
void pool_free(db_pool *pool);

/* Hands out a ready connection, waiting up to the acquire timeout.
 * ATT_ETIMEOUT when none became free in time, ATT_EUNAVAILABLE when a new
 * connection could not be opened. Give it back with pool_release(). */
att_err pool_acquire(db_pool *pool, PGconn **out) ATT_MUSTCHECK;

/* Returns conn to the pool. broken != 0 (or a bad connection status)
 * closes it; the next acquire opens a fresh one. */
void pool_release(db_pool *pool, PGconn *conn, int broken);

/* Counts one query for the statistics. */
void pool_count_query(db_pool *pool);

/* Closes idle connections above min_size idle longer than the idle
 * timeout; returns how many it closed. Called from a housekeeping thread. */
int pool_reap_idle(db_pool *pool);

void pool_get_stats(db_pool *pool, pool_stats *out);

/* Is the server there? PQpingParams on the pool's conninfo (1 s connect
 * timeout): PQPING_OK when it accepts connections, PQPING_REJECT while it
 * refuses them (starting up), PQPING_NO_RESPONSE when nothing answers.
 * Costs a down server nothing. */
PGPing pool_ping(db_pool *pool);

#endif
