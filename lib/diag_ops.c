/* diag_ops: health and statistics handlers. */
#include "diag_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "http_cond.h"
#include "log.h"
#include "reply.h"
#include "uuid.h"

/* ---------------------------------------------------------------- health */

/* Answers root (consumed) with 200, or 503 and Retry-After when !ok;
 * never cached. */
static void reply_probe(req_ctx *rc, cJSON *root, int ok)
{
	if (root == NULL) {
		http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
		return;
	}
	if (!ok)
		http_header(rc->resp, "Retry-After", "1");
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json(rc->resp, ok ? 200 : 503, root);
	cJSON_Delete(root);
}

/* Liveness from what this process already knows: the breaker is closed
 * while the database answers this process's calls. */
void diag_ops_health(req_ctx *rc)
{
	breaker_state bs = breaker_get_state(rc->env->db->breaker);
	cJSON *root = cJSON_CreateObject();
	int ok = bs == BREAKER_CLOSED;

	cJSON_AddStringToObject(root, "status", ok ? "ok" : "degraded");
	cJSON_AddStringToObject(root, "db", ok ? "ok" : "unavailable");
	cJSON_AddStringToObject(root, "breaker", breaker_state_name(bs));
	reply_probe(rc, root, ok);
}

/* Readiness: a database call now, the listener connected (or not
 * configured), the breaker closed. */
void diag_ops_ready(req_ctx *rc)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(rc->env->db, NULL, DB_STMT_PING, NULL, &text, &why);
	breaker_state bs = breaker_get_state(rc->env->db->breaker);
	listener *l = attempt_cache_listener(rc->env->attempts);
	unsigned long long notes = 0, resets = 0;
	int connected = 1;
	cJSON *root = cJSON_CreateObject();
	int ok;

	rc->db_calls += why.tries;
	free(text);
	if (l != NULL)
		listener_get_stats(l, &notes, &resets, &connected);
	ok = err == ATT_OK && bs == BREAKER_CLOSED && connected;
	cJSON_AddStringToObject(root, "status", ok ? "ready" : "not_ready");
	cJSON_AddStringToObject(root, "db", err == ATT_OK ? "ok" : "unavailable");
	cJSON_AddStringToObject(root, "listener",
				l == NULL   ? "off"
				: connected ? "connected"
					    : "disconnected");
	cJSON_AddStringToObject(root, "breaker", breaker_state_name(bs));
	reply_probe(rc, root, ok);
}

/* ----------------------------------------------------------------- stats */

/* key: {"enabled", "batches", "calls", "items_p50", "items_p99",
 * "largest", "waiting", "timeouts"} of one lane of this process's
 * coalesced calls. */
static void add_coalescing(cJSON *root, const char *key, const handler_env *env, int reads,
			   long enabled)
{
	cJSON *j = cJSON_AddObjectToObject(root, key);
	coalescer_stats st;

	if (j == NULL)
		return;
	attempt_calls_stats(env->calls, reads, &st);
	cJSON_AddBoolToObject(j, "enabled", enabled != 0);
	cJSON_AddNumberToObject(j, "batches", (double)st.batches);
	cJSON_AddNumberToObject(j, "calls", (double)st.items);
	cJSON_AddNumberToObject(j, "items_p50", st.items_p50);
	cJSON_AddNumberToObject(j, "items_p99", st.items_p99);
	cJSON_AddNumberToObject(j, "largest", st.largest);
	cJSON_AddNumberToObject(j, "waiting", st.waiting);
	cJSON_AddNumberToObject(j, "timeouts", (double)st.timeouts);
}

static cJSON *optimization_json(const handler_env *env)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *cj = cJSON_AddObjectToObject(root, "cache");
	cJSON *pj = cJSON_AddObjectToObject(root, "connection_pool");
	cJSON *bj = cJSON_AddObjectToObject(root, "circuit_breaker");
	cJSON *proc = cJSON_AddObjectToObject(root, "process");
	cJSON *lj = cJSON_AddObjectToObject(root, "listener");
	cache_stats cs;
	pool_stats ps;
	breaker_stats bs;
	unsigned long long notes, resets;
	int connected;
	double lookups;

	if (cj == NULL || pj == NULL || bj == NULL || proc == NULL || lj == NULL) {
		cJSON_Delete(root);
		return NULL;
	}
	cache_get_stats(env->cache, &cs);
	lookups = (double)(cs.hits + cs.misses);
	cJSON_AddNumberToObject(cj, "size", (double)cs.entries);
	cJSON_AddNumberToObject(cj, "bytes", (double)cs.bytes);
	cJSON_AddNumberToObject(cj, "hits", (double)cs.hits);
	cJSON_AddNumberToObject(cj, "misses", (double)cs.misses);
	cJSON_AddNumberToObject(cj, "hit_rate", lookups > 0 ? (double)cs.hits / lookups : 0);
	cJSON_AddNumberToObject(cj, "evictions", (double)cs.evictions);
	cJSON_AddNumberToObject(cj, "expirations", (double)cs.expirations);
	cJSON_AddNumberToObject(cj, "invalidations", (double)cs.invalidations);
	cJSON_AddItemToObject(root, "query_optimization", metrics_operations_json(env->metrics));
	pool_get_stats(env->db->pool, &ps);
	cJSON_AddNumberToObject(pj, "size", ps.size);
	cJSON_AddNumberToObject(pj, "active_connections", ps.active);
	cJSON_AddNumberToObject(pj, "idle", ps.idle);
	cJSON_AddNumberToObject(pj, "query_count", (double)ps.queries);
	cJSON_AddNumberToObject(pj, "reconnects", (double)ps.reconnects);
	cJSON_AddNumberToObject(pj, "acquire_waits", (double)ps.acquire_waits);
	cJSON_AddNumberToObject(pj, "acquire_timeouts", (double)ps.acquire_timeouts);
	breaker_get_stats(env->db->breaker, &bs);
	cJSON_AddStringToObject(bj, "state", breaker_state_name(bs.state));
	cJSON_AddNumberToObject(bj, "failures", bs.failures);
	cJSON_AddNumberToObject(bj, "opened_count", (double)bs.opened_count);
	cJSON_AddNumberToObject(bj, "rejected", (double)bs.rejected);
	notes = resets = 0;
	connected = 0;
	if (attempt_cache_listener(env->attempts) != NULL)
		listener_get_stats(attempt_cache_listener(env->attempts), &notes, &resets,
				   &connected);
	cJSON_AddBoolToObject(lj, "connected", connected);
	cJSON_AddNumberToObject(lj, "notifications", (double)notes);
	cJSON_AddNumberToObject(lj, "resets", (double)resets);
	add_coalescing(root, "write_coalescing", env, 0, env->cfg->coalesce_writes);
	add_coalescing(root, "read_coalescing", env, 1, env->cfg->coalesce_reads);
	cJSON_AddNumberToObject(proc, "pid", (double)getpid());
	cJSON_AddNumberToObject(proc, "uptime_s", (double)metrics_uptime_s(env->metrics));
	cJSON_AddNumberToObject(proc, "requests", (double)metrics_requests(env->metrics));
	cJSON_AddNumberToObject(proc, "db_calls", (double)metrics_db_calls(env->metrics));
	return root;
}

/* Statistics of type stats|active|live (the proctors' live view's first
 * paint) for exam_id, or (NULL) the exam of attempt_id, cached for the
 * stats TTL (no read-your-writes promise). */
static void exam_statistics(req_ctx *rc, const char *type, const char *exam_id,
			    const char *attempt_id)
{
	db_stmt stmt = strcmp(type, "stats") == 0  ? DB_STMT_STATISTICS
		       : strcmp(type, "live") == 0 ? DB_STMT_LIVE_SNAPSHOT
						   : DB_STMT_ACTIVE_ATTEMPTS;
	cache *c = rc->env->cache;
	const char *params[2];
	cache_meta meta;
	char key[128];
	char *text;
	size_t len;
	unsigned long long epoch;

	if (!access_may_read_stats(&rc->claims)) {
		http_error(rc->resp, 403, "forbidden", "proctor or admin role required", NULL);
		return;
	}
	snprintf(key, sizeof key, "stats:%s:%s:%s", type, exam_id ? "exam" : "attempt",
		 exam_id ? exam_id : attempt_id);
	http_header(rc->resp, "Cache-Control", "no-store");
	if (!http_cond_no_cache(rc->req->cache_control) && cache_get(c, key, &text, &len, &meta)) {
		rc->cache_hits++;
		http_header(rc->resp, "X-Cache", "HIT");
		http_json_text(rc->resp, 200, text, len);
		free(text);
		return;
	}
	epoch = cache_epoch(c);
	params[0] = exam_id;
	params[1] = attempt_id;
	text = reply_call(rc, stmt, params);
	if (text == NULL)
		return;
	len = strlen(text);
	memset(&meta, 0, sizeof meta);
	if (cache_put(c, key, text, len, &meta, rc->env->cfg->cache_ttl_attempt_stats_ms, epoch) !=
	    ATT_OK)
		log_warn("cache: cannot store %s", key);
	http_header(rc->resp, "X-Cache", "MISS");
	http_json_text(rc->resp, 200, text, len);
	free(text);
}

void diag_ops_stats(req_ctx *rc)
{
	const char *type = http_query_text(rc->req, "type"); /* "stats%00x": "", refused below */
	cJSON *root;

	if (type == NULL)
		type = "stats";
	if (strcmp(type, "stats") == 0 || strcmp(type, "active") == 0 ||
	    strcmp(type, "live") == 0) {
		const char *exam_id = http_query_text(rc->req, "exam_id");

		if (exam_id != NULL && !uuid_valid(exam_id)) {
			http_error(rc->resp, 400, "invalid_uuid", "exam_id is not a canonical UUID",
				   NULL);
			return;
		}
		exam_statistics(rc, type, exam_id, rc->path_id);
		return;
	}
	if (strcmp(type, "optimization") != 0) {
		http_error(rc->resp, 400, "invalid_query",
			   "type must be stats, active, live or optimization", NULL);
		return;
	}
	if (rc->claims.role != AUTH_ROLE_ADMIN) {
		http_error(rc->resp, 403, "forbidden", "admin role required", NULL);
		return;
	}
	root = optimization_json(rc->env);
	if (root == NULL) {
		http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
		return;
	}
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

void diag_ops_exam_stats(req_ctx *rc)
{
	exam_statistics(rc, "stats", rc->path_id, NULL);
}

void diag_ops_exam_active(req_ctx *rc)
{
	exam_statistics(rc, "active", rc->path_id, NULL);
}
