/* admin_ops: PATCH ?action=optimize {"operation": "clear_cache"|"preload"|
 * "analyze"} - the cache broadcast, preloading states into the cache, and
 * recommendations from this process's metrics and PostgreSQL's
 * statistics. Owns the recommendation texts. */
#ifndef ATT_ADMIN_OPS_H
#define ATT_ADMIN_OPS_H

#include "handler.h"

void admin_ops_optimize(req_ctx *rc);

#endif
