/* app: one worker process's shared state - configuration, connection pool
 * (and later cache, breaker, metrics) - and the entry point that turns one
 * request into one response. Owns the lifetime of those parts. */
#ifndef ATT_APP_H
#define ATT_APP_H

#include "att_err.h"
#include "config.h"
#include "db_pool.h"
#include "http.h"

typedef struct app app;

/* Builds the process state from cfg (which must outlive the app). The
 * caller frees it with app_free(). */
att_err app_create(const config *cfg, app **out) ATT_MUSTCHECK;

/* Frees the app. Accepts NULL. */
void app_free(app *a);

/* Answers one request: reads it through param/read, dispatches it and
 * writes the CGI response through write. Thread-safe. Returns the status
 * written, or -1 if writing failed. */
int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	      http_write_fn write, void *write_ctx);

const config *app_config(const app *a);
db_pool *app_pool(const app *a);

#endif
