/* metrics_ops: the scrape handler and the snapshot of the process. */
#include "metrics_ops.h"

#include <pthread.h>

#include "clock.h"
#include "host_metrics.h"
#include "log.h"
#include "prom.h"

/* An exhaustion episode ends after this long without an acquire timeout. */
#define POOL_QUIET_MS 5000

/* The pool's exhaustion episodes, per process. */
static pthread_mutex_t pool_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long pool_timeouts_seen;
static unsigned long long pool_episode_from; /* timeouts before the episode */
static long long pool_last_timeout_ms;
static int pool_exhausted;

/* Logs the start and the end of an exhaustion episode, once each. */
static void watch_pool(const pool_stats *ps, long long pool_max)
{
	long long now = clock_monotonic_ms(NULL);

	pthread_mutex_lock(&pool_watch_lock);
	if (ps->acquire_timeouts > pool_timeouts_seen) {
		if (!pool_exhausted) {
			pool_exhausted = 1;
			pool_episode_from = pool_timeouts_seen;
			log_warn("db_pool: exhausted: requests find no free connection within "
				 "pool_acquire_timeout_ms (%d of %lld connections in use)",
				 ps->active, pool_max);
		}
		pool_last_timeout_ms = now;
		pool_timeouts_seen = ps->acquire_timeouts;
	} else if (pool_exhausted && now - pool_last_timeout_ms >= POOL_QUIET_MS) {
		pool_exhausted = 0;
		log_info("db_pool: no longer exhausted: %llu requests timed out waiting for a "
			 "connection in this episode",
			 pool_timeouts_seen - pool_episode_from);
	}
	pthread_mutex_unlock(&pool_watch_lock);
}

/* One lane of the coalesced calls into the sample. */
static void sample_lane(const handler_env *env, int reads, host_metrics_sample *s)
{
	coalescer_stats st;

	attempt_calls_stats(env->calls, reads, &st);
	for (int k = 0; k < COALESCER_SIZE_CLASSES; k++)
		s->batches[reads][k] = st.by_size[k];
	s->batch_items[reads] = st.items;
}

void metrics_ops_publish(const handler_env *env)
{
	host_metrics_sample s = {0};
	cache_stats cs;
	pool_stats ps;
	breaker_stats bs;
	listener *l;

	if (env->host == NULL)
		return;
	cache_get_stats(env->cache, &cs);
	s.cache_hits = cs.hits;
	s.cache_misses = cs.misses;
	pool_get_stats(env->db->pool, &ps);
	s.pool_active = ps.active;
	s.pool_idle = ps.idle;
	s.pool_acquire_timeouts = ps.acquire_timeouts;
	s.pool_connect_failures = ps.connect_failures;
	breaker_get_stats(env->db->breaker, &bs);
	s.breaker_state = (int)bs.state;
	s.breaker_opened = bs.opened_count;
	s.breaker_rejected = bs.rejected;
	l = attempt_cache_listener(env->attempts);
	s.listener_connected = -1;
	if (l != NULL) {
		unsigned long long notes;
		listener_get_stats(l, &notes, &s.listener_reconnects, &s.listener_connected);
	}
	if (env->calls != NULL) {
		sample_lane(env, 0, &s);
		sample_lane(env, 1, &s);
	}
	host_metrics_publish(env->host, &s);
	watch_pool(&ps, env->cfg->pool_max);
}

void metrics_ops_scrape(req_ctx *rc)
{
	buf body = BUF_INIT;

	metrics_ops_publish(rc->env);
	if (rc->env->host != NULL)
		host_metrics_render(rc->env->host, &body);
	if (body.failed) {
		buf_free(&body);
		http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
		return;
	}
	http_header(rc->resp, "Content-Type", PROM_CONTENT_TYPE);
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json_text(rc->resp, 200, body.data != NULL ? body.data : "", body.len);
	buf_free(&body);
}
