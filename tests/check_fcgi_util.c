/* check_fcgi_util: FastCGI records built by hand for the tests (check_fcgi.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_fcgi.h"
#include "fcgi_proto.h"

void fc_rec(buf *b, int type, int id, const void *content, size_t len)
{
	size_t pad = fcgi_record_header(b, type, (uint16_t)id, len);

	buf_append(b, content, len);
	buf_append(b, "\0\0\0\0\0\0\0", pad);
}

void fc_begin(buf *b, int id, int role, int keep)
{
	unsigned char body[8] = {0, (unsigned char)role, (unsigned char)keep, 0, 0, 0, 0, 0};

	fc_rec(b, BEGIN, id, body, sizeof body);
}

static void fc_put_len(buf *b, size_t n)
{
	if (n < 128) {
		buf_putc(b, (char)n);
	} else {
		unsigned char l[4] = {(unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
				      (unsigned char)(n >> 8), (unsigned char)n};
		buf_append(b, l, 4);
	}
}

void fc_pair(buf *b, const char *name, const char *value)
{
	fc_put_len(b, strlen(name));
	fc_put_len(b, strlen(value));
	buf_puts(b, name);
	buf_puts(b, value);
}

/* A whole request: params, then the body in records of at most chunk. */
void fc_request(buf *b, int id, int keep, const char *method, const char *body, size_t chunk)
{
	buf p = BUF_INIT;
	size_t n = strlen(body);
	char len[24];

	snprintf(len, sizeof len, "%zu", n);
	fc_begin(b, id, 1, keep);
	fc_pair(&p, "REQUEST_METHOD", method);
	fc_pair(&p, "CONTENT_LENGTH", len);
	fc_rec(b, PARAMS, id, p.data, p.len);
	fc_rec(b, PARAMS, id, "", 0);
	for (size_t at = 0; at < n; at += chunk)
		fc_rec(b, STDIN_, id, body + at, n - at < chunk ? n - at : chunk);
	fc_rec(b, STDIN_, id, "", 0);
	buf_free(&p);
}
