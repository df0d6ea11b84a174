/* fake_cgi: a fake web server for the unit tests that drive
 * http_request_init/app_serve: a CGI parameter table, a body reader and
 * a writer that captures the response. Used by check_http.c and
 * check_router_util.c. */
#ifndef ATT_FAKE_CGI_H
#define ATT_FAKE_CGI_H

#include <stddef.h>

#include "buf.h"
#include "http.h"

/* The request side: pass fake_cgi_param and fake_cgi_read with a
 * fake_cgi_io as their context (an http_param_fn and an http_read_fn). */
typedef struct fake_cgi_io {
	const char *const *params; /* name, value pairs, NULL-terminated */
	const char *body;
	size_t body_len;
	size_t pos;
	size_t chunk; /* most bytes per read; 0 = no limit */
	long fail_at; /* read fails once pos >= fail_at; -1 = never */
	int infinite; /* never ends: repeats 'x' */
	int reads;    /* calls of fake_cgi_read */
} fake_cgi_io;

/* Empties io and sets its parameters, body (NULL = none) and chunk; the
 * read never fails and the body ends. params and body must outlive io. */
void fake_cgi_init(fake_cgi_io *io, const char *const *params, const char *body, size_t chunk);
/* The value of CGI parameter name, or NULL. */
const char *fake_cgi_param(void *ctx, const char *name);
/* Hands the body out, at most io->chunk bytes at a time. */
long fake_cgi_read(void *ctx, char *dst, size_t n);

/* Runs http_request_init on req with params (no body) read through io,
 * which it fills; asserts that it returns expect. */
void fake_cgi_request(http_request *req, fake_cgi_io *io, const char *const *params,
		      att_err expect);

/* The response side: pass fake_cgi_write with a zeroed fake_cgi_capture as
 * its context (an http_write_fn); buf_free(&c.out) afterwards. */
typedef struct fake_cgi_capture {
	buf out; /* everything written */
	int calls;
	int fail_call; /* 1-based call that fails; 0 = none */
} fake_cgi_capture;

int fake_cgi_write(void *ctx, const char *data, size_t n);

#endif
