/* hostile: a bounded run of hostile HTTP traffic against a running stack
 * (plain sockets to 127.0.0.1:PORT, no HTTP library), and the checks every
 * answer must pass.
 *
 * Traffic (default 20000 requests over 8 concurrent connections, one
 * request per connection): random bytes as bodies, huge headers (up to
 * ~16 KiB), deeply nested JSON (100000 '['), invalid UTF-8, NUL bytes in
 * bodies, paths and query strings, slow bodies (1 byte per 100 ms; some
 * give up, some finish), random methods, actions and paths, 2 MiB bodies,
 * bad Content-Length and Transfer-Encoding, and requests with valid
 * tokens and random bodies to every action.
 *
 * Checks: every answer comes within 10 s of the last byte sent (no hang);
 * every error (4xx and 5xx, nginx's own included) has exactly the error
 * shape of docs/API.md §3 ({"error": {"code", "message"[, "details"]}} in
 * JSON); a 2xx answers only a request that could be valid (a known route
 * and method with a valid token, or health), never one with someone
 * else's attempt in its path; no answer shows the foreign attempt's
 * marker; a 5xx, a 3xx or no answer at all is a failure unless its cause
 * is listed as explained (501 for a Transfer-Encoding nginx does not
 * implement, 505 for an HTTP version it does not speak; a client that
 * stopped sending its body may get no answer).
 * Prints the count per status with the share of non-JSON bodies and who
 * wrote them (nginx's own HTML pages, or the service), the count per kind
 * of traffic, every 5xx code, and one sample per failed check. Exit 0 when
 * every check passed, 1 otherwise, 2 on bad usage, 77 (skip) when
 * ATTEMPTS_TEST_URL or ATTEMPTS_JWT_SECRET is not set.
 *
 * After the run, a fixed check (-p PAIRS, default 200): a 16..160 KiB body the
 * service answers without reading, then a write, one after the other; the
 * write must get its own answer (a kept-alive FastCGI connection left
 * with unread input makes the next request on it fail with 502).
 *
 * Usage: hostile [-n REQUESTS] [-c CONNECTIONS] [-s SEED] [-1 INDEX] [-p PAIRS]
 *   -1 INDEX replays request INDEX of the run with that seed, verbosely.
 *   HOSTILE_LOG=FILE writes one line per exchange (index, status, kind,
 *   request line) to FILE.
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT: loopback only),
 * ATTEMPTS_JWT_SECRET (the stack's secret, to sign valid tokens),
 * optional ATTEMPTS_HOSTILE_FOREIGN_ATTEMPT: an attempt of somebody else
 * that the traffic aims at with other students' tokens only (so it must
 * come out unchanged, which the caller checks, and no 2xx may answer a
 * request with it in the path), and ATTEMPTS_HOSTILE_FOREIGN_MARKER: a
 * text (8+ characters) stored in that attempt that no answer may contain;
 * optional ATTEMPTS_HOSTILE_FCGI_SOCKET: the workers' FastCGI socket, for
 * the same keep-alive check spoken straight to a worker, without nginx's
 * timing in the way (deterministic). */
#include <cJSON.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "uuid.h"
#include "hostile.h"

char g_host[64];
int g_port;
static const char *g_secret;
const char *g_foreign; /* may be NULL */
const char *g_marker;  /* text in the foreign attempt: never answered */
FILE *g_log;	       /* HOSTILE_LOG: one line per exchange */

hostile_user g_students[NSTUDENTS], g_proctor, g_admin;
char g_exam[ID_LEN];
char *g_bad_tokens[3]; /* expired, wrong secret, unknown role */

/* ================================================================ setup */

/* One plain exchange for the setup; returns the parsed JSON (caller
 * deletes) or exits. */
static cJSON *setup_call(const char *method, const char *target, const char *token,
			 const char *body, int want)
{
	request q;
	answer a;
	cJSON *json;

	memset(&q, 0, sizeof q);
	head(&q.raw, method, target, token);
	finish(&q.raw, NULL, body, body ? strlen(body) : 0);
	perform(&q, &a);
	if (a.status != want) {
		fprintf(stderr, "hostile: setup %s %s: status %d (%s), want %d: %.300s\n", method,
			target, a.status, a.error, want, a.body.data ? a.body.data : "");
		exit(1);
	}
	json = cJSON_ParseWithLength(a.body.data, a.body.len);
	request_free(&q);
	buf_free(&a.body);
	return json;
}

static void copy_id(char out[ID_LEN], const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v) || !uuid_valid(v->valuestring)) {
		fprintf(stderr, "hostile: setup: no %s\n", key);
		exit(1);
	}
	memcpy(out, v->valuestring, ID_LEN);
}

static void user_make(hostile_user *u, auth_role role)
{
	time_t now = time(NULL);

	if (uuid_generate(u->sub) != ATT_OK)
		exit(1);
	u->role = role;
	u->token = auth_sign(u->sub, role, now, now + 7200, g_secret, strlen(g_secret));
	if (u->token == NULL)
		exit(1);
}

static void setup(void)
{
	time_t now = time(NULL);
	static const char other[] = "another secret that the stack does not know, 0123456789";
	char body[128], sub[ID_LEN];
	cJSON *o;

	user_make(&g_proctor, AUTH_ROLE_PROCTOR);
	user_make(&g_admin, AUTH_ROLE_ADMIN);
	o = setup_call("POST", "/api/exams", g_proctor.token,
		       "{\"title\":\"hostile\",\"time_limit_s\":86400,\"max_attempts\":3}", 201);
	copy_id(g_exam, o, "exam_id");
	cJSON_Delete(o);
	snprintf(body, sizeof body, "{\"exam_id\":\"%s\"}", g_exam);
	for (int i = 0; i < NSTUDENTS; i++) {
		user_make(&g_students[i], AUTH_ROLE_STUDENT);
		o = setup_call("POST", "/api/attempts/new?action=start", g_students[i].token, body,
			       201);
		copy_id(g_students[i].attempt, o, "attempt_id");
		cJSON_Delete(o);
	}
	if (uuid_generate(sub) != ATT_OK)
		exit(1);
	g_bad_tokens[0] =
		auth_sign(sub, AUTH_ROLE_ADMIN, now - 7200, now - 3600, g_secret, strlen(g_secret));
	g_bad_tokens[1] = auth_sign(sub, AUTH_ROLE_ADMIN, now, now + 3600, other, strlen(other));
	g_bad_tokens[2] = strdup("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.");
	if (g_bad_tokens[0] == NULL || g_bad_tokens[1] == NULL || g_bad_tokens[2] == NULL)
		exit(1);
}

/* ================================================================ the run */

typedef struct run {
	long n;
	long next;
	long slow_every;
	uint64_t seed;
	pthread_mutex_t lock;
} run;

static void one(run *ru, long index, stats *s, int verbose)
{
	request q;
	answer a;

	if (ru->slow_every > 0 && index % ru->slow_every == ru->slow_every / 2)
		slow_request(index / ru->slow_every, &q);
	else
		build(index, ru->seed, &q);
	perform(&q, &a);
	if (verbose) {
		char text[2048];
		printable(text, sizeof text, q.raw.data, q.raw.len < 1500 ? q.raw.len : 1500);
		printf("request #%ld (%s, %zu bytes): %s\n", index, kind_names[q.kind], q.raw.len,
		       text);
		printable(text, sizeof text, a.body.data ? a.body.data : "",
			  a.body.len < 1500 ? a.body.len : 1500);
		printf("answer: status %d, Content-Type %s%s%s\n%s\n", a.status, a.ctype,
		       a.error[0] ? ", " : "", a.error, text);
	}
	pthread_mutex_lock(&g_stats_lock);
	account(s, index, &q, &a);
	pthread_mutex_unlock(&g_stats_lock);
	request_free(&q);
	buf_free(&a.body);
}

static void *worker(void *arg)
{
	run *ru = arg;

	for (;;) {
		long index;

		pthread_mutex_lock(&ru->lock);
		index = ru->next < ru->n ? ru->next++ : -1;
		pthread_mutex_unlock(&ru->lock);
		if (index < 0)
			return NULL;
		one(ru, index, &g_stats, 0);
	}
}

static void report(const run *ru, double secs)
{
	const stats *s = &g_stats;
	long total_fail = 0;

	printf("hostile: %ld requests over %s:%d, seed %llu, %.1f s\n", ru->n, g_host, g_port,
	       (unsigned long long)ru->seed, secs);
	printf("  status   count  non-JSON (by nginx)  no X-Request-Id\n");
	for (int st = 0; st < 600; st++) {
		if (s->per_status[st] == 0)
			continue;
		printf("  %4d  %7ld  %5ld %5.1f%% (%ld)  %ld\n", st, s->per_status[st],
		       s->nonjson[st], 100.0 * (double)s->nonjson[st] / (double)s->per_status[st],
		       s->nonjson_nginx[st], s->no_request_id[st]);
	}
	printf("  slow bodies given up (no answer read): %ld; closed without an answer after the"
	       " client stopped sending (allowed): %ld\n",
	       s->slow_abandoned, s->closed_allowed);
	printf("  2xx to requests that could be valid: %ld; explained 5xx (501/505 from nginx): "
	       "%ld\n",
	       s->valid_2xx, s->explained_5xx);
	printf("  per kind of traffic:        count   none   1xx   2xx   3xx   4xx   5xx\n");
	for (int k = 0; k < K_NKINDS; k++)
		printf("    %-24s %7ld %6ld %5ld %5ld %5ld %5ld %5ld\n", kind_names[k],
		       s->kind_count[k], s->kind_status[k][0], s->kind_status[k][1],
		       s->kind_status[k][2], s->kind_status[k][3], s->kind_status[k][4],
		       s->kind_status[k][5]);
	printf("  5xx codes:");
	for (int st = 500; st < 600; st++)
		if (s->per_status[st])
			printf(" %d x%ld", st, s->per_status[st]);
	printf("\n  non-JSON samples:\n");
	for (int st = 0; st < 600; st++)
		if (s->nonjson_sample[st][0])
			printf("    %d: %s\n", st, s->nonjson_sample[st]);
	for (int f = 0; f < F_NFAILS; f++) {
		total_fail += s->fails[f];
		printf("%s - %s: %ld\n", s->fails[f] ? "FAIL" : "ok", fail_names[f], s->fails[f]);
		if (s->fails[f])
			printf("    first: %s\n", s->fail_sample[f]);
	}
	printf("hostile: %ld of %ld requests failed a check\n", total_fail, ru->n);
}

static int parse_url(const char *url)
{
	const char *p;
	char *end;
	size_t n;

	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	n = strcspn(p, ":/");
	if (n == 0 || n >= sizeof g_host || p[n] != ':')
		return -1;
	memcpy(g_host, p, n);
	g_host[n] = '\0';
	if (strcmp(g_host, "localhost") == 0)
		snprintf(g_host, sizeof g_host, "127.0.0.1");
	if (strcmp(g_host, "127.0.0.1") != 0) /* loopback only */
		return -1;
	g_port = (int)strtol(p + n + 1, &end, 10);
	if (g_port <= 0 || g_port > 65535 || (*end != '\0' && strcmp(end, "/") != 0))
		return -1;
	return 0;
}

/* Pairs, one after the other: a 16..160 KiB body the service answers without
 * reading (405: PATCH on a GET action, no token), then a write with no
 * token that must get its own 401. The write reaches the worker over a
 * kept-alive FastCGI connection, most likely the one the first request
 * used; nginx does not retry a POST elsewhere, so a connection left
 * unusable shows as a 502 here. The second client connects before the
 * first sends (as a busy client population does), which makes the
 * failure show more often. Returns the number of second requests that
 * did not answer 401. */
static long unread_body_pairs(int pairs)
{
	long bad = 0, first[600] = {0}, second[600] = {0}, bad_by_size[10] = {0};
	char sample[300] = "";

	for (int i = 0; i < pairs; i++) {
		/* 16..160 KiB: more than libfcgi's 8 KiB first read, less than
		 * nginx must still be sending when the answer comes. */
		int unread = (16 + 16 * (i % 10)) * 1024;
		int next = connect_local();
		request q;
		answer a;

		memset(&q, 0, sizeof q);
		head(&q.raw, "PATCH",
		     "/api/attempts/00000000-0000-4000-8000-000000000000?action=state", NULL);
		buf_printf(&q.raw, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			   unread);
		b_fill(&q.raw, '[', (size_t)unread);
		perform(&q, &a);
		first[a.status >= 0 && a.status < 600 ? a.status : 0]++;
		request_free(&q);
		buf_free(&a.body);

		memset(&q, 0, sizeof q);
		head(&q.raw, "POST", "/api/exams", NULL);
		finish(&q.raw, NULL, "{\"title\":\"x\"}", 13);
		perform_on(next, &q, &a);
		second[a.status >= 0 && a.status < 600 ? a.status : 0]++;
		if (a.status != 401) {
			bad++;
			bad_by_size[i % 10]++;
			if (sample[0] == '\0')
				printable(sample, sizeof sample,
					  a.body.data ? a.body.data : a.error,
					  a.body.data ? (a.body.len < 200 ? a.body.len : 200)
						      : strlen(a.error));
		}
		request_free(&q);
		buf_free(&a.body);
	}
	printf("  unread-body pairs: %d; first answers:", pairs);
	for (int st = 0; st < 600; st++)
		if (first[st])
			printf(" %d x%ld", st, first[st]);
	printf("; second answers:");
	for (int st = 0; st < 600; st++)
		if (second[st])
			printf(" %d x%ld", st, second[st]);
	printf("; failed per unread size (KiB):");
	for (int k = 0; k < 10; k++)
		printf(" %d:%ld", 16 + 16 * k, bad_by_size[k]);
	printf("\n%s - a write after an unread 16..160 KiB body gets its own 401: %ld of %d did "
	       "not\n",
	       bad ? "FAIL" : "ok", bad, pairs);
	if (bad)
		printf("    first: %s\n", sample);
	return bad;
}

int main(int argc, char **argv)
{
	run ru = {20000, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
	long conns = 8, only = -1;
	int pairs = 200;
	long bad_extra;
	const char *fcgi_sock = getenv("ATTEMPTS_HOSTILE_FCGI_SOCKET");
	const char *url = getenv("ATTEMPTS_TEST_URL");
	pthread_t th[64];
	long long t0;
	int opt;

	ru.seed = (uint64_t)time(NULL);
	while ((opt = getopt(argc, argv, "n:c:s:1:p:")) != -1) {
		switch (opt) {
		case 'n':
			ru.n = strtol(optarg, NULL, 10);
			break;
		case 'c':
			conns = strtol(optarg, NULL, 10);
			break;
		case 's':
			ru.seed = strtoull(optarg, NULL, 10);
			break;
		case '1':
			only = strtol(optarg, NULL, 10);
			break;
		case 'p':
			pairs = (int)strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: hostile [-n REQUESTS] [-c CONNECTIONS] [-s SEED] "
					"[-1 INDEX] [-p PAIRS]\n");
			return 2;
		}
	}
	if (ru.n < 1 || conns < 1 || conns > 64 || pairs < 0) {
		fprintf(stderr, "hostile: -n must be >= 1, -c in 1..64 and -p >= 0\n");
		return 2;
	}
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	if (url == NULL || *url == '\0' || g_secret == NULL || *g_secret == '\0') {
		fprintf(stderr, "hostile: ATTEMPTS_TEST_URL and ATTEMPTS_JWT_SECRET must be set"
				" (a running stack, see tests/e2e/README.md). Skipping.\n");
		return 77;
	}
	if (parse_url(url) != 0) {
		fprintf(stderr,
			"hostile: ATTEMPTS_TEST_URL must be http://127.0.0.1:PORT"
			" (loopback only), not %s\n",
			url);
		return 2;
	}
	if (getenv("HOSTILE_LOG") != NULL && (g_log = fopen(getenv("HOSTILE_LOG"), "w")) == NULL) {
		perror("hostile: HOSTILE_LOG");
		return 2;
	}
	g_foreign = getenv("ATTEMPTS_HOSTILE_FOREIGN_ATTEMPT");
	if (g_foreign != NULL && !uuid_valid(g_foreign))
		g_foreign = NULL;
	g_marker = getenv("ATTEMPTS_HOSTILE_FOREIGN_MARKER");
	if (g_marker != NULL && strlen(g_marker) < 8)
		g_marker = NULL; /* too short to be telling */
	signal(SIGPIPE, SIG_IGN);
	setup();
	/* A few slow bodies, spread over the run. */
	ru.slow_every = ru.n >= 40 ? ru.n / (ru.n / 2000 > 6 ? ru.n / 2000 : 6) : 0;

	if (only >= 0) {
		one(&ru, only, &g_stats, 1);
		report(&ru, 0);
		return 0;
	}
	t0 = now_ms();
	for (long i = 0; i < conns; i++)
		if (pthread_create(&th[i], NULL, worker, &ru) != 0) {
			fprintf(stderr, "hostile: cannot start thread %ld\n", i);
			return 1;
		}
	for (long i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	report(&ru, (double)(now_ms() - t0) / 1000.0);
	bad_extra = unread_body_pairs(pairs);
	if (fcgi_sock != NULL && *fcgi_sock != '\0')
		bad_extra += fcgi_checks(fcgi_sock);
	if (bad_extra != 0)
		return 1;
	for (int f = 0; f < F_NFAILS; f++)
		if (g_stats.fails[f])
			return 1;
	return 0;
}
