/* check_host_metrics: the host's table of per-process counters - counts
 * of two processes summed in one scrape, a dead process's slot adopted
 * with its counts kept, published counters and gauges, the families'
 * shape, the default name. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "host_metrics.h"

static const char *const ops[] = {"health", "state", "save"};
#define NOPS 3

static void test_name(char *out, size_t n, const char *what)
{
	snprintf(out, n, "/attempts-check-hm-%s-%ld", what, (long)getpid());
	shm_unlink(out);
}

/* The scrape of hm; the test frees it. */
static char *scrape(host_metrics *hm)
{
	buf b = BUF_INIT;
	char *t;

	host_metrics_render(hm, &b);
	t = buf_take(&b);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* The value of the sample line "series value" in text; -1 if absent. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* A sample line expected in a scrape: its series and its value. */
typedef struct series_value {
	const char *series;
	double value;
} series_value;

/* Asserts that each of the n series of want holds its value in text. */
static void expect_series(const char *text, const series_value *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double got = value_of(text, want[i].series);

		ck_assert_msg(got == want[i].value, "%s: %g, expected %g", want[i].series, got,
			      want[i].value);
	}
}

#define EXPECT_SERIES(text, table) expect_series(text, table, CHECK_ROWS(table))

/* Asserts that a scrape of hm holds the n series of want with their values. */
static void expect_scrape(host_metrics *hm, const series_value *want, size_t n)
{
	char *text = scrape(hm);

	expect_series(text, want, n);
	free(text);
}

#define EXPECT_SCRAPE(hm, table) expect_scrape(hm, table, CHECK_ROWS(table))

/* In a child: opens the table, counts n state requests with status 200
 * and publishes hits cache hits, then exits without closing (as a killed
 * worker would). Returns the child's pid once it is gone (not reaped). */
static pid_t child_counts(const char *name, int n, unsigned long long hits, int *slot_out)
{
	int fds[2];
	pid_t pid;
	int slot = -1;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		host_metrics *hm = NULL;
		host_metrics_sample s = {0};
		int info[2];

		if (host_metrics_open(name, ops, NOPS, &hm) != ATT_OK || !host_metrics_shared(hm))
			_exit(2);
		for (int i = 0; i < n; i++)
			host_metrics_record(hm, 1, 200, 1500, 1);
		s.cache_hits = hits;
		s.listener_connected = 1;
		host_metrics_publish(hm, &s);
		info[0] = host_metrics_slot(hm);
		info[1] = host_metrics_adopted(hm);
		if (write(fds[1], info, sizeof info) != (ssize_t)sizeof info)
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	{
		int info[2] = {-1, -1}, status = 0;
		ck_assert_int_eq(read(fds[0], info, sizeof info), (ssize_t)sizeof info);
		slot = info[0];
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(fds[0]);
	*slot_out = slot;
	return pid;
}

/* What the scrape of test_host_metrics_two_processes holds. */
static const series_value two_processes[] = {
	{"attempts_http_requests_total{action=\"state\",status=\"200\"}", 6},
	{"attempts_http_requests_total{action=\"health\",status=\"503\"}", 1},
	{"attempts_http_requests_total{action=\"none\",status=\"404\"}", 1},
	{"attempts_http_requests_total{action=\"save\",status=\"other\"}", 1},
	{"attempts_http_request_duration_seconds_bucket{action=\"state\",le=\"0.0005\"}", 1},
	{"attempts_http_request_duration_seconds_bucket{action=\"state\",le=\"0.0025\"}", 6},
	{"attempts_http_request_duration_seconds_bucket{action=\"state\",le=\"+Inf\"}", 6},
	{"attempts_http_request_duration_seconds_count{action=\"state\"}", 6},
	/* 20 s is above every bound: only +Inf holds it. */
	{"attempts_http_request_duration_seconds_bucket{action=\"health\",le=\"10\"}", 0},
	{"attempts_http_request_duration_seconds_bucket{action=\"health\",le=\"+Inf\"}", 1},
	{"attempts_db_calls_total", 7},
	{"attempts_cache_hits_total", 14},
	{"attempts_cache_misses_total", 1},
	/* Gauges: only the live process (the child is gone). */
	{"attempts_workers", 1},
	{"attempts_db_pool_connections{state=\"active\"}", 2},
	{"attempts_db_pool_connections{state=\"idle\"}", 1},
};

/* Two processes' counts are summed; the dead one's counts stay. */
START_TEST(test_host_metrics_two_processes)
{
	char name[64], *t;
	host_metrics *hm = NULL;
	host_metrics_sample s = {0};
	int child_slot;

	test_name(name, sizeof name, "two");
	ck_assert_int_eq(host_metrics_open(name, ops, NOPS, &hm), ATT_OK);
	ck_assert_int_eq(host_metrics_shared(hm), 1);
	ck_assert_int_eq(host_metrics_adopted(hm), 0);
	host_metrics_record(hm, 1, 200, 200, 2);
	host_metrics_record(hm, 0, 503, 20000000, 0);
	host_metrics_record(hm, -1, 404, 10, 0);
	host_metrics_record(hm, 2, 299, 10, 0);
	s.cache_hits = 4;
	s.cache_misses = 1;
	s.pool_active = 2;
	s.pool_idle = 1;
	s.breaker_state = 1;
	s.listener_connected = 0;
	host_metrics_publish(hm, &s);
	child_counts(name, 5, 10, &child_slot);
	ck_assert_int_ne(child_slot, host_metrics_slot(hm));
	t = scrape(hm);
	EXPECT_SERIES(t, two_processes);
	/* Zero series are left out. */
	ck_assert_ptr_null(strstr(t, "action=\"save\",status=\"200\""));
	ck_assert_double_eq_tol(
		value_of(t, "attempts_http_request_duration_seconds_sum{action=\"state\"}"), 0.0077,
		1e-9);
	{
		char series[96];
		snprintf(series, sizeof series, "attempts_breaker_state{pid=\"%ld\"}",
			 (long)getpid());
		ck_assert_double_eq(value_of(t, series), 1);
		snprintf(series, sizeof series, "attempts_listener_connected{pid=\"%ld\"}",
			 (long)getpid());
		ck_assert_double_eq(value_of(t, series), 0);
	}
	free(t);
	/* The last live process to close removes the object. */
	host_metrics_close(hm);
	ck_assert_int_lt(shm_open(name, O_RDWR, 0600), 0);
	shm_unlink(name);
}
END_TEST

/* What the scrape of test_host_metrics_adoption holds, before and after
 * this process publishes. */
static const series_value adopted[] = {
	{"attempts_http_requests_total{action=\"state\",status=\"200\"}", 5},
	{"attempts_cache_hits_total", 14},
	/* Not published yet: no live worker's gauges. */
	{"attempts_workers", 0},
};
static const series_value adopted_published[] = {
	{"attempts_cache_hits_total", 15},
	{"attempts_workers", 1},
};

/* A new process takes the dead one's slot and goes on from its counts:
 * nothing summed goes backwards, published counters included. */
START_TEST(test_host_metrics_adoption)
{
	char name[64];
	host_metrics *hm = NULL;
	int slot1, slot2;

	test_name(name, sizeof name, "adopt");
	child_counts(name, 3, 10, &slot1);
	child_counts(name, 2, 4, &slot2);
	ck_assert_int_eq(slot2, slot1);
	ck_assert_int_eq(host_metrics_open(name, ops, NOPS, &hm), ATT_OK);
	/* This process adopts it again. */
	ck_assert_int_eq(host_metrics_slot(hm), slot1);
	ck_assert_int_eq(host_metrics_adopted(hm), 1);
	EXPECT_SCRAPE(hm, adopted);
	{
		host_metrics_sample s = {0};
		s.cache_hits = 1;
		host_metrics_publish(hm, &s);
	}
	EXPECT_SCRAPE(hm, adopted_published);
	host_metrics_close(hm);
	shm_unlink(name);
}
END_TEST

/* A live process's slot is never taken: every process gets its own. */
START_TEST(test_host_metrics_live_slot_kept)
{
	char name[64];
	host_metrics *hm = NULL;
	pid_t child;
	int fds[2], slot = -1, status = 0;
	char go = 0;

	test_name(name, sizeof name, "live");
	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		host_metrics *mine = NULL;
		int s;
		if (host_metrics_open(name, ops, NOPS, &mine) != ATT_OK)
			_exit(2);
		s = host_metrics_slot(mine);
		if (write(fds[1], &s, sizeof s) != (ssize_t)sizeof s)
			_exit(3);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(fds[0], &slot, sizeof slot), (ssize_t)sizeof slot);
	ck_assert_int_eq(host_metrics_open(name, ops, NOPS, &hm), ATT_OK);
	ck_assert_int_ne(host_metrics_slot(hm), slot);
	ck_assert_int_eq(host_metrics_adopted(hm), 0);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	(void)go;
	close(fds[0]);
	close(fds[1]);
	host_metrics_close(hm);
	shm_unlink(name);
}
END_TEST

/* A private table (plain CGI): this process alone. */
static const series_value private_table[] = {
	{"attempts_http_requests_total{action=\"health\",status=\"200\"}", 1},
	{"attempts_workers", 1},
};

START_TEST(test_host_metrics_private)
{
	host_metrics *hm = NULL;
	host_metrics_sample s = {0};

	ck_assert_int_eq(host_metrics_open(NULL, ops, NOPS, &hm), ATT_OK);
	ck_assert_int_eq(host_metrics_shared(hm), 0);
	host_metrics_record(hm, 0, 200, 5, 1);
	host_metrics_publish(hm, &s);
	EXPECT_SCRAPE(hm, private_table);
	host_metrics_close(hm);
	host_metrics_close(NULL);
	host_metrics_record(NULL, 0, 200, 1, 1);
	host_metrics_publish(NULL, &s);
}
END_TEST

/* The coalescer's sizes in test_host_metrics_shape's scrape. */
static const series_value batch_sizes[] = {
	{"attempts_coalesced_batch_size_bucket{lane=\"writes\",le=\"1\"}", 3},
	{"attempts_coalesced_batch_size_bucket{lane=\"writes\",le=\"2\"}", 3},
	{"attempts_coalesced_batch_size_bucket{lane=\"writes\",le=\"4\"}", 5},
	{"attempts_coalesced_batch_size_bucket{lane=\"writes\",le=\"+Inf\"}", 5},
	{"attempts_coalesced_batch_size_sum{lane=\"writes\"}", 10},
	{"attempts_coalesced_batch_size_count{lane=\"writes\"}", 5},
	{"attempts_coalesced_batch_size_count{lane=\"reads\"}", 0},
};

/* Every family has HELP and TYPE once, before its samples; histograms end
 * in +Inf, _sum, _count; the coalescer's sizes are a histogram by lane. */
START_TEST(test_host_metrics_shape)
{
	static const char *const families[] = {"attempts_workers",
					       "attempts_http_requests_total",
					       "attempts_http_request_duration_seconds",
					       "attempts_db_calls_total",
					       "attempts_db_pool_connections",
					       "attempts_cache_hits_total",
					       "attempts_cache_misses_total",
					       "attempts_breaker_state",
					       "attempts_listener_connected",
					       "attempts_coalesced_batch_size",
					       NULL};
	host_metrics *hm = NULL;
	host_metrics_sample s = {0};
	char *t, pattern[128];

	ck_assert_int_eq(host_metrics_open(NULL, ops, NOPS, &hm), ATT_OK);
	s.batches[0][0] = 3; /* 3 writes alone */
	s.batches[0][2] = 2; /* 2 batches of 3..4 */
	s.batch_items[0] = 10;
	host_metrics_publish(hm, &s);
	t = scrape(hm);
	for (int i = 0; families[i] != NULL; i++) {
		char *help, *type;
		snprintf(pattern, sizeof pattern, "# HELP %s ", families[i]);
		help = strstr(t, pattern);
		ck_assert_msg(help != NULL, "no HELP for %s", families[i]);
		ck_assert_ptr_null(strstr(help + 1, pattern));
		snprintf(pattern, sizeof pattern, "\n# TYPE %s ", families[i]);
		type = strstr(t, pattern);
		ck_assert_msg(type != NULL && type > help, "TYPE of %s", families[i]);
	}
	EXPECT_SERIES(t, batch_sizes);
	ck_assert_int_eq(t[strlen(t) - 1], '\n');
	free(t);
	host_metrics_close(hm);
}
END_TEST

START_TEST(test_host_metrics_default_name)
{
	char name[96] = "", other[96] = "";
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int pipefd[2];

	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/attempts-check-hm-%ld.sock",
		 (long)getpid());
	unlink(addr.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	ck_assert_int_eq(host_metrics_default_name(fd, ops, NOPS, name, sizeof name), 0);
	ck_assert_msg(strncmp(name, "/attempts-metrics-", 18) == 0, "%s", name);
	/* Another list of operations is another table. */
	ck_assert_int_eq(host_metrics_default_name(fd, ops, NOPS - 1, other, sizeof other), 0);
	ck_assert_str_ne(name, other);
	close(fd);
	unlink(addr.sun_path);
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(host_metrics_default_name(pipefd[0], ops, NOPS, name, sizeof name), -1);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

void host_metrics_cases(Suite *s)
{
	check_tcase(s, "table", NULL, NULL, test_host_metrics_two_processes,
		    test_host_metrics_adoption, test_host_metrics_live_slot_kept,
		    test_host_metrics_private, test_host_metrics_shape,
		    test_host_metrics_default_name, NULL);
}
