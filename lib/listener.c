/* listener: one LISTEN connection behind a mutex; drained before cached
 * answers are trusted, kept alive by the housekeeping thread. */
#include "listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

struct listener {
	pthread_mutex_t lock;
	atomic_int fd; /* the connection's socket, -1 while down */
	char *conninfo;
	const char *const *channels;
	listener_callbacks cb;
	PGconn *conn;
	unsigned long long notifications;
	unsigned long long resets;
	long long lost_at; /* monotonic ms of the last loss */
};

/* Connects and LISTENs (without the lock: it may block). Returns the
 * connection, or NULL. */
static PGconn *connect_and_listen(const listener *l)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"3", "attempts.fcgi listener", l->conninfo, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	buf sql = BUF_INIT;
	PGresult *res;
	int ok;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return NULL;
	}
	/* Channel names are our own constants, never client input. */
	for (int i = 0; l->channels[i] != NULL; i++)
		buf_printf(&sql, "LISTEN %s;", l->channels[i]);
	if (sql.failed) {
		buf_free(&sql);
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, sql.data);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	buf_free(&sql);
	if (!ok || PQsetnonblocking(conn, 1) != 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

att_err listener_create(const char *conninfo, const char *const *channels,
			const listener_callbacks *cb, listener **out)
{
	listener *l = calloc(1, sizeof *l);

	if (l == NULL)
		return ATT_ENOMEM;
	l->conninfo = strdup(conninfo);
	if (l->conninfo == NULL) {
		free(l);
		return ATT_ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->channels = channels;
	l->cb = *cb;
	l->conn = connect_and_listen(l);
	l->lost_at = clock_monotonic_ms(NULL);
	atomic_store(&l->fd, l->conn ? PQsocket(l->conn) : -1);
	if (l->conn == NULL)
		log_warn("listener: cannot connect yet; caching stays off until it does");
	*out = l;
	return ATT_OK;
}

void listener_free(listener *l)
{
	if (l == NULL)
		return;
	PQfinish(l->conn);
	pthread_mutex_destroy(&l->lock);
	free(l->conninfo);
	free(l);
}

/* Drops a dead connection; lock held. The owner hears on_reset when the
 * connection is back (it may have missed notifications meanwhile); until
 * then listener_drain says the listener is down. */
static void lose_connection(listener *l)
{
	char reason[200];

	snprintf(reason, sizeof reason, "%s", PQerrorMessage(l->conn));
	reason[strcspn(reason, "\n")] = '\0';
	log_warn("listener: connection lost (%s); cache bypassed until it is back",
		 reason[0] ? reason : "server closed the connection");
	l->lost_at = clock_monotonic_ms(NULL);
	atomic_store(&l->fd, -1);
	PQfinish(l->conn);
	l->conn = NULL;
}

/* Reads what has arrived and delivers its notifications; lock held.
 * libpq reads about one buffer (16 KiB, ~250 notifications) per
 * PQconsumeInput, so this reads until the socket is empty (at most
 * DRAIN_MAX_READS times, so that a stream that never ends cannot hold the
 * lock forever). A drain that left data behind let the backend block on
 * sending it, inside a transaction whose snapshot held back vacuum for the
 * whole cluster, and left cached answers stale. */
#define DRAIN_MAX_READS 256

static void drain_locked(listener *l)
{
	PGnotify *n;

	for (int reads = 0; l->conn != NULL && reads < DRAIN_MAX_READS; reads++) {
		struct pollfd pfd = {PQsocket(l->conn), POLLIN, 0};

		if (PQconsumeInput(l->conn) != 1 || PQstatus(l->conn) != CONNECTION_OK) {
			lose_connection(l);
			break;
		}
		while ((n = PQnotifies(l->conn)) != NULL) {
			l->notifications++;
			l->cb.on_notify(l->cb.arg, n->relname, n->extra);
			PQfreemem(n);
		}
		if (poll(&pfd, 1, 0) <= 0)
			break;
	}
}

int listener_drain(listener *l)
{
	int connected;
	struct pollfd pfd = {atomic_load(&l->fd), POLLIN, 0};

	/* Fast path, no lock: nothing has arrived on a live connection. (A
	 * stale fd number can only cause a needless locked drain.) */
	if (pfd.fd < 0)
		return 0;
	if (poll(&pfd, 1, 0) == 0)
		return 1;
	pthread_mutex_lock(&l->lock);
	drain_locked(l);
	connected = l->conn != NULL;
	pthread_mutex_unlock(&l->lock);
	return connected;
}

int listener_maintain(listener *l)
{
	PGconn *conn;

	if (listener_drain(l))
		return 1;
	/* Only this thread reconnects, so nobody else installs a connection
	 * while we connect without the lock. */
	conn = connect_and_listen(l);
	if (conn == NULL)
		return 0;
	pthread_mutex_lock(&l->lock);
	l->conn = conn;
	atomic_store(&l->fd, PQsocket(conn));
	l->resets++;
	l->cb.on_reset(l->cb.arg);
	pthread_mutex_unlock(&l->lock);
	log_info("listener: connected again after %lld ms; cache emptied",
		 clock_monotonic_ms(NULL) - l->lost_at);
	return 1;
}

void listener_get_stats(listener *l, unsigned long long *notifications, unsigned long long *resets,
			int *connected)
{
	pthread_mutex_lock(&l->lock);
	*notifications = l->notifications;
	*resets = l->resets;
	*connected = l->conn != NULL;
	pthread_mutex_unlock(&l->lock);
}
