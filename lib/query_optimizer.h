/* query_optimizer: the operations that trade many requests for one
 * database round trip - batch (six operations, API.md section 6) - and
 * the admin's optimize operations (clear_cache broadcast, preload,
 * analyze). Owns batching, merging per-item results in input order, and
 * the recommendations; single-attempt handlers live in attempt_ops. */
#ifndef ATT_QUERY_OPTIMIZER_H
#define ATT_QUERY_OPTIMIZER_H

#include "router.h"

/* POST ?action=batch {"operation", "data": [...]}. */
void qopt_batch(req_ctx *rc);

/* PATCH ?action=optimize {"operation": "clear_cache"|"preload"|"analyze"}. */
void qopt_optimize(req_ctx *rc);

#endif
