/* check_live_feed: the live feed's HTTP POST against tiny servers on unix
 * sockets (answering, silent, absent), the status line parser, and the
 * host lock: one publisher at a time, another takes over when it goes. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_suites.h"
#include "clock.h"
#include "live_feed.h"

typedef struct server {
	char path[108];
	int fd;
	const char *answer; /* NULL: accept, read, never answer */
	char request[4096];
	size_t got;
	pthread_t thread;
} server;

/* Serves one connection: reads the request (head and Content-Length
 * body), answers srv->answer and closes; or holds the connection silent. */
static void *serve_one(void *arg)
{
	server *srv = arg;
	int c = accept(srv->fd, NULL, NULL);
	const char *end;

	if (c < 0)
		return NULL;
	for (;;) {
		ssize_t r = read(c, srv->request + srv->got, sizeof srv->request - 1 - srv->got);

		if (r <= 0)
			break;
		srv->got += (size_t)r;
		srv->request[srv->got] = '\0';
		end = strstr(srv->request, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(srv->request, "Content-Length: ");
			size_t want = (size_t)(end + 4 - srv->request) +
				      (cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0);
			if (srv->got >= want)
				break;
		}
	}
	if (srv->answer != NULL) {
		if (write(c, srv->answer, strlen(srv->answer)) < 0)
			perror("write");
	} else {
		sleep(2);
	}
	close(c);
	return NULL;
}

static void server_start(server *srv, const char *answer)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(srv, 0, sizeof *srv);
	snprintf(srv->path, sizeof srv->path, "/tmp/check_live_feed.%d.sock", (int)getpid());
	unlink(srv->path);
	srv->answer = answer;
	srv->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(srv->fd, 0);
	memcpy(sa.sun_path, srv->path, strlen(srv->path) + 1);
	ck_assert_int_eq(bind(srv->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(srv->fd, 4), 0);
	ck_assert_int_eq(pthread_create(&srv->thread, NULL, serve_one, srv), 0);
}

static void server_stop(server *srv)
{
	pthread_join(srv->thread, NULL);
	close(srv->fd);
	unlink(srv->path);
}

START_TEST(test_parse_status)
{
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 201 Created\r\n", 22), 201);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.0 404\r\n", 14), 404);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 202", 12), 202);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 20", 11), -1);
	ck_assert_int_eq(live_feed_parse_status("HTTP/2 200 OK\r\n", 15), -1);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 2x1 x", 14), -1);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 2011", 13), -1);
	ck_assert_int_eq(live_feed_parse_status("HTTP/1.1 099 x", 14), -1);
	ck_assert_int_eq(live_feed_parse_status("", 0), -1);
}
END_TEST

START_TEST(test_post_answered)
{
	server srv;
	const char *body = "{\"type\":\"changes\"}";
	int status = 0;

	server_start(&srv,
		     "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(live_feed_post(srv.path, "/_attempts_live_publish/x", body, strlen(body),
					1000, &status),
			 ATT_OK);
	server_stop(&srv);
	ck_assert_int_eq(status, 201);
	ck_assert_ptr_nonnull(strstr(srv.request, "POST /_attempts_live_publish/x HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.request, "Content-Length: 18\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.request, "Connection: close\r\n"));
	ck_assert_str_eq(strstr(srv.request, "\r\n\r\n") + 4, body);
}
END_TEST

START_TEST(test_post_refused_status)
{
	server srv;
	int status = 0;

	server_start(&srv, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(live_feed_post(srv.path, "/p", "{}", 2, 1000, &status), ATT_OK);
	server_stop(&srv);
	ck_assert_int_eq(status, 403);
}
END_TEST

START_TEST(test_post_no_server)
{
	int status = 7;
	long long t0 = clock_monotonic_ms(NULL);

	ck_assert_int_eq(
		live_feed_post("/tmp/check_live_feed.none.sock", "/p", "{}", 2, 1000, &status),
		ATT_EIO);
	ck_assert_int_eq(status, 7); /* untouched on failure */
	ck_assert_int_lt(clock_monotonic_ms(NULL) - t0, 500);
}
END_TEST

START_TEST(test_post_silent_server_times_out)
{
	server srv;
	int status = 0;
	long long t0 = clock_monotonic_ms(NULL), took;
	att_err err;

	server_start(&srv, NULL);
	err = live_feed_post(srv.path, "/p", "{}", 2, 300, &status);
	took = clock_monotonic_ms(NULL) - t0;
	server_stop(&srv);
	ck_assert_int_eq(err, ATT_ETIMEOUT);
	ck_assert_int_ge(took, 250);
	ck_assert_int_lt(took, 1500);
}
END_TEST

START_TEST(test_post_path_too_long)
{
	char path[200];
	int status;

	memset(path, 'a', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	ck_assert_int_eq(live_feed_post(path, "/p", "{}", 2, 100, &status), ATT_EINVAL);
}
END_TEST

START_TEST(test_free_null)
{
	live_feed_free(NULL);
}
END_TEST

/* Waits up to ms for lf to say whether it publishes; returns the last. */
static int wait_publisher(live_feed *lf, int want, int ms)
{
	live_feed_stats st;

	for (int waited = 0;; waited += 20) {
		live_feed_get_stats(lf, &st);
		if (st.publisher == want || waited >= ms)
			return st.publisher;
		usleep(20000);
	}
}

START_TEST(test_one_publisher_then_takeover)
{
	char lock[64];
	/* No database here: the feeds hold the lock and retry connecting. */
	live_feed_options o = {.conninfo = "host=/nonexistent-dir port=1 connect_timeout=1",
			       .socket_path = "/tmp/check_live_feed.pub.sock",
			       .lock_name = lock};
	live_feed *a = NULL, *b = NULL;
	live_feed_stats st;

	snprintf(lock, sizeof lock, "/check-live-feed-%d", (int)getpid());
	ck_assert_int_eq(live_feed_start(&o, &a), ATT_OK);
	ck_assert_int_eq(wait_publisher(a, 1, 3000), 1);
	ck_assert_int_eq(live_feed_start(&o, &b), ATT_OK);
	/* b tries (and fails) to take the lock at once, then once a second. */
	usleep(300000);
	ck_assert_int_eq(wait_publisher(b, 1, 0), 0);
	live_feed_get_stats(a, &st);
	ck_assert_int_eq(st.connected, 0);
	live_feed_free(a);
	ck_assert_int_eq(wait_publisher(b, 1, 3000), 1);
	live_feed_free(b);
	shm_unlink(lock);
}
END_TEST

void live_feed_cases(Suite *s)
{
	check_tcase(s, "core", NULL, NULL, test_parse_status, test_post_answered,
		    test_post_refused_status, test_post_no_server,
		    test_post_silent_server_times_out, test_post_path_too_long, test_free_null,
		    test_one_publisher_then_takeover, NULL);
}
