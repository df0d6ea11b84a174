/* examday_conn: the keep-alive HTTP/1.1 connections to nginx (one epoll
 * set, non-blocking sockets): opening, sending a student's request on a
 * free connection, reading and parsing the answer, the resend rule for a
 * kept-alive connection the server closed, timeouts, and the blocking
 * request of the set-up. */
#include <cJSON.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "examday.h"

conn *C;
int n_conns;
int ep;
int *freec, n_free;
int inflight;

/* ------------------------------------------------------------ connections */

void conn_open(int i)
{
	conn *c = &C[i];
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (unsigned)i};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	c->state = 1;
	c->in_len = 0;
	c->requests = 0;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(int i)
{
	conn *c = &C[i];

	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = 0;
}

static void conn_want_out(int i, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = (unsigned)i};

	epoll_ctl(ep, EPOLL_CTL_MOD, C[i].fd, &ev);
}

static void conn_flush(int i)
{
	conn *c = &C[i];

	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_want_out(i, 1);
				return;
			}
			return; /* the read side sees the failure */
		}
		c->out_off += (size_t)n;
	}
}

/* nginx closes a kept-alive connection idle for keepalive_timeout (65 s);
 * one idle nearly that long is replaced rather than used, so that no
 * request meets the close on its way. */
#define CONN_MAX_IDLE_MS 30000

/* Sends queued requests on free connections. */
void dispatch(void)
{
	while (ready_len > 0 && n_free > 0) {
		int sid = ready[ready_head], i = freec[--n_free];
		conn *c = &C[i];

		if (now_ms() - c->idle_since > CONN_MAX_IDLE_MS) {
			conn_close(i);
			conn_open(i);
			continue;
		}
		ready_head = (ready_head + 1) % ready_cap;
		ready_len--;
		c->sid = sid;
		c->state = 3;
		build_request(c, sid);
		c->sent_at = now_ms();
		P[S[sid].phase].sent++;
		inflight++;
		conn_flush(i);
	}
}

/* Frees connection i after its request ended (answered or failed). */
void conn_done(int i, int keep)
{
	conn *c = &C[i];

	inflight--;
	c->sid = -1;
	c->resent = 0;
	if (keep) {
		c->state = 2;
		c->idle_since = now_ms();
		freec[n_free++] = i;
	} else {
		conn_close(i);
		conn_open(i);
	}
}

/* Parses what connection i has read; completes its request when whole. */
static void conn_parse(int i, double now)
{
	conn *c = &C[i];
	char *he, *p, *line;
	long clen = -1;
	int status, keep = 1;
	size_t hlen;

	c->in[c->in_len] = 0;
	he = strstr(c->in, "\r\n\r\n");
	if (he == NULL)
		return;
	hlen = (size_t)(he - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	for (line = strstr(c->in, "\r\n"); line && line < he; line = strstr(line + 2, "\r\n")) {
		p = line + 2;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0 && strstr(p, "close") &&
			 strstr(p, "close") < strstr(p, "\r\n"))
			keep = 0;
		else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
			status = 0; /* chunked: not spoken here (the service sends lengths) */
	}
	if (clen < 0) {
		clen = 0;
		status = 0;
		keep = 0;
	}
	if (c->in_len < hlen + (size_t)clen) {
		if (hlen + (size_t)clen >= INBUF) {
			status = 0;
			keep = 0;
		} else {
			return;
		}
	}
	if (c->in_len > hlen + (size_t)clen)
		keep = 0; /* more than one answer: a protocol error */
	{
		int sid = c->sid;
		size_t end = hlen + (size_t)clen < INBUF ? hlen + (size_t)clen : INBUF - 1;

		c->in[end] = 0;
		c->requests++;
		c->in_len = 0;
		conn_done(i, keep);
		/* The body stays readable: a reopened connection keeps its buffer. */
		complete(sid, status, he + 4, now);
	}
}

/* A kept-alive connection that closes before any byte of the answer was
 * closed by the server as idle (nginx does so on reload and after
 * keepalive_timeout) while the request was on its way: nothing was read.
 * Browsers then send the request again on a new connection, and so does
 * this generator, once (every request here may be repeated: events carry
 * a client_event_id, saves an expected_version, start resumes and submit
 * returns the same receipt). Its latency still counts from the intended
 * send time; the report counts the resends. */
static void conn_resend(int i)
{
	conn *c = &C[i];
	int sid = c->sid;

	P[S[sid].phase].resent++;
	conn_close(i);
	conn_open(i);
	c->sid = sid;
	c->resend = 1;
	c->resent = 1;
}

void conn_event(int i, unsigned events, double now)
{
	conn *c = &C[i];

	if (c->state == 1) {
		int err = 0;
		socklen_t l = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err != 0) {
			conn_close(i);
			fprintf(stderr, "examday: connect: %s\n", strerror(err));
			conn_open(i); /* retried at once: nginx is there or the run is over */
			return;
		}
		if ((events & (EPOLLOUT | EPOLLIN)) && c->resend) {
			c->resend = 0;
			c->state = 3;
			c->out_off = 0;
			conn_flush(i);
			if (c->out_off >= c->out.len)
				conn_want_out(i, 0);
		} else if (events & (EPOLLOUT | EPOLLIN)) {
			c->state = 2;
			c->idle_since = now_ms();
			conn_want_out(i, 0);
			freec[n_free++] = i;
		}
		return;
	}
	if ((events & EPOLLOUT) && c->state == 3) {
		conn_flush(i);
		if (c->out_off >= c->out.len)
			conn_want_out(i, 0);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = recv(c->fd, c->in + c->in_len, INBUF - 1 - c->in_len, 0);
			if (n > 0) {
				c->in_len += (size_t)n;
				if (c->state == 3)
					conn_parse(i, now);
				if (c->state != 3 && c->state != 2)
					return;
				if (c->in_len >= INBUF - 1)
					n = 0;
				else
					continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			/* EOF or error */
			if (c->state == 3 && c->in_len == 0 && c->requests > 0 && !c->resent) {
				conn_resend(i);
			} else if (c->state == 3) {
				int sid = c->sid;
				conn_done(i, 0);
				complete(sid, 0, NULL, now);
			} else {
				if (c->state == 2) {
					for (int f = 0; f < n_free; f++) {
						if (freec[f] == i) {
							freec[f] = freec[--n_free];
							break;
						}
					}
				}
				conn_close(i);
				conn_open(i);
			}
			return;
		}
	}
}

/* Fails requests in flight longer than REQ_TIMEOUT_MS. */
void check_timeouts(double now)
{
	for (int i = 0; i < n_conns; i++) {
		if (C[i].state == 3 && now - C[i].sent_at > REQ_TIMEOUT_MS) {
			int sid = C[i].sid;
			conn_done(i, 0);
			complete(sid, 0, NULL, now);
		}
	}
}

/* One blocking request on connection 0 (set-up). Returns the status and
 * the parsed body (the caller deletes it). */
int blocking(const char *method, const char *path, const char *token, const char *body, cJSON **out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;
	buf req = BUF_INIT;
	char *in = xmalloc(INBUF);
	size_t len = 0;

	*out = NULL;
	if (fd < 0 || connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0)
		die("cannot connect to %s: %s", g_url, strerror(errno));
	buf_printf(&req,
		   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
		   "Content-Length: %zu\r\n\r\n%s",
		   method, path, token, strlen(body), body);
	if (req.failed || send(fd, req.data, req.len, MSG_NOSIGNAL) != (ssize_t)req.len)
		die("send: %s", strerror(errno));
	for (;;) {
		ssize_t n = recv(fd, in + len, INBUF - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	in[len] = 0;
	if (sscanf(in, "HTTP/1.%*d %d", &status) == 1 && strstr(in, "\r\n\r\n"))
		*out = cJSON_Parse(strstr(in, "\r\n\r\n") + 4);
	close(fd);
	free(in);
	buf_free(&req);
	return status;
}
