/* exam_ops: exam handlers. */
#include "exam_ops.h"

#include "reply.h"

void exam_ops_create(req_ctx *rc)
{
	const char *params[1] = {rc->req->body};

	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rc->body, "title"))) {
		http_error_field(rc->resp, "title", "title is required and must be a string");
		return;
	}
	reply_call_json(rc, DB_STMT_CREATE_EXAM, params, 201);
}

/* A query value as text for SQL, or "" when it is absent (NULL) or holds
 * an encoded NUL (SQL refuses it as it refuses any other bad value). */
static const char *query_text(const req_ctx *rc, const char *name)
{
	size_t len = 0;
	const char *v = http_query(rc->req, name, &len);

	if (v == NULL)
		return NULL;
	return http_query_is_text(v, len) ? v : "";
}

void exam_ops_list(req_ctx *rc)
{
	const char *params[2] = {query_text(rc, "limit"), query_text(rc, "before")};

	reply_call_json(rc, DB_STMT_LIST_EXAMS, params, 200);
}

void exam_ops_get(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	reply_call_json(rc, DB_STMT_GET_EXAM, params, 200);
}
