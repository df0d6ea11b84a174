/* live_feed: pushes the changes of attempts to nginx's pub/sub module
 * (nchan) for the proctors' live view (web/proctor.*). One process per host
 * publishes (it holds the host's lock); it has its own thread and its own
 * database connection (LISTEN attempts_changed, one SQL call per batch of
 * changed ids) and POSTs one message per exam over nginx's unix socket.
 * Owns that thread, connection and lock: request threads never wait on any
 * of it. Not the messages' content (sql/exams.sql, live_changes) nor who
 * may watch (nginx/attempts-live.conf). */
#ifndef ATT_LIVE_FEED_H
#define ATT_LIVE_FEED_H

#include <stddef.h>

#include "att_err.h"
#include "live_feed_post.h"

typedef struct live_feed live_feed;

/* Where the publisher location sits below nginx's socket: a message for
 * exam E is POSTed to LIVE_FEED_PUBLISH_PREFIX E. */
#define LIVE_FEED_PUBLISH_PREFIX "/_attempts_live_publish/"

typedef struct live_feed_options {
	const char *conninfo;	 /* the database */
	const char *socket_path; /* nginx's unix socket serving the publisher location */
	const char *lock_name;	 /* the host lock's shm name; NULL: the file
				  * "<socket_path>.lock" (or, if it cannot be
				  * created, a shm object named after it) */
	int batch_ms;		 /* changes gathered this long before one call (0: 50) */
	int max_pending;	 /* ids held before dropping them all for a resync (0: 10000) */
	int post_timeout_ms;	 /* one POST, connect to answer (0: 1000) */
} live_feed_options;

typedef struct live_feed_stats {
	int publisher;			  /* this process holds the host lock */
	int connected;			  /* its database connection is up */
	unsigned long long notifications; /* attempts_changed notifications read */
	unsigned long long batches;	  /* SQL calls that turned ids into messages */
	unsigned long long messages;	  /* messages nginx accepted */
	unsigned long long failures;	  /* POSTs that failed (message dropped) */
	unsigned long long resyncs;	  /* rounds of "resync" messages sent */
} live_feed_stats;

/* Starts the feed's thread (opt is copied). The thread takes the host lock
 * when it can (retrying every second, so another process takes over within
 * about a second when the publisher exits), then connects and publishes;
 * after anything that may have lost changes (a reconnect, an overflow,
 * nginx refusing a message) it sends {"type":"resync"} to every exam a
 * watcher may be looking at. The caller frees it with live_feed_free(). */
att_err live_feed_start(const live_feed_options *opt, live_feed **out) ATT_MUSTCHECK;

/* Stops the thread (at most one POST or SQL call in flight delays it),
 * closes the connection, releases the lock. Accepts NULL. */
void live_feed_free(live_feed *lf);

/* The counters so far. */
void live_feed_get_stats(live_feed *lf, live_feed_stats *out);

#endif
