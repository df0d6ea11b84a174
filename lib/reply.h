/* reply: a handler's database call and the HTTP answer of its outcome -
 * the SQL functions' error codes -> HTTP statuses, the SQLSTATE policy
 * (transient -> 503 with Retry-After, data exception -> 422, else 500),
 * and the answers handlers share. Owns that mapping; not the checks. */
#ifndef ATT_REPLY_H
#define ATT_REPLY_H

#include "db.h"
#include "handler.h"

/* Why a request part is invalid: 422 (or 413 for sizes) and the field. */
typedef struct reply_bad_field {
	int status;
	const char *code;
	const char *message;
	char field[200];
} reply_bad_field;

/* Runs stmt under the caller's claims (counting round trips). Returns the
 * successful result text, which the caller frees with free(), or NULL
 * with the error response (503, 500 or the SQL error) already written. */
char *reply_call(req_ctx *rc, db_stmt stmt, const char *const *params);

/* As reply_call, and answers success_status with the result as it is. */
void reply_call_json(req_ctx *rc, db_stmt stmt, const char *const *params, int success_status);

/* The result text of a database call that returned err with why (counting
 * its round trips), or NULL once the failure's answer is written; takes
 * text (the caller frees what is returned with free()). */
char *reply_outcome(req_ctx *rc, att_err err, const db_failure *why, char *text);

/* HTTP status for an error code returned by the SQL functions (500 for an
 * unknown code). */
int reply_status_for_code(const char *code);

/* Is text an SQL function's error answer, {"error": {...}} (docs/SQL.md)?
 * Reads only up to the first member's value, whatever the whitespace: an
 * answer may be megabytes long, and no other answer of a function has a
 * member "error" at the top (a batch's item errors sit inside an array). */
int reply_is_error_text(const char *text);

/* Writes the error answer for *bad. */
void reply_bad(req_ctx *rc, const reply_bad_field *bad);

/* Logs what and replaces whatever was written with a 500. */
void reply_internal_error(req_ctx *rc, const char *what);

#endif
