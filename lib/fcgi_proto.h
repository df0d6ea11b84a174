/* fcgi_proto: the FastCGI protocol (version 1) as a web server speaks it
 * to a responder: records read from a connection's bytes and assembled
 * into one request at a time (BEGIN_REQUEST, PARAMS, STDIN), and the
 * records of an answer (STDOUT, END_REQUEST) framed for writing. No I/O:
 * the caller feeds bytes and sends what it is given (fcgi_server does).
 * Connections are not multiplexed (nginx and mod_fcgid never do): a second
 * request on a connection while one is open is refused with
 * FCGI_CANT_MPX_CONN. Owns parsing and framing only. */
#ifndef ATT_FCGI_PROTO_H
#define ATT_FCGI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "att_err.h"
#include "buf.h"

#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
/* A request's parameters (CGI variables: headers included) may take at
 * most this many bytes; nginx's own header limits are well below. */
#define FCGI_MAX_PARAMS_BYTES (256 * 1024)
#define FCGI_MAX_PARAMS 512

typedef struct fcgi_param {
	const char *name;  /* NUL-terminated (a NUL inside ends it early) */
	const char *value; /* NUL-terminated */
} fcgi_param;

/* One request as assembled from its records. */
typedef struct fcgi_request {
	uint16_t id;
	int keep_conn; /* FCGI_KEEP_CONN: the connection stays open */
	fcgi_param *params;
	size_t nparams;
	char *body; /* STDIN, up to the parser's body cap */
	size_t body_len;
	int body_more; /* the body goes on beyond the cap: fcgi_parser_body */
	char *store;   /* the parameters' bytes, which names and values point into */
} fcgi_request;

/* What fcgi_parse found. */
typedef enum fcgi_event {
	FCGI_NEED_MORE = 0, /* nothing complete yet: feed more bytes */
	FCGI_REQUEST,	    /* *out holds a complete request */
	FCGI_REPLY,	    /* *reply holds records to send back (management, refusals) */
	FCGI_BAD	    /* a protocol error: close the connection */
} fcgi_event;

typedef struct fcgi_parser fcgi_parser;

/* A parser for one connection. A request whose body (STDIN) is complete
 * within body_cap bytes is handed over whole; a longer one when body_cap
 * bytes are in, and the rest then streams through fcgi_parser_body(). The
 * caller frees it with fcgi_parser_free(). */
att_err fcgi_parser_create(size_t body_cap, fcgi_parser **out) ATT_MUSTCHECK;

/* Frees p and any request it was assembling. Accepts NULL. */
void fcgi_parser_free(fcgi_parser *p);

/* Appends n bytes received on the connection. */
att_err fcgi_parser_feed(fcgi_parser *p, const char *data, size_t n) ATT_MUSTCHECK;

/* Consumes buffered records until something happens. FCGI_REQUEST moves
 * the completed request into *out (free it with fcgi_request_free());
 * FCGI_REPLY appends records to send to *reply. Call again until
 * FCGI_NEED_MORE: bytes of a next request may already be buffered. */
fcgi_event fcgi_parse(fcgi_parser *p, fcgi_request *out, buf *reply);

/* The rest of a streaming body (the last request had body_more): moves
 * up to n body bytes already fed into dst and sets *got. Returns 1 when
 * the body has ended (and *got is 0), 0 when more bytes must be fed, -1 on
 * a protocol error. */
int fcgi_parser_body(fcgi_parser *p, char *dst, size_t n, size_t *got);

/* Bytes fed but not yet consumed. */
size_t fcgi_parser_pending(const fcgi_parser *p);

/* Frees what a request holds and zeroes it. Accepts NULL. */
void fcgi_request_free(fcgi_request *r);

/* The value of parameter name, or NULL. */
const char *fcgi_request_param(const fcgi_request *r, const char *name);

/* Appends to out the header of a record of type with content_len bytes of
 * content (at most FCGI_MAX_CONTENT) for request id, and returns the
 * padding the record needs after its content (0..7). */
size_t fcgi_record_header(buf *out, int type, uint16_t id, size_t content_len);

/* Appends the records that end request id: an empty STDOUT and an
 * END_REQUEST with app_status and protocol_status. */
void fcgi_end_request(buf *out, uint16_t id, uint32_t app_status, int protocol_status);

/* Record types and protocol statuses used outside this module. */
#define FCGI_STDOUT 6
#define FCGI_REQUEST_COMPLETE 0
#define FCGI_CANT_MPX_CONN 1
#define FCGI_UNKNOWN_ROLE 3

#endif
