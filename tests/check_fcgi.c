/* check_fcgi: the FastCGI records (fcgi_proto) and the event-loop server
 * (fcgi_server) over a real unix socket: requests whole and byte by byte,
 * long lengths, refusals, streaming bodies, idle kept-alive connections
 * that must not hold a thread, and shedding after the queue timeout. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "check_suites.h"
#include "fcgi_proto.h"
#include "fcgi_server.h"

enum {
	BEGIN = 1,
	ABORT = 2,
	END = 3,
	PARAMS = 4,
	STDIN_ = 5,
	STDOUT_ = 6,
	GET_VALUES = 9,
	GET_VALUES_RESULT = 10,
	UNKNOWN_TYPE = 11
};

/* ------------------------------------------------------------ builders */

static void rec(buf *b, int type, int id, const void *content, size_t len)
{
	size_t pad = fcgi_record_header(b, type, (uint16_t)id, len);

	buf_append(b, content, len);
	buf_append(b, "\0\0\0\0\0\0\0", pad);
}

static void begin(buf *b, int id, int role, int keep)
{
	unsigned char body[8] = {0, (unsigned char)role, (unsigned char)keep, 0, 0, 0, 0, 0};

	rec(b, BEGIN, id, body, sizeof body);
}

static void put_len(buf *b, size_t n)
{
	if (n < 128) {
		buf_putc(b, (char)n);
	} else {
		unsigned char l[4] = {(unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
				      (unsigned char)(n >> 8), (unsigned char)n};
		buf_append(b, l, 4);
	}
}

static void pair(buf *b, const char *name, const char *value)
{
	put_len(b, strlen(name));
	put_len(b, strlen(value));
	buf_puts(b, name);
	buf_puts(b, value);
}

/* A whole request: params, then the body in records of at most chunk. */
static void request(buf *b, int id, int keep, const char *method, const char *body, size_t chunk)
{
	buf p = BUF_INIT;
	size_t n = strlen(body);
	char len[24];

	snprintf(len, sizeof len, "%zu", n);
	begin(b, id, 1, keep);
	pair(&p, "REQUEST_METHOD", method);
	pair(&p, "CONTENT_LENGTH", len);
	rec(b, PARAMS, id, p.data, p.len);
	rec(b, PARAMS, id, "", 0);
	for (size_t at = 0; at < n; at += chunk)
		rec(b, STDIN_, id, body + at, n - at < chunk ? n - at : chunk);
	rec(b, STDIN_, id, "", 0);
	buf_free(&p);
}

static fcgi_parser *parser(size_t cap)
{
	fcgi_parser *p = NULL;

	ck_assert_int_eq(fcgi_parser_create(cap, &p), ATT_OK);
	return p;
}

/* --------------------------------------------------------------- proto */

START_TEST(test_fcgi_request_whole_and_bytewise)
{
	buf in = BUF_INIT;

	request(&in, 1, 1, "POST", "{\"a\":1}", 3);
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		fcgi_parser *p = parser(1 << 20);
		fcgi_request r;
		buf reply = BUF_INIT;
		fcgi_event ev = FCGI_NEED_MORE;

		if (bytewise) {
			for (size_t i = 0; i < in.len && ev == FCGI_NEED_MORE; i++) {
				ck_assert_int_eq(fcgi_parser_feed(p, in.data + i, 1), ATT_OK);
				ev = fcgi_parse(p, &r, &reply);
			}
		} else {
			ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
			ev = fcgi_parse(p, &r, &reply);
		}
		ck_assert_int_eq(ev, FCGI_REQUEST);
		ck_assert_int_eq(r.id, 1);
		ck_assert_int_eq(r.keep_conn, 1);
		ck_assert_uint_eq(r.nparams, 2);
		ck_assert_str_eq(fcgi_request_param(&r, "REQUEST_METHOD"), "POST");
		ck_assert_str_eq(fcgi_request_param(&r, "CONTENT_LENGTH"), "7");
		ck_assert_ptr_null(fcgi_request_param(&r, "QUERY_STRING"));
		ck_assert_uint_eq(r.body_len, 7);
		ck_assert_int_eq(memcmp(r.body, "{\"a\":1}", 7), 0);
		ck_assert_int_eq(r.body_more, 0);
		ck_assert_uint_eq(reply.len, 0);
		ck_assert_uint_eq(fcgi_parser_pending(p), 0);
		fcgi_request_free(&r);
		fcgi_request_free(NULL);
		fcgi_parser_free(p);
	}
	fcgi_parser_free(NULL);
	buf_free(&in);
}
END_TEST

/* Names and values of 128 bytes and more take 4-byte lengths; two
 * requests back to back on a kept-alive connection come out one by one. */
START_TEST(test_fcgi_long_pairs_and_two_requests)
{
	buf in = BUF_INIT, p = BUF_INIT, reply = BUF_INIT;
	char name[200], value[70000];
	fcgi_parser *ps = parser(1 << 20);
	fcgi_request r;

	memset(name, 'N', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	begin(&in, 7, 1, 0);
	pair(&p, name, value);
	pair(&p, "EMPTY", "");
	/* The PARAMS stream may cut a pair anywhere between records. */
	rec(&in, PARAMS, 7, p.data, 40000);
	rec(&in, PARAMS, 7, p.data + 40000, p.len - 40000);
	rec(&in, PARAMS, 7, "", 0);
	rec(&in, STDIN_, 7, "", 0);
	request(&in, 8, 1, "GET", "", 1);
	ck_assert_int_eq(fcgi_parser_feed(ps, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(ps, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.keep_conn, 0);
	ck_assert_str_eq(fcgi_request_param(&r, name), value);
	ck_assert_str_eq(fcgi_request_param(&r, "EMPTY"), "");
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_ptr_nonnull(r.body);
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(ps, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.id, 8);
	ck_assert_str_eq(fcgi_request_param(&r, "REQUEST_METHOD"), "GET");
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(ps, &r, &reply), FCGI_NEED_MORE);
	fcgi_parser_free(ps);
	buf_free(&in);
	buf_free(&p);
	buf_free(&reply);
}
END_TEST

/* A request without any parameter bytes (found by fuzz_fcgi: the
 * decoder did pointer arithmetic on a NULL buffer). */
START_TEST(test_fcgi_no_params)
{
	buf in = BUF_INIT, reply = BUF_INIT;
	fcgi_parser *p = parser(16);
	fcgi_request r;

	begin(&in, 1, 1, 0);
	rec(&in, PARAMS, 1, "", 0);
	rec(&in, STDIN_, 1, "", 0);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_uint_eq(r.nparams, 0);
	ck_assert_ptr_null(fcgi_request_param(&r, "REQUEST_METHOD"));
	fcgi_request_free(&r);
	fcgi_parser_free(p);
	buf_free(&in);
	buf_free(&reply);
}
END_TEST

/* The END_REQUEST of a refusal: type 3, id, appStatus 0, protocolStatus. */
static void expect_end(const buf *reply, size_t at, int id, int status)
{
	const unsigned char *h;

	ck_assert_uint_ge(reply->len, at + 16);
	h = (const unsigned char *)reply->data + at;
	ck_assert_int_eq(h[1], END);
	ck_assert_int_eq((h[2] << 8) | h[3], id);
	ck_assert_int_eq(h[5], 8);
	ck_assert_int_eq(h[8 + 4], status);
}

/* A second request while one is open (multiplexing), an unknown role and
 * an abort are answered with END_REQUEST; the open request goes on. */
START_TEST(test_fcgi_refusals)
{
	buf in = BUF_INIT, reply = BUF_INIT;
	fcgi_parser *p = parser(1 << 20);
	fcgi_request r;

	begin(&in, 1, 1, 1);
	begin(&in, 2, 1, 1);
	begin(&in, 3, 2 /* AUTHORIZER */, 1);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	/* an empty STDOUT, then END_REQUEST */
	expect_end(&reply, 8, 2, FCGI_CANT_MPX_CONN);
	buf_reset(&reply);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	expect_end(&reply, 8, 3, FCGI_CANT_MPX_CONN);
	buf_reset(&reply);
	buf_reset(&in);
	/* Records of the refused ids are ignored; request 1 completes. */
	rec(&in, PARAMS, 2,
	    "\x01\x01"
	    "ab",
	    4);
	rec(&in, PARAMS, 1, "", 0);
	rec(&in, STDIN_, 1, "", 0);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	fcgi_request_free(&r);
	/* Now idle: an unknown role is refused as such. */
	buf_reset(&in);
	begin(&in, 4, 2, 1);
	begin(&in, 5, 1, 1);
	rec(&in, ABORT, 5, "", 0);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	expect_end(&reply, 8, 4, FCGI_UNKNOWN_ROLE);
	buf_reset(&reply);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	expect_end(&reply, 8, 5, FCGI_REQUEST_COMPLETE);
	fcgi_parser_free(p);
	buf_free(&in);
	buf_free(&reply);
}
END_TEST

START_TEST(test_fcgi_management_records)
{
	buf in = BUF_INIT, q = BUF_INIT, reply = BUF_INIT;
	fcgi_parser *p = parser(1 << 20);
	fcgi_request r;
	const unsigned char *h;

	pair(&q, "FCGI_MAX_CONNS", "");
	pair(&q, "FCGI_MPXS_CONNS", "");
	rec(&in, GET_VALUES, 0, q.data, q.len);
	rec(&in, 42, 0, "", 0);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	h = (const unsigned char *)reply.data;
	ck_assert_int_eq(h[1], GET_VALUES_RESULT);
	ck_assert_int_eq(h[5], 18);
	ck_assert_int_eq(memcmp(reply.data + 8,
				"\x0f\x01"
				"FCGI_MPXS_CONNS0",
				18),
			 0);
	buf_reset(&reply);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	h = (const unsigned char *)reply.data;
	ck_assert_int_eq(h[1], UNKNOWN_TYPE);
	ck_assert_int_eq(h[8], 42);
	fcgi_parser_free(p);
	buf_free(&in);
	buf_free(&q);
	buf_free(&reply);
}
END_TEST

/* Each of these closes the connection (FCGI_BAD). */
START_TEST(test_fcgi_protocol_errors)
{
	static const char *const what[] = {
		"version 2",	    "pair longer than its record", "STDIN before the end of PARAMS",
		"BEGIN of 7 bytes", "parameters over the limit",   "unknown application record"};

	for (int k = 0; k < 6; k++) {
		buf in = BUF_INIT, reply = BUF_INIT;
		fcgi_parser *p = parser(1 << 20);
		fcgi_request r;
		fcgi_event ev = FCGI_NEED_MORE;

		switch (k) {
		case 0:
			begin(&in, 1, 1, 1);
			in.data[0] = 2;
			break;
		case 1:
			begin(&in, 1, 1, 1);
			rec(&in, PARAMS, 1,
			    "\x05\x01"
			    "ab",
			    4);
			rec(&in, PARAMS, 1, "", 0);
			rec(&in, STDIN_, 1, "", 0);
			break;
		case 2:
			begin(&in, 1, 1, 1);
			rec(&in, STDIN_, 1, "x", 1);
			break;
		case 3:
			rec(&in, BEGIN, 1, "\0\1\1\0\0\0\0", 7);
			break;
		case 4: {
			char big[60000];
			memset(big, 'x', sizeof big);
			begin(&in, 1, 1, 1);
			for (int i = 0; i < 6; i++)
				rec(&in, PARAMS, 1, big, sizeof big);
			break;
		}
		default:
			begin(&in, 1, 1, 1);
			rec(&in, 42, 1, "", 0);
		}
		ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
		for (int i = 0; i < 10 && ev != FCGI_BAD; i++) {
			ev = fcgi_parse(p, &r, &reply);
			if (ev == FCGI_REQUEST)
				fcgi_request_free(&r);
		}
		ck_assert_msg(ev == FCGI_BAD, "%s: not refused", what[k]);
		fcgi_parser_free(p);
		buf_free(&in);
		buf_free(&reply);
	}
}
END_TEST

/* A body longer than the cap: the request comes when the cap is reached,
 * the rest streams through fcgi_parser_body, then the next request. */
START_TEST(test_fcgi_streaming_body)
{
	char body[1000], got[1000];
	buf in = BUF_INIT, reply = BUF_INIT;
	fcgi_parser *p = parser(100);
	fcgi_request r;
	size_t have, n = 0;
	int rc = 0;

	for (size_t i = 0; i < sizeof body - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof body - 1] = '\0';
	request(&in, 1, 1, "POST", body, 64);
	request(&in, 2, 1, "GET", "", 1);
	/* Fed in two halves: the body streams across them. */
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, 400), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.body_more, 1);
	ck_assert_uint_ge(r.body_len, 100);
	memcpy(got, r.body, r.body_len);
	have = r.body_len;
	/* While the body streams, fcgi_parse waits. */
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_NEED_MORE);
	for (int fed = 0; rc != 1;) {
		rc = fcgi_parser_body(p, got + have, 37, &n);
		ck_assert_int_ge(rc, 0);
		have += n;
		if (rc == 0 && n == 0) {
			ck_assert_int_eq(fed, 0);
			ck_assert_int_eq(fcgi_parser_feed(p, in.data + 400, in.len - 400), ATT_OK);
			fed = 1;
		}
	}
	ck_assert_uint_eq(have, sizeof body - 1);
	ck_assert_int_eq(memcmp(got, body, have), 0);
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.id, 2);
	fcgi_request_free(&r);
	fcgi_parser_free(p);
	buf_free(&in);
	buf_free(&reply);
}
END_TEST

/* A body of exactly the cap streams on with nothing more to read (found
 * by fuzz_fcgi: a copy from the empty stream's NULL buffer). */
START_TEST(test_fcgi_streaming_body_exactly_cap)
{
	buf in = BUF_INIT, reply = BUF_INIT;
	fcgi_parser *p = parser(4);
	fcgi_request r;
	char sink[8];
	size_t got = 1;

	request(&in, 1, 0, "POST", "abcd", 4);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.body_more, 1);
	ck_assert_uint_eq(r.body_len, 4);
	ck_assert_int_eq(fcgi_parser_body(p, sink, sizeof sink, &got), 1);
	ck_assert_uint_eq(got, 0);
	fcgi_request_free(&r);
	fcgi_parser_free(p);
	buf_free(&in);
	buf_free(&reply);
}
END_TEST

/* -------------------------------------------------------------- server */

typedef struct fixture {
	char path[108];
	int listen_fd;
	fcgi_server *server;
	atomic_int served;
	atomic_int running, most_running; /* handlers inside echo at once */
	atomic_int gate;		  /* set by an OPEN request */
	int delay_ms;
} fixture;

/* Answers "<method> <body>" after delay_ms. */
static int echo(void *arg, http_param_fn param, http_read_fn read, void *io_ctx,
		http_write_fn write, void *write_ctx)
{
	fixture *f = arg;
	char body[4096] = "", out[4200];
	long n = read(io_ctx, body, sizeof body - 1), len;
	struct timespec t = {0, (long)f->delay_ms * 1000000L};

	int now = atomic_fetch_add(&f->running, 1) + 1;
	const char *method = param(io_ctx, "REQUEST_METHOD");

	if (n > 0)
		body[n] = '\0';
	for (int most = atomic_load(&f->most_running);
	     now > most && !atomic_compare_exchange_weak(&f->most_running, &most, now);)
		;
	if (strcmp(method, "OPEN") == 0)
		atomic_store(&f->gate, 1);
	if (strcmp(method, "WAIT") == 0) {
		/* waits for another request's work, as a coalesced write does */
		atomic_fetch_sub(&f->running, 1);
		blocking_begin();
		while (!atomic_load(&f->gate))
			nanosleep(&(struct timespec){0, 1000000L}, NULL);
		blocking_end();
		atomic_fetch_add(&f->running, 1);
	}
	nanosleep(&t, NULL);
	atomic_fetch_sub(&f->running, 1);
	len = snprintf(out, sizeof out, "Status: 200 OK\r\n\r\n%s %s",
		       param(io_ctx, "REQUEST_METHOD"), body);
	atomic_fetch_add(&f->served, 1);
	return write(write_ctx, out, (size_t)len) == 0 ? 200 : -1;
}

static int shed(void *arg, http_param_fn param, http_read_fn read, void *io_ctx,
		http_write_fn write, void *write_ctx)
{
	static const char out[] = "Status: 503 Service Unavailable\r\n\r\nshed";

	(void)arg;
	(void)param;
	(void)read;
	(void)io_ctx;
	return write(write_ctx, out, sizeof out - 1) == 0 ? 503 : -1;
}

static void fixture_start_drain(fixture *f, int threads, int delay_ms, long queue_timeout_ms,
				long drain_ms)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	fcgi_server_options opt = {.threads = threads,
				   .body_cap = 1 << 20,
				   .queue_timeout_ms = queue_timeout_ms,
				   .serve = echo,
				   .shed = shed,
				   .arg = f,
				   .drain_ms = drain_ms};

	memset(f, 0, sizeof *f);
	f->delay_ms = delay_ms;
	snprintf(f->path, sizeof f->path, "/tmp/check_fcgi.%ld.sock", (long)getpid());
	unlink(f->path);
	snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(f->listen_fd, 0);
	ck_assert_int_eq(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(f->listen_fd, 64), 0);
	opt.listen_fd = f->listen_fd;
	ck_assert_int_eq(fcgi_server_start(&opt, &f->server), ATT_OK);
}

static void fixture_start(fixture *f, int threads, int delay_ms, long queue_timeout_ms)
{
	fixture_start_drain(f, threads, delay_ms, queue_timeout_ms, 0);
}

static void fixture_stop(fixture *f)
{
	fcgi_server_stop(f->server);
	close(f->listen_fd);
	unlink(f->path);
}

static int client(const fixture *f)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void send_buf(int fd, const buf *b)
{
	ck_assert_int_eq(send(fd, b->data, b->len, MSG_NOSIGNAL), (ssize_t)b->len);
}

/* Reads records until END_REQUEST of id (within 5 s); returns the STDOUT
 * text in out. */
static void read_answer(int fd, int id, char *out, size_t cap)
{
	unsigned char h[8];
	size_t used = 0;

	out[0] = '\0';
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		size_t len, pad;
		char content[65536 + 256];

		ck_assert_msg(poll(&p, 1, 5000) == 1, "no answer within 5 s");
		ck_assert_int_eq(recv(fd, h, 8, MSG_WAITALL), 8);
		len = ((size_t)h[4] << 8) | h[5];
		pad = h[6];
		if (len + pad > 0)
			ck_assert_int_eq(recv(fd, content, len + pad, MSG_WAITALL),
					 (ssize_t)(len + pad));
		ck_assert_int_eq((h[2] << 8) | h[3], id);
		if (h[1] == END)
			return;
		ck_assert_int_eq(h[1], STDOUT_);
		if (used + len < cap) {
			memcpy(out + used, content, len);
			used += len;
			out[used] = '\0';
		}
	}
}

START_TEST(test_fcgi_server_keep_conn)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192];
	int fd;

	fixture_start(&f, 2, 0, 0);
	fd = client(&f);
	for (int i = 1; i <= 3; i++) {
		buf_reset(&b);
		request(&b, i, 1, "POST", "hello", 2);
		send_buf(fd, &b);
		read_answer(fd, i, out, sizeof out);
		ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPOST hello");
	}
	close(fd);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

static void *stop_server(void *arg)
{
	fcgi_server_stop(arg);
	return NULL;
}

/* A stopping server drains: it accepts no new connection, answers a
 * request that comes on a connection it has (nginx's old processes finish
 * what they sent after a reload) and returns once that connection is
 * closed, before drain_ms is up. */
START_TEST(test_fcgi_server_drains_on_stop)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192];
	pthread_t t;
	struct pollfd p;
	long long t0;
	int fd, late;

	fixture_start_drain(&f, 2, 0, 0, 10000);
	fd = client(&f);
	request(&b, 1, 1, "GET", "", 0);
	send_buf(fd, &b);
	read_answer(fd, 1, out, sizeof out);
	t0 = clock_monotonic_ms(NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, stop_server, f.server), 0);
	usleep(300 * 1000); /* the loop has seen the stop */
	buf_reset(&b);
	request(&b, 2, 1, "POST", "late", 16);
	send_buf(fd, &b);
	read_answer(fd, 2, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPOST late");
	/* no new connection is served while draining */
	late = client(&f);
	buf_reset(&b);
	request(&b, 1, 1, "GET", "", 0);
	send_buf(late, &b);
	p = (struct pollfd){late, POLLIN, 0};
	ck_assert_int_eq(poll(&p, 1, 300), 0);
	close(fd); /* nginx closes its kept-alive connection: the drain ends */
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_lt(clock_monotonic_ms(NULL) - t0, 5000);
	close(late);
	close(f.listen_fd);
	unlink(f.path);
	buf_free(&b);
}
END_TEST

/* With one thread, a kept-alive connection left idle after its request,
 * and one with half a request, must not stand in the way of a request on
 * another connection (libfcgi's thread stayed with its connection until
 * nginx closed it); both carry on afterwards. */
START_TEST(test_fcgi_server_idle_conn_costs_no_thread)
{
	fixture f;
	buf b = BUF_INIT, rest = BUF_INIT, p = BUF_INIT;
	char out[8192];
	int idle, half, other;

	fixture_start(&f, 1, 200, 0);
	idle = client(&f);
	request(&b, 1, 1, "GET", "", 1);
	send_buf(idle, &b);
	read_answer(idle, 1, out, sizeof out);
	/* half: BEGIN and part of the parameters only. */
	half = client(&f);
	buf_reset(&b);
	begin(&b, 1, 1, 1);
	pair(&p, "REQUEST_METHOD", "POST");
	rec(&b, PARAMS, 1, p.data, p.len);
	send_buf(half, &b);
	other = client(&f);
	buf_reset(&b);
	request(&b, 1, 0, "PATCH", "x", 1);
	send_buf(other, &b);
	read_answer(other, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPATCH x");
	/* idle is still open and serves its next request. */
	buf_reset(&b);
	request(&b, 2, 1, "GET", "", 1);
	send_buf(idle, &b);
	read_answer(idle, 2, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nGET ");
	/* half goes on where it stopped. */
	rec(&rest, PARAMS, 1, "", 0);
	rec(&rest, STDIN_, 1, "", 0);
	send_buf(half, &rest);
	read_answer(half, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPOST ");
	close(idle);
	close(half);
	close(other);
	fixture_stop(&f);
	buf_free(&b);
	buf_free(&rest);
	buf_free(&p);
}
END_TEST

/* Many threads are started, but no more than `threads` requests run at
 * once: five requests at once on five connections, threads 2. */
START_TEST(test_fcgi_server_runs_threads_at_once)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192];
	int fd[5];

	fixture_start(&f, 2, 50, 0);
	for (int i = 0; i < 5; i++) {
		fd[i] = client(&f);
		buf_reset(&b);
		request(&b, 1, 0, "POST", "x", 1);
		send_buf(fd[i], &b);
	}
	for (int i = 0; i < 5; i++) {
		read_answer(fd[i], 1, out, sizeof out);
		ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPOST x");
		close(fd[i]);
	}
	ck_assert_int_eq(atomic_load(&f.served), 5);
	ck_assert_int_le(atomic_load(&f.most_running), 2);
	ck_assert_int_ge(atomic_load(&f.most_running), 1);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

/* With one thread's turn, a request that waits for another request's work
 * (blocking_begin, as a write waits for its coalesced batch) gives its
 * turn up: the other request runs, and both answer. Without parking they
 * would wait for each other forever. */
START_TEST(test_fcgi_server_parked_thread_gives_up_its_turn)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192];
	int waiter, opener;
	fcgi_server_stats st;

	fixture_start(&f, 1, 0, 0);
	waiter = client(&f);
	request(&b, 1, 0, "WAIT", "", 1);
	send_buf(waiter, &b);
	for (int i = 0; i < 5000; i++) {
		fcgi_server_get_stats(f.server, &st);
		if (st.parked == 1)
			break;
		nanosleep(&(struct timespec){0, 1000000L}, NULL);
	}
	ck_assert_uint_eq(st.parked, 1);
	opener = client(&f);
	buf_reset(&b);
	request(&b, 1, 0, "OPEN", "", 1);
	send_buf(opener, &b);
	read_answer(opener, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nOPEN ");
	read_answer(waiter, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nWAIT ");
	fcgi_server_get_stats(f.server, &st);
	ck_assert_uint_eq(st.parked, 0);
	close(waiter);
	close(opener);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

/* One thread busy 300 ms per request, queue timeout 100 ms: of three
 * requests sent at once, the first is served and at least the last is
 * shed. */
START_TEST(test_fcgi_server_sheds_after_queue_timeout)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192];
	int fds[3], shed_count = 0;
	fcgi_server_stats st;

	fixture_start(&f, 1, 300, 100);
	for (int i = 0; i < 3; i++) {
		fds[i] = client(&f);
		buf_reset(&b);
		request(&b, 1, 0, "GET", "", 1);
		send_buf(fds[i], &b);
	}
	for (int i = 0; i < 3; i++) {
		read_answer(fds[i], 1, out, sizeof out);
		shed_count += strstr(out, "shed") != NULL;
		close(fds[i]);
	}
	fcgi_server_get_stats(f.server, &st);
	ck_assert_int_ge(shed_count, 1);
	ck_assert_int_le(shed_count, 2);
	ck_assert_uint_eq(st.shed, (unsigned)shed_count);
	ck_assert_uint_eq(st.requests, 3);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

/* A protocol error closes that connection, nothing else. */
START_TEST(test_fcgi_server_protocol_error_closes)
{
	fixture f;
	buf b = BUF_INIT;
	char out[8192], c;
	int bad, good;
	struct pollfd p;

	fixture_start(&f, 1, 0, 0);
	bad = client(&f);
	ck_assert_int_eq(write(bad, "\x02garbage", 8), 8);
	p = (struct pollfd){bad, POLLIN, 0};
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(read(bad, &c, 1), 0);
	good = client(&f);
	request(&b, 1, 0, "GET", "", 1);
	send_buf(good, &b);
	read_answer(good, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nGET ");
	close(bad);
	close(good);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

Suite *fcgi_suite(void)
{
	Suite *s = suite_create("fcgi");
	TCase *tc = check_tcase(s, "proto", NULL, NULL);

	tcase_add_test(tc, test_fcgi_request_whole_and_bytewise);
	tcase_add_test(tc, test_fcgi_long_pairs_and_two_requests);
	tcase_add_test(tc, test_fcgi_no_params);
	tcase_add_test(tc, test_fcgi_refusals);
	tcase_add_test(tc, test_fcgi_management_records);
	tcase_add_test(tc, test_fcgi_protocol_errors);
	tcase_add_test(tc, test_fcgi_streaming_body);
	tcase_add_test(tc, test_fcgi_streaming_body_exactly_cap);
	tc = check_tcase(s, "server", NULL, NULL);
	tcase_set_timeout(tc, 3 * CHECK_TIMEOUT_S);
	tcase_add_test(tc, test_fcgi_server_keep_conn);
	tcase_add_test(tc, test_fcgi_server_drains_on_stop);
	tcase_add_test(tc, test_fcgi_server_idle_conn_costs_no_thread);
	tcase_add_test(tc, test_fcgi_server_runs_threads_at_once);
	tcase_add_test(tc, test_fcgi_server_parked_thread_gives_up_its_turn);
	tcase_add_test(tc, test_fcgi_server_sheds_after_queue_timeout);
	tcase_add_test(tc, test_fcgi_server_protocol_error_closes);
	return s;
}
