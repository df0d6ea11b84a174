/* http_response: the answer written back to the web server - status,
 * headers, a JSON or file body, the error shape of API.md section 3, the
 * pre-check's form for nginx - and its CGI serialisation. Owns the
 * response's buffers (and a file body's descriptor); knows nothing of the
 * request, routes or the database. */
#ifndef ATT_HTTP_RESPONSE_H
#define ATT_HTTP_RESPONSE_H

#include <stddef.h>
#include <cJSON.h>

#include "att_err.h"
#include "buf.h"

typedef struct http_response {
	int status;
	buf headers; /* "Name: value\r\n" lines */
	buf body;
	int has_content_type;
	int body_fd; /* >= 0: stream this file as the body instead */
	long long body_fd_size;
	int head_only; /* an answer to HEAD: the headers (with the body's
			  Content-Length), never the body */
} http_response;

void http_response_init(http_response *resp);
/* Frees the response's buffers. Accepts NULL. */
void http_response_free(http_response *resp);
/* Forgets status, headers and body (e.g. to replace a half-built answer). */
void http_response_reset(http_response *resp);

/* Adds a header line. Values must not contain CR or LF (they are dropped). */
void http_header(http_response *resp, const char *name, const char *value);
void http_headerf(http_response *resp, const char *name, const char *fmt, ...) ATT_PRINTF(3, 4);

/* Sets status and a JSON body printed from item (not consumed). */
void http_json(http_response *resp, int status, const cJSON *item);
/* Sets status and a JSON body from already printed text. */
void http_json_text(http_response *resp, int status, const char *text, size_t len);
/* Sets status and a body streamed from the open file fd of size bytes,
 * which the response now owns (closed by http_response_free). */
void http_file(http_response *resp, int status, int fd, long long size);

/* Sets the error shape: {"error":{"code","message","details"?}}. details
 * may be NULL; it is not consumed. */
void http_error(http_response *resp, int status, const char *code, const char *message,
		const cJSON *details);
/* As http_error with details {"field": field}: 422 validation_failed. */
void http_error_field(http_response *resp, const char *field, const char *message);

/* Turns the answer to a pre-check (req->precheck) into the form nginx's
 * auth_request takes: a 2xx becomes 204 without a body, keeping its
 * headers; a refusal becomes 403 with the refusal's status in
 * X-Attempts-Status, its JSON body in X-Attempts-Error and each of its
 * headers as X-Attempts-<name> (nginx/attempts.conf answers the client
 * with them, so the client gets exactly the refusal). */
void http_response_precheck(http_response *resp);

/* The reason phrase for a status code ("Not Found"). */
const char *http_reason(int status);

/* Serialises the response as a CGI response ("Status: ..." first) through
 * write_fn. Returns ATT_OK or ATT_EIO/ATT_ENOMEM. */
typedef int (*http_write_fn)(void *ctx, const char *data, size_t n);
att_err http_response_write(const http_response *resp, http_write_fn write_fn,
			    void *ctx) ATT_MUSTCHECK;

#endif
