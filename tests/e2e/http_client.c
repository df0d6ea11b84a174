/* http_client: one blocking HTTP/1.1 exchange per TCP connection, for the
 * end-to-end tests (no libcurl, so the suite needs nothing the service
 * does not). */
#include "http_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A growable byte buffer, always NUL-terminated when data != NULL. */
typedef struct hc_buf {
	char *data;
	size_t len;
	size_t cap;
} hc_buf;

static int hc_buf_append(hc_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int hc_buf_puts(hc_buf *b, const char *s)
{
	return hc_buf_append(b, s, strlen(s));
}

static void set_error(http_client_response *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(http_client_response *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->error, sizeof out->error, fmt, ap);
	va_end(ap);
}

/* Splits "http://host[:port][/]" into host and port (default "80").
 * Returns 0, or -1 if base_url has another shape. */
static int parse_base_url(const char *base_url, char *host, size_t hostcap, char *port,
			  size_t portcap)
{
	const char *p, *end, *colon;
	size_t hlen;

	if (base_url == NULL || strncmp(base_url, "http://", 7) != 0)
		return -1;
	p = base_url + 7;
	end = p + strcspn(p, "/?#");
	if (end[0] != '\0' && !(end[0] == '/' && end[1] == '\0'))
		return -1;
	if (*p == '[') { /* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL)
			return -1;
		hlen = (size_t)(rb - p - 1);
		p++;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb + 1 != end)
			return -1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon ? colon : end) - p);
	}
	if (hlen == 0 || hlen >= hostcap)
		return -1;
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		size_t plen = (size_t)(end - colon - 1);
		if (plen == 0 || plen >= portcap)
			return -1;
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
	} else {
		snprintf(port, portcap, "80");
	}
	return 0;
}

/* Connects to host:port with send/receive timeouts set (on Linux the send
 * timeout also bounds connect()). Returns the socket or -1. */
static int connect_to(const char *host, const char *port, http_client_response *out)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {HTTP_CLIENT_TIMEOUT_S, 0};
	int fd = -1, rc, saved = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		set_error(out, "getaddrinfo %s:%s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		set_error(out, "connect %s:%s: %s", host, port, strerror(saved));
	return fd;
}

int http_client_send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno ? errno : EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Finds "\r\n\r\n" in the first n bytes; returns the offset just past it or
 * 0 if absent. */
static size_t header_end(const char *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* Decodes a chunked body of n bytes at p into out (if not NULL).
 * Returns 1 when the last chunk and the trailers are complete, 0 when
 * more bytes are needed, -1 when the encoding is malformed. */
static int dechunk(const char *p, size_t n, hc_buf *out)
{
	size_t i = 0;

	for (;;) {
		const char *eol = NULL;
		char *endp;
		unsigned long long size;

		for (size_t j = i; j + 1 < n; j++)
			if (p[j] == '\r' && p[j + 1] == '\n') {
				eol = p + j;
				break;
			}
		if (eol == NULL)
			return 0;
		errno = 0;
		size = strtoull(p + i, &endp, 16);
		if (endp == p + i || errno != 0 || (endp != eol && *endp != ';' && *endp != ' '))
			return -1;
		i = (size_t)(eol - p) + 2;
		if (size == 0) {
			/* Trailers, each ending in CRLF, then an empty line. */
			for (;;) {
				size_t k;
				for (k = i; k + 1 < n; k++)
					if (p[k] == '\r' && p[k + 1] == '\n')
						break;
				if (k + 1 >= n)
					return 0;
				if (k == i)
					return 1;
				i = k + 2;
			}
		}
		if (size > n || n - i < size + 2)
			return 0;
		if (p[i + size] != '\r' || p[i + size + 1] != '\n')
			return -1;
		if (out != NULL && hc_buf_append(out, p + i, (size_t)size) != 0)
			return -1;
		i += (size_t)size + 2;
	}
}

/* What the header block says about the body. */
typedef struct body_frame {
	int no_body; /* HEAD, 1xx, 204, 304 */
	int chunked;
	long long content_length; /* -1 when absent */
} body_frame;

static int parse_status(const char *p, size_t n, int *status)
{
	if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	if (n > 12 && p[12] != ' ' && p[12] != '\r')
		return -1;
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return 0;
}

/* Parses the header lines [p, p+n) (after the status line, each ending in
 * CRLF) into out->raw_headers and out->fields. Returns 0 or -1. */
static int parse_fields(const char *p, size_t n, http_client_response *out)
{
	size_t count = 0, i;

	out->raw_headers = malloc(n + 1);
	if (out->raw_headers == NULL)
		return -1;
	memcpy(out->raw_headers, p, n);
	out->raw_headers[n] = '\0';
	for (i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			count++;
	out->fields = calloc(count ? count : 1, sizeof *out->fields);
	if (out->fields == NULL)
		return -1;
	i = 0;
	while (i < n) {
		const char *line = p + i, *eol = strstr(line, "\r\n");
		const char *colon, *v, *ve;
		size_t len;
		http_client_field *f;

		if (eol == NULL || eol > p + n)
			eol = p + n;
		len = (size_t)(eol - line);
		i += len + 2;
		if (len == 0)
			continue;
		colon = memchr(line, ':', len);
		if (colon == NULL || colon == line)
			return -1;
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		f = &out->fields[out->nfields];
		f->name = strndup(line, (size_t)(colon - line));
		f->value = strndup(v, (size_t)(ve - v));
		if (f->name == NULL || f->value == NULL) {
			free(f->name);
			free(f->value);
			return -1;
		}
		out->nfields++;
	}
	return 0;
}

/* Does s contain word, ignoring case? */
static int contains_ci(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s != '\0'; s++)
		if (strncasecmp(s, word, n) == 0)
			return 1;
	return 0;
}

static int frame_of(const http_client_response *r, const char *method, body_frame *fr)
{
	const char *te = http_client_header(r, "Transfer-Encoding");
	const char *cl = http_client_header(r, "Content-Length");

	fr->no_body = strcmp(method, "HEAD") == 0 || r->status / 100 == 1 || r->status == 204 ||
		      r->status == 304;
	fr->chunked = te != NULL && contains_ci(te, "chunked");
	fr->content_length = -1;
	if (cl != NULL && !fr->chunked) {
		char *end;
		errno = 0;
		fr->content_length = strtoll(cl, &end, 10);
		if (errno != 0 || end == cl || *end != '\0' || fr->content_length < 0)
			return -1;
	}
	return 0;
}

/* Receives into in until the response is complete, the peer closes, or
 * the timeout strikes. Fills out on success. Returns 0 or -1. */
static int receive(int fd, const char *method, hc_buf *in, http_client_response *out)
{
	size_t hend = 0;
	body_frame fr = {0, 0, -1};
	int eof = 0;

	for (;;) {
		char chunk[16384];
		ssize_t r;

		if (hend == 0 && (hend = header_end(in->data ? in->data : "", in->len)) != 0) {
			const char *first_eol = strstr(in->data, "\r\n");
			size_t status_len = (size_t)(first_eol - in->data);

			if (parse_status(in->data, status_len, &out->status) != 0) {
				set_error(out, "malformed status line");
				return -1;
			}
			if (parse_fields(first_eol + 2, hend - 2 - (status_len + 2), out) != 0 ||
			    frame_of(out, method, &fr) != 0) {
				set_error(out, "malformed response headers");
				return -1;
			}
		}
		if (hend != 0) {
			size_t have = in->len - hend;
			if (fr.no_body)
				break;
			if (fr.chunked) {
				int c = dechunk(in->data + hend, have, NULL);
				if (c < 0) {
					set_error(out, "malformed chunked body");
					return -1;
				}
				if (c == 1)
					break;
			} else if (fr.content_length >= 0 && have >= (size_t)fr.content_length) {
				break;
			}
			if (eof) {
				if (fr.chunked || fr.content_length >= 0) {
					set_error(out, "connection closed after %zu body bytes",
						  have);
					return -1;
				}
				break; /* body delimited by the close */
			}
		} else if (eof) {
			set_error(out,
				  "connection closed before the end of the headers (%zu bytes)",
				  in->len);
			return -1;
		}
		r = recv(fd, chunk, sizeof chunk, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_error(out, "timed out after %d s waiting for the response",
					  HTTP_CLIENT_TIMEOUT_S);
				return -1;
			}
			if (errno == ECONNRESET && in->len > 0) {
				eof = 1;
				continue;
			}
			set_error(out, "recv: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			eof = 1;
			continue;
		}
		if (hc_buf_append(in, chunk, (size_t)r) != 0) {
			set_error(out, "out of memory");
			return -1;
		}
	}

	{
		hc_buf body = {NULL, 0, 0};
		size_t have = in->len - hend;

		if (fr.no_body) {
			if (hc_buf_append(&body, "", 0) != 0)
				goto oom;
		} else if (fr.chunked) {
			if (hc_buf_append(&body, "", 0) != 0 ||
			    dechunk(in->data + hend, have, &body) != 1) {
				free(body.data);
				goto oom;
			}
		} else {
			size_t n = fr.content_length >= 0 ? (size_t)fr.content_length : have;
			if (hc_buf_append(&body, in->data + hend, n) != 0)
				goto oom;
		}
		out->body = body.data;
		out->body_len = body.len;
	}
	return 0;
oom:
	set_error(out, "out of memory decoding the body");
	return -1;
}

/* Resets *r to an empty response, keeping nothing. */
static void response_clear(http_client_response *r)
{
	for (size_t i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	free(r->fields);
	free(r->raw_headers);
	free(r->body);
	r->fields = NULL;
	r->nfields = 0;
	r->raw_headers = NULL;
	r->body = NULL;
	r->body_len = 0;
	r->status = 0;
}

int http_client_request(const char *base_url, const char *method, const char *path_and_query,
			const char *const *headers, const char *body, size_t body_len,
			http_client_response *out)
{
	char host[256], port[16], num[32];
	hc_buf req = {NULL, 0, 0}, in = {NULL, 0, 0};
	int fd = -1, rc = -1, send_err;

	memset(out, 0, sizeof *out);
	if (method == NULL || path_and_query == NULL || path_and_query[0] != '/') {
		set_error(out, "method and a path starting with '/' are required");
		goto out;
	}
	if (parse_base_url(base_url, host, sizeof host, port, sizeof port) != 0) {
		set_error(out, "base URL must be http://HOST[:PORT]: %s",
			  base_url ? base_url : "(null)");
		goto out;
	}
	if (hc_buf_puts(&req, method) || hc_buf_puts(&req, " ") ||
	    hc_buf_puts(&req, path_and_query) || hc_buf_puts(&req, " HTTP/1.1\r\nHost: ") ||
	    hc_buf_puts(&req, strchr(host, ':') ? "[" : "") || hc_buf_puts(&req, host) ||
	    hc_buf_puts(&req, strchr(host, ':') ? "]:" : ":") || hc_buf_puts(&req, port) ||
	    hc_buf_puts(&req, "\r\nConnection: close\r\n"))
		goto oom;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		if (hc_buf_puts(&req, headers[i]) || hc_buf_puts(&req, "\r\n"))
			goto oom;
	if (body != NULL) {
		snprintf(num, sizeof num, "%zu", body_len);
		if (hc_buf_puts(&req, "Content-Length: ") || hc_buf_puts(&req, num) ||
		    hc_buf_puts(&req, "\r\n"))
			goto oom;
	}
	if (hc_buf_puts(&req, "\r\n") || (body != NULL && hc_buf_append(&req, body, body_len)))
		goto oom;

	fd = connect_to(host, port, out);
	if (fd < 0)
		goto out;
	/* A server may answer (413) and close before it reads the whole
	 * body: a failed send is only an error if no response follows. */
	send_err = http_client_send_all(fd, req.data, req.len);
	if (send_err != 0)
		shutdown(fd, SHUT_WR);
	if (receive(fd, method, &in, out) != 0) {
		char why[sizeof out->error];
		snprintf(why, sizeof why, "%s", out->error);
		response_clear(out);
		if (send_err != 0)
			set_error(out, "send: %s; then %s", strerror(send_err), why);
		else
			set_error(out, "%s", why);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	set_error(out, "out of memory building the request");
out:
	if (fd >= 0)
		close(fd);
	free(req.data);
	free(in.data);
	return rc;
}

const char *http_client_header(const http_client_response *resp, const char *name)
{
	if (resp == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < resp->nfields; i++)
		if (strcasecmp(resp->fields[i].name, name) == 0)
			return resp->fields[i].value;
	return NULL;
}

void http_client_response_free(http_client_response *resp)
{
	if (resp == NULL)
		return;
	response_clear(resp);
	resp->error[0] = '\0';
}
