/* app: a worker process's shared state, housekeeping and request entry. */
#include "app.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cors.h"
#include "live_feed.h"
#include "log.h"
#include "metrics_ops.h"
#include "router.h"

#define HOUSEKEEPING_TICK_MS 100
#define REAP_EVERY_TICKS 100
#define PING_EVERY_MS 250
#define APP_MMAP_THRESHOLD (128 * 1024)

struct app {
	const config *cfg;
	db_env db;
	cache *cache;
	attempt_cache *attempts; /* the cache's attempt reads, stamps, listener */
	metrics *metrics;
	host_metrics *host;	/* the host's counters, this process's slot */
	limiter *batch_limiter; /* batch requests in flight per caller */
	attempt_calls *calls;	/* saves, activity, submits, reads (maybe coalesced) */
	auth_verifier *auth;	/* token keys, swapped by app_reload_keys */
	live_feed *live;	/* publisher of the proctors' live view, NULL if off */
	handler_env env;	/* the parts above, as handlers see them */
	pthread_t housekeeper;
	int housekeeper_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
	atomic_ulong ticks;	/* housekeeping rounds, for tests */
	int server_silent;	/* the last ping found nothing answering */
	long long next_ping_ms; /* monotonic */
};

/* Closes attempts left open past deadline + grace. Every worker tries;
 * an advisory lock in the SQL lets one at a time do it. The sweep is the
 * service's own: sweep_expired_attempts() reads no claims and answers the
 * number it closed, or NULL (skipped) while another sweep runs. Logs the
 * sweeps that closed something, and answers that are not a count. */
static void sweep_deadlines(app *a)
{
	db_failure why;
	char *text = NULL;
	char *end = NULL;
	long closed;

	if (db_call(&a->db, NULL, DB_STMT_SWEEP_EXPIRED, NULL, &text, &why) != ATT_OK) {
		log_debug("sweep: %s", why.message);
		return;
	}
	if (text == NULL) /* skipped: another sweep runs */
		return;
	closed = strtol(text, &end, 10);
	if (end == text || *end != '\0' || closed < 0)
		log_warn("sweep: unexpected answer %.200s", text);
	else if (closed > 0)
		log_info("sweep: closed %ld", closed);
	free(text);
}

/* While the breaker is open, finds out when the database is back. When a
 * probe is due (breaker_get_state says half-open) a ping goes through the
 * pool; db_call hands it the probe slot, and its success closes the
 * breaker (a request that comes first may take the slot instead). The
 * probes back off (breaker.h); between them, a server that does not answer
 * at all is pinged every PING_EVERY_MS, which costs it nothing, and when
 * it answers again the probe is made due at once: a restart of any length
 * is noticed within about PING_EVERY_MS. A server that answers but fails
 * is pinged once per probe only. */
static void watch_database(app *a)
{
	breaker *b = a->db.breaker;
	breaker_state state = breaker_get_state(b);
	long long now = clock_monotonic_ms(NULL);
	db_failure why;
	char *text = NULL;

	if (state == BREAKER_CLOSED) {
		a->server_silent = 0;
		a->next_ping_ms = 0;
		return;
	}
	if (state == BREAKER_OPEN && now >= a->next_ping_ms) {
		PGPing ping = pool_ping(a->db.pool);

		if (ping == PQPING_OK && a->server_silent) {
			log_info("probe: the database answers again; probing now");
			breaker_probe_now(b);
		}
		a->server_silent = ping != PQPING_OK;
		a->next_ping_ms =
			now + PING_EVERY_MS + (a->server_silent ? 0 : breaker_retry_after_ms(b));
	}
	if (breaker_get_state(b) != BREAKER_HALF_OPEN)
		return;
	if (db_call(&a->db, NULL, DB_STMT_PING, NULL, &text, &why) != ATT_OK)
		log_debug("probe: %s", why.message);
	free(text);
}

/* Keeps the listener connected, probes the database while the breaker is
 * open, closes connections idle too long, and runs the deadline sweep.
 * While the breaker is open the probe alone tries the database: the
 * listener reconnects once a probe has closed the breaker. */
static void *housekeeping(void *arg)
{
	app *a = arg;
	unsigned tick = 0;
	long long last_sweep = clock_monotonic_ms(NULL);

	pthread_mutex_lock(&a->stop_lock);
	while (!a->stopping) {
		struct timespec until;
		long long now;

		pthread_mutex_unlock(&a->stop_lock);
		watch_database(a);
		if (breaker_get_state(a->db.breaker) == BREAKER_CLOSED)
			listener_maintain(attempt_cache_listener(a->attempts));
		else
			listener_drain(attempt_cache_listener(a->attempts));
		metrics_ops_publish(&a->env);
		atomic_fetch_add(&a->ticks, 1);
		if (++tick % REAP_EVERY_TICKS == 0)
			pool_reap_idle(a->db.pool);
		now = clock_monotonic_ms(NULL);
		if (a->cfg->sweep_interval_ms > 0 &&
		    now - last_sweep >= a->cfg->sweep_interval_ms) {
			last_sweep = now;
			sweep_deadlines(a);
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += HOUSEKEEPING_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&a->stop_lock);
		if (!a->stopping)
			pthread_cond_timedwait(&a->stop_cond, &a->stop_lock, &until);
	}
	pthread_mutex_unlock(&a->stop_lock);
	return NULL;
}

/* The host's counters: a FastCGI worker shares the table of the workers
 * behind its listening socket (fd 0); plain CGI, or fd 0 no socket,
 * counts privately. */
static att_err open_host_metrics(app *a, app_mode mode)
{
	char name[96];
	const char *shm = NULL;
	att_err err;

	if (mode == APP_PERSISTENT &&
	    host_metrics_default_name(0, router_op_names(), router_op_count(), name, sizeof name) ==
		    0)
		shm = name;
	err = host_metrics_open(shm, router_op_names(), router_op_count(), &a->host);
	if (err == ATT_OK && shm != NULL && !host_metrics_shared(a->host))
		log_warn("metrics: cannot share %s; /metrics shows this worker alone", shm);
	return err;
}

static att_err create_parts(app *a, app_mode mode)
{
	const config *cfg = a->cfg;
	pool_options opt = {
		.conninfo = cfg->db,
		.min_size = (int)cfg->pool_min,
		.max_size = (int)cfg->pool_max,
		.acquire_timeout_ms = (int)cfg->pool_acquire_timeout_ms,
		.idle_timeout_ms = (int)cfg->pool_idle_timeout_ms,
		.health_check_after_ms = (int)cfg->pool_health_check_after_ms,
		.statement_timeout_ms = (int)cfg->db_statement_timeout_ms,
		.setup = cfg->db_prepared_statements ? db_prepare_all : NULL,
		.setup_arg = NULL,
	};
	auth_options ao = {
		.secret = cfg->jwt_secret,
		.secret_len = cfg->jwt_secret != NULL ? strlen(cfg->jwt_secret) : 0,
		.jwks_file = cfg->jwt_jwks_file,
		.audience = cfg->jwt_audience,
		.issuer = cfg->jwt_issuer,
	};
	char *why = NULL;
	att_err err;

	err = auth_verifier_create(&ao, &a->auth, &why);
	if (err != ATT_OK) {
		log_error("jwt_jwks_file: %s", why != NULL ? why : att_strerror(err));
		free(why);
		return err;
	}
	a->db.retry.attempts = (int)cfg->retry_attempts;
	a->db.retry.base_delay_ms = cfg->retry_base_delay_ms;
	a->db.retry.max_delay_ms = cfg->retry_max_delay_ms;
	a->db.call_timeout_ms = (int)cfg->db_call_timeout_ms;
	a->db.unnamed = !cfg->db_prepared_statements;
	err = pool_create(&opt, &a->db.pool);
	if (err == ATT_OK)
		err = breaker_create((int)cfg->breaker_failure_threshold, cfg->breaker_timeout_ms,
				     NULL, NULL, &a->db.breaker);
	if (err == ATT_OK)
		err = cache_create((size_t)cfg->cache_max_entries, (size_t)cfg->cache_max_bytes,
				   NULL, NULL, &a->cache);
	if (err == ATT_OK)
		err = metrics_create(router_op_names(), router_op_count(), &a->metrics);
	if (err == ATT_OK)
		err = open_host_metrics(a, mode);
	/* Without a listener the cache is never trusted (attempt_cache_catch_up). */
	if (err == ATT_OK)
		err = attempt_cache_create(
			a->cache, a->db.breaker,
			mode == APP_PERSISTENT ? config_listen_conninfo(cfg) : NULL, &a->attempts);
	if (err == ATT_OK)
		err = limiter_create((int)cfg->batch_concurrency_per_caller, (int)cfg->threads,
				     &a->batch_limiter);
	if (err == ATT_OK) {
		attempt_calls_options co = {
			.coalesce_writes = mode == APP_PERSISTENT && cfg->coalesce_writes,
			.coalesce_reads = mode == APP_PERSISTENT && cfg->coalesce_reads,
			.max_items = (int)cfg->coalesce_max_items,
			.wait_timeout_ms = cfg->pool_acquire_timeout_ms,
		};
		err = attempt_calls_create(&a->db, &co, &a->calls);
	}
	a->env = (handler_env){
		.cfg = cfg,
		.db = &a->db,
		.cache = a->cache,
		.attempts = a->attempts,
		.calls = a->calls,
		.batch_limiter = a->batch_limiter,
		.metrics = a->metrics,
		.auth = a->auth,
		.host = a->host,
	};
	return err;
}

att_err app_create(const config *cfg, app_mode mode, app **out)
{
	app *a = calloc(1, sizeof *a);
	att_err err;

	if (a == NULL)
		return ATT_ENOMEM;
	a->cfg = cfg;
	pthread_mutex_init(&a->stop_lock, NULL);
	{
		/* housekeeping() waits with CLOCK_MONOTONIC deadlines. */
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&a->stop_cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	err = create_parts(a, mode);
	/* Large answers (a batch read may be megabytes) get their own mappings,
	 * handed back to the system when freed, instead of growing the heaps of
	 * the threads' arenas for good. A fixed threshold also stops glibc from
	 * raising it after the first large free. */
	if (mode == APP_PERSISTENT)
		mallopt(M_MMAP_THRESHOLD, APP_MMAP_THRESHOLD);
	/* The live view's publisher: its own thread and connection, so that
	 * neither nginx nor the database can hold up a request through it. */
	if (err == ATT_OK && mode == APP_PERSISTENT && cfg->live_publish_socket != NULL &&
	    cfg->live_publish_socket[0] != '\0') {
		live_feed_options lo = {.conninfo = cfg->db,
					.socket_path = cfg->live_publish_socket};
		err = live_feed_start(&lo, &a->live);
	}
	if (err == ATT_OK && mode == APP_PERSISTENT) {
		if (pthread_create(&a->housekeeper, NULL, housekeeping, a) != 0)
			err = ATT_ENOMEM;
		else
			a->housekeeper_started = 1;
	}
	if (err != ATT_OK) {
		app_free(a);
		return err;
	}
	*out = a;
	return ATT_OK;
}

void app_free(app *a)
{
	if (a == NULL)
		return;
	if (a->housekeeper_started) {
		pthread_mutex_lock(&a->stop_lock);
		a->stopping = 1;
		pthread_cond_signal(&a->stop_cond);
		pthread_mutex_unlock(&a->stop_lock);
		pthread_join(a->housekeeper, NULL);
	}
	live_feed_free(a->live);
	attempt_cache_free(a->attempts);
	limiter_free(a->batch_limiter);
	attempt_calls_free(a->calls);
	auth_verifier_free(a->auth);
	metrics_free(a->metrics);
	host_metrics_close(a->host);
	cache_free(a->cache);
	breaker_free(a->db.breaker);
	pool_free(a->db.pool);
	pthread_cond_destroy(&a->stop_cond);
	pthread_mutex_destroy(&a->stop_lock);
	free(a);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Does req's path match a route (whatever its id and query)? */
static int app_path_routed(const http_request *req)
{
	char id[64];

	return router_match_path(req->path, id, sizeof id) != ROUTE_PATH_NONE;
}

int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx, http_write_fn write,
	      void *write_ctx)
{
	long long started = now_us(), latency_us;
	router_outcome outcome = {-1, 0, 0};
	http_request req;
	http_response resp;
	att_err err;
	int status, answered;

	http_response_init(&resp);
	err = http_request_init(&req, param, read, io_ctx);
	http_header(&resp, "X-Request-Id", req.request_id);
	log_set_request_id(req.request_id);
	/* The path comes first (API.md section 3): a path no route matches
	 * is 404 whatever the query holds, and dispatch answers that from the
	 * path alone. */
	if (err == ATT_EINVAL && app_path_routed(&req))
		http_error(&resp, 400, "invalid_query", "the query string is malformed", NULL);
	else if (err != ATT_OK && err != ATT_EINVAL)
		http_error(&resp, 500, "internal_error", att_strerror(err), NULL);
	else
		router_dispatch(&a->env, &req, &resp, &outcome);
	answered = resp.status;
	/* A pre-check's answer goes to nginx, which adds CORS itself. */
	if (req.precheck)
		http_response_precheck(&resp);
	else
		cors_headers(a->cfg->cors_origins, &req, &resp);
	status = resp.status;
	if (http_response_write(&resp, write, write_ctx) != ATT_OK)
		status = -1;
	latency_us = now_us() - started;
	metrics_record(a->metrics, outcome.op, latency_us, outcome.db_calls, outcome.cache_hits,
		       status < 0 || answered >= 500);
	host_metrics_record(a->host, outcome.op, answered, latency_us, outcome.db_calls);
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("request: %s %s -> %d in %lld us, %d db calls",
			  req.method_name != NULL ? req.method_name : "?",
			  req.path != NULL ? req.path : "?", answered, latency_us,
			  outcome.db_calls);
	log_set_request_id(NULL);
	http_request_free(&req);
	http_response_free(&resp);
	return status;
}

int app_shed(app *a, http_param_fn param, http_read_fn read, void *io_ctx, http_write_fn write,
	     void *write_ctx, long waited_ms)
{
	http_request req;
	http_response resp;
	int status = 503;

	http_response_init(&resp);
	if (http_request_init(&req, param, read, io_ctx) != ATT_OK)
		log_debug("shed: a malformed request");
	http_header(&resp, "X-Request-Id", req.request_id);
	log_set_request_id(req.request_id);
	http_header(&resp, "Retry-After", "1");
	http_error(&resp, 503, "overloaded",
		   "the service is overloaded; nothing was done, retry shortly", NULL);
	cors_headers(a->cfg->cors_origins, &req, &resp);
	log_warn("request shed after %ld ms in the queue (queue_timeout_ms %ld)", waited_ms,
		 a->cfg->queue_timeout_ms);
	if (http_response_write(&resp, write, write_ctx) != ATT_OK)
		status = -1;
	metrics_record(a->metrics, -1, 0, 0, 0, 1);
	host_metrics_record(a->host, -1, 503, 0, 0);
	log_set_request_id(NULL);
	http_request_free(&req);
	http_response_free(&resp);
	return status;
}

unsigned long app_housekeeping_rounds(app *a)
{
	return atomic_load(&a->ticks);
}

const handler_env *app_env(const app *a)
{
	return &a->env;
}

att_err app_reload_keys(app *a)
{
	char *why = NULL;
	att_err err;

	if (a->cfg->jwt_jwks_file == NULL || *a->cfg->jwt_jwks_file == '\0') {
		log_info("reload: no jwt_jwks_file, nothing to re-read");
		return ATT_OK;
	}
	err = auth_verifier_reload(a->auth, &why);
	if (err == ATT_OK)
		log_info("reload: %zu keys from %s", auth_verifier_key_count(a->auth),
			 a->cfg->jwt_jwks_file);
	else
		log_error("reload: %s: %s; the %zu keys loaded before stay", a->cfg->jwt_jwks_file,
			  why != NULL ? why : att_strerror(err), auth_verifier_key_count(a->auth));
	free(why);
	return err;
}
