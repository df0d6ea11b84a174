/* cors: Cross-Origin Resource Sharing (docs/API.md section 3) - whether an
 * origin is one of the configured cors_origins, the headers every answer
 * to it carries, the answer to its preflight, and the nginx map lines
 * that give nginx's own answers the same headers. Owns no state; knows
 * nothing of routes (the router decides when a preflight is answered). */
#ifndef ATT_CORS_H
#define ATT_CORS_H

#include <stdio.h>

#include "http.h"

/* What a preflight allows and what answers expose (docs/API.md section 3). */
#define CORS_ALLOW_METHODS "GET, HEAD, POST, PATCH"
#define CORS_ALLOW_HEADERS                                                                         \
	"Authorization, Content-Type, If-Match, If-None-Match, Cache-Control, X-Request-Id"
#define CORS_EXPOSE_HEADERS "ETag, Retry-After, X-Request-Id, X-Cache"
#define CORS_MAX_AGE_S "600"

/* Is origin (an Origin header's value; NULL = absent) listed in origins
 * (cors_origins: origins separated by commas or blanks; NULL or empty =
 * none)? Compared byte for byte, as browsers serialise them. */
int cors_origin_allowed(const char *origins, const char *origin);

/* Is req a CORS preflight: OPTIONS with Origin and
 * Access-Control-Request-Method? */
int cors_is_preflight(const http_request *req);

/* Answers a preflight: 204 with Access-Control-Allow-Methods, -Headers and
 * -Max-Age for an allowed origin (cors_headers adds the rest), else 403
 * origin_not_allowed in the error shape. */
void cors_preflight(const char *origins, const http_request *req, http_response *resp);

/* Adds the CORS headers every answer carries: when origins lists any,
 * Vary: Origin; when req's origin is listed, Access-Control-Allow-Origin
 * (its own origin) and Access-Control-Expose-Headers. Nothing otherwise. */
void cors_headers(const char *origins, const http_request *req, http_response *resp);

/* Writes the entries of nginx's map $http_origin -> $attempts_cors_origin
 * (nginx/attempts-upstream.conf.in): one `"<origin>" $http_origin;` line
 * per listed origin, after a comment. origins must have passed the
 * configuration's check (no quotes, blanks or semicolons in an origin). */
void cors_write_nginx_map(const char *origins, FILE *out);

#endif
