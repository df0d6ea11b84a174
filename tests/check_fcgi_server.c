/* check_fcgi_server: the event-loop server (fcgi_server) over a real unix
 * socket: kept-alive connections, draining on stop, idle connections that
 * must not hold a thread, threads at once, shedding after the queue
 * timeout, protocol errors. */
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
#include "check_fcgi.h"
#include "check_suites.h"
#include "fcgi_proto.h"
#include "fcgi_server.h"

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
		fc_request(&b, i, 1, "POST", "hello", 2);
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
	fc_request(&b, 1, 1, "GET", "", 0);
	send_buf(fd, &b);
	read_answer(fd, 1, out, sizeof out);
	t0 = clock_monotonic_ms(NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, stop_server, f.server), 0);
	usleep(300 * 1000); /* the loop has seen the stop */
	buf_reset(&b);
	fc_request(&b, 2, 1, "POST", "late", 16);
	send_buf(fd, &b);
	read_answer(fd, 2, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPOST late");
	/* no new connection is served while draining */
	late = client(&f);
	buf_reset(&b);
	fc_request(&b, 1, 1, "GET", "", 0);
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
	fc_request(&b, 1, 1, "GET", "", 1);
	send_buf(idle, &b);
	read_answer(idle, 1, out, sizeof out);
	/* half: BEGIN and part of the parameters only. */
	half = client(&f);
	buf_reset(&b);
	fc_begin(&b, 1, 1, 1);
	fc_pair(&p, "REQUEST_METHOD", "POST");
	fc_rec(&b, PARAMS, 1, p.data, p.len);
	send_buf(half, &b);
	other = client(&f);
	buf_reset(&b);
	fc_request(&b, 1, 0, "PATCH", "x", 1);
	send_buf(other, &b);
	read_answer(other, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nPATCH x");
	/* idle is still open and serves its next request. */
	buf_reset(&b);
	fc_request(&b, 2, 1, "GET", "", 1);
	send_buf(idle, &b);
	read_answer(idle, 2, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nGET ");
	/* half goes on where it stopped. */
	fc_rec(&rest, PARAMS, 1, "", 0);
	fc_rec(&rest, STDIN_, 1, "", 0);
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
		fc_request(&b, 1, 0, "POST", "x", 1);
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
	fc_request(&b, 1, 0, "WAIT", "", 1);
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
	fc_request(&b, 1, 0, "OPEN", "", 1);
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
		fc_request(&b, 1, 0, "GET", "", 1);
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
	fc_request(&b, 1, 0, "GET", "", 1);
	send_buf(good, &b);
	read_answer(good, 1, out, sizeof out);
	ck_assert_str_eq(out, "Status: 200 OK\r\n\r\nGET ");
	close(bad);
	close(good);
	fixture_stop(&f);
	buf_free(&b);
}
END_TEST

void fcgi_server_cases(Suite *s)
{
	TCase *tc;

	tc = check_tcase(s, "server", NULL, NULL, test_fcgi_server_keep_conn,
			 test_fcgi_server_drains_on_stop,
			 test_fcgi_server_idle_conn_costs_no_thread,
			 test_fcgi_server_runs_threads_at_once,
			 test_fcgi_server_parked_thread_gives_up_its_turn,
			 test_fcgi_server_sheds_after_queue_timeout,
			 test_fcgi_server_protocol_error_closes, NULL);
	tcase_set_timeout(tc, 3 * CHECK_TIMEOUT_S);
}
