/* attempt_ops: one handler per operation of the contract (API.md section
 * 6). A handler validates its input, calls its SQL function through db,
 * and writes the response. Owns request-shape validation and the mapping
 * from SQL error codes to HTTP statuses. */
#ifndef ATT_ATTEMPT_OPS_H
#define ATT_ATTEMPT_OPS_H

#include "router.h"

void ops_health(req_ctx *rc);
void ops_exam_create(req_ctx *rc);
void ops_exam_get(req_ctx *rc);
void ops_start(req_ctx *rc);
void ops_state(req_ctx *rc);
void ops_info(req_ctx *rc);
void ops_save(req_ctx *rc);
void ops_stats(req_ctx *rc);

/* HTTP status for an error code returned by the SQL functions (500 for an
 * unknown code). */
int ops_status_for_code(const char *code);

/* Does an If-None-Match value match ETag "<version>"? (handles lists, W/
 * and "*"). */
int ops_etag_matches(const char *if_none_match, long long version);

/* Parses an RFC 3339 UTC timestamp ("...Z") into epoch milliseconds;
 * -1 if it is not one. */
long long ops_parse_utc_ms(const char *text);

/* Parses an If-Match value ("3", W/"3" or 3). Returns 1 and sets *version,
 * 0 if absent or "*", -1 if malformed. */
int ops_parse_if_match(const char *value, long *version);

#endif
