/* fcgi_conn: one connection's I/O while a thread serves its request (see
 * fcgi_conn.h). */
#include "fcgi_conn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#define FLUSH_AT (256 * 1024)
#define WRITE_TIMEOUT_MS 30000
#define RECORD_MAX 65528 /* a multiple of 8: no padding */

/* Sends all of out on fd, waiting while the socket is full. */
int fcgi_conn_send_all(int fd, buf *out)
{
	size_t done = 0;

	while (done < out->len) {
		ssize_t n = send(fd, out->data + done, out->len - done, MSG_NOSIGNAL);

		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {fd, POLLOUT, 0};
			if (poll(&p, 1, WRITE_TIMEOUT_MS) <= 0)
				return -1;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return -1;
		}
	}
	buf_reset(out);
	return 0;
}

/* The handlers' param callback: the request's parameter, or NULL. */
const char *fcgi_conn_param(void *io_ctx, const char *name)
{
	return fcgi_request_param(&((fcgi_conn *)io_ctx)->req, name);
}

/* Waits until c's socket has bytes and feeds them to its parser.
 * Returns 0, or -1 if the connection ended or failed. */
static int feed_from_socket(fcgi_conn *c)
{
	char chunk[FCGI_CONN_READ_CHUNK];

	for (;;) {
		ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);

		if (n > 0)
			return fcgi_parser_feed(c->parser, chunk, (size_t)n) == ATT_OK ? 0 : -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {c->fd, POLLIN, 0};
			if (poll(&p, 1, WRITE_TIMEOUT_MS) > 0)
				continue;
		}
		return -1;
	}
}

/* The handler's read: the body received with the request, then, for a
 * body longer than the cap, the rest as it streams in. */
long fcgi_conn_read_body(void *io_ctx, char *dst, size_t n)
{
	fcgi_conn *c = io_ctx;
	size_t left = c->req.body_len - c->body_pos, got = 0;

	if (left > 0 || !c->req.body_more) {
		if (n > left)
			n = left;
		memcpy(dst, c->req.body + c->body_pos, n);
		c->body_pos += n;
		return (long)n;
	}
	for (;;) {
		int rc = fcgi_parser_body(c->parser, dst, n, &got);

		if (rc < 0) {
			c->broken = 1;
			return -1;
		}
		if (got > 0)
			return (long)got;
		if (rc == 1) {
			c->req.body_more = 0;
			return 0;
		}
		if (feed_from_socket(c) != 0) {
			c->broken = 1;
			return -1;
		}
	}
}

/* Reads what is left of a streaming body the handler did not read, so
 * that the connection can carry the next request. */
void fcgi_conn_drain_body(fcgi_conn *c)
{
	char sink[8192];

	while (c->req.body_more && !c->broken && fcgi_conn_read_body(c, sink, sizeof sink) > 0)
		;
}

/* Frames data as STDOUT records into c->out, sending as it fills. */
int fcgi_conn_write(void *io_ctx, const char *data, size_t n)
{
	fcgi_conn *c = io_ctx;

	while (n > 0 && !c->broken) {
		size_t chunk = n < RECORD_MAX ? n : RECORD_MAX;
		size_t pad = fcgi_record_header(&c->out, FCGI_STDOUT, c->req.id, chunk);

		buf_append(&c->out, data, chunk);
		buf_append(&c->out, "\0\0\0\0\0\0\0", pad);
		data += chunk;
		n -= chunk;
		if (c->out.failed ||
		    (c->out.len >= FLUSH_AT && fcgi_conn_send_all(c->fd, &c->out) != 0))
			c->broken = 1;
	}
	return c->broken ? -1 : 0;
}
