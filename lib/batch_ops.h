/* batch_ops: POST ?action=batch {"operation", "data": [...]} - the six
 * batch operations (API.md section 6), one database round trip each, and
 * the per-caller limit on batches in flight. Owns the items' C checks and
 * the batch cache fills; merging lives in batch. */
#ifndef ATT_BATCH_OPS_H
#define ATT_BATCH_OPS_H

#include "handler.h"

void batch_ops_batch(req_ctx *rc);

#endif
