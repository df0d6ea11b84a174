/* attempt_ops: the handlers of one attempt's operations (API.md section
 * 6): start, state, info (through the cache), save, activity, submit
 * (through attempt_calls, maybe coalesced), extend. Owns their request
 * fields' checks and the read-your-writes steps around them. */
#ifndef ATT_ATTEMPT_OPS_H
#define ATT_ATTEMPT_OPS_H

#include "handler.h"

void attempt_ops_start(req_ctx *rc);
void attempt_ops_state(req_ctx *rc);
void attempt_ops_info(req_ctx *rc);
void attempt_ops_save(req_ctx *rc);
void attempt_ops_activity(req_ctx *rc);
void attempt_ops_submit(req_ctx *rc);
void attempt_ops_extend(req_ctx *rc);

#endif
