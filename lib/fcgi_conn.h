/* fcgi_conn: a FastCGI connection as fcgi_server keeps it, and its I/O
 * while one thread serves its request: the parameters, the body (the part
 * received with the request, then the rest as it streams in), the answer
 * framed as STDOUT records and sent as it fills, and sending with a
 * timeout. Owns no thread, no queue and no epoll registration: where a
 * connection is (loop, queue, thread) and when it closes is
 * fcgi_server's. */
#ifndef ATT_FCGI_CONN_H
#define ATT_FCGI_CONN_H

#include <stddef.h>

#include "buf.h"
#include "fcgi_proto.h"

/* Bytes read from a socket at a time. */
#define FCGI_CONN_READ_CHUNK 65536

typedef struct fcgi_conn {
	int fd;
	fcgi_parser *parser;
	fcgi_request req;		       /* while queued or served */
	size_t body_pos;		       /* read so far by the handler */
	long long enqueued_at;		       /* monotonic ms */
	buf out;			       /* framed records not yet sent */
	int broken;			       /* a write failed: close after the request */
	struct fcgi_conn *next;		       /* in the queue */
	struct fcgi_conn *prev_all, *next_all; /* every open connection */
	int idle;			       /* registered in epoll, owned by the loop */
} fcgi_conn;

/* Sends all of out on fd, waiting (at most 30 s at a time) while the
 * socket is full; empties out. Returns 0, or -1 on failure. */
int fcgi_conn_send_all(int fd, buf *out);

/* http_param_fn with the conn as io_ctx: the request's parameter, or NULL. */
const char *fcgi_conn_param(void *io_ctx, const char *name);

/* http_read_fn with the conn as io_ctx: up to n bytes of the body; 0 at
 * its end, -1 when the connection failed (then it is broken). */
long fcgi_conn_read_body(void *io_ctx, char *dst, size_t n);

/* Reads what is left of a streaming body the handler did not read, so
 * that the connection can carry the next request. */
void fcgi_conn_drain_body(fcgi_conn *c);

/* http_write_fn with the conn as write_ctx: frames data as STDOUT records
 * into c->out, sending as it fills. Returns 0, or -1 once broken. */
int fcgi_conn_write(void *io_ctx, const char *data, size_t n);

#endif
