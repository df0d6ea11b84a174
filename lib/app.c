/* app: a worker process's shared state, housekeeping and request entry. */
#include "app.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attempt_view.h"
#include "blocking.h"
#include "clock.h"
#include "log.h"
#include "limiter.h"
#include "router.h"
#include "write_stamps.h"

#define HOUSEKEEPING_TICK_MS 100
#define REAP_EVERY_TICKS 100
#define PING_EVERY_MS 250
#define APP_MMAP_THRESHOLD (128 * 1024)
/* app_hold_refusal: how long, and how many at once per thread. */
#define APP_REFUSAL_HOLD_MS 250
#define APP_REFUSALS_HELD_PER_THREAD 4

static const char *const app_channels[] = {"attempts_changed",
					   "attempts_clear_cache", NULL};

struct app {
	const config *cfg;
	db_env db;
	cache *cache;
	metrics *metrics;
	listener *listener;
	write_stamps *stamps;   /* NULL in APP_ONESHOT: no cache */
	limiter *batch_limiter; /* batch requests in flight per caller */
	attempt_calls *calls;   /* saves, activity, submits, reads (maybe coalesced) */
	atomic_int held_refusals; /* app_hold_refusal() sleepers now */
	pthread_t housekeeper;
	int housekeeper_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
	atomic_ulong ticks; /* housekeeping rounds, for tests */
	int server_silent;      /* the last ping found nothing answering */
	long long next_ping_ms; /* monotonic */
};

/* Builds a cache key "<kind>:<id>" into out (size n). */
static void cache_key(char *out, size_t n, const char *kind, const char *id)
{
	snprintf(out, n, "%s:%s", kind, id);
}

/* Drops this process's cached entries of one attempt. */
static void invalidate_attempt(app *a, const char *attempt_id)
{
	char key[96];

	cache_key(key, sizeof key, "state", attempt_id);
	cache_remove(a->cache, key);
	cache_key(key, sizeof key, "info", attempt_id);
	cache_remove(a->cache, key);
}

void app_note_write(app *a, const char *attempt_id)
{
	write_stamps_bump(a->stamps, attempt_id);
	invalidate_attempt(a, attempt_id);
}

unsigned app_write_stamp(app *a, const char *attempt_id)
{
	return write_stamps_read(a->stamps, attempt_id);
}

unsigned long long app_writes_total(app *a)
{
	return write_stamps_total(a->stamps);
}

int app_cache_get_attempt(app *a, const char *kind, const char *attempt_id,
			  char **text, size_t *len, cache_meta *meta)
{
	char key[96];

	cache_key(key, sizeof key, kind, attempt_id);
	if (!cache_get(a->cache, key, text, len, meta))
		return 0;
	if (meta->write_stamp == write_stamps_read(a->stamps, attempt_id))
		return 1;
	free(*text);
	*text = NULL;
	return 0;
}

void app_cache_put_attempt(app *a, const char *kind, const char *attempt_id,
			   const char *text, size_t len, const cache_meta *meta,
			   long long ttl_ms, unsigned long long epoch)
{
	char key[96];

	cache_key(key, sizeof key, kind, attempt_id);
	if (cache_put(a->cache, key, text, len, meta, ttl_ms, epoch) != ATT_OK)
		log_warn("cache: cannot store %s", key);
}

void app_cache_put_state(app *a, const char *text, size_t len, unsigned long long epoch,
			 unsigned stamp)
{
	char id[UUID_STR_LEN + 1];
	cache_meta meta;

	if (!attempt_view_describe(text, len, &meta, id))
		return;
	meta.write_stamp = stamp;
	app_cache_put_attempt(a, "state", id, text, len, &meta,
			      a->cfg->cache_ttl_batch_operations_ms, epoch);
}

/* This host's shared write stamps; a private table (read-your-writes
 * across workers then rests on LISTEN/NOTIFY alone) if it cannot be had. */
static att_err open_write_stamps(app *a)
{
	char name[64];

	write_stamps_default_name(name, sizeof name);
	if (write_stamps_open(name, &a->stamps) == ATT_OK)
		return ATT_OK;
	log_warn("write stamps: cannot map shared memory %s; other workers' writes "
		 "reach this cache through the listener only", name);
	return write_stamps_open(NULL, &a->stamps);
}

/* Drops this process's cached entries of the attempts of a change
 * notification: one id, or several comma-separated (a statement that
 * changed many, sql/003_changes_per_statement.sql). */
static void invalidate_attempts(app *a, const char *payload)
{
	char id[40];

	while (*payload != '\0') {
		size_t n = strcspn(payload, ",");

		if (n < sizeof id) {
			memcpy(id, payload, n);
			id[n] = '\0';
			invalidate_attempt(a, id);
		}
		payload += n;
		if (*payload == ',')
			payload++;
	}
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
	app *a = arg;

	if (strcmp(channel, "attempts_changed") == 0)
		invalidate_attempts(a, payload);
	else if (strcmp(channel, "attempts_clear_cache") == 0)
		cache_clear(a->cache);
}

static void on_reset(void *arg)
{
	cache_clear(((app *)arg)->cache);
}

/* Closes attempts left open past deadline + grace. Every worker tries;
 * an advisory lock in the SQL lets one at a time do it. */
static void sweep_deadlines(app *a)
{
	static const char claims[] =
		"{\"sub\":\"00000000-0000-0000-0000-000000000000\",\"role\":\"admin\"}";
	db_failure why;
	char *text = NULL;

	if (db_call(&a->db, claims, DB_STMT_CLOSE_EXPIRED, NULL, &text, &why) != ATT_OK)
		log_debug("sweep: %s", why.message);
	else if (text != NULL && strstr(text, "\"closed\": 0") == NULL)
		log_info("sweep: %s", text);
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
		a->next_ping_ms = now + PING_EVERY_MS +
				  (a->server_silent ? 0 : breaker_retry_after_ms(b));
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
			listener_maintain(a->listener);
		else
			listener_drain(a->listener);
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

static att_err create_parts(app *a, app_mode mode)
{
	const config *cfg = a->cfg;
	pool_options opt = {
		.conninfo = cfg->db,
		.min_size = (int)cfg->pool_min,
		.max_size = (int)cfg->pool_max,
		.acquire_timeout_ms = (int)cfg->pool_acquire_timeout_ms,
		.idle_timeout_ms = (int)cfg->pool_idle_timeout_ms,
		.health_check_after_ms = 30000,
		.statement_timeout_ms = (int)cfg->db_statement_timeout_ms,
		.setup = db_prepare_all,
		.setup_arg = NULL,
	};
	listener_callbacks cb = {on_notify, on_reset, a};
	att_err err;

	a->db.retry.attempts = (int)cfg->retry_attempts;
	a->db.retry.base_delay_ms = cfg->retry_base_delay_ms;
	a->db.retry.max_delay_ms = cfg->retry_max_delay_ms;
	a->db.call_timeout_ms = (int)cfg->db_call_timeout_ms;
	err = pool_create(&opt, &a->db.pool);
	if (err == ATT_OK)
		err = breaker_create((int)cfg->breaker_failure_threshold,
				     cfg->breaker_timeout_ms, NULL, NULL, &a->db.breaker);
	if (err == ATT_OK)
		err = cache_create((size_t)cfg->cache_max_entries,
				   (size_t)cfg->cache_max_bytes, NULL, NULL, &a->cache);
	if (err == ATT_OK)
		err = metrics_create(router_op_names(), router_op_count(), &a->metrics);
	/* Without a listener the cache is never trusted (app_cache_usable). */
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
	if (err == ATT_OK && mode == APP_PERSISTENT)
		err = open_write_stamps(a);
	if (err == ATT_OK && mode == APP_PERSISTENT)
		err = listener_create(cfg->db, app_channels, &cb, &a->listener);
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
	listener_free(a->listener);
	write_stamps_close(a->stamps);
	limiter_free(a->batch_limiter);
	attempt_calls_free(a->calls);
	metrics_free(a->metrics);
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

int app_serve(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	      http_write_fn write, void *write_ctx)
{
	long long started = now_us();
	router_outcome outcome = {-1, 0, 0};
	http_request req;
	http_response resp;
	att_err err;
	int status, answered;

	http_response_init(&resp);
	err = http_request_init(&req, param, read, io_ctx);
	http_header(&resp, "X-Request-Id", req.request_id);
	/* The path comes first (API.md section 3): a path no route matches
	 * is 404 whatever the query holds, and dispatch answers that from the
	 * path alone. */
	if (err == ATT_EINVAL && app_path_routed(&req))
		http_error(&resp, 400, "invalid_query",
			   "the query string is malformed", NULL);
	else if (err != ATT_OK && err != ATT_EINVAL)
		http_error(&resp, 500, "internal_error", att_strerror(err), NULL);
	else
		router_dispatch(a, &req, &resp, &outcome);
	answered = resp.status;
	if (req.precheck)
		http_response_precheck(&resp);
	status = resp.status;
	if (http_response_write(&resp, write, write_ctx) != ATT_OK)
		status = -1;
	metrics_record(a->metrics, outcome.op, now_us() - started, outcome.db_calls,
		       outcome.cache_hits, status < 0 || answered >= 500);
	http_request_free(&req);
	http_response_free(&resp);
	return status;
}

int app_shed(app *a, http_param_fn param, http_read_fn read, void *io_ctx,
	     http_write_fn write, void *write_ctx, long waited_ms)
{
	http_request req;
	http_response resp;
	int status = 503;

	http_response_init(&resp);
	if (http_request_init(&req, param, read, io_ctx) != ATT_OK)
		log_debug("shed: a malformed request");
	http_header(&resp, "X-Request-Id", req.request_id);
	http_header(&resp, "Retry-After", "1");
	http_error(&resp, 503, "overloaded",
		   "the service is overloaded; nothing was done, retry shortly", NULL);
	log_warn("request %s: shed after %ld ms in the queue (queue_timeout_ms %ld)",
		 req.request_id, waited_ms, a->cfg->queue_timeout_ms);
	if (http_response_write(&resp, write, write_ctx) != ATT_OK)
		status = -1;
	metrics_record(a->metrics, -1, 0, 0, 0, 1);
	http_request_free(&req);
	http_response_free(&resp);
	return status;
}

unsigned long app_housekeeping_rounds(app *a)
{
	return atomic_load(&a->ticks);
}

int app_cache_usable(app *a)
{
	if (a->listener == NULL)
		return 0;
	if (listener_drain(a->listener))
		return 1;
	/* The listener is down. While the breaker is open the database is
	 * unreachable for every worker, so nothing can change what is cached:
	 * cached reads keep answering (API.md section 8). Otherwise another
	 * worker may be writing unseen: bypass the cache. The reconnect
	 * empties it. */
	return breaker_get_state(a->db.breaker) != BREAKER_CLOSED;
}

const config *app_config(const app *a)
{
	return a->cfg;
}

const db_env *app_db(const app *a)
{
	return &a->db;
}

cache *app_cache(const app *a)
{
	return a->cache;
}

metrics *app_metrics(const app *a)
{
	return a->metrics;
}

void app_hold_refusal(app *a)
{
	struct timespec hold = {0, APP_REFUSAL_HOLD_MS * 1000000L};
	int held = atomic_fetch_add(&a->held_refusals, 1);

	if (held < APP_REFUSALS_HELD_PER_THREAD * (int)a->cfg->threads) {
		blocking_begin();
		while (nanosleep(&hold, &hold) != 0)
			;
		blocking_end();
	}
	atomic_fetch_sub(&a->held_refusals, 1);
}

attempt_calls *app_calls(const app *a)
{
	return a->calls;
}

limiter *app_batch_limiter(const app *a)
{
	return a->batch_limiter;
}

breaker *app_breaker(const app *a)
{
	return a->db.breaker;
}

listener *app_listener(const app *a)
{
	return a->listener;
}
