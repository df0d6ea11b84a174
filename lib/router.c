/* router: the route table and the steps common to every request. */
#include "router.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin_ops.h"
#include "attempt_ops.h"
#include "batch_ops.h"
#include "cors.h"
#include "diag_ops.h"
#include "exam_ops.h"
#include "json.h"
#include "metrics_ops.h"
#include "openapi.h"
#include "upload_ops.h"
#include "uuid.h"

#define AUTH_ID (ROUTE_AUTH | ROUTE_PATH_UUID)

static const route routes[] = {
	{ROUTE_PATH_HEALTH, NULL, HTTP_GET | HTTP_HEAD, 0, diag_ops_health},
	{ROUTE_PATH_READY, NULL, HTTP_GET | HTTP_HEAD, 0, diag_ops_ready},
	{ROUTE_PATH_EXAMS, NULL, HTTP_POST, ROUTE_AUTH | ROUTE_JSON_BODY, exam_ops_create},
	{ROUTE_PATH_EXAMS, NULL, HTTP_GET, ROUTE_AUTH, exam_ops_list},
	{ROUTE_PATH_EXAM, NULL, HTTP_GET, AUTH_ID, exam_ops_get},
	{ROUTE_PATH_EXAM_STATS, NULL, HTTP_GET, AUTH_ID, diag_ops_exam_stats},
	{ROUTE_PATH_EXAM_ACTIVE, NULL, HTTP_GET, AUTH_ID, diag_ops_exam_active},
	{ROUTE_PATH_ATTEMPT, "start", HTTP_POST, ROUTE_AUTH | ROUTE_JSON_BODY, attempt_ops_start},
	{ROUTE_PATH_ATTEMPT, "state", HTTP_GET, AUTH_ID, attempt_ops_state},
	{ROUTE_PATH_ATTEMPT, "info", HTTP_GET, AUTH_ID, attempt_ops_info},
	{ROUTE_PATH_ATTEMPT, "save", HTTP_PATCH, AUTH_ID | ROUTE_JSON_BODY, attempt_ops_save},
	{ROUTE_PATH_ATTEMPT, "stats", HTTP_GET, AUTH_ID, diag_ops_stats},
	{ROUTE_PATH_ATTEMPT, "activity", HTTP_POST, AUTH_ID | ROUTE_JSON_BODY,
	 attempt_ops_activity},
	{ROUTE_PATH_ATTEMPT, "submit", HTTP_POST, AUTH_ID | ROUTE_JSON_OPTIONAL,
	 attempt_ops_submit},
	{ROUTE_PATH_ATTEMPT, "extend", HTTP_PATCH, AUTH_ID | ROUTE_JSON_BODY, attempt_ops_extend},
	{ROUTE_PATH_ATTEMPT, "batch", HTTP_POST, ROUTE_AUTH | ROUTE_JSON_BODY, batch_ops_batch},
	{ROUTE_PATH_ATTEMPT, "optimize", HTTP_PATCH, AUTH_ID | ROUTE_JSON_BODY, admin_ops_optimize},
	{ROUTE_PATH_ATTEMPT, "upload", HTTP_POST, AUTH_ID | ROUTE_PRECHECK, upload_ops_upload},
	{ROUTE_PATH_ATTEMPT, "upload", HTTP_GET, AUTH_ID, upload_ops_download},
	{ROUTE_PATH_ATTEMPT, "uploads", HTTP_GET, AUTH_ID, upload_ops_list},
	{ROUTE_PATH_METRICS, NULL, HTTP_GET, 0, metrics_ops_scrape},
	{ROUTE_PATH_OPENAPI, NULL, HTTP_GET, 0, openapi_serve},
};

#define NROUTES (sizeof routes / sizeof routes[0])

/* Operation names for metrics, in the order of routes[], then the
 * pre-checks nginx makes before it accepts an upload's body. */
static const char *const route_names[] = {
	"health",      "ready",	  "exam_create", "exam_list", "exam_get",     "exam_stats",
	"exam_active", "start",	  "state",	 "info",      "save",	      "stats",
	"activity",    "submit",  "extend",	 "batch",     "optimize",     "upload",
	"download",    "uploads", "metrics",	 "openapi",   "upload_check",
};

#define OP_PRECHECK ((int)NROUTES)

_Static_assert(sizeof route_names / sizeof route_names[0] == NROUTES + 1,
	       "one name per route, and one for the pre-checks");

const char *const *router_op_names(void)
{
	return route_names;
}

int router_op_count(void)
{
	return (int)NROUTES + 1;
}

/* Matches prefix exactly at the start of s; returns the rest or NULL. */
static const char *skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Copies the segment [s, end) into id, or "" if it does not fit. */
static void copy_segment(const char *s, size_t len, char *id, size_t idcap)
{
	if (len >= idcap)
		len = 0;
	memcpy(id, s, len);
	id[len] = '\0';
}

/* rest follows "/api/exams/": "{id}", "{id}/stats" or "{id}/active". */
static route_path match_exam_path(const char *rest, char *id, size_t idcap)
{
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	route_path path = ROUTE_PATH_EXAM;

	if (len == 0)
		return ROUTE_PATH_NONE;
	if (slash != NULL && strcmp(slash, "/stats") == 0)
		path = ROUTE_PATH_EXAM_STATS;
	else if (slash != NULL && strcmp(slash, "/active") == 0)
		path = ROUTE_PATH_EXAM_ACTIVE;
	else if (slash != NULL)
		return ROUTE_PATH_NONE;
	copy_segment(rest, len, id, idcap);
	return path;
}

route_path router_match_path(const char *path, char *id, size_t idcap)
{
	const char *rest;

	id[0] = '\0';
	if (path == NULL)
		return ROUTE_PATH_NONE;
	if (strcmp(path, "/api/health") == 0)
		return ROUTE_PATH_HEALTH;
	if (strcmp(path, "/api/ready") == 0)
		return ROUTE_PATH_READY;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_PATH_METRICS;
	if (strcmp(path, "/api/openapi.json") == 0)
		return ROUTE_PATH_OPENAPI;
	if (strcmp(path, "/api/exams") == 0)
		return ROUTE_PATH_EXAMS;
	if ((rest = skip_prefix(path, "/api/exams/")) != NULL)
		return match_exam_path(rest, id, idcap);
	if ((rest = skip_prefix(path, "/api/attempts/")) != NULL) {
		const char *slash = strchr(rest, '/');
		size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
		if (len == 0)
			return ROUTE_PATH_NONE;
		if (slash != NULL && strcmp(slash, "/route.ts") != 0)
			return ROUTE_PATH_NONE;
		copy_segment(rest, len, id, idcap);
		return ROUTE_PATH_ATTEMPT;
	}
	return ROUTE_PATH_NONE;
}

const char *router_path_template(route_path path)
{
	switch (path) {
	case ROUTE_PATH_HEALTH:
		return "/api/health";
	case ROUTE_PATH_READY:
		return "/api/ready";
	case ROUTE_PATH_OPENAPI:
		return "/api/openapi.json";
	case ROUTE_PATH_EXAMS:
		return "/api/exams";
	case ROUTE_PATH_EXAM:
		return "/api/exams/{id}";
	case ROUTE_PATH_EXAM_STATS:
		return "/api/exams/{id}/stats";
	case ROUTE_PATH_EXAM_ACTIVE:
		return "/api/exams/{id}/active";
	case ROUTE_PATH_ATTEMPT:
		return "/api/attempts/{id}";
	case ROUTE_PATH_METRICS:
		return "/metrics";
	case ROUTE_PATH_NONE:
	case ROUTE_PATH_COUNT:
		break;
	}
	return "";
}

void router_write_table(FILE *out)
{
	for (size_t i = 0; i < NROUTES; i++) {
		const route *r = &routes[i];
		for (unsigned m = 1; m <= (unsigned)HTTP_OTHER; m <<= 1) {
			char name[16];
			if (!(r->methods & m))
				continue;
			http_methods_text(m, name, sizeof name);
			fprintf(out, "%s\t%s\t%s\t%s\n", name, router_path_template(r->path),
				r->action != NULL ? r->action : "-",
				(r->flags & ROUTE_AUTH) ? "token" : "public");
		}
	}
	/* Every path a route matches answers CORS preflights (router_dispatch). */
	for (int p = ROUTE_PATH_NONE + 1; p < ROUTE_PATH_COUNT; p++)
		for (size_t i = 0; i < NROUTES; i++)
			if (routes[i].path == (route_path)p) {
				fprintf(out, "OPTIONS\t%s\t-\tpublic\n",
					router_path_template((route_path)p));
				break;
			}
}

const route *router_find(route_path path, const char *action, http_method method, unsigned *allowed)
{
	*allowed = 0;
	for (size_t i = 0; i < NROUTES; i++) {
		const route *r = &routes[i];
		if (r->path != path)
			continue;
		if (path == ROUTE_PATH_ATTEMPT &&
		    (action == NULL || strcmp(r->action, action) != 0))
			continue;
		if (r->methods & (unsigned)method)
			return r;
		*allowed |= r->methods;
	}
	return NULL;
}

/* 401 with the RFC 6750 challenge: Bearer alone when no token was sent,
 * else error="invalid_token" and the reason, which is also the message
 * (auth_fail_message: no quote or backslash to escape). */
static void reply_unauthorized(http_response *resp, auth_fail why)
{
	const char *message = auth_fail_message(why);
	char challenge[256];

	if (why == AUTH_FAIL_MISSING)
		snprintf(challenge, sizeof challenge, "Bearer");
	else
		snprintf(challenge, sizeof challenge,
			 "Bearer error=\"invalid_token\", error_description=\"%s\"", message);
	http_header(resp, "WWW-Authenticate", challenge);
	http_error(resp, 401, "unauthorized", message, NULL);
}

/* Reads and parses the body per the route's flags; 0 if the handler may
 * run, else the error response is set. */
static int load_body(req_ctx *rc, const route *r)
{
	const config *cfg = rc->env->cfg;
	att_err err = http_request_read_body(rc->req, (size_t)cfg->max_body_bytes);

	if (err == ATT_ETOOBIG) {
		http_error(rc->resp, 413, "payload_too_large", "request body exceeds the limit",
			   NULL);
		return -1;
	}
	if (err != ATT_OK) {
		http_error(rc->resp, 400, "invalid_body", "request body could not be read", NULL);
		return -1;
	}
	if (rc->req->body_len == 0 && (r->flags & ROUTE_JSON_OPTIONAL))
		return 0;
	rc->body = json_parse(rc->req->body, rc->req->body_len);
	if (rc->body == NULL) {
		http_error(rc->resp, 400, "invalid_json", "request body is not valid JSON", NULL);
		return -1;
	}
	if (!cJSON_IsObject(rc->body)) {
		http_error_field(rc->resp, "body", "request body must be a JSON object");
		return -1;
	}
	return 0;
}

/* Finds the route or sets the 404/400/405 answer; NULL in that case. */
static const route *resolve(req_ctx *rc, route_path path)
{
	const char *action = NULL;
	unsigned allowed = 0;
	const route *r;

	if (path == ROUTE_PATH_NONE) {
		http_error(rc->resp, 404, "not_found", "no such resource", NULL);
		return NULL;
	}
	if (path == ROUTE_PATH_ATTEMPT) {
		size_t len = 0;
		action = http_query(rc->req, "action", &len);
		if (action == NULL || len == 0) {
			http_error(rc->resp, 400, "unknown_action",
				   "the action query parameter is required", NULL);
			return NULL;
		}
		/* An encoded NUL makes it no action's name ("state%00x" is not
		 * "state"): unknown, as any other name is. */
		if (!http_query_is_text(action, len)) {
			http_error(rc->resp, 400, "unknown_action", "unknown action", NULL);
			return NULL;
		}
	}
	r = router_find(path, action, rc->req->method, &allowed);
	if (r != NULL)
		return r;
	if (allowed == 0) {
		http_error(rc->resp, 400, "unknown_action", "unknown action", NULL);
	} else {
		char text[128];
		http_methods_text(allowed, text, sizeof text);
		http_header(rc->resp, "Allow", text);
		http_error(rc->resp, 405, "method_not_allowed",
			   "method not allowed for this action", NULL);
	}
	return NULL;
}

void router_dispatch(const handler_env *env, http_request *req, http_response *resp,
		     router_outcome *out)
{
	char id[64];
	route_path path = router_match_path(req->path, id, sizeof id);
	req_ctx rc;
	const route *r;

	memset(&rc, 0, sizeof rc);
	rc.env = env;
	rc.req = req;
	rc.resp = resp;
	rc.path_id = id;
	resp->head_only = req->method == HTTP_HEAD;
	/* A CORS preflight is answered for any path a route matches, before
	 * the action, the method or a token is looked at: the browser sends
	 * none of them with it. */
	if (path != ROUTE_PATH_NONE && cors_is_preflight(req)) {
		cors_preflight(env->cfg->cors_origins, req, resp);
		return;
	}
	r = resolve(&rc, path);
	if (r == NULL)
		return;
	out->op = req->precheck ? OP_PRECHECK : (int)(r - routes);
	if (r->flags & ROUTE_AUTH) {
		auth_fail why = AUTH_FAIL_NONE;
		if (auth_check_header(env->auth, req->authorization, time(NULL), &rc.claims,
				      &why) != ATT_OK) {
			reply_unauthorized(resp, why);
			return;
		}
	}
	if ((r->flags & ROUTE_PATH_UUID) && !uuid_valid(id)) {
		http_error(resp, 400, "invalid_uuid", "the id in the path is not a canonical UUID",
			   NULL);
		return;
	}
	if (req->precheck && !(r->flags & ROUTE_PRECHECK)) {
		/* nginx pre-checks what it takes for an upload (action=upload,
		 * spelled as nginx matches it); the service read another action
		 * from the query. */
		http_error(resp, 400, "invalid_query",
			   "the query must name its action once, as action=upload", NULL);
		return;
	}
	if ((r->flags & (ROUTE_JSON_BODY | ROUTE_JSON_OPTIONAL)) && load_body(&rc, r) != 0)
		goto out;
	r->handler(&rc);
out:
	out->db_calls = rc.db_calls;
	out->cache_hits = rc.cache_hits;
	cJSON_Delete(rc.body);
}
