/* check_fcgi: what the FastCGI test files share (check_fcgi_util.c): the
 * record types and builders of records and whole requests. */
#ifndef ATT_CHECK_FCGI_H
#define ATT_CHECK_FCGI_H

#include <stddef.h>

#include "buf.h"

enum {
	BEGIN = 1,
	ABORT = 2,
	END = 3,
	PARAMS = 4,
	STDIN_ = 5,
	STDOUT_ = 6,
	GET_VALUES = 9,
	GET_VALUES_RESULT = 10,
	UNKNOWN_TYPE = 11
};

/* Appends a record of type for request id with content (len bytes). */
void fc_rec(buf *b, int type, int id, const void *content, size_t len);
/* Appends a BEGIN_REQUEST record. */
void fc_begin(buf *b, int id, int role, int keep);
/* Appends a name-value pair (to a PARAMS record's content). */
void fc_pair(buf *b, const char *name, const char *value);
/* A whole request: params, then the body in records of at most chunk. */
void fc_request(buf *b, int id, int keep, const char *method, const char *body, size_t chunk);

#endif
