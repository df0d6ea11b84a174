/* fcgi_proto: FastCGI records in and out, one request at a time. */
#include "fcgi_proto.h"

#include <stdlib.h>
#include <string.h>

enum {
	FCGI_VERSION = 1,
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST = 2,
	FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4,
	FCGI_STDIN = 5,
	FCGI_DATA = 8,
	FCGI_GET_VALUES = 9,
	FCGI_GET_VALUES_RESULT = 10,
	FCGI_UNKNOWN_TYPE = 11,
	FCGI_RESPONDER = 1,
	FCGI_KEEP_CONN = 1
};

struct fcgi_parser {
	buf in;	    /* bytes fed */
	size_t pos; /* consumed up to here */
	size_t body_cap;
	int active; /* a request is being assembled */
	int params_done;
	uint16_t id;
	int keep_conn;
	buf params;    /* PARAMS content so far */
	buf body;      /* STDIN content so far (up to body_cap) */
	int streaming; /* the request was handed over; its body goes on */
	int body_done; /* the empty STDIN record came */
};

att_err fcgi_parser_create(size_t body_cap, fcgi_parser **out)
{
	fcgi_parser *p = calloc(1, sizeof *p);

	if (p == NULL)
		return ATT_ENOMEM;
	p->body_cap = body_cap;
	*out = p;
	return ATT_OK;
}

/* Forgets the request being assembled. */
static void drop_request(fcgi_parser *p)
{
	p->active = 0;
	p->params_done = 0;
	p->streaming = 0;
	p->body_done = 0;
	buf_free(&p->params);
	buf_free(&p->body);
}

void fcgi_parser_free(fcgi_parser *p)
{
	if (p == NULL)
		return;
	drop_request(p);
	buf_free(&p->in);
	free(p);
}

att_err fcgi_parser_feed(fcgi_parser *p, const char *data, size_t n)
{
	/* Move what is left to the front before the buffer grows. */
	if (p->pos > 0 && p->pos == p->in.len) {
		buf_reset(&p->in);
		p->pos = 0;
	} else if (p->pos > 65536 && p->pos * 2 > p->in.len) {
		memmove(p->in.data, p->in.data + p->pos, p->in.len - p->pos);
		p->in.len -= p->pos;
		p->pos = 0;
	}
	buf_append(&p->in, data, n);
	return p->in.failed ? ATT_ENOMEM : ATT_OK;
}

size_t fcgi_parser_pending(const fcgi_parser *p)
{
	return p->in.len - p->pos;
}

void fcgi_request_free(fcgi_request *r)
{
	if (r == NULL)
		return;
	free(r->params);
	free(r->body);
	free(r->store);
	memset(r, 0, sizeof *r);
}

const char *fcgi_request_param(const fcgi_request *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

size_t fcgi_record_header(buf *out, int type, uint16_t id, size_t content_len)
{
	size_t pad = (8 - content_len % 8) % 8;
	unsigned char h[FCGI_HEADER_LEN] = {FCGI_VERSION,
					    (unsigned char)type,
					    (unsigned char)(id >> 8),
					    (unsigned char)id,
					    (unsigned char)(content_len >> 8),
					    (unsigned char)content_len,
					    (unsigned char)pad,
					    0};

	buf_append(out, h, sizeof h);
	return pad;
}

void fcgi_end_request(buf *out, uint16_t id, uint32_t app_status, int protocol_status)
{
	unsigned char body[8] = {(unsigned char)(app_status >> 24),
				 (unsigned char)(app_status >> 16),
				 (unsigned char)(app_status >> 8),
				 (unsigned char)app_status,
				 (unsigned char)protocol_status,
				 0,
				 0,
				 0};

	fcgi_record_header(out, FCGI_STDOUT, id, 0);
	fcgi_record_header(out, FCGI_END_REQUEST, id, sizeof body);
	buf_append(out, body, sizeof body);
}

/* Reads a name-value length at *at (1 or 4 bytes) within [*at, end);
 * returns -1 if it does not fit. */
static long pair_length(const unsigned char **at, const unsigned char *end)
{
	const unsigned char *s = *at;
	long n;

	if (s >= end)
		return -1;
	if ((s[0] & 0x80) == 0) {
		*at = s + 1;
		return s[0];
	}
	if (end - s < 4)
		return -1;
	n = ((long)(s[0] & 0x7f) << 24) | ((long)s[1] << 16) | ((long)s[2] << 8) | s[3];
	*at = s + 4;
	return n;
}

/* Decodes the PARAMS stream of p into r's params (copies NUL-terminated
 * into r->store). Returns 0, or -1 if it is malformed. */
static int decode_params(const fcgi_parser *p, fcgi_request *r)
{
	/* No PARAMS content at all leaves params.data NULL. */
	const unsigned char *at = (const unsigned char *)(p->params.len ? p->params.data : "");
	const unsigned char *end = at + p->params.len;
	size_t cap = 16, used = 0;
	char *store = malloc(p->params.len + 2 * FCGI_MAX_PARAMS + 1);
	fcgi_param *params = malloc(cap * sizeof *params);

	if (store == NULL || params == NULL)
		goto bad;
	while (at < end) {
		long nlen = pair_length(&at, end), vlen = nlen < 0 ? -1 : pair_length(&at, end);

		if (vlen < 0 || nlen > end - at || vlen > end - at - nlen ||
		    r->nparams == FCGI_MAX_PARAMS)
			goto bad;
		if (r->nparams == cap) {
			fcgi_param *more = realloc(params, 2 * cap * sizeof *params);
			if (more == NULL)
				goto bad;
			params = more;
			cap *= 2;
		}
		params[r->nparams].name = store + used;
		memcpy(store + used, at, (size_t)nlen);
		used += (size_t)nlen;
		store[used++] = '\0';
		params[r->nparams].value = store + used;
		memcpy(store + used, at + nlen, (size_t)vlen);
		used += (size_t)vlen;
		store[used++] = '\0';
		at += nlen + vlen;
		r->nparams++;
	}
	r->params = params;
	r->store = store;
	return 0;
bad:
	free(store);
	free(params);
	r->nparams = 0;
	return -1;
}

/* Moves the assembled request into *out, with the body so far; with
 * more, the body goes on (streaming). Returns FCGI_REQUEST or FCGI_BAD. */
static fcgi_event complete(fcgi_parser *p, fcgi_request *out, int more)
{
	memset(out, 0, sizeof *out);
	out->id = p->id;
	out->keep_conn = p->keep_conn;
	if (decode_params(p, out) != 0) {
		drop_request(p);
		return FCGI_BAD;
	}
	out->body_len = p->body.len;
	out->body_more = more;
	out->body = p->body.len ? buf_take(&p->body) : calloc(1, 1);
	if (more) {
		p->streaming = 1;
		buf_free(&p->params);
	} else {
		drop_request(p);
	}
	if (out->body == NULL) {
		drop_request(p);
		fcgi_request_free(out);
		return FCGI_BAD;
	}
	return FCGI_REQUEST;
}

/* Answers a GET_VALUES record: the one variable a web server may act on,
 * FCGI_MPXS_CONNS = 0, when it is asked for. */
static void get_values_result(const unsigned char *c, size_t len, buf *reply)
{
	static const char name[] = "FCGI_MPXS_CONNS";
	const unsigned char *at = c, *end = c + len;
	int asked = 0;

	while (at < end) {
		long nlen = pair_length(&at, end), vlen = nlen < 0 ? -1 : pair_length(&at, end);

		if (vlen < 0 || nlen > end - at || vlen > end - at - nlen)
			break;
		asked |= (size_t)nlen == sizeof name - 1 && memcmp(at, name, sizeof name - 1) == 0;
		at += nlen + vlen;
	}
	if (asked) {
		static const char pair[] = "\x0f\x01"
					   "FCGI_MPXS_CONNS"
					   "0";
		size_t pad = fcgi_record_header(reply, FCGI_GET_VALUES_RESULT, 0, sizeof pair - 1);

		buf_append(reply, pair, sizeof pair - 1);
		buf_append(reply, "\0\0\0\0\0\0\0", pad);
	} else {
		fcgi_record_header(reply, FCGI_GET_VALUES_RESULT, 0, 0);
	}
}

/* One record of type for request id with content c (len bytes). */
static fcgi_event record(fcgi_parser *p, int type, uint16_t id, const unsigned char *c, size_t len,
			 fcgi_request *out, buf *reply)
{
	int mine = p->active && id == p->id;

	switch (type) {
	case FCGI_BEGIN_REQUEST:
		if (len != 8 || id == 0)
			return FCGI_BAD;
		if (p->active || ((c[0] << 8) | c[1]) != FCGI_RESPONDER) {
			fcgi_end_request(reply, id, 0,
					 p->active ? FCGI_CANT_MPX_CONN : FCGI_UNKNOWN_ROLE);
			return FCGI_REPLY;
		}
		p->active = 1;
		p->id = id;
		p->keep_conn = (c[2] & FCGI_KEEP_CONN) != 0;
		return FCGI_NEED_MORE;
	case FCGI_ABORT_REQUEST:
		if (!mine)
			return FCGI_NEED_MORE;
		drop_request(p);
		fcgi_end_request(reply, id, 0, FCGI_REQUEST_COMPLETE);
		return FCGI_REPLY;
	case FCGI_PARAMS:
		if (!mine)
			return FCGI_NEED_MORE;
		if (p->params_done)
			return FCGI_BAD;
		if (len == 0) {
			p->params_done = 1;
			return FCGI_NEED_MORE;
		}
		if (p->params.len + len > FCGI_MAX_PARAMS_BYTES)
			return FCGI_BAD;
		buf_append(&p->params, c, len);
		return p->params.failed ? FCGI_BAD : FCGI_NEED_MORE;
	case FCGI_STDIN:
		if (!mine)
			return FCGI_NEED_MORE;
		if (!p->params_done)
			return FCGI_BAD;
		if (len == 0)
			return complete(p, out, 0);
		buf_append(&p->body, c, len);
		if (p->body.failed)
			return FCGI_BAD;
		return p->body.len >= p->body_cap ? complete(p, out, 1) : FCGI_NEED_MORE;
	case FCGI_GET_VALUES:
		if (id != 0)
			return FCGI_BAD;
		get_values_result(c, len, reply);
		return FCGI_REPLY;
	case FCGI_DATA:
		return FCGI_NEED_MORE;
	default:
		if (id == 0) { /* an unknown management record */
			unsigned char body[8] = {(unsigned char)type, 0, 0, 0, 0, 0, 0, 0};

			fcgi_record_header(reply, FCGI_UNKNOWN_TYPE, 0, sizeof body);
			buf_append(reply, body, sizeof body);
			return FCGI_REPLY;
		}
		return FCGI_BAD;
	}
}

/* The next record, if it is all buffered: its type, id, content and
 * length; consumes it. Returns 1, 0 if it is not all there, -1 if it is
 * not a version 1 record. */
static int next_record(fcgi_parser *p, int *type, uint16_t *id, const unsigned char **c,
		       size_t *len)
{
	const unsigned char *h = (const unsigned char *)p->in.data + p->pos;
	size_t total;

	if (p->in.len - p->pos < FCGI_HEADER_LEN)
		return 0;
	if (h[0] != FCGI_VERSION)
		return -1;
	*len = ((size_t)h[4] << 8) | h[5];
	total = FCGI_HEADER_LEN + *len + h[6];
	if (p->in.len - p->pos < total)
		return 0;
	*type = h[1];
	*id = (uint16_t)((h[2] << 8) | h[3]);
	*c = h + FCGI_HEADER_LEN;
	p->pos += total;
	return 1;
}

int fcgi_parser_body(fcgi_parser *p, char *dst, size_t n, size_t *got)
{
	*got = 0;
	if (!p->streaming)
		return 1;
	/* Take in records until n bytes are there or the body ended. Other
	 * records meanwhile (a GET_VALUES, say) are a protocol error here. */
	while (p->body.len < n && !p->body_done) {
		int type = 0, rc;
		uint16_t id = 0;
		const unsigned char *c = NULL;
		size_t len = 0;

		rc = next_record(p, &type, &id, &c, &len);
		if (rc == 0)
			break;
		if (rc < 0 || type != FCGI_STDIN || id != p->id)
			return -1;
		p->body_done = len == 0;
		buf_append(&p->body, c, len);
		if (p->body.failed)
			return -1;
	}
	*got = p->body.len < n ? p->body.len : n;
	if (*got > 0) {
		memcpy(dst, p->body.data, *got);
		memmove(p->body.data, p->body.data + *got, p->body.len - *got);
		p->body.len -= *got;
	}
	if (*got == 0 && p->body_done) {
		drop_request(p);
		return 1;
	}
	return 0;
}

fcgi_event fcgi_parse(fcgi_parser *p, fcgi_request *out, buf *reply)
{
	int type = 0, rc;
	uint16_t id = 0;
	const unsigned char *c = NULL;
	size_t len = 0;

	if (p->streaming)
		return FCGI_NEED_MORE; /* fcgi_parser_body reads on */
	while ((rc = next_record(p, &type, &id, &c, &len)) == 1) {
		fcgi_event ev = record(p, type, id, c, len, out, reply);

		if (ev != FCGI_NEED_MORE)
			return ev;
	}
	return rc < 0 ? FCGI_BAD : FCGI_NEED_MORE;
}
