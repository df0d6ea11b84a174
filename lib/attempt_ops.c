/* attempt_ops: handlers for the contract's operations. */
#include "attempt_ops.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "uploads.h"
#include "uuid.h"

static const struct {
	const char *code;
	int status;
} error_statuses[] = {
	{"unauthorized", 401},
	{"forbidden", 403},
	{"not_found", 404},
	{"version_conflict", 409},
	{"attempt_submitted", 409},
	{"attempt_closed", 409},
	{"exam_closed", 409},
	{"max_attempts_reached", 409},
	{"not_extendable", 409},
	{"payload_too_large", 413},
	{"batch_too_large", 413},
	{"unsupported_media_type", 415},
	{"invalid_filename", 400},
	{"validation_failed", 422},
};

int ops_status_for_code(const char *code)
{
	for (size_t i = 0; i < sizeof error_statuses / sizeof error_statuses[0]; i++)
		if (strcmp(error_statuses[i].code, code) == 0)
			return error_statuses[i].status;
	return 500;
}

int ops_parse_if_match(const char *value, long *version)
{
	const char *p = value;
	char *end;
	long v;
	int quoted = 0;

	if (p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	if (strcmp(p, "*") == 0 || *p == '\0')
		return 0;
	if (strncmp(p, "W/", 2) == 0)
		p += 2;
	if (*p == '"') {
		quoted = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	v = strtol(p, &end, 10);
	if (quoted && *end++ != '"')
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0' || v < 0 || v > 2147483647L)
		return -1;
	*version = v;
	return 1;
}

int ops_etag_matches(const char *if_none_match, long long version)
{
	char want[32];
	const char *p = if_none_match;
	size_t wlen;

	if (p == NULL)
		return 0;
	snprintf(want, sizeof want, "\"%lld\"", version);
	wlen = strlen(want);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, want, wlen) == 0 &&
		    (p[wlen] == '\0' || p[wlen] == ',' || p[wlen] == ' '))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

/* The n digits at p as a number; -1 unless they are all digits. */
static int fixed_digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (H. Hinnant's
 * days_from_civil). */
static long long days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long long ops_parse_utc_ms(const char *text)
{
	int y, mo, d, h, mi, s;
	long long ms = 0;
	const char *p;

	/* YYYY-MM-DDTHH:MM:SS, fixed width: the form attempts.ts() writes */
	if (text == NULL || strlen(text) < 20 || text[4] != '-' || text[7] != '-' ||
	    text[10] != 'T' || text[13] != ':' || text[16] != ':')
		return -1;
	y = fixed_digits(text, 4);
	mo = fixed_digits(text + 5, 2);
	d = fixed_digits(text + 8, 2);
	h = fixed_digits(text + 11, 2);
	mi = fixed_digits(text + 14, 2);
	s = fixed_digits(text + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || s < 0 || s > 60)
		return -1;
	p = text + 19;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	return ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL + ms;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------- database calls */

/* SQLSTATEs of transient conditions whose statement did not commit: a
 * statement_timeout cancel, a serialization failure or deadlock that
 * outlived its retries, too many connections. The client may retry. */
static int sqlstate_is_transient(const char *s)
{
	return strcmp(s, "57014") == 0 || strcmp(s, "40001") == 0 ||
	       strcmp(s, "40P01") == 0 || strcmp(s, "53300") == 0 ||
	       strcmp(s, "55P03") == 0;
}

/* Answers a data exception (SQLSTATE class 22): the body is valid JSON
 * that PostgreSQL cannot hold, such as a number beyond numeric's range
 * (1e999999); the statement, and so the request, wrote nothing. */
static void reply_unstorable(req_ctx *rc, const db_failure *why)
{
	const char *msg = why->message;
	char text[300];

	if (strncmp(msg, "ERROR:", 6) == 0)
		msg += 6;
	msg += strspn(msg, " ");
	snprintf(text, sizeof text, "the body holds a value the database cannot store: %s", msg);
	http_error_field(rc->resp, "body", text);
}

/* Answers for a failed database call. */
static void reply_db_failure(req_ctx *rc, att_err err, const db_failure *why)
{
	if (err == ATT_EDB && sqlstate_is_transient(why->sqlstate))
		log_warn("request %s: transient database error %s: %s", rc->req->request_id,
			 why->sqlstate, why->message);
	if (err == ATT_ETIMEOUT || err == ATT_EUNAVAILABLE ||
	    (err == ATT_EDB && sqlstate_is_transient(why->sqlstate))) {
		long long secs = why->breaker_open ? (why->retry_after_ms + 999) / 1000 : 1;
		http_headerf(rc->resp, "Retry-After", "%lld", secs > 0 ? secs : 1);
		http_error(rc->resp, 503, "service_unavailable",
			   why->breaker_open ? "the database is unavailable (circuit open); retry later"
					     : "the database is unavailable; retry shortly",
			   NULL);
		return;
	}
	if (err == ATT_EDB && strncmp(why->sqlstate, "22", 2) == 0) {
		reply_unstorable(rc, why);
		return;
	}
	log_error("request %s: database error %s: %s", rc->req->request_id,
		  why->sqlstate, why->message);
	http_error(rc->resp, 500, "internal_error", "internal error", NULL);
}

/* Is text the error object {"error": {...}} of docs/SQL.md? jsonb prints an
 * object with the single key "error" exactly this way. */
static int is_error_result(const char *text)
{
	return strncmp(text, "{\"error\": {", 11) == 0;
}

/* Writes an error result of a SQL function with its HTTP status. */
static void reply_sql_error(req_ctx *rc, const char *text)
{
	cJSON *root = cJSON_Parse(text);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "error"), "code");
	int status = cJSON_IsString(code) ? ops_status_for_code(code->valuestring) : 500;

	if (status == 500)
		log_error("request %s: unexpected SQL result %.200s",
			  rc->req->request_id, text);
	http_json_text(rc->resp, status, text, strlen(text));
	cJSON_Delete(root);
}

/* The JSON answer text of a database call that returned err, or NULL once
 * the failure's answer is written; takes text. */
static char *call_outcome(req_ctx *rc, att_err err, const db_failure *why, char *text)
{
	rc->db_calls += why->tries;
	if (err != ATT_OK) {
		free(text);
		reply_db_failure(rc, err, why);
		return NULL;
	}
	if (text == NULL) {
		http_error(rc->resp, 500, "internal_error", "empty result", NULL);
		return NULL;
	}
	if (is_error_result(text)) {
		reply_sql_error(rc, text);
		free(text);
		return NULL;
	}
	return text;
}

char *ops_call(req_ctx *rc, db_stmt stmt, const char *const *params)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(app_db(rc->app), rc->claims.json, stmt, params, &text, &why);

	return call_outcome(rc, err, &why, text);
}

/* Runs a call of the path's attempt through attempt_calls (alone or
 * coalesced with other requests' calls); returns its JSON answer text, or
 * NULL once the failure's answer is written. */
static char *attempt_call_text(req_ctx *rc, call_kind kind, const char *body, long expected)
{
	attempt_call call = {
		.kind = kind,
		.claims_json = rc->claims.json,
		.attempt_id = rc->path_id,
		.body = body,
		.expected_version = expected,
		.max_answers_bytes = app_config(rc->app)->max_answers_bytes,
	};

	attempt_calls_run(app_calls(rc->app), &call);
	return call_outcome(rc, call.err, &call.why, call.result);
}

/* Runs a save, submit or activity write and answers 200 with its result.
 * Whatever the outcome (a deadline close writes too), the write is noted
 * before the answer leaves: this process drops what it cached, the others
 * of the host see the stamp move, other hosts hear the trigger. */
static void write_and_reply(req_ctx *rc, call_kind kind, const char *body, long expected)
{
	char *text = attempt_call_text(rc, kind, body, expected);

	if (text != NULL)
		http_json_text(rc->resp, 200, text, strlen(text));
	free(text);
	app_note_write(rc->app, rc->path_id);
}

/* Runs stmt and answers success_status with its JSON result as is. */
static void call_and_reply(req_ctx *rc, db_stmt stmt, const char *const *params,
			   int success_status)
{
	char *text = ops_call(rc, stmt, params);

	if (text != NULL)
		http_json_text(rc->resp, success_status, text, strlen(text));
	free(text);
}

/* ---------------------------------------------------------------- health */

void ops_health(req_ctx *rc)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(app_db(rc->app), NULL, DB_STMT_PING, NULL, &text, &why);
	breaker_state bs = breaker_get_state(app_breaker(rc->app));
	cJSON *root = cJSON_CreateObject();
	int ok = err == ATT_OK && bs == BREAKER_CLOSED;

	rc->db_calls += why.tries;
	free(text);
	cJSON_AddStringToObject(root, "status", ok ? "ok" : "degraded");
	cJSON_AddStringToObject(root, "db", err == ATT_OK ? "ok" : "unavailable");
	cJSON_AddStringToObject(root, "breaker", breaker_state_name(bs));
	if (!ok)
		http_header(rc->resp, "Retry-After", "1");
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json(rc->resp, ok ? 200 : 503, root);
	cJSON_Delete(root);
}

/* ----------------------------------------------------------------- exams */

void ops_exam_create(req_ctx *rc)
{
	const char *params[1] = {rc->req->body};

	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rc->body, "title"))) {
		http_error_field(rc->resp, "title", "title is required and must be a string");
		return;
	}
	call_and_reply(rc, DB_STMT_CREATE_EXAM, params, 201);
}

void ops_exam_get(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	call_and_reply(rc, DB_STMT_GET_EXAM, params, 200);
}

/* ---------------------------------------------------------------- start */

void ops_start(req_ctx *rc)
{
	static const char *const names[] = {"state", "created"};
	const char *exam_id = NULL;
	const char *params[1];
	json_span at[2];
	char *text;

	if (json_get_uuid(rc->body, "exam_id", &exam_id) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "exam_id", "exam_id must be a UUID");
		return;
	}
	params[0] = exam_id;
	text = ops_call(rc, DB_STMT_START_ATTEMPT, params);
	if (text == NULL)
		return;
	/* {"state": {...}, "created": bool} -> 201/200 with the state, as
	 * jsonb printed it (the attempt in progress may hold answers). */
	if (json_top_members(text, strlen(text), names, 2, at) < 1 || at[0].offset < 0 ||
	    text[at[0].offset] != '{') {
		http_error(rc->resp, 500, "internal_error", "unexpected result", NULL);
	} else {
		int created = at[1].offset >= 0 && strncmp(text + at[1].offset, "true", 4) == 0;
		http_json_text(rc->resp, created ? 201 : 200, text + at[0].offset,
			       (size_t)at[0].length);
	}
	free(text);
}

/* ------------------------------------------------- cached attempt reads */

int ops_wants_no_cache(const char *cache_control)
{
	return cache_control != NULL && (strcasestr(cache_control, "no-cache") != NULL ||
					 strcasestr(cache_control, "no-store") != NULL);
}

/* Is the member at span a string of UUID length? */
static int is_uuid_span(const char *text, json_span span)
{
	return span.offset >= 0 && span.length == UUID_STR_LEN + 2 && text[span.offset] == '"';
}

/* Copies the UUID string at span (without quotes) into out. */
static void copy_uuid_span(char *out, const char *text, json_span span)
{
	memcpy(out, text + span.offset + 1, UUID_STR_LEN);
	out[UUID_STR_LEN] = '\0';
}

int ops_describe_attempt(const char *text, size_t len, cache_meta *meta, char *attempt_id)
{
	static const char *const names[] = {"version", "user_id", "deadline_at",
					    "time_remaining_s", "attempt_id"};
	json_span at[5];
	char deadline[64];

	memset(meta, 0, sizeof *meta);
	meta->hole_offset = -1;
	meta->deadline_ms = -1;
	/* A scan, not a parse: answers may be large and are skipped. */
	if (json_top_members(text, len, names, 5, at) < 2 || at[0].offset < 0 ||
	    !is_uuid_span(text, at[1]) || (attempt_id != NULL && !is_uuid_span(text, at[4])))
		return 0;
	meta->version = strtoll(text + at[0].offset, NULL, 10);
	copy_uuid_span(meta->tag, text, at[1]);
	if (attempt_id != NULL)
		copy_uuid_span(attempt_id, text, at[4]);
	if (at[2].offset >= 0 && at[3].offset >= 0 && text[at[3].offset] != 'n' &&
	    text[at[2].offset] == '"' && at[2].length - 2 < (int)sizeof deadline) {
		memcpy(deadline, text + at[2].offset + 1, (size_t)at[2].length - 2);
		deadline[at[2].length - 2] = '\0';
		meta->deadline_ms = ops_parse_utc_ms(deadline);
		meta->hole_offset = at[3].offset;
		meta->hole_length = at[3].length;
	}
	return 1;
}

int ops_may_read(const auth_claims *claims, const char *owner)
{
	return claims->role != AUTH_ROLE_STUDENT || strcmp(claims->sub, owner) == 0;
}

/* Answers a state/info body: ETag, 304 on a matching If-None-Match, and
 * time_remaining_s recomputed from the deadline now. */
static void reply_attempt(req_ctx *rc, const char *text, size_t len,
			  const cache_meta *meta, int hit)
{
	http_response *resp = rc->resp;

	http_header(resp, "X-Cache", hit ? "HIT" : "MISS");
	http_headerf(resp, "ETag", "\"%lld\"", meta->version);
	http_header(resp, "Cache-Control", "private, no-cache");
	if (ops_etag_matches(rc->req->if_none_match, meta->version)) {
		resp->status = 304;
		return;
	}
	http_json_text(resp, 200, "", 0);
	ops_render_attempt(text, len, meta, &resp->body);
}

void ops_render_attempt(const char *text, size_t len, const cache_meta *meta, buf *out)
{
	long long left;

	if (meta->hole_offset < 0 || meta->deadline_ms < 0) {
		buf_append(out, text, len);
		return;
	}
	left = (meta->deadline_ms - wall_ms()) / 1000;
	buf_append(out, text, (size_t)meta->hole_offset);
	buf_printf(out, "%lld", left > 0 ? left : 0);
	buf_append(out, text + meta->hole_offset + meta->hole_length,
		   len - (size_t)meta->hole_offset - (size_t)meta->hole_length);
}

static void read_attempt(req_ctx *rc, call_kind call, const char *kind, long long ttl_ms)
{
	app *a = rc->app;
	int usable = app_cache_usable(a);
	char *text;
	size_t len;
	cache_meta meta;
	unsigned long long epoch;
	unsigned stamp;

	if (usable && !ops_wants_no_cache(rc->req->cache_control) &&
	    app_cache_get_attempt(a, kind, rc->path_id, &text, &len, &meta)) {
		int allowed = ops_may_read(&rc->claims, meta.tag);
		if (allowed) {
			rc->cache_hits++;
			reply_attempt(rc, text, len, &meta, 1);
		}
		free(text);
		if (allowed)
			return;
	}
	epoch = cache_epoch(app_cache(a));
	stamp = app_write_stamp(a, rc->path_id);
	text = attempt_call_text(rc, call, NULL, -1);
	if (text == NULL)
		return;
	len = strlen(text);
	if (!ops_describe_attempt(text, len, &meta, NULL)) {
		http_json_text(rc->resp, 200, text, len);
	} else {
		meta.write_stamp = stamp;
		if (usable)
			app_cache_put_attempt(a, kind, rc->path_id, text, len, &meta, ttl_ms, epoch);
		reply_attempt(rc, text, len, &meta, 0);
	}
	free(text);
}

void ops_state(req_ctx *rc)
{
	read_attempt(rc, CALL_STATE, "state",
		     app_config(rc->app)->cache_ttl_attempt_state_ms);
}

void ops_info(req_ctx *rc)
{
	read_attempt(rc, CALL_INFO, "info",
		     app_config(rc->app)->cache_ttl_attempt_info_ms);
}

/* ------------------------------------------------------------------ save */

/* The expected version from the body or If-Match: 1 found, 0 none, -1 bad
 * (the 422 is written). */
static int expected_version(req_ctx *rc, long *version)
{
	switch (json_get_long(rc->body, "expected_version", 0, 2147483647L, version)) {
	case JSON_FIELD_OK:
		return 1;
	case JSON_FIELD_BAD:
		http_error_field(rc->resp, "expected_version",
				 "expected_version must be a non-negative integer");
		return -1;
	case JSON_FIELD_ABSENT:
		break;
	}
	switch (ops_parse_if_match(rc->req->if_match, version)) {
	case 1:
		return 1;
	case -1:
		http_error_field(rc->resp, "If-Match",
				 "If-Match must be a quoted version number");
		return -1;
	default:
		return 0;
	}
}

void ops_save(req_ctx *rc)
{
	const cJSON *answers = NULL, *autosave = NULL;
	long expected = 0;
	int have_version;

	if (json_get_object(rc->body, "answers", &answers) == JSON_FIELD_BAD) {
		http_error_field(rc->resp, "answers", "answers must be an object");
		return;
	}
	if (json_get_object(rc->body, "auto_save_data", &autosave) == JSON_FIELD_BAD) {
		http_error_field(rc->resp, "auto_save_data", "auto_save_data must be an object");
		return;
	}
	if (answers == NULL && autosave == NULL) {
		http_error_field(rc->resp, "answers",
				 "answers or auto_save_data is required");
		return;
	}
	have_version = expected_version(rc, &expected);
	if (have_version < 0)
		return;
	/* The fields are picked from the body in SQL. */
	write_and_reply(rc, CALL_SAVE, rc->req->body, have_version ? expected : -1);
}

/* ----------------------------------------------------------------- stats */

/* key: {"enabled", "batches", "calls", "items_p50", "items_p99",
 * "largest", "waiting", "timeouts"} of one lane of this process's
 * coalesced calls. */
static void add_coalescing(cJSON *root, const char *key, app *a, int reads, long enabled)
{
	cJSON *j = cJSON_AddObjectToObject(root, key);
	coalescer_stats st;

	if (j == NULL)
		return;
	attempt_calls_stats(app_calls(a), reads, &st);
	cJSON_AddBoolToObject(j, "enabled", enabled != 0);
	cJSON_AddNumberToObject(j, "batches", (double)st.batches);
	cJSON_AddNumberToObject(j, "calls", (double)st.items);
	cJSON_AddNumberToObject(j, "items_p50", st.items_p50);
	cJSON_AddNumberToObject(j, "items_p99", st.items_p99);
	cJSON_AddNumberToObject(j, "largest", st.largest);
	cJSON_AddNumberToObject(j, "waiting", st.waiting);
	cJSON_AddNumberToObject(j, "timeouts", (double)st.timeouts);
}

static cJSON *optimization_json(app *a)
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
	cache_get_stats(app_cache(a), &cs);
	lookups = (double)(cs.hits + cs.misses);
	cJSON_AddNumberToObject(cj, "size", (double)cs.entries);
	cJSON_AddNumberToObject(cj, "bytes", (double)cs.bytes);
	cJSON_AddNumberToObject(cj, "hits", (double)cs.hits);
	cJSON_AddNumberToObject(cj, "misses", (double)cs.misses);
	cJSON_AddNumberToObject(cj, "hit_rate", lookups > 0 ? (double)cs.hits / lookups : 0);
	cJSON_AddNumberToObject(cj, "evictions", (double)cs.evictions);
	cJSON_AddNumberToObject(cj, "expirations", (double)cs.expirations);
	cJSON_AddNumberToObject(cj, "invalidations", (double)cs.invalidations);
	cJSON_AddItemToObject(root, "query_optimization",
			      metrics_operations_json(app_metrics(a)));
	pool_get_stats(app_db(a)->pool, &ps);
	cJSON_AddNumberToObject(pj, "size", ps.size);
	cJSON_AddNumberToObject(pj, "active_connections", ps.active);
	cJSON_AddNumberToObject(pj, "idle", ps.idle);
	cJSON_AddNumberToObject(pj, "query_count", (double)ps.queries);
	cJSON_AddNumberToObject(pj, "reconnects", (double)ps.reconnects);
	cJSON_AddNumberToObject(pj, "acquire_waits", (double)ps.acquire_waits);
	cJSON_AddNumberToObject(pj, "acquire_timeouts", (double)ps.acquire_timeouts);
	breaker_get_stats(app_breaker(a), &bs);
	cJSON_AddStringToObject(bj, "state", breaker_state_name(bs.state));
	cJSON_AddNumberToObject(bj, "failures", bs.failures);
	cJSON_AddNumberToObject(bj, "opened_count", (double)bs.opened_count);
	cJSON_AddNumberToObject(bj, "rejected", (double)bs.rejected);
	notes = resets = 0;
	connected = 0;
	if (app_listener(a) != NULL)
		listener_get_stats(app_listener(a), &notes, &resets, &connected);
	cJSON_AddBoolToObject(lj, "connected", connected);
	cJSON_AddNumberToObject(lj, "notifications", (double)notes);
	cJSON_AddNumberToObject(lj, "resets", (double)resets);
	add_coalescing(root, "write_coalescing", a, 0, app_config(a)->coalesce_writes);
	add_coalescing(root, "read_coalescing", a, 1, app_config(a)->coalesce_reads);
	cJSON_AddNumberToObject(proc, "pid", (double)getpid());
	cJSON_AddNumberToObject(proc, "uptime_s", (double)metrics_uptime_s(app_metrics(a)));
	cJSON_AddNumberToObject(proc, "requests", (double)metrics_requests(app_metrics(a)));
	cJSON_AddNumberToObject(proc, "db_calls", (double)metrics_db_calls(app_metrics(a)));
	return root;
}

/* Statistics of type stats|active for exam_id (query) or the path
 * attempt's exam, cached for the stats TTL (no read-your-writes promise). */
static void exam_statistics(req_ctx *rc, const char *type)
{
	size_t exam_id_len = 0;
	const char *exam_id = http_query(rc->req, "exam_id", &exam_id_len);
	db_stmt stmt = strcmp(type, "stats") == 0 ? DB_STMT_STATISTICS : DB_STMT_ACTIVE_ATTEMPTS;
	cache *c = app_cache(rc->app);
	const char *params[2];
	cache_meta meta;
	char key[128];
	char *text;
	size_t len;
	unsigned long long epoch;

	if (exam_id != NULL &&
	    (!http_query_is_text(exam_id, exam_id_len) || !uuid_valid(exam_id))) {
		http_error(rc->resp, 400, "invalid_uuid", "exam_id is not a canonical UUID", NULL);
		return;
	}
	if (rc->claims.role == AUTH_ROLE_STUDENT) {
		http_error(rc->resp, 403, "forbidden", "proctor or admin role required", NULL);
		return;
	}
	snprintf(key, sizeof key, "stats:%s:%s:%s", type, exam_id ? "exam" : "attempt",
		 exam_id ? exam_id : rc->path_id);
	http_header(rc->resp, "Cache-Control", "no-store");
	if (!ops_wants_no_cache(rc->req->cache_control) && cache_get(c, key, &text, &len, &meta)) {
		rc->cache_hits++;
		http_header(rc->resp, "X-Cache", "HIT");
		http_json_text(rc->resp, 200, text, len);
		free(text);
		return;
	}
	epoch = cache_epoch(c);
	params[0] = exam_id;
	params[1] = rc->path_id;
	text = ops_call(rc, stmt, params);
	if (text == NULL)
		return;
	len = strlen(text);
	memset(&meta, 0, sizeof meta);
	if (cache_put(c, key, text, len, &meta,
		      app_config(rc->app)->cache_ttl_attempt_stats_ms, epoch) != ATT_OK)
		log_warn("cache: cannot store %s", key);
	http_header(rc->resp, "X-Cache", "MISS");
	http_json_text(rc->resp, 200, text, len);
	free(text);
}

void ops_stats(req_ctx *rc)
{
	size_t type_len = 0;
	const char *type = http_query(rc->req, "type", &type_len);
	cJSON *root;

	if (type == NULL)
		type = "stats";
	else if (!http_query_is_text(type, type_len))
		type = ""; /* "stats%00x" is no type: refused below */
	if (strcmp(type, "stats") == 0 || strcmp(type, "active") == 0) {
		exam_statistics(rc, type);
		return;
	}
	if (strcmp(type, "optimization") != 0) {
		http_error(rc->resp, 400, "invalid_query",
			   "type must be stats, active or optimization", NULL);
		return;
	}
	if (rc->claims.role != AUTH_ROLE_ADMIN) {
		http_error(rc->resp, 403, "forbidden", "admin role required", NULL);
		return;
	}
	root = optimization_json(rc->app);
	if (root == NULL) {
		http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
		return;
	}
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json(rc->resp, 200, root);
	cJSON_Delete(root);
}

/* -------------------------------------------------------------- activity */

int ops_check_events(const cJSON *events, const char *prefix, const config *cfg,
		     ops_invalid *bad)
{
	const cJSON *ev;
	int i = 0;

	bad->status = 422;
	bad->code = "validation_failed";
	bad->message = "events must be an array of event objects";
	snprintf(bad->field, sizeof bad->field, "%s%s", prefix, "events");
	if (!cJSON_IsArray(events))
		return -1;
	if (cJSON_GetArraySize(events) > cfg->max_events) {
		bad->status = 413;
		bad->code = "batch_too_large";
		bad->message = "too many events in one request";
		return -1;
	}
	cJSON_ArrayForEach(ev, events) {
		const char *s = NULL;
		const cJSON *payload = cJSON_GetObjectItemCaseSensitive(ev, "payload");
		json_path path;

		json_path_index(&path, "events", i, NULL);
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (!cJSON_IsObject(ev)) {
			bad->message = "an event must be an object";
			return -1;
		}
		json_path_index(&path, "events", i, "event_type");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_string(ev, "event_type", 1, 64, &s) != JSON_FIELD_OK ||
		    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(s)) {
			bad->message = "event_type must be 1..64 characters of [a-z0-9_.-]";
			return -1;
		}
		json_path_index(&path, "events", i, "client_event_id");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_string(ev, "client_event_id", 1, 128, &s) == JSON_FIELD_BAD) {
			bad->message = "client_event_id must be a string of 1..128 characters";
			return -1;
		}
		json_path_index(&path, "events", i, "occurred_at");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_timestamp(ev, "occurred_at", &s) == JSON_FIELD_BAD) {
			bad->message = "occurred_at must be an RFC 3339 timestamp";
			return -1;
		}
		json_path_index(&path, "events", i, "payload");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (payload != NULL && !cJSON_IsNull(payload)) {
			char *text = json_print(payload);
			size_t len = text ? strlen(text) : 0;
			cJSON_free(text);
			if (text == NULL || len > (size_t)cfg->max_event_payload_bytes) {
				bad->status = 413;
				bad->code = "payload_too_large";
				bad->message = "event payload too large";
				return -1;
			}
		}
		i++;
	}
	return 0;
}

void ops_reply_invalid(req_ctx *rc, const ops_invalid *bad)
{
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "field", bad->field);
	http_error(rc->resp, bad->status, bad->code, bad->message, details);
	cJSON_Delete(details);
}

void ops_activity(req_ctx *rc)
{
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(rc->body, "events");
	ops_invalid bad;

	if (ops_check_events(events, "", app_config(rc->app), &bad) != 0) {
		ops_reply_invalid(rc, &bad);
		return;
	}
	/* info's activity_count and last_activity_at change. */
	write_and_reply(rc, CALL_LOG, rc->req->body, -1);
}

/* ---------------------------------------------------------------- submit */

void ops_submit(req_ctx *rc)
{
	const cJSON *answers = NULL;
	long expected = 0;
	int have_version;

	if (json_get_object(rc->body, "answers", &answers) == JSON_FIELD_BAD) {
		http_error_field(rc->resp, "answers", "answers must be an object");
		return;
	}
	/* An empty body has no expected_version: only If-Match counts then. */
	have_version = expected_version(rc, &expected);
	if (have_version < 0)
		return;
	write_and_reply(rc, CALL_SUBMIT, rc->body != NULL ? rc->req->body : NULL,
			have_version ? expected : -1);
}

/* ---------------------------------------------------------------- extend */

void ops_extend(req_ctx *rc)
{
	long extra = 0;
	char text[24];
	const char *params[2];

	if (json_get_long(rc->body, "extra_s", 1, 86400, &extra) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "extra_s", "extra_s must be an integer in 1..86400");
		return;
	}
	if (rc->claims.role == AUTH_ROLE_STUDENT) {
		http_error(rc->resp, 403, "forbidden", "proctor or admin role required", NULL);
		return;
	}
	snprintf(text, sizeof text, "%ld", extra);
	params[0] = rc->path_id;
	params[1] = text;
	call_and_reply(rc, DB_STMT_EXTEND_ATTEMPT, params, 200);
	app_note_write(rc->app, rc->path_id);
}

/* --------------------------------------------------------------- uploads */

/* The media type of the body, lowercased, without parameters. */
static void media_type(const char *content_type, char *out, size_t n)
{
	size_t i = 0;
	const char *p = content_type ? content_type : "application/octet-stream";

	while (*p == ' ')
		p++;
	for (; *p && *p != ';' && *p != ' ' && i + 1 < n; p++)
		out[i++] = (char)tolower((unsigned char)*p);
	out[i] = '\0';
}

/* The max_bytes of a validate_attempt_upload result, or -1. */
static long long upload_limit(const char *validation)
{
	cJSON *root = cJSON_Parse(validation);
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "max_bytes");
	long long limit = cJSON_IsNumber(max) ? (long long)max->valuedouble : -1;

	cJSON_Delete(root);
	return limit;
}

/* Stores the body (nginx's file, or the stream) under upload_id. */
static att_err store_body(req_ctx *rc, const char *upload_id, long long limit,
			  long long *size, char sha256[UPLOADS_SHA256_HEX])
{
	const char *dir = app_config(rc->app)->upload_dir;

	if (rc->req->body_file != NULL)
		return uploads_store_file(dir, rc->req->body_file, upload_id, limit, size, sha256);
	return uploads_store_stream(dir, rc->req->read, rc->req->io_ctx, upload_id, limit,
				    size, sha256);
}

void ops_upload(req_ctx *rc)
{
	size_t filename_len = 0;
	const char *filename = http_query(rc->req, "filename", &filename_len);
	const char *dir = app_config(rc->app)->upload_dir;
	char type[128], size_text[24], upload_id[UUID_STR_LEN + 1];
	char sha256[UPLOADS_SHA256_HEX];
	const char *params[6];
	long long limit, size = rc->req->content_length;
	char *text;
	att_err err;

	if (!uploads_filename_valid(filename, filename_len)) {
		http_error(rc->resp, 400, "invalid_filename",
			   "filename must be 1..255 bytes of UTF-8 without path separators, "
			   "control or bidirectional/zero-width format characters, or a "
			   "leading dot", NULL);
		return;
	}
	if (rc->req->body_file == NULL && !rc->req->precheck &&
	    rc->req->param(rc->req->io_ctx, "ATTEMPTS_UPLOADS_VIA_FILE") != NULL) {
		/* nginx hands upload bodies over as files; this one came through
		 * FastCGI because the action was spelled with escapes. */
		http_error(rc->resp, 400, "invalid_query",
			   "write the action as action=upload, without escapes", NULL);
		return;
	}
	if (uuid_generate(upload_id) != ATT_OK) {
		http_error(rc->resp, 500, "internal_error", "no randomness", NULL);
		return;
	}
	media_type(rc->req->content_type, type, sizeof type);
	/* Refuse early (owner, status, type, size by Content-Length). */
	snprintf(size_text, sizeof size_text, "%lld", size);
	params[0] = rc->path_id;
	params[1] = type;
	params[2] = size >= 0 ? size_text : NULL;
	text = ops_call(rc, DB_STMT_VALIDATE_UPLOAD, params);
	if (text == NULL)
		return;
	limit = upload_limit(text);
	free(text);
	if (rc->req->precheck) {
		/* nginx may read the body now. Its key for the limit on
		 * concurrent uploads per caller (nginx/attempts.conf). */
		http_header(rc->resp, "X-Attempts-Upload-Key", rc->claims.sub);
		rc->resp->status = 204;
		return;
	}
	err = store_body(rc, upload_id, limit >= 0 ? limit : 0, &size, sha256);
	if (err == ATT_ETOOBIG) {
		http_error(rc->resp, 413, "payload_too_large",
			   "the file exceeds the exam's upload limit", NULL);
		return;
	}
	if (err == ATT_EIO && rc->req->body_file == NULL) {
		/* The client's body stream broke off. */
		http_error(rc->resp, 400, "invalid_body", "the upload body could not be read", NULL);
		return;
	}
	if (err != ATT_OK) {
		/* Our side: the body file or the store (permissions, disk). */
		log_error("request %s: upload could not be stored (%s)", rc->req->request_id,
			  att_strerror(err));
		http_error(rc->resp, 500, "internal_error", "the upload could not be stored", NULL);
		return;
	}
	snprintf(size_text, sizeof size_text, "%lld", size);
	params[0] = rc->path_id;
	params[1] = upload_id;
	params[2] = filename;
	params[3] = type;
	params[4] = size_text;
	params[5] = sha256;
	text = ops_call(rc, DB_STMT_RECORD_UPLOAD, params);
	if (text == NULL) {
		/* Refused or rolled back: the stored file must not stay behind.
		 * On a 503 the outcome may be unknown (the connection broke after
		 * the record was sent): keep the file rather than orphan a row. */
		if (rc->resp->status != 503)
			uploads_remove(dir, upload_id);
		return;
	}
	http_json_text(rc->resp, 201, text, strlen(text));
	free(text);
	app_note_write(rc->app, rc->path_id);
}

void ops_download(req_ctx *rc)
{
	size_t upload_id_len = 0;
	const char *upload_id = http_query(rc->req, "upload_id", &upload_id_len);
	const char *params[2] = {rc->path_id, upload_id};
	const cJSON *type, *name, *size;
	char path[4096], disposition[1024];
	cJSON *meta;
	char *text;
	int fd;

	if (!http_query_is_text(upload_id, upload_id_len) || !uuid_valid(upload_id)) {
		http_error(rc->resp, 400, "invalid_uuid", "upload_id is not a canonical UUID", NULL);
		return;
	}
	text = ops_call(rc, DB_STMT_GET_UPLOAD, params);
	if (text == NULL)
		return;
	meta = cJSON_Parse(text);
	free(text);
	type = cJSON_GetObjectItemCaseSensitive(meta, "content_type");
	name = cJSON_GetObjectItemCaseSensitive(meta, "filename");
	size = cJSON_GetObjectItemCaseSensitive(meta, "size_bytes");
	if (!cJSON_IsString(type) || !cJSON_IsString(name) || !cJSON_IsNumber(size)) {
		http_error(rc->resp, 500, "internal_error", "unexpected upload record", NULL);
		goto out;
	}
	uploads_content_disposition(name->valuestring, disposition, sizeof disposition);
	http_header(rc->resp, "Content-Type", type->valuestring);
	http_header(rc->resp, "Content-Disposition", disposition);
	http_header(rc->resp, "X-Content-Type-Options", "nosniff");
	if (rc->req->accel_prefix != NULL) {
		/* nginx serves the bytes from its internal location. */
		http_headerf(rc->resp, "X-Accel-Redirect", "%s%s", rc->req->accel_prefix, upload_id);
		rc->resp->status = 200;
		goto out;
	}
	if (uploads_path(app_config(rc->app)->upload_dir, upload_id, path, sizeof path) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("request %s: upload %s has a record but no file", rc->req->request_id,
			  upload_id);
		http_response_reset(rc->resp);
		http_header(rc->resp, "X-Request-Id", rc->req->request_id);
		http_error(rc->resp, 500, "internal_error", "the stored file is missing", NULL);
		goto out;
	}
	http_file(rc->resp, 200, fd, (long long)size->valuedouble);
out:
	cJSON_Delete(meta);
}

void ops_uploads(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	call_and_reply(rc, DB_STMT_LIST_UPLOADS, params, 200);
}
