/* handler: what a request handler is given - its request, its response
 * under construction, the caller's claims and the parsed body (req_ctx).
 * Owns no state and no code; the router fills a req_ctx for each request. */
#ifndef ATT_HANDLER_H
#define ATT_HANDLER_H

#include <cJSON.h>

#include "auth.h"
#include "http.h"

typedef struct app app;

/* Everything a handler sees of its request. */
typedef struct req_ctx {
	app *app;
	http_request *req;
	http_response *resp;
	const char *path_id;   /* the {id} path segment (checked if the route asks) */
	auth_claims claims;    /* valid when the route requires authentication */
	cJSON *body;           /* parsed JSON body, when the route takes one */
	int db_calls;          /* database round trips made (for metrics) */
	int cache_hits;
} req_ctx;

typedef void (*route_handler)(req_ctx *rc);

#endif
