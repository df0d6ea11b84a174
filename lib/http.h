/* http: the request as the web server hands it over (CGI/FastCGI
 * parameters and body): methods, the path, the query and its percent
 * decoding, the request id, reading the body. The response written back is
 * http_response's (included here: whoever reads a request answers it).
 * Knows nothing of routes or the database. */
#ifndef ATT_HTTP_H
#define ATT_HTTP_H

#include <stddef.h>
#include <cJSON.h>

#include "att_err.h"
#include "buf.h"
#include "http_response.h"

typedef enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_DELETE = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
	HTTP_OTHER = 1 << 7
} http_method;

/* Looks up a CGI parameter (REQUEST_METHOD, HTTP_AUTHORIZATION...). The
 * returned text must stay valid until the request is finished. */
typedef const char *(*http_param_fn)(void *ctx, const char *name);
/* Reads up to n body bytes; returns bytes read, 0 at end, -1 on error. */
typedef long (*http_read_fn)(void *ctx, char *dst, size_t n);

#define HTTP_MAX_QUERY_PARAMS 32
#define HTTP_REQUEST_ID_MAX 128

/* A decoded name or value may hold NUL bytes the client percent-encoded
 * (%00): its length is the one to go by, not strlen(). */
typedef struct http_query_param {
	char *name;  /* percent-decoded */
	char *value; /* percent-decoded */
	size_t name_len;
	size_t value_len;
} http_query_param;

typedef struct http_request {
	http_method method;
	const char *method_name;
	char *path;	   /* decoded path, no query */
	const char *query; /* raw query string, never NULL */
	http_query_param params[HTTP_MAX_QUERY_PARAMS];
	int nparams;
	/* Header values; NULL when absent. Borrowed from the parameter source. */
	const char *authorization;
	const char *if_match;
	const char *if_none_match;
	const char *cache_control;
	const char *content_type;
	const char *origin;		 /* Origin (CORS) */
	const char *cors_request_method; /* Access-Control-Request-Method */
	long long content_length;	 /* -1 when absent */
	const char *body_file;		 /* REQUEST_BODY_FILE: nginx wrote the body here */
	const char *accel_prefix; /* ATTEMPTS_ACCEL_PREFIX: serve files via X-Accel-Redirect */
	/* ATTEMPTS_PRECHECK: nginx asks, before it reads the body, whether it
	 * would be accepted (the body is not there; http_response_precheck). */
	int precheck;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	/* Body, filled by http_request_read_body; NUL-terminated. */
	char *body;
	size_t body_len;
	/* Where the parameters and body come from. */
	http_param_fn param;
	http_read_fn read;
	void *io_ctx;
} http_request;

/* Fills req from the server's parameters. Fails with ATT_EINVAL when the
 * query string has a malformed percent escape or too many parameters, and
 * ATT_ENOMEM on allocation failure; req is usable (for an error response)
 * either way and must be released with http_request_free(). An encoded
 * NUL (%00) is no malformed escape: it stays in the decoded parameter,
 * for the rule of the parameter that holds it to judge (API.md section 6:
 * "however it is percent-encoded"). A path that cannot be decoded (a
 * malformed escape or an encoded NUL; only REQUEST_URI is decoded here) is
 * kept as sent, escapes and all: it matches no route and is no UUID. */
att_err http_request_init(http_request *req, http_param_fn param, http_read_fn read,
			  void *io_ctx) ATT_MUSTCHECK;

/* ATTEMPTS_QUERY, when the server passes it, replaces QUERY_STRING: nginx's
 * pre-check subrequest has no query of its own and hands on the request's. */

/* Reads the whole body, refusing more than max bytes (ATT_ETOOBIG) by
 * Content-Length or by count. ATT_EIO if the stream fails or ends early. */
att_err http_request_read_body(http_request *req, size_t max) ATT_MUSTCHECK;

/* Frees what http_request_init and read_body allocated. Accepts NULL. */
void http_request_free(http_request *req);

/* The decoded value of query parameter name (its first occurrence, the
 * name compared in full), or NULL when it is absent. *len, when len is not
 * NULL, gets the value's length in bytes. A caller that checks the value
 * must check all len bytes: with an encoded NUL in it, strlen() stops
 * short, and "action=state%00x" must not pass for "state". */
const char *http_query(const http_request *req, const char *name, size_t *len);

/* Is the query value (value, len) plain text, i.e. free of encoded NULs?
 * Accepts a NULL value (absent: not text). */
int http_query_is_text(const char *value, size_t len);

/* The value of query parameter name as text: NULL when it is absent, ""
 * when it holds an encoded NUL (no name, UUID or number is empty, so a
 * check refuses it as any other bad value), else the value. */
const char *http_query_text(const http_request *req, const char *name);

/* Decodes %XX escapes (and '+' as space when plus_is_space) in place.
 * Returns 0, or -1 on a malformed escape or an encoded NUL. */
int http_percent_decode(char *s, int plus_is_space);

/* As http_percent_decode, but an encoded NUL is decoded like any byte:
 * *len gets the decoded length. Returns 0, or -1 on a malformed escape
 * (then s is left partly decoded). */
int http_percent_decode_n(char *s, int plus_is_space, size_t *len);

/* Parses an HTTP method name. */
http_method http_method_parse(const char *name);

/* Writes "GET, POST" for a method mask into out. */
void http_methods_text(unsigned mask, char *out, size_t n);

#endif
