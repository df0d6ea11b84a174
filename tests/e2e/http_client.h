/* http_client: a tiny blocking HTTP/1.1 client for the end-to-end tests.
 * Owns one request per TCP connection ("Connection: close") to a plain
 * http:// base URL, with a 10 s socket timeout; no TLS, no redirects, no
 * keep-alive. */
#ifndef ATT_E2E_HTTP_CLIENT_H
#define ATT_E2E_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_CLIENT_TIMEOUT_S 10

/* One response header, both parts NUL-terminated, value trimmed. */
typedef struct http_client_field {
	char *name;
	char *value;
} http_client_field;

typedef struct http_client_response {
	int status;		   /* e.g. 200 */
	char *raw_headers;	   /* the header lines after the status line,
				    * "\r\n"-separated, NUL-terminated */
	http_client_field *fields; /* the same lines, parsed, in order */
	size_t nfields;
	char *body; /* decoded body (chunked undone),
		     * NUL-terminated, never NULL on success */
	size_t body_len;
	char error[256]; /* why http_client_request failed */
} http_client_response;

/* Sends one request to base_url ("http://HOST:PORT", no path) and reads
 * the whole answer. headers is a NULL-terminated list of "Name: value"
 * lines (may be NULL); Host, Connection and, when body is not NULL,
 * Content-Length are added. Returns 0 and fills *out, or -1 with the
 * reason in out->error (and nothing else in *out to free). Either way
 * the caller releases *out with http_client_response_free(). */
int http_client_request(const char *base_url, const char *method, const char *path_and_query,
			const char *const *headers, const char *body, size_t body_len,
			http_client_response *out) __attribute__((warn_unused_result));

/* The value of the first header called name (case-insensitive), or NULL.
 * The text belongs to resp. */
const char *http_client_header(const http_client_response *resp, const char *name);

/* Sends all n bytes on the socket fd (retrying after EINTR, no SIGPIPE).
 * Returns 0, or the errno of the failure. */
int http_client_send_all(int fd, const char *p, size_t n);

/* Frees what a response holds and zeroes it. Accepts NULL. */
void http_client_response_free(http_client_response *resp);

#endif
