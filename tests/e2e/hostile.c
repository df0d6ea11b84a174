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

#define TIMEOUT_MS 10000
#define ID_LEN (UUID_STR_LEN + 1)
#define NSTUDENTS 4
#define TWO_MIB (2 * 1024 * 1024)

static char g_host[64];
static int g_port;
static const char *g_secret;
static const char *g_foreign; /* may be NULL */
static const char *g_marker;  /* text in the foreign attempt: never answered */
static FILE *g_log;	      /* HOSTILE_LOG: one line per exchange */

/* ================================================================ buffers */

typedef struct bytes {
	char *p;
	size_t len, cap;
} bytes;

static void b_reserve(bytes *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (b->p == NULL) {
		fputs("hostile: out of memory\n", stderr);
		exit(1);
	}
	b->cap = cap;
}

static void b_add(bytes *b, const void *p, size_t n)
{
	b_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void b_puts(bytes *b, const char *s)
{
	b_add(b, s, strlen(s));
}

static void b_printf(bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void b_printf(bytes *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	b_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void b_fill(bytes *b, char c, size_t n)
{
	b_reserve(b, n);
	memset(b->p + b->len, c, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void b_free(bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ================================================================ randomness */

/* splitmix64: every request index has its own stream, so a run is the
 * same whatever the thread interleaving, and -1 INDEX replays one. */
typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(rng *r, unsigned n)
{
	return n ? (unsigned)(rnd(r) % n) : 0;
}

static int chance(rng *r, unsigned percent)
{
	return below(r, 100) < percent;
}

#define PICK(r, arr) ((arr)[below((r), (unsigned)(sizeof(arr) / sizeof((arr)[0])))])

static void rand_uuid(rng *r, char out[ID_LEN])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < UUID_STR_LEN; i++)
		out[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[below(r, 16)];
	out[14] = '4';
	out[ID_LEN - 1] = '\0';
}

/* ================================================================ the world */

typedef struct hostile_user {
	char sub[ID_LEN];
	auth_role role;
	char *token;
	char attempt[ID_LEN]; /* students: their attempt */
} hostile_user;

static hostile_user g_students[NSTUDENTS], g_proctor, g_admin;
static char g_exam[ID_LEN];
static char *g_bad_tokens[3]; /* expired, wrong secret, unknown role */

/* ================================================================ one exchange */

/* How a request is sent and what may come back. */
typedef struct request {
	int kind;
	bytes raw;	     /* the whole request, or its head when slow */
	bytes slow_body;     /* sent 1 byte per 100 ms after raw */
	int slow_give_up;    /* close after the slow bytes, read nothing */
	int half_close;	     /* shutdown(SHUT_WR) after sending */
	int may_succeed;     /* a 2xx is acceptable */
	int answer_optional; /* closing without an answer is acceptable */
	int explained_5xx;   /* 501/505 is the explained answer */
	int head;	     /* HEAD: no body in the answer */
	char line[200];	     /* the request line, printable, for reports */
} request;

typedef struct answer {
	int status; /* 0: none */
	int got_any;
	int timed_out;
	char ctype[128];
	int has_request_id;
	bytes body;
	char error[128];
} answer;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_local(void)
{
	struct sockaddr_in sa;
	struct timeval tv = {TIMEOUT_MS / 1000, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g_port);
	inet_pton(AF_INET, g_host, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends all of p; returns 0 or errno. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the peer closes or the deadline passes. */
static void read_all(int fd, bytes *in, long long deadline, answer *a)
{
	char chunk[16384];

	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;
		int rc;

		if (left <= 0) {
			a->timed_out = 1;
			return;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			a->timed_out = rc == 0;
			return;
		}
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				snprintf(a->error, sizeof a->error, "recv: %s", strerror(errno));
			return;
		}
		b_add(in, chunk, (size_t)n);
	}
}

static const char *find_crlfcrlf(const char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i;
	return NULL;
}

/* The value of header name in the head [h, e), copied to out. */
static int header_value(const char *h, const char *e, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *line = h; line < e;) {
		const char *end = memchr(line, '\n', (size_t)(e - line));
		if (end == NULL)
			end = e;
		if ((size_t)(end - line) > nl + 1 && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			len = (size_t)(end - v);
			while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == ' '))
				len--;
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return 1;
		}
		line = end + 1;
	}
	return 0;
}

/* Undoes chunked framing of [p, p+n) into out; -1 if malformed. */
static int dechunk(const char *p, size_t n, bytes *out)
{
	size_t i = 0;

	for (;;) {
		char *end;
		unsigned long size;
		const char *crlf = NULL;

		for (size_t j = i; j + 1 < n; j++)
			if (p[j] == '\r' && p[j + 1] == '\n') {
				crlf = p + j;
				break;
			}
		if (crlf == NULL)
			return -1;
		size = strtoul(p + i, &end, 16);
		if (end == p + i)
			return -1;
		i = (size_t)(crlf - p) + 2;
		if (size == 0)
			return 0;
		if (i + size + 2 > n)
			return -1;
		b_add(out, p + i, size);
		i += size + 2;
	}
}

/* Parses the first final (non-1xx) response of in into a. */
static void parse_answer(const bytes *in, answer *a, int head)
{
	const char *p = in->p, *e = in->p + in->len;
	char value[64];

	a->got_any = in->len > 0;
	for (;;) {
		const char *he, *hs;
		int status;

		if (p == NULL || e - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
			return;
		status = atoi(p + 9);
		he = find_crlfcrlf(p, (size_t)(e - p));
		if (he == NULL)
			return;
		if (status >= 100 && status < 200) {
			p = he + 4;
			continue;
		}
		a->status = status;
		a->ctype[0] = '\0';
		hs = p;
		header_value(hs, he, "Content-Type", a->ctype, sizeof a->ctype);
		a->has_request_id = header_value(hs, he, "X-Request-Id", value, sizeof value);
		p = he + 4;
		if (head || status == 204 || status == 304)
			return;
		if (header_value(hs, he, "Transfer-Encoding", value, sizeof value) &&
		    strcasecmp(value, "chunked") == 0) {
			if (dechunk(p, (size_t)(e - p), &a->body) != 0)
				snprintf(a->error, sizeof a->error, "bad chunked framing");
		} else if (header_value(hs, he, "Content-Length", value, sizeof value)) {
			size_t want = strtoul(value, NULL, 10);
			if ((size_t)(e - p) < want)
				snprintf(a->error, sizeof a->error,
					 "body cut short: %zu of %zu bytes", (size_t)(e - p), want);
			b_add(&a->body, p, (size_t)(e - p) < want ? (size_t)(e - p) : want);
		} else {
			b_add(&a->body, p, (size_t)(e - p));
		}
		return;
	}
}

/* Sends req and reads the answer (unless it gives up on purpose). */
/* As perform(), on a connection already open (fd < 0: none could be). */
static void perform_on(int fd, const request *req, answer *a)
{
	bytes in = {0};
	int err = 0;

	memset(a, 0, sizeof *a);
	if (fd < 0) {
		snprintf(a->error, sizeof a->error, "connect: %s", strerror(errno));
		return;
	}
	err = send_all(fd, req->raw.p, req->raw.len);
	for (size_t i = 0; err == 0 && i < req->slow_body.len; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		err = send_all(fd, req->slow_body.p + i, 1);
	}
	if (req->slow_give_up) {
		close(fd);
		return;
	}
	if (req->half_close || err != 0)
		shutdown(fd, SHUT_WR);
	read_all(fd, &in, now_ms() + TIMEOUT_MS, a);
	close(fd);
	parse_answer(&in, a, req->head);
	if (a->status == 0 && a->error[0] == '\0' && err != 0)
		snprintf(a->error, sizeof a->error, "send: %s", strerror(err));
	b_free(&in);
}

static void perform(const request *req, answer *a)
{
	perform_on(connect_local(), req, a);
}

/* ================================================================ checks */

/* 1 if body is exactly {"error": {"code", "message"[, "details"]}}. */
static int error_shape_ok(const bytes *body, char *why, size_t cap)
{
	cJSON *root = cJSON_ParseWithLength(body->p ? body->p : "", body->len);
	const cJSON *err, *it, *c, *m, *d;
	int top = 0, ok = 0;

	if (!cJSON_IsObject(root)) {
		snprintf(why, cap, "not a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(it, root) top++;
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (top != 1 || !cJSON_IsObject(err)) {
		snprintf(why, cap, "not exactly {\"error\": {...}}");
		goto out;
	}
	cJSON_ArrayForEach(it, err)
	{
		if (strcmp(it->string, "code") && strcmp(it->string, "message") &&
		    strcmp(it->string, "details")) {
			snprintf(why, cap, "unexpected key error.%.40s", it->string);
			goto out;
		}
	}
	c = cJSON_GetObjectItemCaseSensitive(err, "code");
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	d = cJSON_GetObjectItemCaseSensitive(err, "details");
	if (!cJSON_IsString(c) || c->valuestring[0] == '\0' || !cJSON_IsString(m) ||
	    m->valuestring[0] == '\0' || (d != NULL && !cJSON_IsObject(d))) {
		snprintf(why, cap, "code/message not non-empty strings or details not an object");
		goto out;
	}
	ok = 1;
out:
	cJSON_Delete(root);
	return ok;
}

static int is_json(const bytes *body)
{
	cJSON *root = cJSON_ParseWithLength(body->p ? body->p : "", body->len);
	int ok = root != NULL;

	cJSON_Delete(root);
	return ok;
}

/* Who wrote a non-JSON body: nginx's own pages name it. */
static int by_nginx(const answer *a)
{
	return (a->body.p != NULL && strstr(a->body.p, "<center>nginx</center>") != NULL) ||
	       strncmp(a->ctype, "text/html", 9) == 0;
}

/* ================================================================ statistics */

enum {
	K_GARBAGE,
	K_HUGE_HEADERS,
	K_DEEP_JSON,
	K_BAD_UTF8,
	K_NUL,
	K_SLOW,
	K_RANDOM_METHOD,
	K_RANDOM_PATH,
	K_OVERSIZED,
	K_BAD_LENGTH,
	K_VALID_RANDOM,
	K_NKINDS
};

static const char *const kind_names[K_NKINDS] = {"garbage body",
						 "huge headers",
						 "deep JSON",
						 "invalid UTF-8",
						 "NUL bytes",
						 "slow body",
						 "random method/action",
						 "random path",
						 "2 MiB body",
						 "bad length/TE",
						 "valid token, random body"};

enum {
	F_HANG,
	F_NO_ANSWER,
	F_BAD_2XX,
	F_LEAK,
	F_NGINX_PAGE,
	F_BAD_SHAPE,
	F_5XX,
	F_OTHER_STATUS,
	F_NFAILS
};

static const char *const fail_names[F_NFAILS] = {
	"no answer within 10 s (hang)",
	"connection closed without an answer",
	"2xx to a request that cannot be valid",
	"an answer shows the foreign attempt's content",
	"error answered with nginx's own page, not the API.md 3 JSON shape",
	"error in JSON but not exactly the API.md 3 shape",
	"5xx not explained",
	"unexpected status (1xx/3xx/other)"};

typedef struct stats {
	long per_status[600];
	long nonjson[600];	 /* bodies that are not JSON, per status */
	long nonjson_nginx[600]; /* ... written by nginx */
	long no_request_id[600]; /* answers without X-Request-Id */
	long kind_count[K_NKINDS];
	long kind_status[K_NKINDS][6]; /* per class: none,1xx..5xx */
	long fails[F_NFAILS];
	long explained_5xx;
	long slow_abandoned;
	long closed_allowed;
	long valid_2xx, health_2xx;
	char fail_sample[F_NFAILS][600];
	char nonjson_sample[600][300];
} stats;

static stats g_stats;
static pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;

static void printable(char *out, size_t cap, const char *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else if (c == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (c != '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static void fail(stats *s, int f, long index, const request *q, const answer *a, const char *why)
{
	char body[200];

	s->fails[f]++;
	if (s->fail_sample[f][0] != '\0')
		return;
	printable(body, sizeof body, a->body.p ? a->body.p : "",
		  a->body.len < 150 ? a->body.len : 150);
	snprintf(s->fail_sample[f], sizeof s->fail_sample[f],
		 "request #%ld (%s) %s -> status %d%s%s%s; %sbody: %s", index, kind_names[q->kind],
		 q->line, a->status, a->error[0] ? " (" : "", a->error, a->error[0] ? ")" : "",
		 why ? why : "", body);
}

/* Classifies one exchange into s. */
static void account(stats *s, long index, const request *q, const answer *a)
{
	int st = a->status;
	int nonjson = st != 0 && !q->head && a->body.len > 0 && !is_json(&a->body);
	char why[128] = "";

	s->kind_count[q->kind]++;
	if (g_log != NULL)
		fprintf(g_log, "%ld %d %s [%s] %s%s%s\n", index, st,
			nonjson ? (by_nginx(a) ? "non-JSON(nginx)" : "non-JSON") : "-",
			kind_names[q->kind], q->line, a->error[0] ? " | " : "", a->error);
	if (q->slow_give_up) {
		s->slow_abandoned++;
		s->kind_status[q->kind][0]++;
		return;
	}
	s->kind_status[q->kind][st >= 100 && st < 600 ? st / 100 : 0]++;
	if (st == 0) {
		if (a->timed_out)
			fail(s, F_HANG, index, q, a, NULL);
		else if (!q->answer_optional)
			fail(s, F_NO_ANSWER, index, q, a, NULL);
		else
			s->closed_allowed++;
		return;
	}
	if (st < 100 || st >= 600) {
		fail(s, F_OTHER_STATUS, index, q, a, NULL);
		return;
	}
	s->per_status[st]++;
	if (!a->has_request_id)
		s->no_request_id[st]++;
	if (nonjson) {
		s->nonjson[st]++;
		if (by_nginx(a))
			s->nonjson_nginx[st]++;
		if (s->nonjson_sample[st][0] == '\0') {
			char body[120];
			printable(body, sizeof body, a->body.p,
				  a->body.len < 100 ? a->body.len : 100);
			snprintf(s->nonjson_sample[st], sizeof s->nonjson_sample[st],
				 "#%ld %s %.80s -> %s", index, kind_names[q->kind], q->line, body);
		}
	}
	if (g_marker != NULL && a->body.p != NULL && strstr(a->body.p, g_marker) != NULL)
		fail(s, F_LEAK, index, q, a, NULL);
	if (st >= 200 && st < 300) {
		if (!q->may_succeed)
			fail(s, F_BAD_2XX, index, q, a, NULL);
		else
			s->valid_2xx++;
	} else if (st >= 400) {
		/* Every error, nginx's own included (API.md 3), has the shape. */
		if (!q->head && !error_shape_ok(&a->body, why, sizeof why)) {
			strncat(why, "; ", sizeof why - strlen(why) - 1);
			fail(s, nonjson && by_nginx(a) ? F_NGINX_PAGE : F_BAD_SHAPE, index, q, a,
			     why);
		}
		if (st >= 500) {
			if (q->explained_5xx && (st == 501 || st == 505))
				s->explained_5xx++;
			else
				fail(s, F_5XX, index, q, a, NULL);
		}
	} else {
		fail(s, F_OTHER_STATUS, index, q, a, NULL);
	}
}

/* ================================================================ generators */

static const char *const actions[] = {"state",	  "info",     "stats",	  "upload", "uploads",
				      "activity", "submit",   "batch",	  "start",  "save",
				      "optimize", "extend",   "delete",	  "",	    "STATE",
				      "save\"",	  "../state", "state;rm", "%73ave"};

static const char *const methods[] = {
	"GET",	    "POST",    "PATCH", "PUT",	    "DELETE",
	"HEAD",	    "OPTIONS", "TRACE", "CONNECT",  "BREW",
	"PROPFIND", "get",     "P0ST",	"M-SEARCH", "LONGMETHODNAMEXXXXXXXXXXXX"};

/* A known route: method, path template ({A} attempt, {E} exam) and
 * what its body is like. */
typedef struct route_t {
	const char *method;
	const char *action; /* NULL: not an attempt route */
	const char *path;
} route_t;

static const route_t known[] = {
	{"GET", NULL, "/api/health"}, {"POST", NULL, "/api/exams"}, {"GET", NULL, "/api/exams/{E}"},
	{"GET", "state", NULL},	      {"GET", "info", NULL},	    {"GET", "stats", NULL},
	{"GET", "upload", NULL},      {"GET", "uploads", NULL},	    {"POST", "activity", NULL},
	{"POST", "submit", NULL},     {"POST", "upload", NULL},	    {"POST", "batch", NULL},
	{"POST", "start", NULL},      {"PATCH", "save", NULL},	    {"PATCH", "optimize", NULL},
	{"PATCH", "extend", NULL},
};

#define NKNOWN ((unsigned)(sizeof known / sizeof known[0]))

/* A random identity: a valid token (any role), or sometimes none or a bad
 * one. *valid says whether the token is one the service accepts; *student
 * is the student index or -1. */
static const char *pick_token(rng *r, int *valid, int *student)
{
	unsigned k = below(r, 100);

	*student = -1;
	*valid = 1;
	if (k < 55) {
		*student = (int)below(r, NSTUDENTS);
		return g_students[*student].token;
	}
	if (k < 70)
		return g_proctor.token;
	if (k < 82)
		return g_admin.token;
	*valid = 0;
	if (k < 90)
		return NULL;
	return g_bad_tokens[below(r, 3)];
}

/* An attempt id for a request by student (or -1 for staff). The foreign
 * attempt is aimed at only by students, never staff. */
static void pick_attempt(rng *r, int student, char out[ID_LEN + 40])
{
	static const char *const odd[] = {"new",
					  "any-id",
					  "not-a-uuid",
					  "00000000-0000-0000-0000-00000000000",
					  "00000000-0000-4000-8000-00000000000G",
					  "AAAAAAAA-0000-4000-8000-000000000000",
					  "%2e%2e",
					  "-1",
					  "0"};
	unsigned k = below(r, 100);

	if (k < 40 && student >= 0)
		snprintf(out, ID_LEN + 40, "%s", g_students[student].attempt);
	else if (k < 65)
		snprintf(out, ID_LEN + 40, "%s", g_students[below(r, NSTUDENTS)].attempt);
	else if (k < 75 && g_foreign != NULL && student >= 0)
		snprintf(out, ID_LEN + 40, "%s", g_foreign);
	else if (k < 88)
		rand_uuid(r, out);
	else
		snprintf(out, ID_LEN + 40, "%s", PICK(r, odd));
}

/* A random JSON value (text), depth-bounded. */
static void rand_json(rng *r, bytes *b, int depth)
{
	static const char *const keys[] = {"answers",
					   "auto_save_data",
					   "expected_version",
					   "events",
					   "event_type",
					   "payload",
					   "client_event_id",
					   "occurred_at",
					   "operation",
					   "data",
					   "attempt_id",
					   "exam_id",
					   "extra_s",
					   "exam_ids",
					   "title",
					   "type",
					   "q1",
					   "q2",
					   "",
					   "__proto__",
					   "error",
					   "\\u0000",
					   "a\\\"b"};
	static const char *const strings[] = {"",
					      "x",
					      "focus",
					      "state",
					      "info",
					      "batch_save",
					      "query",
					      "clear_cache",
					      "preload",
					      "analyze",
					      "2030-01-01T00:00:00Z",
					      "not a date",
					      "\\ud800",
					      "\\u0000",
					      "' OR '1'='1",
					      "\\\"; DROP TABLE x; --",
					      "%00",
					      "\\n\\r",
					      "\\u00e9\\u4e2d"};
	static const char *const numbers[] = {"0",
					      "-1",
					      "1",
					      "3",
					      "600",
					      "86401",
					      "2147483648",
					      "1e309",
					      "-0",
					      "0.5",
					      "9007199254740993",
					      "1E2",
					      "123456789012345678901234567890"};
	unsigned k = below(r, depth > 3 ? 6 : 9);

	switch (k) {
	case 0:
		b_puts(b, PICK(r, numbers));
		break;
	case 1:
		b_printf(b, "\"%s\"", PICK(r, strings));
		break;
	case 2:
		b_puts(b, chance(r, 50) ? "true" : "false");
		break;
	case 3:
		b_puts(b, "null");
		break;
	case 4: /* an attempt id, never the foreign one (staff may send this) */
		b_printf(b, "\"%s\"", g_students[below(r, NSTUDENTS)].attempt);
		break;
	case 5:
		b_printf(b, "\"%s\"", g_exam);
		break;
	case 6:
	case 7: {
		unsigned n = below(r, 5);
		b_puts(b, "{");
		for (unsigned i = 0; i < n; i++) {
			b_printf(b, "%s\"%s\":", i ? "," : "", PICK(r, keys));
			rand_json(r, b, depth + 1);
		}
		b_puts(b, "}");
		break;
	}
	default: {
		unsigned n = below(r, 4);
		b_puts(b, "[");
		for (unsigned i = 0; i < n; i++) {
			if (i)
				b_puts(b, ",");
			rand_json(r, b, depth + 1);
		}
		b_puts(b, "]");
		break;
	}
	}
}

/* A body shaped like what action expects, with random parts. */
static void plausible_body(rng *r, const char *action, int student, bytes *b)
{
	char id[ID_LEN + 40];

	if (action == NULL) { /* POST /api/exams */
		b_puts(b, "{\"title\":");
		rand_json(r, b, 2);
		b_puts(b, ",\"time_limit_s\":");
		b_puts(b, chance(r, 50) ? "3600" : "null");
		b_puts(b, "}");
	} else if (strcmp(action, "save") == 0) {
		b_puts(b, "{\"answers\":{\"q1\":");
		rand_json(r, b, 1);
		b_puts(b, "},\"auto_save_data\":");
		rand_json(r, b, 1);
		if (chance(r, 30))
			b_printf(b, ",\"expected_version\":%u", below(r, 5));
		b_puts(b, "}");
	} else if (strcmp(action, "submit") == 0) {
		if (chance(r, 50))
			b_puts(b, "{}");
		else
			b_puts(b, "{\"answers\":{\"final\":true}}");
	} else if (strcmp(action, "activity") == 0) {
		b_puts(b, "{\"events\":[{\"event_type\":\"focus\",\"payload\":");
		rand_json(r, b, 1);
		if (chance(r, 50))
			b_printf(b, ",\"client_event_id\":\"h%u\"", below(r, 50));
		b_puts(b, "}]}");
	} else if (strcmp(action, "batch") == 0) {
		static const char *const ops[] = {
			"batch_save",	"multiple_states", "batch_log", "validate_multiple",
			"batch_submit", "query",	   "nope"};
		const char *op = PICK(r, ops);
		unsigned n = below(r, 4);
		b_printf(b, "{\"operation\":\"%s\",\"data\":[", op);
		for (unsigned i = 0; i < n; i++) {
			pick_attempt(r, student, id);
			if (i)
				b_puts(b, ",");
			if (strcmp(op, "batch_save") == 0)
				b_printf(b, "{\"attempt_id\":\"%s\",\"answers\":{\"b\":%u}}", id,
					 below(r, 9));
			else if (strcmp(op, "batch_log") == 0)
				b_printf(b,
					 "{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"b\"}"
					 "]}",
					 id);
			else if (strcmp(op, "query") == 0)
				b_printf(b, "{\"type\":\"%s\",\"attempt_id\":\"%s\"}",
					 chance(r, 50) ? "state" : "info", id);
			else
				b_printf(b, "\"%s\"", id);
		}
		b_puts(b, "]}");
	} else if (strcmp(action, "start") == 0) {
		b_printf(b, "{\"exam_id\":\"%s\"}", g_exam);
	} else if (strcmp(action, "optimize") == 0) {
		static const char *const ops[] = {"clear_cache", "preload", "analyze", "vacuum"};
		b_printf(b, "{\"operation\":\"%s\",\"exam_ids\":[\"%s\"]}", PICK(r, ops), g_exam);
	} else if (strcmp(action, "extend") == 0) {
		b_puts(b, "{\"extra_s\":");
		b_puts(b, chance(r, 50) ? "60" : "0");
		b_puts(b, "}");
	} else {
		rand_json(r, b, 0);
	}
}

/* The start of a request: request line, Host, Connection: close and
 * optionally a bearer token. */
static void head(bytes *raw, const char *method, const char *target, const char *token)
{
	b_printf(raw, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n", method, target,
		 g_host, g_port);
	if (token != NULL)
		b_printf(raw, "Authorization: Bearer %s\r\n", token);
}

/* Ends the head and appends a body with its Content-Length. */
static void finish(bytes *raw, const char *ctype, const char *body, size_t len)
{
	if (body != NULL) {
		b_printf(raw, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			 ctype ? ctype : "application/json", len);
		b_add(raw, body, len);
	} else {
		b_puts(raw, "\r\n");
	}
}

/* A path and query for a known route, with a random target. */
static void route_target(rng *r, const route_t *rt, int student, bytes *t)
{
	char id[ID_LEN + 40], up[ID_LEN];

	if (rt->action == NULL) {
		if (strstr(rt->path, "{E}") != NULL)
			b_printf(t, "/api/exams/%s", chance(r, 70) ? g_exam : "bogus");
		else
			b_puts(t, rt->path);
		return;
	}
	pick_attempt(r, student, id);
	b_printf(t, "/api/attempts/%s%s?action=%s", id, chance(r, 10) ? "/route.ts" : "",
		 rt->action);
	if (strcmp(rt->action, "stats") == 0) {
		static const char *const types[] = {"stats", "active", "optimization", "x", ""};
		b_printf(t, "&type=%s", PICK(r, types));
	} else if (strcmp(rt->action, "upload") == 0 && strcmp(rt->method, "GET") == 0) {
		rand_uuid(r, up);
		b_printf(t, "&upload_id=%s", up);
	} else if (strcmp(rt->action, "upload") == 0) {
		static const char *const names[] = {
			"a.txt",	"essay.pdf", ".hidden",		  "a/b",     "..",
			"%2e%2e%2fetc", "x%0d%0ay",  "%c3%a9t%c3%a9.png", "%ff.txt", ""};
		b_printf(t, "&filename=%s", PICK(r, names));
	}
}

/* Builds request index into q. */
static void build(long index, uint64_t seed, request *q)
{
	rng r = {seed ^ ((uint64_t)index * 0x2545f4914f6cdd1dULL)};
	int valid, student;
	const char *token = pick_token(&r, &valid, &student);
	const route_t *rt = &known[below(&r, NKNOWN)];
	bytes t = {0}, body = {0};
	unsigned k = below(&r, 1000);
	int kind;

	memset(q, 0, sizeof *q);
	/* Weights per mille. The slow bodies are not drawn here: run()
	 * spreads a fixed few over the run (each takes seconds). */
	if (k < 110)
		kind = K_GARBAGE;
	else if (k < 170)
		kind = K_HUGE_HEADERS;
	else if (k < 230)
		kind = K_DEEP_JSON;
	else if (k < 300)
		kind = K_BAD_UTF8;
	else if (k < 370)
		kind = K_NUL;
	else if (k < 470)
		kind = K_RANDOM_METHOD;
	else if (k < 570)
		kind = K_RANDOM_PATH;
	else if (k < 580)
		kind = K_OVERSIZED;
	else if (k < 660)
		kind = K_BAD_LENGTH;
	else
		kind = K_VALID_RANDOM;
	q->kind = kind;

	/* Staff tokens never touch the foreign attempt: pick_attempt only
	 * returns it for a student. */
	route_target(&r, rt, valid ? student : -1, &t);

	switch (kind) {
	case K_GARBAGE: {
		size_t n = below(&r, 4096) + 1;
		b_reserve(&body, n);
		for (size_t i = 0; i < n; i++)
			body.p[i] = (char)rnd(&r);
		body.len = n;
		head(&q->raw, rt->method, t.p, token);
		finish(&q->raw, chance(&r, 50) ? "application/json" : "application/octet-stream",
		       body.p, body.len);
		/* Random bytes are a valid upload body. */
		q->may_succeed = valid;
		break;
	}
	case K_HUGE_HEADERS: {
		unsigned v = below(&r, 5);
		size_t n = 8192 + below(&r, 8192); /* up to ~16 KiB */
		head(&q->raw, rt->method, t.p, v == 0 ? NULL : token);
		if (v == 0) { /* a huge token */
			b_puts(&q->raw, "Authorization: Bearer ");
			b_fill(&q->raw, 'A', n);
			b_puts(&q->raw, "\r\n");
		} else if (v == 1) {
			b_puts(&q->raw, "X-Filler: ");
			b_fill(&q->raw, 'x', n);
			b_puts(&q->raw, "\r\n");
		} else if (v == 2) { /* many medium headers */
			for (size_t i = 0; i * 80 < n; i++) {
				b_printf(&q->raw, "X-H%zu: ", i);
				b_fill(&q->raw, 'h', 70);
				b_puts(&q->raw, "\r\n");
			}
		} else if (v == 3) {
			b_puts(&q->raw, "Cookie: ");
			for (size_t i = 0; i * 20 < n; i++)
				b_printf(&q->raw, "c%zu=%012zu; ", i, i);
			b_puts(&q->raw, "\r\n");
		} else {
			b_puts(&q->raw, "X-Request-Id: ");
			b_fill(&q->raw, 'r', n);
			b_puts(&q->raw, "\r\n");
		}
		if (strcmp(rt->method, "GET") != 0) {
			plausible_body(&r, rt->action, student, &body);
			finish(&q->raw, NULL, body.p, body.len);
		} else {
			finish(&q->raw, NULL, NULL, 0);
		}
		q->may_succeed = valid && v >= 2;
		break;
	}
	case K_DEEP_JSON: {
		unsigned v = below(&r, 3);
		if (v == 0)
			b_fill(&body, '[', 100000);
		else if (v == 1)
			for (int i = 0; i < 50000; i++)
				b_puts(&body, "{\"a\":");
		else { /* deep inside a valid save body, closed properly */
			b_puts(&body, "{\"answers\":{\"q\":");
			b_fill(&body, '[', 5000);
			b_fill(&body, ']', 5000);
			b_puts(&body, "}}");
		}
		head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "PATCH", t.p, token);
		finish(&q->raw, NULL, body.p, body.len);
		q->may_succeed = valid && v == 2;
		break;
	}
	case K_BAD_UTF8: {
		static const char *const bad[] = {
			"\xff",	    "\xc0\xaf", "\xed\xa0\x80",	    "\xf8\x88\x80\x80\x80",
			"\xe2\x82", "\x80",	"\xf4\x90\x80\x80", "\xfe\xfe\xff\xff"};
		const char *x = PICK(&r, bad);
		switch (below(&r, 3)) {
		case 0:
			b_printf(&body, "{\"answers\":{\"q\":\"a%sb\"}}", x);
			break;
		case 1:
			b_printf(&body, "{\"answers\":{\"%s\":1}}", x);
			break;
		default:
			b_printf(&body,
				 "{\"events\":[{\"event_type\":\"focus\",\"payload\":{\"t\":\"%s\"}"
				 "}]}",
				 x);
			break;
		}
		head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "POST", t.p, token);
		finish(&q->raw, NULL, body.p, body.len);
		/* An upload's bytes are not text: anything goes there. */
		q->may_succeed = valid && rt->action != NULL && strcmp(rt->action, "upload") == 0;
		break;
	}
	case K_NUL: {
		unsigned v = below(&r, 6);
		char id[ID_LEN + 40];
		pick_attempt(&r, student, id);
		if (v == 0) { /* NUL inside a JSON string */
			b_puts(&body, "{\"answers\":{\"q\":\"a");
			b_add(&body, "\0", 1);
			b_puts(&body, "b\"}}");
			head(&q->raw, "PATCH", t.p, token);
			finish(&q->raw, NULL, body.p, body.len);
		} else if (v == 1) { /* NUL before the JSON */
			b_add(&body, "\0", 1);
			b_puts(&body, "{\"answers\":{}}");
			head(&q->raw, "PATCH", t.p, token);
			finish(&q->raw, NULL, body.p, body.len);
		} else if (v == 2) { /* %00 in the query */
			b_free(&t);
			b_printf(&t, "/api/attempts/%s?action=state%%00&type=%%00", id);
			head(&q->raw, "GET", t.p, token);
			finish(&q->raw, NULL, NULL, 0);
		} else if (v == 3) { /* %00 in an upload's filename */
			b_free(&t);
			b_printf(&t, "/api/attempts/%s?action=upload&filename=a%%00.txt", id);
			head(&q->raw, "POST", t.p, token);
			finish(&q->raw, "text/plain", "hello", 5);
		} else if (v == 4) { /* %00 in the path */
			b_free(&t);
			b_printf(&t, "/api/attempts/%s%%00?action=state", id);
			head(&q->raw, "GET", t.p, token);
			finish(&q->raw, NULL, NULL, 0);
		} else { /* a raw NUL in the request line */
			b_printf(&q->raw, "GET /api/attempts/%s?action=st", id);
			b_add(&q->raw, "\0", 1);
			b_printf(&q->raw,
				 "ate HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", g_host,
				 g_port);
		}
		break;
	}
	case K_RANDOM_METHOD: {
		const char *m = PICK(&r, methods);
		char id[ID_LEN + 40];
		pick_attempt(&r, student, id);
		b_free(&t);
		b_printf(&t, "/api/attempts/%s?action=%s", id, PICK(&r, actions));
		if (chance(&r, 30))
			b_printf(&t, "&action=%s", PICK(&r, actions));
		if (chance(&r, 10))
			b_puts(&t, "&ACTION=upload");
		head(&q->raw, m, t.p, token);
		if (chance(&r, 50)) {
			plausible_body(&r, PICK(&r, actions), student, &body);
			finish(&q->raw, NULL, body.p, body.len);
		} else {
			finish(&q->raw, NULL, NULL, 0);
		}
		q->head = strcmp(m, "HEAD") == 0;
		q->may_succeed = valid;
		break;
	}
	case K_RANDOM_PATH: {
		static const char *const paths[] = {
			"/",
			"/api",
			"/api/",
			"/api/x",
			"/api/attempts",
			"/api/attempts/",
			"/api/attempts//state",
			"/api/exams/",
			"/api/exams/a/b",
			"//api//health",
			"/api/../api/health",
			"/api/%2e%2e/health",
			"/../../etc/passwd",
			"/_attempts_files/00000000-0000-4000-8000-000000000000",
			"/_attempts_upload/api/health",
			"/api/health/",
			"/api/HEALTH",
			"/api/attempts/x/route.ts/y?action=state",
			"/api/attempts/%zz?action=state",
			"/api/health?%zz",
			"/api/attempts/x?action=state&" /* 33 params below */,
			"/index.html",
			"/.git/config",
			"/api/attempts/*?action=state",
			"http://evil.example/api/health"};
		const char *p = PICK(&r, paths);
		b_free(&t);
		b_puts(&t, p);
		if (strcmp(p, "/api/attempts/x?action=state&") == 0)
			for (int i = 0; i < 40; i++)
				b_printf(&t, "p%d=%d&", i, i);
		if (chance(&r, 20)) { /* a long random path */
			b_puts(&t, "/");
			for (unsigned i = 0, n = below(&r, 4000); i < n; i++)
				b_add(&t,
				      &"abcdefghijklmnopqrstuvwxyz0123456789-._~%/"[below(&r, 42)],
				      1);
		}
		head(&q->raw, chance(&r, 70) ? "GET" : "POST", t.p, token);
		finish(&q->raw, NULL, NULL, 0);
		break;
	}
	case K_OVERSIZED: {
		b_fill(&body, ' ', TWO_MIB - 2);
		b_puts(&body, "{}");
		if (chance(&r, 15)) { /* to the upload location (1 GiB limit) */
			char id[ID_LEN + 40];
			pick_attempt(&r, student, id);
			b_free(&t);
			b_printf(&t, "/api/attempts/%s?action=upload&filename=big.txt", id);
			head(&q->raw, "POST", t.p, token);
			finish(&q->raw, "text/plain", body.p, body.len);
			q->may_succeed = valid;
		} else {
			head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "POST", t.p, token);
			finish(&q->raw, NULL, body.p, body.len);
		}
		break;
	}
	case K_BAD_LENGTH: {
		unsigned v = below(&r, 9);
		const char *m = strcmp(rt->method, "GET") ? rt->method : "POST";
		plausible_body(&r, rt->action, student, &body);
		head(&q->raw, m, t.p, token);
		b_puts(&q->raw, "Content-Type: application/json\r\n");
		switch (v) {
		case 0:
			b_puts(&q->raw, "Content-Length: abc\r\n\r\n");
			break;
		case 1:
			b_puts(&q->raw, "Content-Length: -5\r\n\r\n");
			break;
		case 2:
			b_puts(&q->raw, "Content-Length: 99999999999999999999999\r\n\r\n");
			break;
		case 3:
			b_printf(&q->raw, "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n",
				 body.len, body.len + 7);
			break;
		case 4:
			b_printf(&q->raw,
				 "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n",
				 body.len);
			b_printf(&q->raw, "%zx\r\n", body.len);
			break;
		case 5: /* promises more than it sends, then stops sending */
			b_printf(&q->raw, "Content-Length: %zu\r\n\r\n", body.len + 100);
			q->half_close = 1;
			q->answer_optional = 1;
			break;
		case 6: /* sends more than it announces */
			b_printf(&q->raw, "Content-Length: %zu\r\n\r\n",
				 body.len > 3 ? body.len - 3 : 0);
			break;
		case 7:
			b_puts(&q->raw, "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
			break;
		default:
			b_puts(&q->raw, "Transfer-Encoding: gzip, chunked\r\n\r\n");
			q->explained_5xx = 1; /* nginx: 501 Not Implemented */
			break;
		}
		if (v != 7 && v != 8)
			b_add(&q->raw, body.p, body.len);
		if (v == 4)
			b_puts(&q->raw, "\r\n0\r\n\r\n");
		/* A chunked body with a stray Content-Length may be taken as
		 * chunked; a body longer than announced is cut to the length. */
		q->may_succeed = valid && (v == 4 || v == 6);
		break;
	}
	default: { /* K_VALID_RANDOM */
		const char *method = rt->method;
		if (chance(&r, 5))
			method = PICK(&r, methods);
		head(&q->raw, method, t.p, token);
		if (rt->action != NULL && strcmp(rt->action, "upload") == 0 &&
		    strcmp(rt->method, "POST") == 0) {
			static const char *const types[] = {
				"text/plain", "application/pdf",
				"image/png",  "application/x-evil",
				"text/html",  "TEXT/PLAIN; charset=utf-8"};
			size_t n = below(&r, 2048);
			b_fill(&body, 'u', n);
			finish(&q->raw, PICK(&r, types), body.p, body.len);
		} else if (strcmp(rt->method, "GET") != 0 || chance(&r, 10)) {
			if (chance(&r, 60))
				plausible_body(&r, rt->action, student, &body);
			else
				rand_json(&r, &body, 0);
			finish(&q->raw, NULL, body.p, body.len);
		} else {
			finish(&q->raw, NULL, NULL, 0);
		}
		q->head = strcmp(method, "HEAD") == 0;
		q->may_succeed = 1;
		break;
	}
	}
	/* Without a valid token only health may succeed (whatever the
	 * token, body or spelling of its path). */
	if (!valid)
		q->may_succeed = 0;
	if (q->raw.len > 0) {
		const char *eol = memchr(q->raw.p, '\r', q->raw.len);
		size_t n = eol ? (size_t)(eol - q->raw.p) : q->raw.len;
		const char *sp = memchr(q->raw.p, ' ', n);
		printable(q->line, sizeof q->line, q->raw.p, n < 150 ? n : 150);
		if (sp != NULL) {
			size_t tl = strcspn(sp + 1, " ?\r");
			/* Someone else's attempt in the path: never a 2xx (the
			 * path id of batch and start is ignored). */
			if (g_foreign != NULL && memmem(sp + 1, tl, g_foreign, strlen(g_foreign)) &&
			    !memmem(q->raw.p, n, "action=batch", 12) &&
			    !memmem(q->raw.p, n, "action=start", 12))
				q->may_succeed = 0;
			if (memmem(sp + 1, tl, "health", 6) != NULL)
				q->may_succeed = 1;
		}
	}
	b_free(&t);
	b_free(&body);
}

/* A slow request: the head at once, then a body 1 byte per 100 ms; odd
 * ones give up half way (no answer read), even ones finish. */
static void slow_request(long index, request *q)
{
	static const char body[] = "{\"answers\":{\"slow\":1}}";
	const char *id = g_students[index % NSTUDENTS].attempt;
	char target[128];

	memset(q, 0, sizeof *q);
	q->kind = K_SLOW;
	snprintf(target, sizeof target, "/api/attempts/%s?action=save", id);
	head(&q->raw, "PATCH", target, g_students[(index + 1) % NSTUDENTS].token);
	b_printf(&q->raw, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 sizeof body - 1);
	if (index % 2) {
		b_add(&q->slow_body, body, 10);
		q->slow_give_up = 1;
	} else {
		b_add(&q->slow_body, body, sizeof body - 1);
	}
	snprintf(q->line, sizeof q->line, "PATCH %s (slow body%s)", target,
		 q->slow_give_up ? ", given up" : "");
}

static void request_free(request *q)
{
	b_free(&q->raw);
	b_free(&q->slow_body);
}

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
			target, a.status, a.error, want, a.body.p ? a.body.p : "");
		exit(1);
	}
	json = cJSON_ParseWithLength(a.body.p, a.body.len);
	request_free(&q);
	b_free(&a.body);
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
		printable(text, sizeof text, q.raw.p, q.raw.len < 1500 ? q.raw.len : 1500);
		printf("request #%ld (%s, %zu bytes): %s\n", index, kind_names[q.kind], q.raw.len,
		       text);
		printable(text, sizeof text, a.body.p ? a.body.p : "",
			  a.body.len < 1500 ? a.body.len : 1500);
		printf("answer: status %d, Content-Type %s%s%s\n%s\n", a.status, a.ctype,
		       a.error[0] ? ", " : "", a.error, text);
	}
	pthread_mutex_lock(&g_stats_lock);
	account(s, index, &q, &a);
	pthread_mutex_unlock(&g_stats_lock);
	request_free(&q);
	b_free(&a.body);
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
		b_printf(&q.raw, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			 unread);
		b_fill(&q.raw, '[', (size_t)unread);
		perform(&q, &a);
		first[a.status >= 0 && a.status < 600 ? a.status : 0]++;
		request_free(&q);
		b_free(&a.body);

		memset(&q, 0, sizeof q);
		head(&q.raw, "POST", "/api/exams", NULL);
		finish(&q.raw, NULL, "{\"title\":\"x\"}", 13);
		perform_on(next, &q, &a);
		second[a.status >= 0 && a.status < 600 ? a.status : 0]++;
		if (a.status != 401) {
			bad++;
			bad_by_size[i % 10]++;
			if (sample[0] == '\0')
				printable(sample, sizeof sample, a.body.p ? a.body.p : a.error,
					  a.body.p ? (a.body.len < 200 ? a.body.len : 200)
						   : strlen(a.error));
		}
		request_free(&q);
		b_free(&a.body);
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

/* ------------------------------------------------ the worker's socket */

/* Appends one FastCGI record (type, request id 1, content). */
static void fcgi_record(bytes *b, int type, const char *content, size_t len)
{
	unsigned char h[8] = {1,
			      (unsigned char)type,
			      0,
			      1,
			      (unsigned char)(len >> 8),
			      (unsigned char)(len & 0xff),
			      0,
			      0};

	b_add(b, h, sizeof h);
	if (len > 0)
		b_add(b, content, len);
}

static void fcgi_pair(bytes *params, const char *name, const char *value)
{
	unsigned char l[2] = {(unsigned char)strlen(name), (unsigned char)strlen(value)};

	b_add(params, l, 2); /* names and values here are < 128 bytes */
	b_puts(params, name);
	b_puts(params, value);
}

/* One whole request as nginx sends it over a kept-alive connection
 * (FCGI_KEEP_CONN), with a body of body_len bytes of '['. */
static void fcgi_request(bytes *out, const char *method, const char *path, const char *query,
			 size_t body_len)
{
	static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0}; /* responder, keep conn */
	char uri[256], len[24];
	bytes params = {0};

	snprintf(uri, sizeof uri, "%s?%s", path, query);
	snprintf(len, sizeof len, "%zu", body_len);
	fcgi_pair(&params, "REQUEST_METHOD", method);
	fcgi_pair(&params, "REQUEST_URI", uri);
	fcgi_pair(&params, "DOCUMENT_URI", path);
	fcgi_pair(&params, "QUERY_STRING", query);
	fcgi_pair(&params, "CONTENT_TYPE", "application/json");
	fcgi_pair(&params, "CONTENT_LENGTH", len);
	fcgi_pair(&params, "SERVER_PROTOCOL", "HTTP/1.1");
	fcgi_record(out, 1, begin, sizeof begin);
	fcgi_record(out, 4, params.p, params.len);
	fcgi_record(out, 4, NULL, 0);
	while (body_len > 0) {
		size_t n = body_len > 32768 ? 32768 : body_len;
		char chunk[32768];
		memset(chunk, '[', n);
		fcgi_record(out, 5, chunk, n);
		body_len -= n;
	}
	fcgi_record(out, 5, NULL, 0);
	b_free(&params);
}

/* Reads records until FCGI_END_REQUEST; returns the HTTP status of the
 * CGI answer ("Status: NNN"), 200 if none is given, or 0 when the
 * connection ends or stalls first. */
static int fcgi_answer(int fd)
{
	bytes out = {0};
	int status = 0, done = 0;
	long long deadline = now_ms() + TIMEOUT_MS;

	while (!done) {
		unsigned char h[8];
		size_t got = 0, len, pad;
		char *body;

		while (got < 8) {
			struct pollfd pfd = {fd, POLLIN, 0};
			ssize_t n;
			if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
				goto out;
			n = recv(fd, h + got, 8 - got, 0);
			if (n <= 0)
				goto out;
			got += (size_t)n;
		}
		len = ((size_t)h[4] << 8) | h[5];
		pad = h[6];
		body = malloc(len + pad + 1);
		if (body == NULL)
			goto out;
		for (got = 0; got < len + pad;) {
			struct pollfd pfd = {fd, POLLIN, 0};
			ssize_t n;
			if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0 ||
			    (n = recv(fd, body + got, len + pad - got, 0)) <= 0) {
				free(body);
				goto out;
			}
			got += (size_t)n;
		}
		if (h[1] == 6)
			b_add(&out, body, len);
		else if (h[1] == 3)
			done = 1;
		free(body);
	}
	status = 200;
	if (out.p != NULL && strncmp(out.p, "Status: ", 8) == 0)
		status = atoi(out.p + 8);
out:
	b_free(&out);
	return status;
}

/* Straight to the worker, as nginx with fastcgi_keep_conn: on one
 * connection, a request the service refuses without reading its body
 * (405, body of unread bytes), then a second request, which must get its
 * own answer (401) on the same connection. Returns 1 if it did, 0 if the
 * worker dropped the connection, -1 if the check could not run. */
static int fcgi_keepalive_check(const char *sock, size_t unread, int *first)
{
	struct sockaddr_un sa;
	struct timeval tv = {TIMEOUT_MS / 1000, 0};
	bytes req = {0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = -1;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (fd < 0 || strlen(sock) >= sizeof sa.sun_path)
		goto out;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto out;
	fcgi_request(&req, "PATCH", "/api/attempts/00000000-0000-4000-8000-000000000000",
		     "action=state", unread);
	if (send_all(fd, req.p, req.len) != 0)
		goto out;
	*first = fcgi_answer(fd);
	b_free(&req);
	fcgi_request(&req, "POST", "/api/exams", "", 2);
	ok = send_all(fd, req.p, req.len) == 0 && fcgi_answer(fd) == 401;
out:
	if (fd >= 0)
		close(fd);
	b_free(&req);
	return ok;
}

/* Runs fcgi_keepalive_check for a few body sizes; returns the failures. */
static long fcgi_checks(const char *sock)
{
	static const size_t sizes[] = {1024, 6000, 16 * 1024, 64 * 1024, 100 * 1024};
	long bad = 0;

	printf("  FastCGI keep-alive, straight to %s:\n", sock);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int first = 0, r = fcgi_keepalive_check(sock, sizes[i], &first);
		printf("%s - after a %zu-byte body the worker answered %d without reading, the"
		       " next request on the connection %s\n",
		       r == 1 ? "ok" : "FAIL", sizes[i], first,
		       r == 1	? "got its 401"
		       : r == 0 ? "got no answer (connection dropped)"
				: "could not be sent (no connection)");
		bad += r != 1;
	}
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
