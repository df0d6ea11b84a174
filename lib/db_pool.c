/* db_pool: mutex + condition variable over a fixed array of slots. A slot
 * is free (no connection), idle (connection parked) or busy (lent out or
 * being opened). Connecting happens outside the lock. */
#include "db_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef enum { SLOT_FREE = 0, SLOT_IDLE, SLOT_BUSY } slot_state;

typedef struct pool_slot {
	PGconn *conn;
	slot_state state;
	int lost; /* its last connection died or broke */
	long long idle_since_ms;
} pool_slot;

struct db_pool {
	pool_options opt;
	char *conninfo;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	pool_slot *slots;
	int waiting;
	unsigned long long queries;
	unsigned long long reconnects;
	unsigned long long acquire_waits;
	unsigned long long acquire_timeouts;
	unsigned long long connect_failures;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a setup statement; returns 0 on success. */
static int exec_ok(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		log_warn("db_pool: setup failed: %s", PQerrorMessage(conn));
	PQclear(res);
	return ok ? 0 : -1;
}

/* Opens and prepares one connection; NULL on failure. */
static PGconn *open_connection(db_pool *pool)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"3", "attempts.fcgi", pool->conninfo, NULL};
	char timeout[32];
	const char *params[1];
	PGconn *conn = PQconnectdbParams(keys, values, 1);

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		/* An outage fails every connect: one line per 5 s says so. */
		static log_limit connect_log = LOG_LIMIT_INIT;
		unsigned held = 0;

		if (log_limit_allow(&connect_log, now_ms(), 5000, &held))
			log_warn("db_pool: connect failed: %s (%u more since the last such line)",
				 conn ? PQerrorMessage(conn) : "out of memory", held);
		goto fail;
	}
	/* A safe search_path: nothing a user can create may shadow ours. */
	if (exec_ok(conn,
		    "SELECT pg_catalog.set_config('search_path', 'pg_catalog, attempts', false), "
		    "pg_catalog.set_config('TimeZone', 'UTC', false)",
		    0, NULL) != 0)
		goto fail;
	snprintf(timeout, sizeof timeout, "%d", pool->opt.statement_timeout_ms);
	params[0] = timeout;
	if (exec_ok(conn, "SELECT pg_catalog.set_config('statement_timeout', $1, false)", 1,
		    params) != 0)
		goto fail;
	if (pool->opt.setup != NULL && pool->opt.setup(conn, pool->opt.setup_arg) != 0)
		goto fail;
	return conn;
fail:
	PQfinish(conn);
	return NULL;
}

att_err pool_create(const pool_options *opt, db_pool **out)
{
	db_pool *pool = calloc(1, sizeof *pool);
	att_err err = ATT_ENOMEM;

	if (pool == NULL)
		return ATT_ENOMEM;
	pool->opt = *opt;
	if (pool->opt.max_size < 1)
		pool->opt.max_size = 1;
	if (pool->opt.min_size > pool->opt.max_size)
		pool->opt.min_size = pool->opt.max_size;
	pool->conninfo = strdup(opt->conninfo ? opt->conninfo : "");
	pool->slots = calloc((size_t)pool->opt.max_size, sizeof *pool->slots);
	if (pool->conninfo == NULL || pool->slots == NULL)
		goto fail;
	pthread_mutex_init(&pool->lock, NULL);
	{
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&pool->freed, &attr);
		pthread_condattr_destroy(&attr);
	}
	for (int i = 0; i < pool->opt.min_size; i++) {
		PGconn *conn = open_connection(pool);
		if (conn == NULL) {
			pool->connect_failures++;
			break;
		}
		pool->slots[i].conn = conn;
		pool->slots[i].state = SLOT_IDLE;
		pool->slots[i].idle_since_ms = now_ms();
	}
	*out = pool;
	return ATT_OK;
fail:
	free(pool->slots);
	free(pool->conninfo);
	free(pool);
	return err;
}

void pool_free(db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->opt.max_size; i++)
		PQfinish(pool->slots[i].conn);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->slots);
	free(pool->conninfo);
	free(pool);
}

/* A parked connection is usable if libpq thinks so, the server has not
 * said goodbye on it (a restarting server sends a FATAL message and
 * closes: the socket turns readable), and after a long idle spell the
 * server still answers. */
static int connection_healthy(PGconn *conn, long long idle_ms, int check_after)
{
	struct pollfd pfd;
	PGresult *res;
	int ok;

	if (PQstatus(conn) != CONNECTION_OK)
		return 0;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return 0;
	if (poll(&pfd, 1, 0) != 0) {
		/* The server sent something unasked: usually its goodbye before
		 * closing. libpq may still say CONNECTION_OK until it reads the
		 * end of the stream, so ask the server now. */
		if (PQconsumeInput(conn) != 1 || PQstatus(conn) != CONNECTION_OK)
			return 0;
	} else if (check_after <= 0 || idle_ms < check_after) {
		return 1;
	}
	res = PQexec(conn, "");
	ok = PQresultStatus(res) == PGRES_EMPTY_QUERY;
	PQclear(res);
	return ok;
}

/* Finds the slot to use, most recently parked idle first; -1 if none. */
static int pick_slot(db_pool *pool, slot_state want)
{
	int best = -1;

	for (int i = 0; i < pool->opt.max_size; i++) {
		if (pool->slots[i].state != want)
			continue;
		if (best < 0 || pool->slots[i].idle_since_ms > pool->slots[best].idle_since_ms)
			best = i;
	}
	return best;
}

static int slot_of(db_pool *pool, PGconn *conn)
{
	for (int i = 0; i < pool->opt.max_size; i++)
		if (pool->slots[i].conn == conn)
			return i;
	return -1;
}

/* Opens a connection into slot i (reserved busy by the caller). */
static att_err fill_slot(db_pool *pool, int i, PGconn **out)
{
	PGconn *conn = open_connection(pool);

	pthread_mutex_lock(&pool->lock);
	if (conn == NULL) {
		pool->slots[i].state = SLOT_FREE;
		pool->connect_failures++;
		pthread_cond_signal(&pool->freed);
		pthread_mutex_unlock(&pool->lock);
		return ATT_EUNAVAILABLE;
	}
	if (pool->slots[i].lost)
		pool->reconnects++;
	pool->slots[i].lost = 0;
	pool->slots[i].conn = conn;
	pthread_mutex_unlock(&pool->lock);
	*out = conn;
	return ATT_OK;
}

att_err pool_acquire(db_pool *pool, PGconn **out)
{
	struct timespec deadline;
	int waited = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += pool->opt.acquire_timeout_ms / 1000;
	deadline.tv_nsec += (long)(pool->opt.acquire_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		int i = pick_slot(pool, SLOT_IDLE);
		if (i >= 0) {
			PGconn *conn = pool->slots[i].conn;
			long long idle = now_ms() - pool->slots[i].idle_since_ms;
			pool->slots[i].state = SLOT_BUSY;
			pthread_mutex_unlock(&pool->lock);
			if (connection_healthy(conn, idle, pool->opt.health_check_after_ms)) {
				*out = conn;
				return ATT_OK;
			}
			log_info("db_pool: replacing a dead idle connection");
			PQfinish(conn);
			pthread_mutex_lock(&pool->lock);
			pool->slots[i].conn = NULL;
			pool->slots[i].lost = 1;
			pthread_mutex_unlock(&pool->lock);
			return fill_slot(pool, i, out);
		}
		i = pick_slot(pool, SLOT_FREE);
		if (i >= 0) {
			pool->slots[i].state = SLOT_BUSY;
			pthread_mutex_unlock(&pool->lock);
			return fill_slot(pool, i, out);
		}
		if (!waited) {
			pool->acquire_waits++;
			waited = 1;
		}
		pool->waiting++;
		int rc = pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline);
		pool->waiting--;
		if (rc == ETIMEDOUT) {
			pool->acquire_timeouts++;
			pthread_mutex_unlock(&pool->lock);
			return ATT_ETIMEOUT;
		}
	}
}

void pool_release(db_pool *pool, PGconn *conn, int broken)
{
	int i;

	if (conn == NULL)
		return;
	if (!broken &&
	    (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE ||
	     PQpipelineStatus(conn) != PQ_PIPELINE_OFF))
		broken = 1;
	pthread_mutex_lock(&pool->lock);
	i = slot_of(pool, conn);
	if (i >= 0) {
		if (broken) {
			pool->slots[i].conn = NULL;
			pool->slots[i].state = SLOT_FREE;
			pool->slots[i].lost = 1;
		} else {
			pool->slots[i].state = SLOT_IDLE;
			pool->slots[i].idle_since_ms = now_ms();
		}
	}
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	if (broken)
		PQfinish(conn);
}

void pool_count_query(db_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->queries++;
	pthread_mutex_unlock(&pool->lock);
}

int pool_reap_idle(db_pool *pool)
{
	PGconn *victims[64];
	int n = 0, open = 0;
	long long now = now_ms();

	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->opt.max_size; i++)
		if (pool->slots[i].state != SLOT_FREE)
			open++;
	for (int i = 0; i < pool->opt.max_size && n < 64; i++) {
		pool_slot *s = &pool->slots[i];
		if (open <= pool->opt.min_size)
			break;
		if (s->state == SLOT_IDLE && now - s->idle_since_ms >= pool->opt.idle_timeout_ms) {
			victims[n++] = s->conn;
			s->conn = NULL;
			s->state = SLOT_FREE;
			open--;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < n; i++)
		PQfinish(victims[i]);
	return n;
}

void pool_get_stats(db_pool *pool, pool_stats *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->opt.max_size; i++) {
		if (pool->slots[i].state == SLOT_IDLE)
			out->idle++;
		else if (pool->slots[i].state == SLOT_BUSY)
			out->active++;
	}
	out->size = out->idle + out->active;
	out->queries = pool->queries;
	out->reconnects = pool->reconnects;
	out->acquire_waits = pool->acquire_waits;
	out->acquire_timeouts = pool->acquire_timeouts;
	out->connect_failures = pool->connect_failures;
	pthread_mutex_unlock(&pool->lock);
}

PGPing pool_ping(db_pool *pool)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"1", "attempts.fcgi ping", pool->conninfo, NULL};

	return PQpingParams(keys, values, 1);
}
