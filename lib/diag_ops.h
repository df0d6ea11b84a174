/* diag_ops: the handlers that report on the service - GET /api/health and
 * ?action=stats (an exam's statistics, cached for a short TTL, or this
 * process's optimization figures). Owns those answers' shapes. */
#ifndef ATT_DIAG_OPS_H
#define ATT_DIAG_OPS_H

#include "handler.h"

void diag_ops_health(req_ctx *rc);
void diag_ops_stats(req_ctx *rc);

#endif
