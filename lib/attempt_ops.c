/* attempt_ops: handlers for the contract's operations. */
#include "attempt_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "json.h"
#include "log.h"

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

/* Answers for a failed database call. */
static void reply_db_failure(req_ctx *rc, att_err err, const db_failure *why)
{
	if (err == ATT_ETIMEOUT || err == ATT_EUNAVAILABLE) {
		http_header(rc->resp, "Retry-After", "1");
		http_error(rc->resp, 503, "service_unavailable",
			   "the database is unavailable; retry shortly", NULL);
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

/* Runs stmt and answers with its result: success_status and the JSON
 * result as is, or the mapped error. Returns the result text on success
 * (caller frees) when keep is set, else NULL. */
static char *call_and_reply(req_ctx *rc, db_stmt stmt, const char *const *params,
			    int success_status, int keep)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(app_pool(rc->app), rc->claims.json, stmt, params,
			      &text, &why);

	if (err != ATT_OK) {
		reply_db_failure(rc, err, &why);
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
	http_json_text(rc->resp, success_status, text, strlen(text));
	if (keep)
		return text;
	free(text);
	return NULL;
}

void ops_health(req_ctx *rc)
{
	db_failure why;
	char *text = NULL;
	att_err err = db_call(app_pool(rc->app), NULL, DB_STMT_PING, NULL, &text, &why);
	cJSON *root = cJSON_CreateObject();
	int ok = err == ATT_OK;

	free(text);
	cJSON_AddStringToObject(root, "status", ok ? "ok" : "degraded");
	cJSON_AddStringToObject(root, "db", ok ? "ok" : "unavailable");
	if (!ok)
		http_header(rc->resp, "Retry-After", "1");
	http_header(rc->resp, "Cache-Control", "no-store");
	http_json(rc->resp, ok ? 200 : 503, root);
	cJSON_Delete(root);
}

void ops_exam_create(req_ctx *rc)
{
	char *text = json_print(rc->body);
	const char *params[1] = {text};

	if (text == NULL) {
		http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
		return;
	}
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rc->body, "title"))) {
		http_error_field(rc->resp, "title", "title is required and must be a string");
		cJSON_free(text);
		return;
	}
	free(call_and_reply(rc, DB_STMT_CREATE_EXAM, params, 201, 0));
	cJSON_free(text);
}

void ops_exam_get(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	free(call_and_reply(rc, DB_STMT_GET_EXAM, params, 200, 0));
}

void ops_start(req_ctx *rc)
{
	const char *exam_id = NULL;
	const char *params[1];
	cJSON *root, *state;
	char *text;

	if (json_get_uuid(rc->body, "exam_id", &exam_id) != JSON_FIELD_OK) {
		http_error_field(rc->resp, "exam_id", "exam_id must be a UUID");
		return;
	}
	params[0] = exam_id;
	text = call_and_reply(rc, DB_STMT_START_ATTEMPT, params, 200, 1);
	if (text == NULL)
		return;
	/* {"state": {...}, "created": bool} -> 201/200 with the state. */
	root = cJSON_Parse(text);
	state = cJSON_GetObjectItemCaseSensitive(root, "state");
	if (!cJSON_IsObject(state)) {
		http_response_reset(rc->resp);
		http_error(rc->resp, 500, "internal_error", "unexpected result", NULL);
	} else {
		int created = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "created"));
		http_json(rc->resp, created ? 201 : 200, state);
	}
	cJSON_Delete(root);
	free(text);
}

void ops_state(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	free(call_and_reply(rc, DB_STMT_ATTEMPT_STATE, params, 200, 0));
}

void ops_info(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	free(call_and_reply(rc, DB_STMT_ATTEMPT_INFO, params, 200, 0));
}

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
	char *answers_text = NULL, *autosave_text = NULL;
	char version[24], limit[24];
	const char *params[5];
	long expected = 0;
	int have_version;
	const config *cfg = app_config(rc->app);

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
	if (answers != NULL && (answers_text = json_print(answers)) == NULL)
		goto nomem;
	if (autosave != NULL && (autosave_text = json_print(autosave)) == NULL)
		goto nomem;
	snprintf(version, sizeof version, "%ld", expected);
	snprintf(limit, sizeof limit, "%ld", cfg->max_answers_bytes);
	params[0] = rc->path_id;
	params[1] = answers_text;
	params[2] = autosave_text;
	params[3] = have_version ? version : NULL;
	params[4] = limit;
	free(call_and_reply(rc, DB_STMT_SAVE_ATTEMPT, params, 200, 0));
	goto out;
nomem:
	http_error(rc->resp, 500, "internal_error", "out of memory", NULL);
out:
	cJSON_free(answers_text);
	cJSON_free(autosave_text);
}
