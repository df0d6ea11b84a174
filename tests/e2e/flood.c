/* flood: one hostile student against everyone else (issue 14). A student
 * fills its own attempt to the limits (~1 MB of answers and auto-save
 * data) and floods batch reads of it - multiple_states and query with the
 * id 100 times - from 16 connections, while another student saves on a
 * fixed schedule (open loop: every 20 ms; a save's latency counts from
 * when it was due, so a stall delays and is charged to every save behind
 * it). The same schedule first runs without the flood, as the baseline.
 *
 * Checks: every save of the other student succeeds; with -l, their p99
 * stays within that many ms (a benchmark's check: the pass/fail test in
 * tests/e2e/security_test.sh gives none, timing on a shared machine is
 * noise; it prints the figures); each worker's peak RSS (VmHWM) stays under
 * -m MiB (default 256), and after the flood its RSS is back within 64 MiB
 * of where it started; the flood's answers are 200, 413 or 429 only.
 * Prints the figures (latencies with and without the flood, answers per
 * status, bytes the flood received, RSS per worker) and `flood: N passed,
 * N failed`. Exit 0 when every check passed, 1 otherwise, 2 on bad usage,
 * 77 (skip) when ATTEMPTS_TEST_URL or ATTEMPTS_JWT_SECRET is not set.
 *
 * Usage: flood [-d SECONDS] [-c CONNECTIONS] [-l P99_MS] [-m MIB] PID...
 *   PIDs: the worker processes whose memory is watched. */
#include <cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "fill.h"
#include "http_client.h"
#include "uuid.h"

#define SAVE_EVERY_MS 20
#define MAX_PIDS 64
#define MAX_SAVES 100000

static const char *g_url, *g_secret;
static int n_pass, n_fail;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	ok ? n_pass++ : n_fail++;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

typedef struct who {
	char sub[UUID_STR_LEN + 1];
	char auth[AUTH_MAX_TOKEN_LEN + 32];
} who;

static void who_new(who *w, auth_role role)
{
	time_t now = time(NULL);
	char *token;

	if (uuid_generate(w->sub) != ATT_OK ||
	    (token = auth_sign(w->sub, role, now, now + 7200, g_secret, strlen(g_secret))) ==
		    NULL) {
		fprintf(stderr, "flood: cannot make a token\n");
		exit(1);
	}
	snprintf(w->auth, sizeof w->auth, "Authorization: Bearer %s", token);
	free(token);
}

/* One JSON request as w; exits on a failed exchange or an unexpected
 * status (set-up only). Returns the parsed body. */
static cJSON *must(const who *w, const char *method, const char *path, const char *body, int want)
{
	const char *headers[] = {w->auth, "Content-Type: application/json", NULL};
	http_client_response r;
	cJSON *j;

	if (http_client_request(g_url, method, path, headers, body, body ? strlen(body) : 0, &r) !=
		    0 ||
	    r.status != want) {
		fprintf(stderr, "flood: %s %s: %d %.300s %s\n", method, path, r.status,
			r.body ? r.body : "", r.error);
		exit(1);
	}
	j = cJSON_Parse(r.body);
	http_client_response_free(&r);
	return j;
}

/* Starts w's attempt at exam; writes its id. */
static void start(const who *w, const char *exam, char id[UUID_STR_LEN + 1])
{
	char body[128];
	cJSON *j;

	snprintf(body, sizeof body, "{\"exam_id\":\"%s\"}", exam);
	j = must(w, "POST", "/api/attempts/new?action=start", body, 201);
	snprintf(id, UUID_STR_LEN + 1, "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(j, "attempt_id")));
	cJSON_Delete(j);
}

/* ~1 MB: 500,000 bytes of answers (under the 512 KiB limit), as many of
 * auto-save data. */
static void fill(const who *w, const char *id)
{
	char *body = fill_big_save(500000), path[128];

	if (body == NULL)
		exit(1);
	snprintf(path, sizeof path, "/api/attempts/%s?action=save", id);
	cJSON_Delete(must(w, "PATCH", path, body, 200));
	free(body);
}

/* ------------------------------------------------------------ the flood */

typedef struct flood {
	const who *student;
	char body[2][9000]; /* multiple_states, query: the id 100 times */
	atomic_int stop;
	atomic_long by_status[600];
	atomic_long bytes;
	atomic_long other;
} flood;

static void flood_bodies(flood *f, const char *id)
{
	size_t a = 0, b = 0;

	a += (size_t)snprintf(f->body[0], sizeof f->body[0],
			      "{\"operation\":\"multiple_states\",\"data\":[");
	b += (size_t)snprintf(f->body[1], sizeof f->body[1], "{\"operation\":\"query\",\"data\":[");
	for (int i = 0; i < 100; i++) {
		a += (size_t)snprintf(f->body[0] + a, sizeof f->body[0] - a, "%s\"%s\"",
				      i ? "," : "", id);
		b += (size_t)snprintf(f->body[1] + b, sizeof f->body[1] - b,
				      "%s{\"type\":\"state\",\"attempt_id\":\"%s\"}", i ? "," : "",
				      id);
	}
	snprintf(f->body[0] + a, sizeof f->body[0] - a, "]}");
	snprintf(f->body[1] + b, sizeof f->body[1] - b, "]}");
}

static void *flooder(void *arg)
{
	flood *f = arg;
	const char *headers[] = {f->student->auth, "Content-Type: application/json", NULL};

	for (unsigned k = 0; !atomic_load(&f->stop); k++) {
		const char *body = f->body[k % 2];
		http_client_response r;

		if (http_client_request(g_url, "POST", "/api/attempts/any-id?action=batch", headers,
					body, strlen(body), &r) != 0)
			atomic_fetch_add(&f->other, 1);
		else if (r.status > 0 && r.status < 600)
			atomic_fetch_add(&f->by_status[r.status], 1);
		atomic_fetch_add(&f->bytes, (long)r.body_len);
		http_client_response_free(&r);
	}
	return NULL;
}

/* ------------------------------------------------------------ the saves */

typedef struct saves {
	int n, failed;
	double lat[MAX_SAVES];
} saves;

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double pct(saves *s, double p)
{
	int i = (int)(p * (s->n - 1) + 0.5);

	return s->n ? s->lat[i] : 0;
}

/* Saves w's attempt every SAVE_EVERY_MS for secs seconds, open loop;
 * latencies (from when each save was due) into *out, sorted. */
static void save_on_schedule(const who *w, const char *id, double secs, saves *out)
{
	const char *headers[] = {w->auth, "Content-Type: application/json", NULL};
	char path[128], body[96];
	double t0 = now_ms();

	snprintf(path, sizeof path, "/api/attempts/%s?action=save", id);
	out->n = out->failed = 0;
	for (int k = 0; out->n < MAX_SAVES; k++) {
		double due = t0 + k * SAVE_EVERY_MS, t;
		http_client_response r;
		int len;

		if (due > t0 + secs * 1000.0)
			break;
		while ((t = now_ms()) < due)
			usleep((useconds_t)((due - t) * 1000.0));
		len = snprintf(body, sizeof body, "{\"answers\":{\"q%d\":%d}}", k % 30, k);
		if (http_client_request(g_url, "PATCH", path, headers, body, (size_t)len, &r) !=
			    0 ||
		    r.status != 200)
			out->failed++;
		http_client_response_free(&r);
		out->lat[out->n++] = now_ms() - due;
	}
	qsort(out->lat, (size_t)out->n, sizeof out->lat[0], cmp_double);
}

/* ------------------------------------------------------------ memory */

/* A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
static long status_kib(int pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	static saves base, loaded;
	static flood f;
	int seconds = 10, conns = 16, opt, npids = 0, pids[MAX_PIDS];
	long p99_limit = 0, mib_limit = 256, rss0[MAX_PIDS];
	pthread_t th[256];
	who proctor, hostile, other;
	char exam[UUID_STR_LEN + 1], hostile_id[UUID_STR_LEN + 1], other_id[UUID_STR_LEN + 1];
	cJSON *j;
	long answers = 0;

	while ((opt = getopt(argc, argv, "d:c:l:m:")) != -1) {
		switch (opt) {
		case 'd':
			seconds = atoi(optarg);
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 'l':
			p99_limit = atol(optarg);
			break;
		case 'm':
			mib_limit = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: flood [-d S] [-c N] [-l P99_MS] [-m MIB] PID...\n");
			return 2;
		}
	}
	for (int i = optind; i < argc && npids < MAX_PIDS; i++)
		pids[npids++] = atoi(argv[i]);
	if (seconds < 1 || conns < 1 || conns > 256 || npids == 0) {
		fprintf(stderr, "flood: bad arguments\n");
		return 2;
	}
	g_url = getenv("ATTEMPTS_TEST_URL");
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	if (g_url == NULL || g_secret == NULL) {
		fprintf(stderr, "flood: ATTEMPTS_TEST_URL and ATTEMPTS_JWT_SECRET are needed\n");
		return 77;
	}

	who_new(&proctor, AUTH_ROLE_PROCTOR);
	who_new(&hostile, AUTH_ROLE_STUDENT);
	who_new(&other, AUTH_ROLE_STUDENT);
	j = must(&proctor, "POST", "/api/exams", "{\"title\":\"flood\",\"time_limit_s\":3600}",
		 201);
	snprintf(exam, sizeof exam, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "exam_id")));
	cJSON_Delete(j);
	start(&hostile, exam, hostile_id);
	start(&other, exam, other_id);
	fill(&hostile, hostile_id);
	flood_bodies(&f, hostile_id);
	f.student = &hostile;

	save_on_schedule(&other, other_id, 3, &base);
	for (int i = 0; i < npids; i++)
		rss0[i] = status_kib(pids[i], "VmRSS");
	for (int i = 0; i < conns; i++)
		if (pthread_create(&th[i], NULL, flooder, &f) != 0)
			return 1;
	save_on_schedule(&other, other_id, seconds, &loaded);
	atomic_store(&f.stop, 1);
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	sleep(1);

	printf("# saves every %d ms, alone: n=%d p50=%.1f p99=%.1f max=%.1f ms\n", SAVE_EVERY_MS,
	       base.n, pct(&base, 0.5), pct(&base, 0.99), pct(&base, 1.0));
	printf("# saves during the flood (%d connections, %d s): n=%d p50=%.1f p99=%.1f max=%.1f "
	       "ms; p99 ratio %.2f\n",
	       conns, seconds, loaded.n, pct(&loaded, 0.5), pct(&loaded, 0.99), pct(&loaded, 1.0),
	       pct(&base, 0.99) > 0 ? pct(&loaded, 0.99) / pct(&base, 0.99) : 0);
	printf("# flood answers:");
	for (int s = 0; s < 600; s++) {
		long n = atomic_load(&f.by_status[s]);
		if (n) {
			printf(" %d=%ld", s, n);
			answers += n;
		}
	}
	printf(" failed=%ld; %.1f MB received\n", atomic_load(&f.other),
	       (double)atomic_load(&f.bytes) / 1e6);
	check(loaded.failed == 0 && base.failed == 0,
	      "every save of the other student succeeded (%d and %d failed)", base.failed,
	      loaded.failed);
	if (p99_limit > 0)
		check(pct(&loaded, 0.99) <= (double)p99_limit,
		      "the other student's save p99 during the flood is %.1f ms (limit %ld ms; "
		      "alone %.1f ms)",
		      pct(&loaded, 0.99), p99_limit, pct(&base, 0.99));
	check(answers > 0 && atomic_load(&f.other) == 0 &&
		      answers == atomic_load(&f.by_status[200]) + atomic_load(&f.by_status[413]) +
					 atomic_load(&f.by_status[429]),
	      "the flood's %ld answers are 200, 413 or 429", answers);
	for (int i = 0; i < npids; i++) {
		long hwm = status_kib(pids[i], "VmHWM"), rss = status_kib(pids[i], "VmRSS");

		printf("# worker %d: RSS %ld KiB before the flood, peak %ld KiB, %ld KiB after\n",
		       pids[i], rss0[i], hwm, rss);
		check(hwm > 0 && hwm <= mib_limit * 1024, "worker %d peak RSS %.1f MiB <= %ld MiB",
		      pids[i], hwm / 1024.0, mib_limit);
		check(rss > 0 && rss <= rss0[i] + 64 * 1024,
		      "worker %d memory returns: %.1f MiB after, %.1f MiB before", pids[i],
		      rss / 1024.0, rss0[i] / 1024.0);
	}
	printf("flood: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
