/* exam_ops: the handlers of /api/exams (create, list, get). Owns the
 * create body's one C check; the SQL validates the exam and the list's
 * query (limit, before). */
#ifndef ATT_EXAM_OPS_H
#define ATT_EXAM_OPS_H

#include "handler.h"

void exam_ops_create(req_ctx *rc);
void exam_ops_list(req_ctx *rc);
void exam_ops_get(req_ctx *rc);

#endif
