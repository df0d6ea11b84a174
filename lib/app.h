/* app: the composition root - one worker process's state (configuration,
 * connection pool, circuit breaker, TTL cache kept honest by attempt_cache,
 * batch limiter, coalesced calls, metrics), its housekeeping thread (the
 * listener, database probes, the deadline sweep), and the entry point
 * that turns one request into one response through the router. Owns the
 * lifetime of every part; the modules below it never call it back. */
#ifndef ATT_APP_H
#define ATT_APP_H

#include "att_err.h"
#include "config.h"
#include "handler.h"
#include "http.h"

typedef struct app app;

typedef enum app_mode {
	APP_PERSISTENT = 0, /* FastCGI: cache, listener, housekeeping thread */
	APP_ONESHOT	    /* plain CGI: one request, nothing worth keeping */
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
int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx, http_write_fn write,
	      void *write_ctx);

/* Answers a request that waited waited_ms for a thread, longer than
 * queue_timeout_ms: 503 overloaded with Retry-After, without touching the
 * database (nothing is done, so any request may be retried). Returns the
 * status written, or -1. */
int app_shed(app *a, http_param_fn param, http_read_fn read, void *io_ctx, http_write_fn write,
	     void *write_ctx, long waited_ms);

/* The process's parts as handlers see them (handler.h); valid until
 * app_free(). */
const handler_env *app_env(const app *a);

/* Reads jwt_jwks_file again (SIGHUP): on success the new keys serve every
 * request from now on and no token verified under the old ones is
 * remembered; on failure the keys in use stay. Logs either way. Thread-safe. */
att_err app_reload_keys(app *a) ATT_MUSTCHECK;

/* Rounds the housekeeping thread has made (one per 100 ms when idle). */
unsigned long app_housekeeping_rounds(app *a);

#endif
