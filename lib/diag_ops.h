/* diag_ops: the handlers that report on the service - GET /api/health
 * (liveness: this process's own view, no database call), GET /api/ready
 * (readiness: database, listener, breaker), an exam's statistics and
 * active attempts (?action=stats&type=stats|active, /api/exams/{id}/stats
 * and /active; cached for a short TTL) and this process's optimization
 * figures. Owns those answers' shapes. */
#ifndef ATT_DIAG_OPS_H
#define ATT_DIAG_OPS_H

#include "handler.h"

void diag_ops_health(req_ctx *rc);
void diag_ops_ready(req_ctx *rc);
void diag_ops_stats(req_ctx *rc);
void diag_ops_exam_stats(req_ctx *rc);
void diag_ops_exam_active(req_ctx *rc);

#endif
