/* batch_ops: the batch operations. Each costs one database round trip
 * (query: at most one per type, none for items served from the cache).
 * Items the C side can already refuse (bad ids, bad events) become error
 * items in place; the rest go to SQL as one array, and the elements of its
 * result array are merged back in input order as text, never parsed:
 * stored answers reach the client as jsonb printed them (API.md section 3). */
#include "batch_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "attempt_view.h"
#include "batch.h"
#include "events.h"
#include "http_cond.h"
#include "json.h"
#include "log.h"
#include "reply.h"
#include "uuid.h"

/* Answers {"results": <sql array>} without parsing it. */
static void reply_results_text(req_ctx *rc, const char *sql_array)
{
	http_json_text(rc->resp, 200, "{\"results\":", 11);
	buf_puts(&rc->resp->body, sql_array);
	buf_putc(&rc->resp->body, '}');
}

/* Runs stmt with params, merges its result array into b's empty slots
 * and answers. */
static void call_and_merge(req_ctx *rc, batch *b, db_stmt stmt, const char *const *params)
{
	char *text = reply_call(rc, stmt, params);

	if (text == NULL)
		return;
	if (batch_merge_empty(b, text) != 0)
		reply_internal_error(rc, "batch result does not match its items");
	else
		batch_reply(rc->resp, b);
	free(text);
}

/* Items that are attempt ids: invalid ones become error items, and, with
 * once, repeats too (batch_mark_repeats); the others are appended to *ids as a
 * PostgreSQL array literal "{a,b}" (safe: every element is a checked
 * canonical UUID). */
static void collect_ids(const cJSON *data, batch *b, buf *ids, int once)
{
	const char **keys = calloc((size_t)b->n + 1, sizeof *keys);
	const cJSON *item;
	int i = 0, first = 1;

	if (keys == NULL) {
		ids->failed = 1;
		return;
	}
	cJSON_ArrayForEach(item, data)
	{
		if (cJSON_IsString(item) && uuid_valid(item->valuestring)) {
			keys[i] = item->valuestring;
		} else {
			json_path p;
			json_path_index(&p, "data", i, NULL);
			batch_error(b, i, NULL, "validation_failed", "an attempt id must be a UUID",
				    p.text);
		}
		i++;
	}
	if (once && batch_mark_repeats(b, keys, keys) < 0)
		ids->failed = 1;
	buf_putc(ids, '{');
	for (i = 0; i < b->n; i++) {
		if (keys[i] == NULL || !batch_slot_empty(&b->slots[i]))
			continue;
		if (!first)
			buf_putc(ids, ',');
		buf_puts(ids, keys[i]);
		first = 0;
	}
	buf_putc(ids, '}');
	free(keys);
}

/* Notes a write of every attempt id among the items (plain ids or objects
 * with "attempt_id"): attempt_cache_note_write. */
static void note_writes(req_ctx *rc, const cJSON *data)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, data)
	{
		const cJSON *id = cJSON_IsObject(item)
					  ? cJSON_GetObjectItemCaseSensitive(item, "attempt_id")
					  : item;
		if (cJSON_IsString(id) && uuid_valid(id->valuestring))
			attempt_cache_note_write(rc->env->attempts, id->valuestring);
	}
}

/* The write stamp of every item that is an attempt id (0 for the others),
 * read before the call whose answers will be cached; NULL without memory
 * (then nothing is cached). The caller frees it. */
static unsigned *read_stamps(req_ctx *rc, const cJSON *data)
{
	unsigned *stamps = calloc((size_t)cJSON_GetArraySize(data) + 1, sizeof *stamps);
	const cJSON *item;
	int i = 0;

	if (stamps == NULL)
		return NULL;
	cJSON_ArrayForEach(item, data)
	{
		if (cJSON_IsString(item) && uuid_valid(item->valuestring))
			stamps[i] = attempt_cache_stamp(rc->env->attempts, item->valuestring);
		i++;
	}
	return stamps;
}

/* Puts one attempt state, len bytes of SQL's text, into the cache with
 * the batch TTL, as it is: the same bytes a single read caches. stamp is
 * its write stamp from before the call. Error items are skipped. */

/* ------------------------------------------------------------ operations */

static void batch_by_ids(req_ctx *rc, const cJSON *data, db_stmt stmt)
{
	batch b;
	buf ids = BUF_INIT;
	unsigned long long epoch = cache_epoch(rc->env->cache);
	int fill = stmt == DB_STMT_MULTIPLE_STATES && attempt_cache_catch_up(rc->env->attempts);
	unsigned *stamps = fill ? read_stamps(rc, data) : NULL;
	const char *params[2];
	char budget[24];
	char *text = NULL;

	if (batch_init(&b, cJSON_GetArraySize(data)) != 0) {
		reply_internal_error(rc, "out of memory");
		free(stamps);
		return;
	}
	/* Reads answer a repeated id once; a submit is idempotent anyway. */
	collect_ids(data, &b, &ids, stmt != DB_STMT_BATCH_SUBMIT);
	snprintf(budget, sizeof budget, "%ld", rc->env->cfg->max_response_bytes);
	params[0] = ids.data;
	params[1] = budget; /* multiple_states only */
	if (ids.failed) {
		reply_internal_error(rc, "out of memory");
	} else if ((text = reply_call(rc, stmt, params)) != NULL) {
		if (batch_merge_empty(&b, text) != 0) {
			reply_internal_error(rc, "batch result does not match its items");
		} else {
			for (int i = 0; stamps != NULL && i < b.n; i++)
				if (b.slots[i].text != NULL)
					attempt_cache_put_state(
						rc->env->attempts, b.slots[i].text, b.slots[i].len,
						rc->env->cfg->cache_ttl_batch_operations_ms, epoch,
						stamps[i]);
			batch_reply(rc->resp, &b);
		}
	}
	if (stmt == DB_STMT_BATCH_SUBMIT)
		note_writes(rc, data);
	free(stamps);
	free(text);
	buf_free(&ids);
	batch_free(&b);
}

static void batch_save(req_ctx *rc, const cJSON *data)
{
	char limit[24];
	const char *params[2] = {rc->req->body, limit}; /* items picked in SQL */
	char *text;

	snprintf(limit, sizeof limit, "%ld", rc->env->cfg->max_answers_bytes);
	text = reply_call(rc, DB_STMT_BATCH_SAVE, params);
	if (text != NULL)
		reply_results_text(rc, text);
	note_writes(rc, data);
	free(text);
}

static void batch_log(req_ctx *rc, const cJSON *data)
{
	const config *cfg = rc->env->cfg;
	const cJSON *item;
	const char *params[2];
	buf valid = BUF_INIT; /* 1-based indexes of the items SQL gets */
	batch b;
	int i = 0, nvalid = 0;

	if (batch_init(&b, cJSON_GetArraySize(data)) != 0) {
		reply_internal_error(rc, "out of memory");
		return;
	}
	buf_putc(&valid, '{');
	cJSON_ArrayForEach(item, data)
	{
		const char *id = NULL;
		char prefix[32];
		reply_bad_field bad;
		json_path p;

		snprintf(prefix, sizeof prefix, "data[%d].", i);
		json_path_index(&p, "data", i, "attempt_id");
		if (!cJSON_IsObject(item) ||
		    json_get_uuid(item, "attempt_id", &id) != JSON_FIELD_OK) {
			batch_error(&b, i, NULL, "validation_failed", "attempt_id must be a UUID",
				    p.text);
		} else if (events_within_limits(cJSON_GetObjectItemCaseSensitive(item, "events"),
						prefix, cfg, &bad) != 0) {
			batch_error(&b, i, id, bad.code, bad.message, bad.field);
		} else {
			buf_printf(&valid, "%s%d", nvalid++ ? "," : "", i + 1);
		}
		i++;
	}
	buf_putc(&valid, '}');
	params[0] = rc->req->body;
	params[1] = valid.data;
	if (valid.failed)
		reply_internal_error(rc, "out of memory");
	else if (nvalid == 0)
		batch_reply(rc->resp, &b);
	else
		call_and_merge(rc, &b, DB_STMT_BATCH_LOG, params);
	note_writes(rc, data);
	buf_free(&valid);
	batch_free(&b);
}

/* query: {"type": "state"|"info", "attempt_id"} items, from the cache
 * where possible, else one call per type for the rest. */
typedef struct query_group {
	const char *kind;
	db_stmt stmt;
	buf ids;
	int *positions;
	int count;
	char *result; /* SQL's answer, which the slots point into */
} query_group;

/* Fills slot from the cache entry of kind for id, rendered for now, if
 * there is one the caller may read. Returns 1 if it did. */
static int query_from_cache(req_ctx *rc, const char *kind, const char *id, batch_slot *slot)
{
	char *text;
	size_t len;
	cache_meta meta;
	buf rendered = BUF_INIT;
	int ok = 0;

	if (!attempt_cache_get(rc->env->attempts, kind, id, &text, &len, &meta))
		return 0;
	if (access_may_read_attempt(&rc->claims, meta.tag)) {
		attempt_view_render(text, len, &meta, &rendered);
		len = rendered.len;
		if ((slot->owned = buf_take(&rendered)) != NULL) {
			slot->text = slot->owned;
			slot->len = len;
			rc->cache_hits++;
			ok = 1;
		}
	}
	buf_free(&rendered);
	free(text);
	return ok;
}

/* Calls g's statement for its ids with *budget bytes left of the answer
 * (max_response_bytes less what is already in it) and points its slots
 * at the result; takes what the result uses from *budget. Returns 0, or
 * -1 once the answer is written (an error). */
static int query_group_call(req_ctx *rc, query_group *g, batch *b, long *budget)
{
	const char *params[2];
	char left[24];

	if (g->count == 0)
		return 0;
	buf_putc(&g->ids, '}');
	if (g->ids.failed)
		return -1;
	snprintf(left, sizeof left, "%ld", *budget);
	params[0] = g->ids.data;
	params[1] = left;
	g->result = reply_call(rc, g->stmt, params);
	if (g->result == NULL)
		return -1;
	if (batch_merge(b, g->result, g->positions, g->count) != 0) {
		reply_internal_error(rc, "query result does not match its items");
		return -1;
	}
	*budget -= (long)strlen(g->result);
	return 0;
}

/* The bytes of the slots already filled with text (cache hits). */
static long filled_bytes(const batch *b)
{
	long n = 0;

	for (int i = 0; i < b->n; i++)
		n += (long)b->slots[i].len;
	return n;
}

/* 413 payload_too_large naming the budget, before any database work. */
static void reply_over_budget(req_ctx *rc, long bytes)
{
	long max = rc->env->cfg->max_response_bytes;
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "limit", "max_response_bytes");
	cJSON_AddNumberToObject(details, "max_bytes", (double)max);
	cJSON_AddNumberToObject(details, "bytes", (double)bytes);
	http_error(rc->resp, 413, "payload_too_large", "the answer would exceed max_response_bytes",
		   details);
	cJSON_Delete(details);
}

/* A query item's type and attempt id, checked; -1 and an error item in
 * slot i if it is not {"type": "state"|"info", "attempt_id": uuid}. */
static int query_item(batch *b, int i, const cJSON *item, int *group, const char **id)
{
	const char *type = NULL;
	json_path p;

	json_path_index(&p, "data", i, "type");
	if (!cJSON_IsObject(item) || json_get_string(item, "type", 1, 8, &type) != JSON_FIELD_OK ||
	    (strcmp(type, "state") != 0 && strcmp(type, "info") != 0)) {
		batch_error(b, i, NULL, "validation_failed", "type must be state or info", p.text);
		return -1;
	}
	json_path_index(&p, "data", i, "attempt_id");
	if (json_get_uuid(item, "attempt_id", id) != JSON_FIELD_OK) {
		batch_error(b, i, NULL, "validation_failed", "attempt_id must be a UUID", p.text);
		return -1;
	}
	*group = strcmp(type, "state") == 0 ? 0 : 1;
	return 0;
}

/* Query key of an item: "s:<id>" or "i:<id>". */
#define QUERY_KEY_LEN (2 + UUID_STR_LEN + 1)

static void batch_query(req_ctx *rc, const cJSON *data)
{
	int n = cJSON_GetArraySize(data);
	int usable = attempt_cache_catch_up(rc->env->attempts) &&
		     !http_cond_no_cache(rc->req->cache_control);
	query_group groups[2] = {
		{"state", DB_STMT_MULTIPLE_STATES, BUF_INIT, NULL, 0, NULL},
		{"info", DB_STMT_MULTIPLE_INFOS, BUF_INIT, NULL, 0, NULL},
	};
	char(*keybuf)[QUERY_KEY_LEN] = calloc((size_t)n + 1, sizeof *keybuf);
	const char **keys = calloc((size_t)n + 1, sizeof *keys);
	const char **ids = calloc((size_t)n + 1, sizeof *ids);
	int *group = calloc((size_t)n + 1, sizeof *group);
	const cJSON *item;
	batch b = {0, NULL};
	long budget = rc->env->cfg->max_response_bytes;
	int i = 0, failed = 0;

	if (keybuf == NULL || keys == NULL || ids == NULL || group == NULL ||
	    batch_init(&b, n) != 0)
		goto nomem;
	for (int g = 0; g < 2; g++) {
		groups[g].positions = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
		if (groups[g].positions == NULL)
			goto nomem;
		buf_putc(&groups[g].ids, '{');
	}
	cJSON_ArrayForEach(item, data)
	{
		if (query_item(&b, i, item, &group[i], &ids[i]) == 0) {
			snprintf(keybuf[i], sizeof keybuf[i], "%c:%s", group[i] ? 'i' : 's',
				 ids[i]);
			keys[i] = keybuf[i];
		}
		i++;
	}
	if (batch_mark_repeats(&b, keys, ids) < 0)
		goto nomem;
	for (i = 0; i < n; i++) {
		query_group *g = &groups[group[i]];

		if (!batch_slot_empty(&b.slots[i]) ||
		    (usable && query_from_cache(rc, g->kind, ids[i], &b.slots[i])))
			continue;
		if (g->count > 0)
			buf_putc(&g->ids, ',');
		buf_puts(&g->ids, ids[i]);
		g->positions[g->count++] = i;
	}
	budget -= filled_bytes(&b);
	if (budget < 0) {
		reply_over_budget(rc, rc->env->cfg->max_response_bytes - budget);
		goto out;
	}
	for (int g = 0; g < 2 && !failed; g++)
		failed = query_group_call(rc, &groups[g], &b, &budget) != 0;
	if (!failed)
		batch_reply(rc->resp, &b);
	goto out;
nomem:
	reply_internal_error(rc, "out of memory");
out:
	if (b.slots != NULL)
		batch_free(&b);
	for (int g = 0; g < 2; g++) {
		free(groups[g].positions);
		free(groups[g].result);
		buf_free(&groups[g].ids);
	}
	free(keybuf);
	free(keys);
	free(ids);
	free(group);
}

static void batch_dispatch(req_ctx *rc, const char *op, const cJSON *data);

/* 429 too_many_requests: the caller has batch_concurrency_per_caller batch
 * requests in flight in this process already. */
static void reply_too_many(req_ctx *rc)
{
	long limit = rc->env->cfg->batch_concurrency_per_caller;
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "limit", "batch_concurrency_per_caller");
	cJSON_AddNumberToObject(details, "max_in_flight", (double)limit);
	http_header(rc->resp, "Retry-After", "1");
	http_error(rc->resp, 429, "too_many_requests",
		   "too many batch requests of this caller in flight; retry later", details);
	cJSON_Delete(details);
}

void batch_ops_batch(req_ctx *rc)
{
	const char *op = NULL;
	const cJSON *data = NULL;
	const config *cfg = rc->env->cfg;

	if (json_get_string(rc->body, "operation", 1, 64, &op) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "operation", "operation must be a string");
		return;
	}
	if (json_get_array(rc->body, "data", &data) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "data", "data must be an array");
		return;
	}
	if (cJSON_GetArraySize(data) > cfg->max_batch_items) {
		cJSON *details = cJSON_CreateObject();
		cJSON_AddNumberToObject(details, "limit", (double)cfg->max_batch_items);
		http_error(rc->resp, 413, "batch_too_large", "too many items in one batch",
			   details);
		cJSON_Delete(details);
		return;
	}
	if (!limiter_enter(rc->env->batch_limiter, rc->claims.sub)) {
		limiter_hold_refusal(rc->env->batch_limiter);
		reply_too_many(rc);
		return;
	}
	batch_dispatch(rc, op, data);
	limiter_leave(rc->env->batch_limiter, rc->claims.sub);
}

/* Runs the batch operation op on data. */
static void batch_dispatch(req_ctx *rc, const char *op, const cJSON *data)
{
	if (strcmp(op, "batch_save") == 0)
		batch_save(rc, data);
	else if (strcmp(op, "multiple_states") == 0)
		batch_by_ids(rc, data, DB_STMT_MULTIPLE_STATES);
	else if (strcmp(op, "batch_log") == 0)
		batch_log(rc, data);
	else if (strcmp(op, "validate_multiple") == 0)
		batch_by_ids(rc, data, DB_STMT_VALIDATE_MULTIPLE);
	else if (strcmp(op, "batch_submit") == 0)
		/* A student's: SQL answers 403 forbidden for the whole request. */
		batch_by_ids(rc, data, DB_STMT_BATCH_SUBMIT);
	else if (strcmp(op, "query") == 0)
		batch_query(rc, data);
	else
		http_error_field(rc->resp, "operation",
				 "operation must be batch_save, multiple_states, batch_log, "
				 "validate_multiple, batch_submit or query");
}
