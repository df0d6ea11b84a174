/* metrics_ops: GET /metrics (the host's Prometheus scrape) and the
 * publishing of this process's snapshot into the host table (cache, pool,
 * breaker, listener, coalescer), with the pool's exhaustion logged once
 * per episode. Owns gathering what host_metrics publishes; the table and
 * the families are host_metrics'. */
#ifndef ATT_METRICS_OPS_H
#define ATT_METRICS_OPS_H

#include "handler.h"

/* GET /metrics: publishes this process's snapshot, then answers 200 with
 * the scrape of every worker sharing the table (text/plain 0.0.4). No
 * token: nginx keeps it to loopback unless opened (nginx/attempts.conf). */
void metrics_ops_scrape(req_ctx *rc);

/* Publishes the process's snapshot into env->host (nothing if NULL), and
 * logs the pool's exhaustion when acquire timeouts start and when they
 * have stopped for 5 s. Thread-safe; the housekeeping thread calls it
 * every tick. */
void metrics_ops_publish(const handler_env *env);

#endif
