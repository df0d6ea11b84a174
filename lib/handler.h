/* handler: what a request handler is given - the process's parts it may
 * use (handler_env, filled by app, which owns them) and its request, its
 * response under construction, the caller's claims and the parsed body
 * (req_ctx, filled by the router). Owns no state and no code. */
#ifndef ATT_HANDLER_H
#define ATT_HANDLER_H

#include <cJSON.h>

#include "attempt_cache.h"
#include "attempt_calls.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "host_metrics.h"
#include "http.h"
#include "limiter.h"
#include "metrics.h"

/* The process's parts a handler may use; the breaker is db->breaker, the
 * listener attempt_cache_listener(attempts). */
typedef struct handler_env {
	const config *cfg;
	const db_env *db;
	cache *cache;		 /* every cached answer (attempts, statistics) */
	attempt_cache *attempts; /* attempt reads kept behind writes */
	attempt_calls *calls;	 /* saves, activity, submits, reads (maybe coalesced) */
	limiter *batch_limiter;	 /* batch requests in flight per caller */
	metrics *metrics;
	auth_verifier *auth; /* bearer tokens: secret, JWKS keys, aud, iss */
	host_metrics *host;  /* the host's counters (GET /metrics); may be NULL */
} handler_env;

/* Everything a handler sees of its request. */
typedef struct req_ctx {
	const handler_env *env;
	http_request *req;
	http_response *resp;
	const char *path_id; /* the {id} path segment (checked if the route asks) */
	auth_claims claims;  /* valid when the route requires authentication */
	cJSON *body;	     /* parsed JSON body, when the route takes one */
	int db_calls;	     /* database round trips made (for metrics) */
	int cache_hits;
} req_ctx;

typedef void (*route_handler)(req_ctx *rc);

#endif
