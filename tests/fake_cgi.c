/* fake_cgi: see fake_cgi.h. */
#include <string.h>

#include <check.h>

#include "fake_cgi.h"

void fake_cgi_init(fake_cgi_io *io, const char *const *params, const char *body, size_t chunk)
{
	memset(io, 0, sizeof *io);
	io->params = params;
	io->body = body;
	io->body_len = body ? strlen(body) : 0;
	io->chunk = chunk;
	io->fail_at = -1;
}

const char *fake_cgi_param(void *ctx, const char *name)
{
	const fake_cgi_io *io = ctx;

	for (const char *const *p = io->params; p[0] != NULL; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

long fake_cgi_read(void *ctx, char *dst, size_t n)
{
	fake_cgi_io *io = ctx;
	size_t left;

	io->reads++;
	if (io->fail_at >= 0 && io->pos >= (size_t)io->fail_at)
		return -1;
	if (io->chunk > 0 && n > io->chunk)
		n = io->chunk;
	if (io->infinite) {
		memset(dst, 'x', n);
		io->pos += n;
		return (long)n;
	}
	left = io->body_len - io->pos;
	if (n > left)
		n = left;
	if (n > 0)
		memcpy(dst, io->body + io->pos, n);
	io->pos += n;
	return (long)n;
}

int fake_cgi_write(void *ctx, const char *data, size_t n)
{
	fake_cgi_capture *c = ctx;

	c->calls++;
	if (c->fail_call != 0 && c->calls == c->fail_call)
		return -1;
	buf_append(&c->out, data, n);
	return 0;
}

void fake_cgi_request(http_request *req, fake_cgi_io *io, const char *const *params, att_err expect)
{
	fake_cgi_init(io, params, NULL, 0);
	ck_assert_int_eq(http_request_init(req, fake_cgi_param, fake_cgi_read, io), expect);
}
