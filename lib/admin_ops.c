/* admin_ops: the admin's optimize operations. */
#include "admin_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_view.h"
#include "json.h"
#include "reply.h"
#include "uuid.h"

static void optimize_clear_cache(req_ctx *rc)
{
	size_t cleared = cache_clear(rc->env->cache);
	char *text = reply_call(rc, DB_STMT_CLEAR_CACHE, NULL);
	cJSON *root;

	if (text == NULL)
		return;
	free(text);
	root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "cleared", (double)cleared);
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

/* Caches every state of the SQL result array text, fetched when this
 * host had noted writes_before writes; returns how many it cached, or -1
 * if text is not an array. The ids were not known before the call, so
 * their stamps are read now and trusted only if no write at all was noted
 * since before the call (else nothing is cached). */
static int cache_states(req_ctx *rc, const char *text, unsigned long long epoch,
			unsigned long long writes_before)
{
	size_t len = strlen(text);
	int n = json_array_elements(text, len, NULL, 0);
	json_span *spans = n > 0 ? calloc((size_t)n, sizeof *spans) : NULL;
	unsigned *stamps = n > 0 ? calloc((size_t)n, sizeof *stamps) : NULL;
	char id[UUID_STR_LEN + 1];
	cache_meta meta;

	if (n > 0 &&
	    (spans == NULL || stamps == NULL || json_array_elements(text, len, spans, n) != n))
		n = -1;
	for (int i = 0; i < n; i++)
		if (attempt_view_describe(text + spans[i].offset, (size_t)spans[i].length, &meta,
					  id))
			stamps[i] = attempt_cache_stamp(rc->env->attempts, id);
	if (n > 0 && attempt_cache_writes_total(rc->env->attempts) != writes_before)
		n = 0;
	for (int i = 0; i < n; i++)
		attempt_cache_put_state(
			rc->env->attempts, text + spans[i].offset, (size_t)spans[i].length,
			rc->env->cfg->cache_ttl_batch_operations_ms, epoch, stamps[i]);
	free(spans);
	free(stamps);
	return n;
}

static void optimize_preload(req_ctx *rc)
{
	const cJSON *exams = NULL;
	unsigned long long epoch = cache_epoch(rc->env->cache);
	unsigned long long writes = attempt_cache_writes_total(rc->env->attempts);
	const char *params[1];
	cJSON *root;
	const cJSON *item;
	buf ids = BUF_INIT;
	char *text;
	int n = 0;

	if (json_get_array(rc->body, "exam_ids", &exams) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "exam_ids", "exam_ids must be an array of UUIDs");
		return;
	}
	if (cJSON_GetArraySize(exams) > rc->env->cfg->max_batch_items) {
		http_error(rc->resp, 413, "batch_too_large", "too many exam ids", NULL);
		return;
	}
	buf_putc(&ids, '{');
	cJSON_ArrayForEach(item, exams)
	{
		if (!cJSON_IsString(item) || !uuid_valid(item->valuestring)) {
			json_path p;
			json_path_index(&p, "exam_ids", n, NULL);
			http_error_field(rc->resp, p.text, "an exam id must be a UUID");
			buf_free(&ids);
			return;
		}
		if (n++ > 0)
			buf_putc(&ids, ',');
		buf_puts(&ids, item->valuestring);
	}
	buf_putc(&ids, '}');
	params[0] = ids.data;
	text = ids.failed ? NULL : reply_call(rc, DB_STMT_PRELOAD, params);
	buf_free(&ids);
	if (text == NULL)
		return;
	n = attempt_cache_catch_up(rc->env->attempts) ? cache_states(rc, text, epoch, writes) : 0;
	free(text);
	if (n < 0) {
		reply_internal_error(rc, "preload result is not an array");
		return;
	}
	root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "preloaded", n);
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

/* Adds one recommendation text. */
static void recommend(cJSON *list, const char *fmt, ...) ATT_PRINTF(2, 3);

static void recommend(cJSON *list, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(list, cJSON_CreateString(text));
}

/* Recommendations from this process's metrics. */
static void analyze_metrics(const handler_env *env, cJSON *obs, cJSON *recs)
{
	cache_stats cs;
	pool_stats ps;
	breaker_stats bs;
	metrics *m = env->metrics;
	unsigned long long lookups, saves = metrics_calls_named(m, "save"),
				    batches = metrics_calls_named(m, "batch");
	double rate;

	cache_get_stats(env->cache, &cs);
	pool_get_stats(env->db->pool, &ps);
	breaker_get_stats(env->db->breaker, &bs);
	lookups = cs.hits + cs.misses;
	rate = lookups ? (double)cs.hits / (double)lookups : 0;
	cJSON_AddNumberToObject(obs, "cache_hit_rate", rate);
	cJSON_AddNumberToObject(obs, "cache_lookups", (double)lookups);
	cJSON_AddNumberToObject(obs, "cache_evictions", (double)cs.evictions);
	cJSON_AddNumberToObject(obs, "single_saves", (double)saves);
	cJSON_AddNumberToObject(obs, "batch_requests", (double)batches);
	cJSON_AddNumberToObject(obs, "pool_acquire_timeouts", (double)ps.acquire_timeouts);
	cJSON_AddNumberToObject(obs, "breaker_opened", (double)bs.opened_count);
	if (lookups >= 100 && rate < 0.5)
		recommend(recs,
			  "Cache hit rate is %.1f%% over %llu lookups: preload the "
			  "attempts of running exams (optimize preload) or raise "
			  "cache_ttl_attempt_state_ms.",
			  rate * 100, lookups);
	if (cs.evictions > 0)
		recommend(recs,
			  "The cache evicted %llu entries to stay within its bounds: "
			  "raise cache_max_entries or cache_max_bytes.",
			  cs.evictions);
	if (saves >= 100 && batches * 10 < saves)
		recommend(recs,
			  "%llu single saves against %llu batch requests: clients that "
			  "save several attempts should use batch_save (one round trip per "
			  "batch).",
			  saves, batches);
	if (ps.acquire_timeouts > 0)
		recommend(recs,
			  "%llu requests timed out waiting for a database connection: "
			  "raise pool_max (now %d in use at most).",
			  ps.acquire_timeouts, ps.size);
	if (bs.opened_count > 0)
		recommend(recs,
			  "The circuit breaker opened %llu times: check the database's "
			  "availability.",
			  bs.opened_count);
}

/* Recommendations from PostgreSQL's statistics (analyze_observations). */
static void analyze_database(const cJSON *db, cJSON *recs)
{
	const cJSON *pss = cJSON_GetObjectItemCaseSensitive(db, "pg_stat_statements");
	const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(db, "buffer_hit_ratio");
	const cJSON *t;

	if (cJSON_IsFalse(pss))
		recommend(recs, "pg_stat_statements is not installed: add it to "
				"shared_preload_libraries and CREATE EXTENSION pg_stat_statements "
				"to see what each statement costs.");
	if (cJSON_IsNumber(ratio) && ratio->valuedouble < 0.9)
		recommend(recs,
			  "PostgreSQL's buffer cache hit ratio is %.1f%%: raise "
			  "shared_buffers.",
			  ratio->valuedouble * 100);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(db, "tables"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "table");
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(t, "seq_scan");
		const cJSON *idx = cJSON_GetObjectItemCaseSensitive(t, "idx_scan");
		const cJSON *rows = cJSON_GetObjectItemCaseSensitive(t, "n_live_tup");

		if (!cJSON_IsString(name) || !cJSON_IsNumber(seq) || !cJSON_IsNumber(rows))
			continue;
		if (rows->valuedouble >= 10000 && seq->valuedouble > 0 &&
		    seq->valuedouble > (cJSON_IsNumber(idx) ? idx->valuedouble : 0))
			recommend(recs,
				  "Table %s: %.0f sequential scans against %.0f index "
				  "scans over %.0f rows: look for a missing index.",
				  name->valuestring, seq->valuedouble,
				  cJSON_IsNumber(idx) ? idx->valuedouble : 0, rows->valuedouble);
	}
}

static void optimize_analyze(req_ctx *rc)
{
	char *text = reply_call(rc, DB_STMT_ANALYZE, NULL);
	cJSON *root, *obs, *recs, *db;

	if (text == NULL)
		return;
	db = cJSON_Parse(text);
	free(text);
	root = cJSON_CreateObject();
	recs = cJSON_AddArrayToObject(root, "recommendations");
	obs = cJSON_AddObjectToObject(root, "observations");
	analyze_metrics(rc->env, obs, recs);
	analyze_database(db, recs);
	if (db != NULL)
		cJSON_AddItemToObject(obs, "database", db);
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

void admin_ops_optimize(req_ctx *rc)
{
	const char *op = NULL;

	if (json_get_string(rc->body, "operation", 1, 64, &op) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "operation", "operation must be a string");
		return;
	}
	if (rc->claims.role != AUTH_ROLE_ADMIN) {
		http_error(rc->resp, 403, "forbidden", "admin role required", NULL);
		return;
	}
	if (strcmp(op, "clear_cache") == 0)
		optimize_clear_cache(rc);
	else if (strcmp(op, "preload") == 0)
		optimize_preload(rc);
	else if (strcmp(op, "analyze") == 0)
		optimize_analyze(rc);
	else
		http_error_field(rc->resp, "operation",
				 "operation must be clear_cache, preload or analyze");
}
