/* fcgi_server: an epoll loop over the listening socket and every
 * connection, a FIFO of complete requests, and the threads that serve it.
 * A connection belongs to exactly one party at a time: the loop (idle,
 * registered in epoll with EPOLLONESHOT), the queue, or one thread. */
#include "fcgi_server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "fcgi_conn.h"
#include "fcgi_proto.h"
#include "log.h"

/* Threads started per request that may run at once: the rest wait,
 * parked, for coalesced writes (blocking.h) without holding a turn. */
#define FCGI_THREADS_PER_SLOT 16

struct fcgi_server {
	fcgi_server_options opt;
	int epfd, wakefd;
	pthread_t loop;
	pthread_t *threads;
	int nthreads;	      /* started: opt.threads, more as threads park,
			       * up to opt.threads x FCGI_THREADS_PER_SLOT */
	int waiting;	      /* threads waiting for a request */
	int running;	      /* serving a request and not parked */
	blocking_hooks park;  /* installed in every serving thread */
	pthread_mutex_t lock; /* queue, connection list, counters, flags */
	pthread_cond_t work;
	fcgi_conn *head, *tail; /* the queue */
	fcgi_conn *all;		/* every open connection */
	int accepting;		/* the listening socket is in epoll */
	int stopping;
	long long
		drain_until; /* while stopping: serve open connections until then (monotonic ms) */
	int loop_done;
	fcgi_server_stats stats;
};

/* ------------------------------------------------------------ connections */

static void list_add(fcgi_server *s, fcgi_conn *c)
{
	c->next_all = s->all;
	if (s->all != NULL)
		s->all->prev_all = c;
	s->all = c;
	s->stats.open++;
	s->stats.connections++;
}

/* Closes c and frees it. c must be owned by the caller (not idle in epoll
 * unless the caller is the loop). */
static void conn_close(fcgi_server *s, fcgi_conn *c)
{
	pthread_mutex_lock(&s->lock);
	if (c->prev_all != NULL)
		c->prev_all->next_all = c->next_all;
	else
		s->all = c->next_all;
	if (c->next_all != NULL)
		c->next_all->prev_all = c->prev_all;
	s->stats.open--;
	pthread_mutex_unlock(&s->lock);
	close(c->fd); /* also takes it out of epoll */
	fcgi_parser_free(c->parser);
	fcgi_request_free(&c->req);
	buf_free(&c->out);
	free(c);
}

/* Under s->lock: stopping and done draining (opt.drain_ms). */
static int drained(const fcgi_server *s)
{
	return s->stopping && clock_monotonic_ms(NULL) >= s->drain_until;
}

/* Registers c for its next readable event (it is idle); closes it when
 * the server is stopping and done draining. */
static void conn_idle(fcgi_server *s, fcgi_conn *c, int first)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
	int failed;

	/* Under the lock: close_idle (when stopping) must not see it idle
	 * before it is in epoll. */
	pthread_mutex_lock(&s->lock);
	failed = drained(s) ||
		 epoll_ctl(s->epfd, first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) != 0;
	c->idle = !failed;
	pthread_mutex_unlock(&s->lock);
	if (failed)
		conn_close(s, c);
}

/* ----------------------------------------------------------------- queue */

static void enqueue(fcgi_server *s, fcgi_conn *c)
{
	c->enqueued_at = clock_monotonic_ms(NULL);
	c->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->tail != NULL)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->stats.queued++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
}

/* Acts on what c's parser holds: a complete request goes to the queue,
 * replies are sent, a protocol error or a failed send closes c, and
 * otherwise c waits for more bytes. c is owned by the caller. */
static void conn_advance(fcgi_server *s, fcgi_conn *c, int first)
{
	buf reply = BUF_INIT;

	for (;;) {
		fcgi_event ev = fcgi_parse(c->parser, &c->req, &reply);

		if (ev == FCGI_REQUEST) {
			buf_free(&reply);
			c->body_pos = 0;
			enqueue(s, c);
			return;
		}
		if (ev == FCGI_BAD ||
		    (ev == FCGI_REPLY && fcgi_conn_send_all(c->fd, &reply) != 0)) {
			if (ev == FCGI_BAD) {
				pthread_mutex_lock(&s->lock);
				s->stats.protocol_errors++;
				pthread_mutex_unlock(&s->lock);
				log_warn("fastcgi: protocol error; connection closed");
			}
			buf_free(&reply);
			conn_close(s, c);
			return;
		}
		if (ev == FCGI_NEED_MORE)
			break;
	}
	buf_free(&reply);
	conn_idle(s, c, first);
}

/* ------------------------------------------------------------- the loop */

/* Starts or stops listening for new connections; lock held. */
static void set_accepting(fcgi_server *s, int on)
{
	/* Not EPOLLEXCLUSIVE: it wakes the waiters in a fixed order, so the
	 * first process would take every new connection while it has a free
	 * thread, and nginx's kept-alive connections would all lead to it.
	 * Woken together, the processes race for each connection instead. */
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	if (on == s->accepting)
		return;
	if (epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->opt.listen_fd,
		      on ? &ev : NULL) == 0)
		s->accepting = on;
}

/* Accepts one pending connection. One per wakeup: the listening socket
 * stays readable while more are pending, and the other worker processes,
 * woken too, take their share instead of the first one taking them all. */
static void accept_one(fcgi_server *s)
{
	for (;;) {
		int fd = accept4(s->opt.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		fcgi_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("fastcgi: accept: %s", strerror(errno));
			return;
		}
		c = calloc(1, sizeof *c);
		if (c == NULL || fcgi_parser_create(s->opt.body_cap, &c->parser) != ATT_OK) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		pthread_mutex_lock(&s->lock);
		list_add(s, c);
		pthread_mutex_unlock(&s->lock);
		conn_idle(s, c, 1);
		return;
	}
}

/* c is readable (or closed by the peer): reads what is there. */
static void conn_readable(fcgi_server *s, fcgi_conn *c)
{
	char chunk[FCGI_CONN_READ_CHUNK];

	pthread_mutex_lock(&s->lock);
	c->idle = 0;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);

		if (n > 0) {
			if (fcgi_parser_feed(c->parser, chunk, (size_t)n) != ATT_OK) {
				conn_close(s, c);
				return;
			}
			if ((size_t)n < sizeof chunk)
				break;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			conn_close(s, c); /* closed by nginx, or a read error */
			return;
		}
	}
	conn_advance(s, c, 0);
}

/* Closes every connection that waits idle in epoll (when stopping). A
 * busy process never closes idle kept-alive connections to send nginx
 * elsewhere: closing one that nginx is just sending a POST on makes nginx
 * answer 502 (it does not resend a non-idempotent request); their requests
 * wait for a thread, or are shed after queue_timeout_ms. */
static void close_idle(fcgi_server *s)
{
	fcgi_conn *c, *next;

	pthread_mutex_lock(&s->lock);
	for (c = s->all; c != NULL; c = next) {
		next = c->next_all;
		if (!c->idle)
			continue;
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->idle = 0;
		pthread_mutex_unlock(&s->lock);
		conn_close(s, c);
		pthread_mutex_lock(&s->lock);
		next = s->all; /* the list changed: start over */
	}
	pthread_mutex_unlock(&s->lock);
}

/* Sets *stopping; a stopping server stops accepting. A saturated process
 * goes on accepting: nginx opens a connection when its kept ones are all
 * busy and sends the request at once, so a connection left in the backlog
 * is a request that waits for nothing (at 256 client connections, gating
 * the accepts on a free thread gave p99 1.6 s and shed requests). The
 * processes race for each connection (accept_one). */
static void loop_check(fcgi_server *s, int *stopping)
{
	pthread_mutex_lock(&s->lock);
	set_accepting(s, !s->stopping);
	/* A stopping server drains: it ends once every connection is closed or
	 * the drain time is up. */
	*stopping = s->stopping && (s->all == NULL || drained(s));
	pthread_mutex_unlock(&s->lock);
}

static void *loop(void *arg)
{
	fcgi_server *s = arg;
	struct epoll_event events[64];

	for (;;) {
		int n = epoll_wait(s->epfd, events, 64, s->stopping ? 100 : 1000);
		int stopping;

		loop_check(s, &stopping);
		if (stopping)
			break;
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == NULL)
				accept_one(s);
			else if (events[i].data.ptr != (void *)s)
				conn_readable(s, events[i].data.ptr);
			else {
				uint64_t v;
				if (read(s->wakefd, &v, sizeof v) < 0)
					continue;
			}
		}
		/* What was read may have filled every thread. */
		loop_check(s, &stopping);
	}
	close_idle(s);
	pthread_mutex_lock(&s->lock);
	s->loop_done = 1;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

long fcgi_server_waited_ms(void *io_ctx)
{
	return (long)(clock_monotonic_ms(NULL) - ((fcgi_conn *)io_ctx)->enqueued_at);
}

/* --------------------------------------------------------- the threads */

/* Takes the oldest queued request once fewer than opt.threads requests
 * run (a thread parked in a wait for other threads' work does not count:
 * blocking.h); NULL when the server stops. */
static fcgi_conn *dequeue(fcgi_server *s)
{
	fcgi_conn *c;

	pthread_mutex_lock(&s->lock);
	s->waiting++;
	while ((s->head == NULL || s->running >= s->opt.threads) &&
	       !(s->stopping && s->loop_done && s->head == NULL))
		pthread_cond_wait(&s->work, &s->lock);
	s->waiting--;
	c = s->head;
	if (c != NULL) {
		s->head = c->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->stats.queued--;
		s->stats.requests++;
		s->running++;
	} else {
		pthread_cond_broadcast(&s->work); /* stopping: every thread ends */
	}
	pthread_mutex_unlock(&s->lock);
	return c;
}

static void *serve_loop(void *arg);

/* One fewer request runs (with the lock held): the next may start. */
static void running_less(fcgi_server *s)
{
	s->running--;
	if (s->head != NULL)
		pthread_cond_signal(&s->work);
}

static void request_done(fcgi_server *s)
{
	pthread_mutex_lock(&s->lock);
	running_less(s);
	pthread_mutex_unlock(&s->lock);
}

/* blocking_hooks: a thread waiting for other threads' work (a coalesced
 * write) stops counting as running... */
static void park(void *arg)
{
	fcgi_server *s = arg;
	int more;

	pthread_mutex_lock(&s->lock);
	s->stats.parked++;
	running_less(s);
	/* A thread for the turn given up, if none waits for one. */
	more = s->waiting == 0 && s->nthreads < s->opt.threads * FCGI_THREADS_PER_SLOT &&
	       !s->stopping;
	if (more && pthread_create(&s->threads[s->nthreads], NULL, serve_loop, s) == 0)
		s->nthreads++;
	pthread_mutex_unlock(&s->lock);
}

/* ...and counts again when it goes on, at once (for a moment more than
 * opt.threads may run). */
static void unpark(void *arg)
{
	fcgi_server *s = arg;

	pthread_mutex_lock(&s->lock);
	s->stats.parked--;
	s->running++;
	pthread_mutex_unlock(&s->lock);
}

static void serve_one(fcgi_server *s, fcgi_conn *c)
{
	int shed = s->opt.queue_timeout_ms > 0 &&
		   clock_monotonic_ms(NULL) - c->enqueued_at > s->opt.queue_timeout_ms;
	int keep;

	if (shed) {
		pthread_mutex_lock(&s->lock);
		s->stats.shed++;
		pthread_mutex_unlock(&s->lock);
	}
	(shed ? s->opt.shed : s->opt.serve)(s->opt.arg, fcgi_conn_param, fcgi_conn_read_body, c,
					    fcgi_conn_write, c);
	fcgi_conn_drain_body(c);
	fcgi_end_request(&c->out, c->req.id, 0, FCGI_REQUEST_COMPLETE);
	if (c->out.failed || fcgi_conn_send_all(c->fd, &c->out) != 0)
		c->broken = 1;
	keep = c->req.keep_conn && !c->broken;
	fcgi_request_free(&c->req);
	buf_free(&c->out);
	if (keep)
		conn_advance(s, c, 0);
	else
		conn_close(s, c);
}

static void *serve_loop(void *arg)
{
	fcgi_server *s = arg;
	fcgi_conn *c;

	blocking_set_hooks(&s->park);
	while ((c = dequeue(s)) != NULL) {
		serve_one(s, c);
		request_done(s);
	}
	blocking_set_hooks(NULL);
	return NULL;
}

/* --------------------------------------------------------- life cycle */

static void server_free(fcgi_server *s)
{
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s->threads);
	free(s);
}

att_err fcgi_server_start(const fcgi_server_options *opt, fcgi_server **out)
{
	fcgi_server *s = calloc(1, sizeof *s);
	struct epoll_event wake = {.events = EPOLLIN, .data.ptr = NULL};
	int flags;

	if (s == NULL)
		return ATT_ENOMEM;
	s->opt = *opt;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->park = (blocking_hooks){park, unpark, s};
	if (s->opt.threads < 1)
		s->opt.threads = 1;
	s->threads = calloc((size_t)s->opt.threads * FCGI_THREADS_PER_SLOT, sizeof *s->threads);
	flags = fcntl(opt->listen_fd, F_GETFL);
	wake.data.ptr = s;
	if (s->epfd < 0 || s->wakefd < 0 || s->threads == NULL || flags < 0 ||
	    fcntl(opt->listen_fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &wake) != 0) {
		server_free(s);
		return ATT_EIO;
	}
	pthread_mutex_lock(&s->lock);
	set_accepting(s, 1);
	pthread_mutex_unlock(&s->lock);
	for (; s->nthreads < s->opt.threads; s->nthreads++)
		if (pthread_create(&s->threads[s->nthreads], NULL, serve_loop, s) != 0)
			break;
	if (s->nthreads == 0 || pthread_create(&s->loop, NULL, loop, s) != 0) {
		pthread_mutex_lock(&s->lock);
		s->stopping = s->loop_done = 1;
		pthread_cond_broadcast(&s->work);
		pthread_mutex_unlock(&s->lock);
		for (int i = 0; i < s->nthreads; i++)
			pthread_join(s->threads[i], NULL);
		server_free(s);
		return ATT_ENOMEM;
	}
	*out = s;
	return ATT_OK;
}

void fcgi_server_stop(fcgi_server *s)
{
	int nthreads;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	s->drain_until = clock_monotonic_ms(NULL) + (s->opt.drain_ms > 0 ? s->opt.drain_ms : 0);
	nthreads = s->nthreads; /* final: no thread starts once stopping */
	pthread_mutex_unlock(&s->lock);
	if (eventfd_write(s->wakefd, 1) != 0)
		log_debug("fastcgi: cannot wake the loop");
	pthread_join(s->loop, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(s->threads[i], NULL);
	/* Connections still open were handed back after the loop ended. */
	while (s->all != NULL)
		conn_close(s, s->all);
	server_free(s);
}

void fcgi_server_get_stats(fcgi_server *s, fcgi_server_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}
