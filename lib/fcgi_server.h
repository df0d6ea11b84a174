/* fcgi_server: the worker's FastCGI front on its listening socket. One
 * event-loop thread accepts connections and reads every one of them
 * (epoll); a request complete in memory (parameters and body, as
 * fcgi_proto assembles them) goes to a queue that a fixed pool of threads
 * serves, at most `threads` requests at a time; a thread that waits for
 * other threads' work (a coalesced write, blocking.h) gives up its turn
 * meanwhile. A kept-alive connection that is idle costs no thread, so no
 * request ever waits behind one. A request that waited in the queue longer
 * than queue_timeout_ms is answered by the shed handler instead (a quick
 * 503) rather than late. The worker processes on one socket race for each
 * new connection. Owns the connections and the threads;
 * what an answer says is the handlers' business. */
#ifndef ATT_FCGI_SERVER_H
#define ATT_FCGI_SERVER_H

#include <stddef.h>

#include "att_err.h"
#include "http.h"

/* Answers one request (app_serve's shape): reads it through param/read
 * with io_ctx, writes the CGI response through write with write_ctx. */
typedef int (*fcgi_serve_fn)(void *arg, http_param_fn param, http_read_fn read, void *io_ctx,
			     http_write_fn write, void *write_ctx);

typedef struct fcgi_server_options {
	int listen_fd;	       /* a listening socket (spawn-fcgi's fd 0) */
	int threads;	       /* requests served at once; a thread parked in a
				* wait for others' work (blocking.h) does not
				* count, and 16 x threads threads are started */
	size_t body_cap;       /* request body bytes kept (more: truncated, flagged) */
	long queue_timeout_ms; /* longer in the queue: shed (0 = never) */
	fcgi_serve_fn serve;   /* answers a request */
	fcgi_serve_fn shed;    /* answers one that waited too long */
	void *arg;	       /* for serve and shed */
	long drain_ms;	       /* on stop, serve the connections already open
				* this long, until nginx closes them (0: none) */
} fcgi_server_options;

typedef struct fcgi_server_stats {
	unsigned long long connections; /* accepted so far */
	unsigned long long open;	/* open now */
	unsigned long long requests;	/* served or shed */
	unsigned long long shed;	/* answered by the shed handler */
	unsigned long long queued;	/* waiting for a thread now */
	unsigned long long parked;	/* threads waiting for others' work now */
	unsigned long long protocol_errors;
} fcgi_server_stats;

typedef struct fcgi_server fcgi_server;

/* Starts the loop and the threads. The caller stops and frees it with
 * fcgi_server_stop(). */
att_err fcgi_server_start(const fcgi_server_options *opt, fcgi_server **out) ATT_MUSTCHECK;

/* Stops accepting; for up to opt.drain_ms goes on serving the connections
 * already open (nginx, reloaded onto new workers, closes them when its old
 * processes are done: closing a kept-alive connection nginx may be sending
 * a POST on would make it answer 502); then closes the idle ones, lets
 * every request already received finish, joins the threads and frees the
 * server. Accepts NULL. */
void fcgi_server_stop(fcgi_server *s);

void fcgi_server_get_stats(fcgi_server *s, fcgi_server_stats *out);

/* Milliseconds the request of io_ctx waited for a thread. */
long fcgi_server_waited_ms(void *io_ctx);

#endif
