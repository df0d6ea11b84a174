/* query_optimizer: batch operations and optimize. Each batch operation
 * costs one database round trip (query: at most one per type, none for
 * items served from the cache). Items the C side can already refuse (bad
 * ids, bad events) become error items in place; the rest go to SQL as one
 * array, and the elements of its result array are merged back in input
 * order as text, never parsed: stored answers reach the client as jsonb
 * printed them (API.md section 3). */
#include "query_optimizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "attempt_ops.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "uuid.h"

/* ------------------------------------------------------- result merging */

/* One result item: an error item built in C, or JSON text - a span of an
 * SQL result (the caller keeps that text alive until the reply) or a
 * rendered cache entry (owned). Text is written out as it is: numbers in
 * answers never pass through a C double (API.md section 3). */
typedef struct batch_slot {
	cJSON *item;
	const char *text;
	size_t len;
	char *owned;
} batch_slot;

/* One batch under construction: a slot per input item, either filled by C
 * or left for the next element of the SQL result array. */
typedef struct batch {
	int n;
	batch_slot *slots;
} batch;

static int batch_init(batch *b, int n)
{
	b->n = n;
	b->slots = calloc((size_t)(n > 0 ? n : 1), sizeof *b->slots);
	return b->slots ? 0 : -1;
}

static void batch_free(batch *b)
{
	for (int i = 0; i < b->n; i++) {
		cJSON_Delete(b->slots[i].item);
		free(b->slots[i].owned);
	}
	free(b->slots);
}

static int slot_empty(const batch_slot *s)
{
	return s->item == NULL && s->text == NULL;
}

/* An error item {"attempt_id": id|null, "error": {...}} in slot i. */
static void batch_error(batch *b, int i, const char *attempt_id, const char *code,
			const char *message, const char *field)
{
	cJSON *item = cJSON_CreateObject();
	cJSON *err;

	if (attempt_id != NULL)
		cJSON_AddStringToObject(item, "attempt_id", attempt_id);
	else
		cJSON_AddNullToObject(item, "attempt_id");
	err = cJSON_AddObjectToObject(item, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", message);
	if (field != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(err, "details"), "field", field);
	b->slots[i].item = item;
}

/* Points the slots at positions[0..count) at the elements of the SQL
 * result array text, which must outlive the reply. Returns 0, or -1 if
 * text is not an array of exactly count elements. */
static int batch_merge(batch *b, const char *text, const int *positions, int count)
{
	json_span *spans = calloc((size_t)count + 1, sizeof *spans);
	int ok;

	if (spans == NULL)
		return -1;
	ok = json_array_elements(text, strlen(text), spans, count) == count;
	for (int k = 0; ok && k < count; k++) {
		b->slots[positions[k]].text = text + spans[k].offset;
		b->slots[positions[k]].len = (size_t)spans[k].length;
	}
	free(spans);
	return ok ? 0 : -1;
}

/* batch_merge into the slots C left empty, in order. */
static int batch_merge_empty(batch *b, const char *text)
{
	int *positions = calloc((size_t)b->n + 1, sizeof *positions);
	int count = 0, rc;

	if (positions == NULL)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (slot_empty(&b->slots[i]))
			positions[count++] = i;
	rc = batch_merge(b, text, positions, count);
	free(positions);
	return rc;
}

/* Appends the slot's JSON text to out. */
static void slot_write(buf *out, const batch_slot *s)
{
	char *printed;

	if (s->text != NULL) {
		buf_append(out, s->text, s->len);
		return;
	}
	printed = json_print(s->item);
	if (printed == NULL) {
		out->failed = 1;
		return;
	}
	buf_puts(out, printed);
	cJSON_free(printed);
}

/* Answers {"results": [...]} from the slots. */
static void batch_reply(req_ctx *rc, const batch *b)
{
	buf *body = &rc->resp->body;

	http_json_text(rc->resp, 200, "{\"results\":[", 12);
	for (int i = 0; i < b->n; i++) {
		if (i > 0)
			buf_putc(body, ',');
		slot_write(body, &b->slots[i]);
	}
	buf_puts(body, "]}");
}

/* Answers {"results": <sql array>} without parsing it. */
static void reply_results_text(req_ctx *rc, const char *sql_array)
{
	http_json_text(rc->resp, 200, "{\"results\":", 11);
	buf_puts(&rc->resp->body, sql_array);
	buf_putc(&rc->resp->body, '}');
}

static void internal_error(req_ctx *rc, const char *what)
{
	log_error("request %s: %s", rc->req->request_id, what);
	http_response_reset(rc->resp);
	http_header(rc->resp, "X-Request-Id", rc->req->request_id);
	http_error(rc->resp, 500, "internal_error", "internal error", NULL);
}

/* Runs stmt with params, merges its result array into b's empty slots
 * and answers. */
static void call_and_merge(req_ctx *rc, batch *b, db_stmt stmt, const char *const *params)
{
	char *text = ops_call(rc, stmt, params);

	if (text == NULL)
		return;
	if (batch_merge_empty(b, text) != 0)
		internal_error(rc, "batch result does not match its items");
	else
		batch_reply(rc, b);
	free(text);
}

/* Item i repeats the key of an earlier item: marks it with an error item
 * naming the first, so that a repeated id costs nothing (API.md section
 * 3: an id repeated within one batch is answered once). keys[k] is item
 * k's key or NULL (not a candidate). Returns the number marked. */
typedef struct keyed {
	const char *key;
	int index;
} keyed;

static int keyed_cmp(const void *x, const void *y)
{
	const keyed *a = x, *b = y;
	int c = strcmp(a->key, b->key);

	return c != 0 ? c : (a->index > b->index) - (a->index < b->index);
}

static int mark_repeats(batch *b, const char *const *keys, const char *const *ids)
{
	keyed *k = calloc((size_t)b->n + 1, sizeof *k);
	int n = 0, marked = 0;

	if (k == NULL)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (keys[i] != NULL)
			k[n++] = (keyed){keys[i], i};
	qsort(k, (size_t)n, sizeof *k, keyed_cmp);
	for (int j = 1, first = 0; j < n; j++) {
		char message[64];
		json_path p;

		if (strcmp(k[j].key, k[first].key) != 0) {
			first = j;
			continue;
		}
		snprintf(message, sizeof message, "repeats data[%d], which is answered once",
			 k[first].index);
		json_path_index(&p, "data", k[j].index, NULL);
		batch_error(b, k[j].index, ids[k[j].index], "duplicate_item", message, p.text);
		marked++;
	}
	free(k);
	return marked;
}

/* Items that are attempt ids: invalid ones become error items, and, with
 * once, repeats too (mark_repeats); the others are appended to *ids as a
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
	cJSON_ArrayForEach(item, data) {
		if (cJSON_IsString(item) && uuid_valid(item->valuestring)) {
			keys[i] = item->valuestring;
		} else {
			json_path p;
			json_path_index(&p, "data", i, NULL);
			batch_error(b, i, NULL, "validation_failed",
				    "an attempt id must be a UUID", p.text);
		}
		i++;
	}
	if (once && mark_repeats(b, keys, keys) < 0)
		ids->failed = 1;
	buf_putc(ids, '{');
	for (i = 0; i < b->n; i++) {
		if (keys[i] == NULL || !slot_empty(&b->slots[i]))
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
 * with "attempt_id"): app_note_write. */
static void note_writes(req_ctx *rc, const cJSON *data)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, data) {
		const cJSON *id = cJSON_IsObject(item)
					  ? cJSON_GetObjectItemCaseSensitive(item, "attempt_id")
					  : item;
		if (cJSON_IsString(id) && uuid_valid(id->valuestring))
			app_note_write(rc->app, id->valuestring);
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
	cJSON_ArrayForEach(item, data) {
		if (cJSON_IsString(item) && uuid_valid(item->valuestring))
			stamps[i] = app_write_stamp(rc->app, item->valuestring);
		i++;
	}
	return stamps;
}

/* Puts one attempt state, len bytes of SQL's text, into the cache with
 * the batch TTL, as it is: the same bytes a single read caches. stamp is
 * its write stamp from before the call. Error items are skipped. */
static void cache_state(req_ctx *rc, const char *text, size_t len, unsigned long long epoch,
			unsigned stamp)
{
	char id[UUID_STR_LEN + 1];
	cache_meta meta;

	if (!ops_describe_attempt(text, len, &meta, id))
		return;
	meta.write_stamp = stamp;
	app_cache_put_attempt(rc->app, "state", id, text, len, &meta,
			      app_config(rc->app)->cache_ttl_batch_operations_ms, epoch);
}

/* ------------------------------------------------------------ operations */

static void batch_by_ids(req_ctx *rc, const cJSON *data, db_stmt stmt)
{
	batch b;
	buf ids = BUF_INIT;
	unsigned long long epoch = cache_epoch(app_cache(rc->app));
	int fill = stmt == DB_STMT_MULTIPLE_STATES && app_cache_usable(rc->app);
	unsigned *stamps = fill ? read_stamps(rc, data) : NULL;
	const char *params[2];
	char budget[24];
	char *text = NULL;

	if (batch_init(&b, cJSON_GetArraySize(data)) != 0) {
		internal_error(rc, "out of memory");
		free(stamps);
		return;
	}
	/* Reads answer a repeated id once; a submit is idempotent anyway. */
	collect_ids(data, &b, &ids, stmt != DB_STMT_BATCH_SUBMIT);
	snprintf(budget, sizeof budget, "%ld", app_config(rc->app)->max_response_bytes);
	params[0] = ids.data;
	params[1] = budget; /* multiple_states only */
	if (ids.failed) {
		internal_error(rc, "out of memory");
	} else if ((text = ops_call(rc, stmt, params)) != NULL) {
		if (batch_merge_empty(&b, text) != 0) {
			internal_error(rc, "batch result does not match its items");
		} else {
			for (int i = 0; stamps != NULL && i < b.n; i++)
				if (b.slots[i].text != NULL)
					cache_state(rc, b.slots[i].text, b.slots[i].len, epoch,
						    stamps[i]);
			batch_reply(rc, &b);
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

	snprintf(limit, sizeof limit, "%ld", app_config(rc->app)->max_answers_bytes);
	text = ops_call(rc, DB_STMT_BATCH_SAVE, params);
	if (text != NULL)
		reply_results_text(rc, text);
	note_writes(rc, data);
	free(text);
}

static void batch_log(req_ctx *rc, const cJSON *data)
{
	const config *cfg = app_config(rc->app);
	const cJSON *item;
	const char *params[2];
	buf valid = BUF_INIT; /* 1-based indexes of the items SQL gets */
	batch b;
	int i = 0, nvalid = 0;

	if (batch_init(&b, cJSON_GetArraySize(data)) != 0) {
		internal_error(rc, "out of memory");
		return;
	}
	buf_putc(&valid, '{');
	cJSON_ArrayForEach(item, data) {
		const char *id = NULL;
		char prefix[32];
		ops_invalid bad;
		json_path p;

		snprintf(prefix, sizeof prefix, "data[%d].", i);
		json_path_index(&p, "data", i, "attempt_id");
		if (!cJSON_IsObject(item) || json_get_uuid(item, "attempt_id", &id) != JSON_FIELD_OK) {
			batch_error(&b, i, NULL, "validation_failed",
				    "attempt_id must be a UUID", p.text);
		} else if (ops_check_events(cJSON_GetObjectItemCaseSensitive(item, "events"),
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
		internal_error(rc, "out of memory");
	else if (nvalid == 0)
		batch_reply(rc, &b);
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

	if (!app_cache_get_attempt(rc->app, kind, id, &text, &len, &meta))
		return 0;
	if (ops_may_read(&rc->claims, meta.tag)) {
		ops_render_attempt(text, len, &meta, &rendered);
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
	g->result = ops_call(rc, g->stmt, params);
	if (g->result == NULL)
		return -1;
	if (batch_merge(b, g->result, g->positions, g->count) != 0) {
		internal_error(rc, "query result does not match its items");
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
	long max = app_config(rc->app)->max_response_bytes;
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "limit", "max_response_bytes");
	cJSON_AddNumberToObject(details, "max_bytes", (double)max);
	cJSON_AddNumberToObject(details, "bytes", (double)bytes);
	http_error(rc->resp, 413, "payload_too_large",
		   "the answer would exceed max_response_bytes", details);
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
	int usable = app_cache_usable(rc->app) && !ops_wants_no_cache(rc->req->cache_control);
	query_group groups[2] = {
		{"state", DB_STMT_MULTIPLE_STATES, BUF_INIT, NULL, 0, NULL},
		{"info", DB_STMT_MULTIPLE_INFOS, BUF_INIT, NULL, 0, NULL},
	};
	char (*keybuf)[QUERY_KEY_LEN] = calloc((size_t)n + 1, sizeof *keybuf);
	const char **keys = calloc((size_t)n + 1, sizeof *keys);
	const char **ids = calloc((size_t)n + 1, sizeof *ids);
	int *group = calloc((size_t)n + 1, sizeof *group);
	const cJSON *item;
	batch b = {0, NULL};
	long budget = app_config(rc->app)->max_response_bytes;
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
	cJSON_ArrayForEach(item, data) {
		if (query_item(&b, i, item, &group[i], &ids[i]) == 0) {
			snprintf(keybuf[i], sizeof keybuf[i], "%c:%s", group[i] ? 'i' : 's', ids[i]);
			keys[i] = keybuf[i];
		}
		i++;
	}
	if (mark_repeats(&b, keys, ids) < 0)
		goto nomem;
	for (i = 0; i < n; i++) {
		query_group *g = &groups[group[i]];

		if (!slot_empty(&b.slots[i]) ||
		    (usable && query_from_cache(rc, g->kind, ids[i], &b.slots[i])))
			continue;
		if (g->count > 0)
			buf_putc(&g->ids, ',');
		buf_puts(&g->ids, ids[i]);
		g->positions[g->count++] = i;
	}
	budget -= filled_bytes(&b);
	if (budget < 0) {
		reply_over_budget(rc, app_config(rc->app)->max_response_bytes - budget);
		goto out;
	}
	for (int g = 0; g < 2 && !failed; g++)
		failed = query_group_call(rc, &groups[g], &b, &budget) != 0;
	if (!failed)
		batch_reply(rc, &b);
	goto out;
nomem:
	internal_error(rc, "out of memory");
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
	long limit = app_config(rc->app)->batch_concurrency_per_caller;
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "limit", "batch_concurrency_per_caller");
	cJSON_AddNumberToObject(details, "max_in_flight", (double)limit);
	http_header(rc->resp, "Retry-After", "1");
	http_error(rc->resp, 429, "too_many_requests",
		   "too many batch requests of this caller in flight; retry later", details);
	cJSON_Delete(details);
}

void qopt_batch(req_ctx *rc)
{
	const char *op = NULL;
	const cJSON *data = NULL;
	const config *cfg = app_config(rc->app);

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
		http_error(rc->resp, 413, "batch_too_large", "too many items in one batch", details);
		cJSON_Delete(details);
		return;
	}
	if (!limiter_enter(app_batch_limiter(rc->app), rc->claims.sub)) {
		app_hold_refusal(rc->app);
		reply_too_many(rc);
		return;
	}
	batch_dispatch(rc, op, data);
	limiter_leave(app_batch_limiter(rc->app), rc->claims.sub);
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
	else if (strcmp(op, "batch_submit") == 0) {
		if (rc->claims.role == AUTH_ROLE_STUDENT) {
			http_error(rc->resp, 403, "forbidden", "proctor or admin role required", NULL);
			return;
		}
		batch_by_ids(rc, data, DB_STMT_BATCH_SUBMIT);
	} else if (strcmp(op, "query") == 0)
		batch_query(rc, data);
	else
		http_error_field(rc->resp, "operation",
				 "operation must be batch_save, multiple_states, batch_log, "
				 "validate_multiple, batch_submit or query");
}

/* -------------------------------------------------------------- optimize */

static void optimize_clear_cache(req_ctx *rc)
{
	size_t cleared = cache_clear(app_cache(rc->app));
	char *text = ops_call(rc, DB_STMT_CLEAR_CACHE, NULL);
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

	if (n > 0 && (spans == NULL || stamps == NULL ||
		      json_array_elements(text, len, spans, n) != n))
		n = -1;
	for (int i = 0; i < n; i++)
		if (ops_describe_attempt(text + spans[i].offset, (size_t)spans[i].length, &meta, id))
			stamps[i] = app_write_stamp(rc->app, id);
	if (n > 0 && app_writes_total(rc->app) != writes_before)
		n = 0;
	for (int i = 0; i < n; i++)
		cache_state(rc, text + spans[i].offset, (size_t)spans[i].length, epoch, stamps[i]);
	free(spans);
	free(stamps);
	return n;
}

static void optimize_preload(req_ctx *rc)
{
	const cJSON *exams = NULL;
	unsigned long long epoch = cache_epoch(app_cache(rc->app));
	unsigned long long writes = app_writes_total(rc->app);
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
	if (cJSON_GetArraySize(exams) > app_config(rc->app)->max_batch_items) {
		http_error(rc->resp, 413, "batch_too_large", "too many exam ids", NULL);
		return;
	}
	buf_putc(&ids, '{');
	cJSON_ArrayForEach(item, exams) {
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
	text = ids.failed ? NULL : ops_call(rc, DB_STMT_PRELOAD, params);
	buf_free(&ids);
	if (text == NULL)
		return;
	n = app_cache_usable(rc->app) ? cache_states(rc, text, epoch, writes) : 0;
	free(text);
	if (n < 0) {
		internal_error(rc, "preload result is not an array");
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

static unsigned long long op_calls(metrics *m, const char *name)
{
	const char *const *names = router_op_names();

	for (int i = 0; i < router_op_count(); i++)
		if (strcmp(names[i], name) == 0)
			return metrics_calls(m, i);
	return 0;
}

/* Recommendations from this process's metrics. */
static void analyze_metrics(app *a, cJSON *obs, cJSON *recs)
{
	cache_stats cs;
	pool_stats ps;
	breaker_stats bs;
	metrics *m = app_metrics(a);
	unsigned long long lookups, saves = op_calls(m, "save"), batches = op_calls(m, "batch");
	double rate;

	cache_get_stats(app_cache(a), &cs);
	pool_get_stats(app_db(a)->pool, &ps);
	breaker_get_stats(app_breaker(a), &bs);
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
		recommend(recs, "Cache hit rate is %.1f%% over %llu lookups: preload the "
			  "attempts of running exams (optimize preload) or raise "
			  "cache_ttl_attempt_state_ms.", rate * 100, lookups);
	if (cs.evictions > 0)
		recommend(recs, "The cache evicted %llu entries to stay within its bounds: "
			  "raise cache_max_entries or cache_max_bytes.", cs.evictions);
	if (saves >= 100 && batches * 10 < saves)
		recommend(recs, "%llu single saves against %llu batch requests: clients that "
			  "save several attempts should use batch_save (one round trip per "
			  "batch).", saves, batches);
	if (ps.acquire_timeouts > 0)
		recommend(recs, "%llu requests timed out waiting for a database connection: "
			  "raise pool_max (now %d in use at most).", ps.acquire_timeouts, ps.size);
	if (bs.opened_count > 0)
		recommend(recs, "The circuit breaker opened %llu times: check the database's "
			  "availability.", bs.opened_count);
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
		recommend(recs, "PostgreSQL's buffer cache hit ratio is %.1f%%: raise "
			  "shared_buffers.", ratio->valuedouble * 100);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(db, "tables")) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "table");
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(t, "seq_scan");
		const cJSON *idx = cJSON_GetObjectItemCaseSensitive(t, "idx_scan");
		const cJSON *rows = cJSON_GetObjectItemCaseSensitive(t, "n_live_tup");

		if (!cJSON_IsString(name) || !cJSON_IsNumber(seq) || !cJSON_IsNumber(rows))
			continue;
		if (rows->valuedouble >= 10000 && seq->valuedouble > 0 &&
		    seq->valuedouble > (cJSON_IsNumber(idx) ? idx->valuedouble : 0))
			recommend(recs, "Table %s: %.0f sequential scans against %.0f index "
				  "scans over %.0f rows: look for a missing index.",
				  name->valuestring, seq->valuedouble,
				  cJSON_IsNumber(idx) ? idx->valuedouble : 0, rows->valuedouble);
	}
}

static void optimize_analyze(req_ctx *rc)
{
	char *text = ops_call(rc, DB_STMT_ANALYZE, NULL);
	cJSON *root, *obs, *recs, *db;

	if (text == NULL)
		return;
	db = cJSON_Parse(text);
	free(text);
	root = cJSON_CreateObject();
	recs = cJSON_AddArrayToObject(root, "recommendations");
	obs = cJSON_AddObjectToObject(root, "observations");
	analyze_metrics(rc->app, obs, recs);
	analyze_database(db, recs);
	if (db != NULL)
		cJSON_AddItemToObject(obs, "database", db);
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

void qopt_optimize(req_ctx *rc)
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
