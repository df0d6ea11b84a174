/* router: the route table (path shape + method + action -> handler) and
 * the steps every request takes before its handler: path match (404),
 * action lookup (400 unknown_action, 405 with Allow), authentication
 * (401), path id check (400 invalid_uuid), JSON body (413, 400, 422);
 * a CORS preflight on a routed path is answered before all but the path.
 * Owns request dispatch; the handlers live in one module per resource:
 * attempt_ops, batch_ops, exam_ops, diag_ops, upload_ops, admin_ops. */
#ifndef ATT_ROUTER_H
#define ATT_ROUTER_H

#include <stdio.h>

#include "handler.h"
#include "http.h"

/* What dispatch reports for metrics. */
typedef struct router_outcome {
	int op; /* index of the route taken, -1 if none */
	int db_calls;
	int cache_hits;
} router_outcome;

typedef enum route_path {
	ROUTE_PATH_NONE = 0,
	ROUTE_PATH_HEALTH,	/* /api/health */
	ROUTE_PATH_READY,	/* /api/ready */
	ROUTE_PATH_OPENAPI,	/* /api/openapi.json */
	ROUTE_PATH_EXAMS,	/* /api/exams */
	ROUTE_PATH_EXAM,	/* /api/exams/{id} */
	ROUTE_PATH_EXAM_STATS,	/* /api/exams/{id}/stats */
	ROUTE_PATH_EXAM_ACTIVE, /* /api/exams/{id}/active */
	ROUTE_PATH_ATTEMPT,	/* /api/attempts/{id}[/route.ts] */
	ROUTE_PATH_METRICS,	/* /metrics */
	ROUTE_PATH_COUNT	/* not a path: how many there are */
} route_path;

enum {
	ROUTE_AUTH = 1 << 0,	      /* needs a valid bearer token */
	ROUTE_PATH_UUID = 1 << 1,     /* {id} must be a UUID */
	ROUTE_JSON_BODY = 1 << 2,     /* body must be a JSON object */
	ROUTE_JSON_OPTIONAL = 1 << 3, /* body may be empty; if not, an object */
	ROUTE_PRECHECK = 1 << 4	      /* the handler answers a pre-check (http.h)
					 itself, without the body */
};

typedef struct route {
	route_path path;
	const char *action; /* for ROUTE_PATH_ATTEMPT; NULL otherwise */
	unsigned methods;   /* http_method mask */
	unsigned flags;
	route_handler handler;
} route;

/* Classifies path; on a match with an id segment, copies it into id
 * (size idcap; an id that does not fit is stored as "", which no check accepts). */
route_path router_match_path(const char *path, char *id, size_t idcap);

/* The path template of a path shape ("/api/attempts/{id}"), as
 * docs/openapi.json names it; "" for ROUTE_PATH_NONE. */
const char *router_path_template(route_path path);

/* Writes the route table, one line per (method, path, action), tab
 * separated: method, path template, action ("-" for none), "token" or
 * "public" (needs a bearer token or not); then an OPTIONS line (the CORS
 * preflight) per path shape. `attempts.fcgi routes` prints
 * it; tests/openapi_test.sh compares it with docs/openapi.json. */
void router_write_table(FILE *out);

/* Finds the route for (path, action, method). Returns it, or NULL with
 * *allowed set to the methods the (path, action) accepts (0 = unknown). */
const route *router_find(route_path path, const char *action, http_method method,
			 unsigned *allowed);

/* Runs the request through the common steps and its handler; fills *out.
 * A pre-check (req->precheck) takes the same steps, refuses a route
 * without ROUTE_PRECHECK (400 invalid_query) and is counted in the metrics
 * as the operation "upload_check". */
void router_dispatch(const handler_env *env, http_request *req, http_response *resp,
		     router_outcome *out);

/* The operations (routes) by index, for metrics. */
const char *const *router_op_names(void);
int router_op_count(void);

#endif
