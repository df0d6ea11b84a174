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

void exam_ops_list(req_ctx *rc)
{
	/* SQL checks both; an encoded NUL ("") is refused as any bad value */
	const char *params[2] = {http_query_text(rc->req, "limit"),
				 http_query_text(rc->req, "before")};

	reply_call_json(rc, DB_STMT_LIST_EXAMS, params, 200);
}

void exam_ops_get(req_ctx *rc)
{
	const char *params[1] = {rc->path_id};

	reply_call_json(rc, DB_STMT_GET_EXAM, params, 200);
}
