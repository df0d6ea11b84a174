/* reply: a handler's database call and the HTTP answer of its outcome. */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct {
	const char *code;
	int status;
} error_statuses[] = {
	{"unauthorized", 401},	    {"forbidden", 403},
	{"not_found", 404},	    {"version_conflict", 409},
	{"attempt_submitted", 409}, {"attempt_closed", 409},
	{"exam_closed", 409},	    {"max_attempts_reached", 409},
	{"not_extendable", 409},    {"payload_too_large", 413},
	{"batch_too_large", 413},   {"unsupported_media_type", 415},
	{"invalid_filename", 400},  {"validation_failed", 422},
};

int reply_status_for_code(const char *code)
{
	for (size_t i = 0; i < sizeof error_statuses / sizeof error_statuses[0]; i++)
		if (strcmp(error_statuses[i].code, code) == 0)
			return error_statuses[i].status;
	return 500;
}

/* SQLSTATEs of transient conditions whose statement did not commit: a
 * statement_timeout cancel, a serialization failure or deadlock that
 * outlived its retries, too many connections. The client may retry. */
static int sqlstate_is_transient(const char *s)
{
	return strcmp(s, "57014") == 0 || strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
	       strcmp(s, "53300") == 0 || strcmp(s, "55P03") == 0;
}

/* Answers a data exception (SQLSTATE class 22): the body is valid JSON
 * that PostgreSQL cannot hold, such as a number beyond numeric's range
 * (1e999999); the statement, and so the request, wrote nothing. */
static void reply_unstorable(req_ctx *rc, const db_failure *why)
{
	/* The server's message, at most as long as it was when it was cut
	 * from libpq's first line "ERROR:  <message>" (db_failure.message). */
	enum { SHOWN = sizeof why->message - 1 - sizeof "ERROR:  " + 1 };
	char text[320];

	snprintf(text, sizeof text, "the body holds a value the database cannot store: %.*s",
		 (int)SHOWN, why->primary);
	http_error_field(rc->resp, "body", text);
}

/* Answers for a failed database call. */
static void reply_db_failure(req_ctx *rc, att_err err, const db_failure *why)
{
	if (err == ATT_EDB && sqlstate_is_transient(why->sqlstate))
		log_warn("transient database error %s: %s", why->sqlstate, why->message);
	if (err == ATT_ETIMEOUT || err == ATT_EUNAVAILABLE ||
	    (err == ATT_EDB && sqlstate_is_transient(why->sqlstate))) {
		long long secs = why->breaker_open ? (why->retry_after_ms + 999) / 1000 : 1;
		http_headerf(rc->resp, "Retry-After", "%lld", secs > 0 ? secs : 1);
		http_error(rc->resp, 503, "service_unavailable",
			   why->breaker_open
				   ? "the database is unavailable (circuit open); retry later"
				   : "the database is unavailable; retry shortly",
			   NULL);
		return;
	}
	if (err == ATT_EDB && strncmp(why->sqlstate, "22", 2) == 0) {
		reply_unstorable(rc, why);
		return;
	}
	log_error("database error %s: %s", why->sqlstate, why->message);
	http_error(rc->resp, 500, "internal_error", "internal error", NULL);
}

/* Skips JSON whitespace. */
static const char *skip_ws(const char *p)
{
	return p + strspn(p, " \t\r\n");
}

int reply_is_error_text(const char *text)
{
	const char *p = skip_ws(text);

	if (*p != '{')
		return 0;
	p = skip_ws(p + 1);
	if (strncmp(p, "\"error\"", 7) != 0)
		return 0;
	p = skip_ws(p + 7);
	return *p == ':' && *skip_ws(p + 1) == '{';
}

/* Writes an error result of a SQL function with its HTTP status. */
static void reply_sql_error(req_ctx *rc, const char *text)
{
	cJSON *root = cJSON_Parse(text);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "error"), "code");
	int status = cJSON_IsString(code) ? reply_status_for_code(code->valuestring) : 500;

	if (status == 500)
		log_error("unexpected SQL result %.200s", text);
	http_json_text(rc->resp, status, text, strlen(text));
	cJSON_Delete(root);
}

char *reply_outcome(req_ctx *rc, att_err err, const db_failure *why, char *text)
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
	if (reply_is_error_text(text)) {
		reply_sql_error(rc, text);
		free(text);
		return NULL;
	}
	return text;
}

char *reply_call(req_ctx *rc, db_stmt stmt, const char *const *params)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(rc->env->db, rc->claims.json, stmt, params, &text, &why);

	return reply_outcome(rc, err, &why, text);
}

void reply_call_json(req_ctx *rc, db_stmt stmt, const char *const *params, int success_status)
{
	char *text = reply_call(rc, stmt, params);

	if (text != NULL)
		http_json_text(rc->resp, success_status, text, strlen(text));
	free(text);
}

void reply_internal_error(req_ctx *rc, const char *what)
{
	log_error("internal error: %s", what);
	http_response_reset(rc->resp);
	http_header(rc->resp, "X-Request-Id", rc->req->request_id);
	http_error(rc->resp, 500, "internal_error", "internal error", NULL);
}

void reply_bad(req_ctx *rc, const reply_bad_field *bad)
{
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "field", bad->field);
	http_error(rc->resp, bad->status, bad->code, bad->message, details);
	cJSON_Delete(details);
}
