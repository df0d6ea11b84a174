/* attempt_ops: handlers of one attempt's operations. */
#include "attempt_ops.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "attempt_view.h"
#include "events.h"
#include "http_cond.h"
#include "json.h"
#include "reply.h"

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
		.max_answers_bytes = rc->env->cfg->max_answers_bytes,
	};

	attempt_calls_run(rc->env->calls, &call);
	return reply_outcome(rc, call.err, &call.why, call.result);
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
	attempt_cache_note_write(rc->env->attempts, rc->path_id);
}

/* ---------------------------------------------------------------- start */

void attempt_ops_start(req_ctx *rc)
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
	text = reply_call(rc, DB_STMT_START_ATTEMPT, params);
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

/* Answers a state/info body: ETag, 304 on a matching If-None-Match, and
 * time_remaining_s recomputed from the deadline now. */
static void reply_attempt(req_ctx *rc, const char *text, size_t len, const cache_meta *meta,
			  int hit)
{
	http_response *resp = rc->resp;

	http_header(resp, "X-Cache", hit ? "HIT" : "MISS");
	http_headerf(resp, "ETag", "\"%lld\"", meta->version);
	http_header(resp, "Cache-Control", "private, no-cache");
	if (http_cond_etag_matches(rc->req->if_none_match, meta->version)) {
		resp->status = 304;
		return;
	}
	http_json_text(resp, 200, "", 0);
	attempt_view_render(text, len, meta, &resp->body);
}

static void read_attempt(req_ctx *rc, call_kind call, const char *kind, long long ttl_ms)
{
	attempt_cache *ac = rc->env->attempts;
	int usable = attempt_cache_catch_up(ac);
	char *text;
	size_t len;
	cache_meta meta;
	unsigned long long epoch;
	unsigned stamp;

	if (usable && !http_cond_no_cache(rc->req->cache_control) &&
	    attempt_cache_get(ac, kind, rc->path_id, &text, &len, &meta)) {
		int allowed = access_may_read_attempt(&rc->claims, meta.tag);
		if (allowed) {
			rc->cache_hits++;
			reply_attempt(rc, text, len, &meta, 1);
		}
		free(text);
		if (allowed)
			return;
	}
	epoch = cache_epoch(rc->env->cache);
	stamp = attempt_cache_stamp(ac, rc->path_id);
	text = attempt_call_text(rc, call, NULL, -1);
	if (text == NULL)
		return;
	len = strlen(text);
	if (!attempt_view_describe(text, len, &meta, NULL)) {
		http_json_text(rc->resp, 200, text, len);
	} else {
		meta.write_stamp = stamp;
		if (usable)
			attempt_cache_put(ac, kind, rc->path_id, text, len, &meta, ttl_ms, epoch);
		reply_attempt(rc, text, len, &meta, 0);
	}
	free(text);
}

void attempt_ops_state(req_ctx *rc)
{
	read_attempt(rc, CALL_STATE, "state", rc->env->cfg->cache_ttl_attempt_state_ms);
}

void attempt_ops_info(req_ctx *rc)
{
	read_attempt(rc, CALL_INFO, "info", rc->env->cfg->cache_ttl_attempt_info_ms);
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
	switch (http_cond_if_match(rc->req->if_match, version)) {
	case 1:
		return 1;
	case -1:
		http_error_field(rc->resp, "If-Match", "If-Match must be a quoted version number");
		return -1;
	default:
		return 0;
	}
}

void attempt_ops_save(req_ctx *rc)
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
		http_error_field(rc->resp, "answers", "answers or auto_save_data is required");
		return;
	}
	have_version = expected_version(rc, &expected);
	if (have_version < 0)
		return;
	/* The fields are picked from the body in SQL. */
	write_and_reply(rc, CALL_SAVE, rc->req->body, have_version ? expected : -1);
}

void attempt_ops_activity(req_ctx *rc)
{
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(rc->body, "events");
	reply_bad_field bad;

	if (events_within_limits(events, "", rc->env->cfg, &bad) != 0) {
		reply_bad(rc, &bad);
		return;
	}
	/* info's activity_count and last_activity_at change. */
	write_and_reply(rc, CALL_LOG, rc->req->body, -1);
}

/* ---------------------------------------------------------------- submit */

void attempt_ops_submit(req_ctx *rc)
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

/* extend_attempt owns the rules (extra_s's range, the role, the state);
 * an extra_s that is no integer goes as NULL, which it refuses too. */
void attempt_ops_extend(req_ctx *rc)
{
	long extra = 0;
	char text[24];
	const char *params[2] = {rc->path_id, NULL};

	if (json_get_long(rc->body, "extra_s", INT_MIN, INT_MAX, &extra) == JSON_FIELD_OK) {
		snprintf(text, sizeof text, "%ld", extra);
		params[1] = text;
	}
	reply_call_json(rc, DB_STMT_EXTEND_ATTEMPT, params, 200);
	attempt_cache_note_write(rc->env->attempts, rc->path_id);
}
