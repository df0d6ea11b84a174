/* attempt_ops: one handler per operation of the contract (API.md section
 * 6). A handler validates its input, calls its SQL function through db,
 * and writes the response. Owns request-shape validation and the mapping
 * from SQL error codes to HTTP statuses. */
#ifndef ATT_ATTEMPT_OPS_H
#define ATT_ATTEMPT_OPS_H

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "router.h"

void ops_health(req_ctx *rc);
void ops_exam_create(req_ctx *rc);
void ops_exam_get(req_ctx *rc);
void ops_start(req_ctx *rc);
void ops_state(req_ctx *rc);
void ops_info(req_ctx *rc);
void ops_save(req_ctx *rc);
void ops_stats(req_ctx *rc);
void ops_activity(req_ctx *rc);
void ops_submit(req_ctx *rc);
void ops_extend(req_ctx *rc);
void ops_upload(req_ctx *rc);
void ops_download(req_ctx *rc);
void ops_uploads(req_ctx *rc);

/* Why a request part is invalid: 422 (or 413 for sizes) and the field. */
typedef struct ops_invalid {
	int status;
	const char *code;
	const char *message;
	char field[200];
} ops_invalid;

/* Runs stmt under the caller's claims (counting round trips). Returns the
 * successful result text, which the caller frees with free(), or NULL
 * with the error response (503, 500 or the SQL error) already written. */
char *ops_call(req_ctx *rc, db_stmt stmt, const char *const *params);

/* Facts about a state/info JSON text of len bytes for the cache: version,
 * owner (tag), deadline, and where its time_remaining_s number sits; and,
 * unless attempt_id is NULL, the attempt's id into attempt_id (UUID_STR_LEN
 * + 1 bytes). Returns 1 if text is an attempt object (0 for an error item);
 * numbers are not converted, so the text can be cached as it is. */
int ops_describe_attempt(const char *text, size_t len, cache_meta *meta, char *attempt_id);

/* Appends text with time_remaining_s recomputed for now. */
void ops_render_attempt(const char *text, size_t len, const cache_meta *meta, buf *out);

/* Does a Cache-Control value ask to bypass the cache? */
int ops_wants_no_cache(const char *cache_control);

/* May the caller read an attempt owned by owner? */
int ops_may_read(const auth_claims *claims, const char *owner);

/* Writes the error answer for *bad. */
void ops_reply_invalid(req_ctx *rc, const ops_invalid *bad);

/* Checks an activity events array (API.md section 6): count, event_type,
 * client_event_id, occurred_at, payload size. prefix is prepended to the
 * field path (e.g. "data[2]."). Returns 0, or -1 with *bad filled. */
int ops_check_events(const cJSON *events, const char *prefix, const config *cfg,
		     ops_invalid *bad);

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
