/* live_feed: the host's publisher of attempt changes to nginx (nchan). */
#include "live_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "uuid.h"

#define LIVE_BATCH_MS 50
/* The exam's counts and answers per question (live_exam_summary reads
 * every attempt of the exam) go out at most this often, with the attempts
 * changed since the last ones: a batch every 50 ms would make a
 * 10,000-attempt exam's summary PostgreSQL's main work. */
#define LIVE_SUMMARY_MS 2000
#define LIVE_MAX_PENDING 10000
#define LIVE_POST_TIMEOUT_MS 1000
#define LIVE_LOCK_RETRY_MS 1000
#define LIVE_RECONNECT_MS 1000
#define LIVE_RESYNC_RETRY_MS 1000
#define LIVE_IDLE_WAIT_MS 1000

/* The publisher reads as the service itself: the admin role, nil subject
 * (as the deadline sweep does), set once for its own session. */
#define LIVE_CLAIMS "{\"sub\":\"00000000-0000-0000-0000-000000000000\",\"role\":\"admin\"}"

struct live_feed {
	live_feed_options opt; /* strings below are our copies */
	char *conninfo;
	char *socket_path;
	char lock_name[96]; /* shm name: opt's, or the fallback of lock_path */
	char *lock_path;    /* "<socket>.lock", NULL when opt names a shm lock */
	pthread_t thread;
	int thread_started;
	int wake[2]; /* live_feed_free writes to wake[1] */
	atomic_int stopping;

	/* The thread's own state. */
	int lock_fd; /* the host lock, held while >= 0 */
	PGconn *conn;
	buf pending; /* "{id,id,...": the ids of the next batch */
	int npending;
	long long first_pending_ms;
	buf owed; /* "{id,id,...": ids published since the last summary */
	int nowed;
	long long next_summary_ms; /* when the owed summary may go */
	int resync;		   /* changes may have been lost: resync the watchers */
	long long next_resync_ms;
	int failing;	 /* the last POST failed (logged once per streak) */
	int sql_failing; /* the last call failed (logged once per streak) */

	pthread_mutex_t stats_lock;
	live_feed_stats stats;
};

/* ------------------------------------------------------------ the thread */

static void stats_add(live_feed *lf, unsigned long long *field, unsigned long long n)
{
	pthread_mutex_lock(&lf->stats_lock);
	*field += n;
	pthread_mutex_unlock(&lf->stats_lock);
}

static void stats_set_state(live_feed *lf)
{
	pthread_mutex_lock(&lf->stats_lock);
	lf->stats.publisher = lf->lock_fd >= 0;
	lf->stats.connected = lf->conn != NULL;
	pthread_mutex_unlock(&lf->stats_lock);
}

/* Waits up to ms for the database socket (fd >= 0) or a stop; returns 0
 * when stopping. */
static int wait_for(live_feed *lf, int fd, int ms)
{
	struct pollfd p[2] = {{lf->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};

	if (atomic_load(&lf->stopping))
		return 0;
	if (poll(p, fd >= 0 ? 2 : 1, ms < 0 ? 0 : ms) < 0 && errno != EINTR)
		log_debug("live feed: poll: %s", strerror(errno));
	return !atomic_load(&lf->stopping);
}

/* FNV-1a of s, for the lock's name. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

/* Takes the host lock if it is free; 1 if held afterwards. Without a lock
 * to take (no shared memory) every process publishes: the messages carry
 * versions, so the duplicates change nothing but the load. */
static int try_lock(live_feed *lf)
{
	static atomic_int warned;
	int fd;

	fd = lf->lock_path != NULL ? open(lf->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
	if (fd < 0)
		fd = shm_open(lf->lock_name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (atomic_exchange(&warned, 1) == 0)
			log_warn("live feed: cannot open the host lock %s (%s); this process "
				 "publishes anyway",
				 lf->lock_name, strerror(errno));
		lf->lock_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return lf->lock_fd >= 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return 0;
	}
	lf->lock_fd = fd;
	log_info("live feed: this process publishes the host's attempt changes to %s",
		 lf->socket_path);
	return 1;
}

static void drop_connection(live_feed *lf, const char *why)
{
	char reason[200];

	snprintf(reason, sizeof reason, "%s", lf->conn ? PQerrorMessage(lf->conn) : "");
	reason[strcspn(reason, "\n")] = '\0';
	log_warn("live feed: %s (%s); reconnecting, then the watchers resync", why,
		 reason[0] ? reason : "connection lost");
	PQfinish(lf->conn);
	lf->conn = NULL;
	buf_reset(&lf->pending);
	lf->npending = 0;
}

/* Connects, sets the session up and LISTENs; 1 on success. The session's
 * settings are constants, never input. */
static int connect_db(live_feed *lf)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"3", "attempts.fcgi live feed", lf->conninfo, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	PGresult *res;
	int ok;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return 0;
	}
	res = PQexec(conn, "SET search_path = pg_catalog, attempts; "
			   "SET statement_timeout = '5s'; "
			   "SELECT pg_catalog.set_config('request.jwt.claims', '" LIVE_CLAIMS
			   "', false); "
			   "LISTEN attempts_changed");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		log_warn("live feed: session set-up failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 0;
	}
	lf->conn = conn;
	/* Whatever changed while we were away was not seen. */
	lf->resync = 1;
	lf->next_resync_ms = 0;
	return 1;
}

/* Adds the ids of one attempts_changed payload (comma-separated UUIDs) to
 * the next batch; past max_pending the batch is dropped for a resync. */
static void add_ids(live_feed *lf, const char *payload)
{
	char id[UUID_STR_LEN + 1];

	while (*payload != '\0') {
		size_t n = strcspn(payload, ",");

		if (n == UUID_STR_LEN) {
			memcpy(id, payload, n);
			id[n] = '\0';
			if (uuid_valid(id)) {
				if (lf->npending >= lf->opt.max_pending) {
					log_warn("live feed: more than %d changed attempts "
						 "waiting; dropped, the watchers resync",
						 lf->opt.max_pending);
					buf_reset(&lf->pending);
					lf->npending = 0;
					lf->resync = 1;
				}
				if (lf->npending == 0)
					lf->first_pending_ms = clock_monotonic_ms(NULL);
				buf_putc(&lf->pending, lf->npending == 0 ? '{' : ',');
				buf_append(&lf->pending, id, n);
				lf->npending++;
			}
		}
		payload += n;
		if (*payload == ',')
			payload++;
	}
}

/* Moves the notifications libpq has read into the batch. */
static void take_notifies(live_feed *lf)
{
	PGnotify *n;
	unsigned long long count = 0;

	while ((n = PQnotifies(lf->conn)) != NULL) {
		if (strcmp(n->relname, "attempts_changed") == 0 && n->extra != NULL) {
			add_ids(lf, n->extra);
			count++;
		}
		PQfreemem(n);
	}
	if (count > 0)
		stats_add(lf, &lf->stats.notifications, count);
}

/* POSTs one message for exam_id; 1 if nginx took it. A failure asks for a
 * resync (the watchers missed it) and is logged once per streak. */
static int post_message(live_feed *lf, const char *exam_id, const char *body, size_t len)
{
	char path[128];
	int status = 0;
	att_err err;

	snprintf(path, sizeof path, "%s%s", LIVE_FEED_PUBLISH_PREFIX, exam_id);
	err = live_feed_post(lf->socket_path, path, body, len, lf->opt.post_timeout_ms, &status);
	if (err == ATT_OK && (status == 201 || status == 202)) {
		if (lf->failing)
			log_info("live feed: nginx takes messages again");
		lf->failing = 0;
		stats_add(lf, &lf->stats.messages, 1);
		return 1;
	}
	if (!lf->failing) {
		if (err != ATT_OK)
			log_warn("live feed: cannot publish to %s: %s; messages are dropped "
				 "until it answers",
				 lf->socket_path, att_strerror(err));
		else
			log_warn("live feed: nginx answered %d to %s; messages are dropped "
				 "until it takes them",
				 status, path);
	}
	lf->failing = 1;
	lf->resync = 1;
	stats_add(lf, &lf->stats.failures, 1);
	return 0;
}

/* Runs sql (with $1 = param, or none) whose rows are (exam_id, message)
 * and POSTs each. Returns 0 if the connection failed (dropped). */
static int publish_rows(live_feed *lf, const char *sql, const char *param, int *all_posted)
{
	const char *params[1] = {param};
	PGresult *res = PQexecParams(lf->conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	*all_posted = ok;
	if (!ok) {
		if (PQstatus(lf->conn) != CONNECTION_OK) {
			PQclear(res);
			drop_connection(lf, "database connection lost");
			return 0;
		}
		if (!lf->sql_failing)
			log_warn("live feed: %s", PQresultErrorMessage(res));
	}
	lf->sql_failing = !ok;
	for (int i = 0; ok && i < PQntuples(res); i++) {
		if (!post_message(lf, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				  (size_t)PQgetlength(res, i, 1))) {
			*all_posted = 0;
			break; /* nginx is away or refusing: the resync covers the rest */
		}
	}
	PQclear(res);
	take_notifies(lf);
	return 1;
}

/* Remembers ids ("{id,...}") as owing their exams a summary. */
static void owe_summary(live_feed *lf, const char *ids, int n)
{
	if (lf->nowed + n > lf->opt.max_pending) {
		buf_reset(&lf->owed);
		lf->nowed = 0;
		lf->resync = 1; /* the resync's snapshot carries the summary */
		return;
	}
	buf_putc(&lf->owed, lf->nowed == 0 ? '{' : ',');
	buf_append(&lf->owed, ids + 1, strlen(ids) - 2);
	lf->nowed += n;
}

/* One SQL call for the batch's ids, one message per exam; the summary
 * only when LIVE_SUMMARY_MS have passed since the last one (the owed
 * attempts' exams get it then, their rows again: a page keeps a row only
 * if its version is newer). */
static void flush(live_feed *lf)
{
	char *ids;
	int all, n = lf->npending;

	buf_putc(&lf->pending, '}');
	ids = buf_take(&lf->pending);
	lf->npending = 0;
	if (ids == NULL) {
		lf->resync = 1;
		return;
	}
	stats_add(lf, &lf->stats.batches, 1);
	publish_rows(lf,
		     "SELECT m ->> 'exam_id', (m -> 'message')::text "
		     "FROM jsonb_array_elements(attempts.live_changes($1::uuid[], false)) AS m",
		     ids, &all);
	owe_summary(lf, ids, n);
	free(ids);
}

static void flush_summary(live_feed *lf)
{
	char *ids;
	int all;

	lf->next_summary_ms = clock_monotonic_ms(NULL) + LIVE_SUMMARY_MS;
	buf_putc(&lf->owed, '}');
	ids = buf_take(&lf->owed);
	lf->nowed = 0;
	if (ids == NULL) {
		lf->resync = 1;
		return;
	}
	publish_rows(lf,
		     "SELECT m ->> 'exam_id', (m -> 'message')::text "
		     "FROM jsonb_array_elements(attempts.live_changes($1::uuid[], true)) AS m",
		     ids, &all);
	free(ids);
}

/* {"type":"resync"} to every exam a watcher may be looking at. */
static void resync(live_feed *lf)
{
	int all;

	lf->next_resync_ms = clock_monotonic_ms(NULL) + LIVE_RESYNC_RETRY_MS;
	if (!publish_rows(lf,
			  "SELECT e, jsonb_build_object('type', 'resync', 'exam_id', e)::text "
			  "FROM jsonb_array_elements_text(attempts.live_exams()) AS e",
			  NULL, &all))
		return;
	if (all) {
		lf->resync = 0;
		stats_add(lf, &lf->stats.resyncs, 1);
	}
}

static void *run(void *arg)
{
	live_feed *lf = arg;

	while (!atomic_load(&lf->stopping)) {
		long long now;
		int timeout;

		if (lf->lock_fd < 0 && !try_lock(lf)) {
			wait_for(lf, -1, LIVE_LOCK_RETRY_MS);
			continue;
		}
		if (lf->conn == NULL && !connect_db(lf)) {
			stats_set_state(lf);
			wait_for(lf, -1, LIVE_RECONNECT_MS);
			continue;
		}
		stats_set_state(lf);
		now = clock_monotonic_ms(NULL);
		if (lf->resync && now >= lf->next_resync_ms) {
			resync(lf);
			continue;
		}
		if (lf->nowed > 0 && now >= lf->next_summary_ms) {
			flush_summary(lf);
			continue;
		}
		timeout = lf->npending > 0 ? (int)(lf->first_pending_ms + lf->opt.batch_ms - now)
					   : LIVE_IDLE_WAIT_MS;
		if (lf->nowed > 0 && lf->next_summary_ms - now < timeout)
			timeout = (int)(lf->next_summary_ms - now);
		if (timeout < 0)
			timeout = 0;
		if (lf->resync && lf->next_resync_ms - now < timeout)
			timeout = (int)(lf->next_resync_ms - now);
		if (!wait_for(lf, PQsocket(lf->conn), timeout))
			break;
		if (PQconsumeInput(lf->conn) != 1 || PQstatus(lf->conn) != CONNECTION_OK) {
			drop_connection(lf, "database connection lost");
			continue;
		}
		take_notifies(lf);
		if (lf->npending > 0 &&
		    clock_monotonic_ms(NULL) >= lf->first_pending_ms + lf->opt.batch_ms)
			flush(lf);
	}
	return NULL;
}

/* ------------------------------------------------------------ lifetime */

/* An option's value, or def where it is 0 or less (unset). */
static int positive_or(int value, int def)
{
	return value > 0 ? value : def;
}

/* opt with the defaults of the numbers it leaves unset. */
static live_feed_options with_defaults(const live_feed_options *opt)
{
	live_feed_options o = *opt;

	o.batch_ms = positive_or(opt->batch_ms, LIVE_BATCH_MS);
	o.max_pending = positive_or(opt->max_pending, LIVE_MAX_PENDING);
	o.post_timeout_ms = positive_or(opt->post_timeout_ms, LIVE_POST_TIMEOUT_MS);
	return o;
}

att_err live_feed_start(const live_feed_options *opt, live_feed **out)
{
	live_feed *lf = calloc(1, sizeof *lf);
	att_err err = ATT_OK;

	if (lf == NULL)
		return ATT_ENOMEM;
	lf->opt = with_defaults(opt);
	lf->lock_fd = -1;
	lf->wake[0] = lf->wake[1] = -1;
	pthread_mutex_init(&lf->stats_lock, NULL);
	buf_init(&lf->pending);
	buf_init(&lf->owed);
	lf->conninfo = strdup(opt->conninfo);
	lf->socket_path = strdup(opt->socket_path);
	if (lf->conninfo == NULL || lf->socket_path == NULL) {
		err = ATT_ENOMEM;
		goto out;
	}
	if (opt->lock_name != NULL) {
		snprintf(lf->lock_name, sizeof lf->lock_name, "%s", opt->lock_name);
	} else {
		/* One lock per nginx socket (stacks side by side each get one):
		 * a file next to the socket, which goes with its directory; a
		 * shared memory object if that directory is not writable. */
		size_t n = strlen(lf->socket_path) + sizeof ".lock";

		lf->lock_path = malloc(n);
		if (lf->lock_path == NULL) {
			err = ATT_ENOMEM;
			goto out;
		}
		snprintf(lf->lock_path, n, "%s.lock", lf->socket_path);
		snprintf(lf->lock_name, sizeof lf->lock_name, "/attempts-live-%lu-%016llx",
			 (unsigned long)geteuid(), (unsigned long long)fnv1a(lf->socket_path));
	}
	if (pipe2(lf->wake, O_CLOEXEC) != 0) {
		err = ATT_EIO;
		goto out;
	}
	if (pthread_create(&lf->thread, NULL, run, lf) != 0) {
		err = ATT_ENOMEM;
		goto out;
	}
	lf->thread_started = 1;
out:
	if (err != ATT_OK) {
		live_feed_free(lf);
		return err;
	}
	*out = lf;
	return ATT_OK;
}

void live_feed_free(live_feed *lf)
{
	if (lf == NULL)
		return;
	if (lf->thread_started) {
		atomic_store(&lf->stopping, 1);
		if (write(lf->wake[1], "x", 1) != 1)
			log_debug("live feed: wake-up write failed");
		pthread_join(lf->thread, NULL);
	}
	PQfinish(lf->conn);
	if (lf->lock_fd >= 0)
		close(lf->lock_fd); /* releases the lock: another process takes over */
	for (int i = 0; i < 2; i++)
		if (lf->wake[i] >= 0)
			close(lf->wake[i]);
	buf_free(&lf->pending);
	buf_free(&lf->owed);
	pthread_mutex_destroy(&lf->stats_lock);
	free(lf->conninfo);
	free(lf->socket_path);
	free(lf->lock_path);
	free(lf);
}

void live_feed_get_stats(live_feed *lf, live_feed_stats *out)
{
	pthread_mutex_lock(&lf->stats_lock);
	*out = lf->stats;
	pthread_mutex_unlock(&lf->stats_lock);
}
