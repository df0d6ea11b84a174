/* app: one worker process's shared state - configuration, connection pool,
 * TTL cache kept honest by the change listener, circuit breaker, metrics -
 * its housekeeping thread, and the entry point that turns one request into
 * one response. Owns the lifetime of those parts. */
#ifndef ATT_APP_H
#define ATT_APP_H

#include "att_err.h"
#include "attempt_calls.h"
#include "breaker.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "limiter.h"
#include "listener.h"
#include "metrics.h"

typedef struct app app;

typedef enum app_mode {
	APP_PERSISTENT = 0, /* FastCGI: cache, listener, housekeeping thread */
	APP_ONESHOT         /* plain CGI: one request, nothing worth keeping */
} app_mode;

/* Builds the process state from cfg (which must outlive the app); in
 * APP_PERSISTENT mode also the change listener and the housekeeping thread.
 * The caller frees it with app_free(). */
att_err app_create(const config *cfg, app_mode mode, app **out) ATT_MUSTCHECK;

/* Stops the housekeeping thread and frees everything. Accepts NULL. */
void app_free(app *a);

/* Answers one request: reads it through param/read, dispatches it and
 * writes the CGI response through write. Thread-safe. Returns the status
 * written, or -1 if writing failed. */
int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	      http_write_fn write, void *write_ctx);

/* Answers a request that waited waited_ms for a thread, longer than
 * queue_timeout_ms: 503 overloaded with Retry-After, without touching the
 * database (nothing is done, so any request may be retried). Returns the
 * status written, or -1. */
int app_shed(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	     http_write_fn write, void *write_ctx, long waited_ms);

const config *app_config(const app *a);
const db_env *app_db(const app *a);
cache *app_cache(const app *a);
metrics *app_metrics(const app *a);
breaker *app_breaker(const app *a);
listener *app_listener(const app *a);
limiter *app_batch_limiter(const app *a);
attempt_calls *app_calls(const app *a);

/* Holds a refusal of a caller over its limit (429) back for 250 ms before
 * it is answered, parked (blocking.h: the thread's turn goes to other
 * requests), so that a client flooding from many connections waits instead
 * of spinning on cheap refusals; at most 4 x threads refusals are held at
 * once, the others answered at once. */
void app_hold_refusal(app *a);

/* Delivers pending change notifications to the cache and says whether the
 * cache may be used now: while the listener is connected, or while it is
 * not but the breaker is open or half-open (the database is down). */
int app_cache_usable(app *a);

/* Rounds the housekeeping thread has made (one per 100 ms when idle). */
unsigned long app_housekeeping_rounds(app *a);

/* A write of attempt_id has committed (or may have) and its answer is
 * about to leave: bumps the attempt's write stamp, shared by every worker
 * of this host (write_stamps.h), so none answers an older cached entry of
 * it from now on, and drops this process's entries. */
void app_note_write(app *a, const char *attempt_id);

/* The write stamp of attempt_id: read it before the database call whose
 * answer will be cached, and keep it in the entry's meta.write_stamp. */
unsigned app_write_stamp(app *a, const char *attempt_id);

/* Writes noted on this host so far: for a fill whose ids are only known
 * after the call; unchanged across the call means no stamp moved. */
unsigned long long app_writes_total(app *a);

/* The cached kind ("state" or "info") of attempt_id, as cache_get, but
 * only if no write was noted for it since the entry's fill. */
int app_cache_get_attempt(app *a, const char *kind, const char *attempt_id,
			  char **text, size_t *len, cache_meta *meta);

/* Caches the kind of attempt_id (meta.write_stamp read before the fill's
 * call, epoch as cache_put). Logs a failure. */
void app_cache_put_attempt(app *a, const char *kind, const char *attempt_id,
			   const char *text, size_t len, const cache_meta *meta,
			   long long ttl_ms, unsigned long long epoch);

/* Caches one attempt state, len bytes of SQL's text, as it is (the same
 * bytes a single read caches) with the batch TTL; stamp is its write stamp
 * from before the call. Error items are skipped. */
void app_cache_put_state(app *a, const char *text, size_t len, unsigned long long epoch,
			 unsigned stamp);

#endif
