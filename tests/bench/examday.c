/* examday: an open-loop exam-day load generator (issue 15, `./dev examday`).
 * Synthetic students start an attempt, then save every 15 s (answers
 * growing to about 2 KB, each save with the version its last acknowledged
 * save returned), log one activity event every 10 s and read their state
 * every 30 s. Every request has an intended send time from that schedule
 * (the students' phases spread evenly) and its latency is measured from
 * it, not from when it was sent: when the generator or the service falls
 * behind, the lateness counts (no coordinated omission). Requests go over
 * a fixed set of HTTP/1.1 keep-alive connections (one epoll loop, one
 * thread); a due request waits for a free connection, and that wait counts.
 *
 * Phases: steps of increasing students (each on an exam of its own, its
 * students starting evenly within the start window: the start storm, then
 * held for the hold time), then optionally a deadline storm (an exam whose
 * deadlines fall during the run: saves every 2 s in the last 10 s, half the
 * students submit 1 s before their deadline, the other half save 1 s after
 * deadline + grace and expect 409). Afterwards every attempt is checked in
 * the database: version = 1 + acknowledged saves (+1 when submitted), and
 * the stored answers hold the last acknowledged save's data.
 *
 * Usage: examday -u http://127.0.0.1:PORT -d CONNINFO [-c CONNS]
 *          [-s 5000,10000] [-w START_WINDOW_S] [-H HOLD_S]
 *          [-D DEADLINE_STUDENTS] [-L DEADLINE_LIMIT_S] [-W DEADLINE_WINDOW_S]
 *          [-r REPORT.md] [-P pg:PID,nginx:PID,workers:PID]
 * ATTEMPTS_JWT_SECRET signs the tokens. Exit 0 when measured and nothing
 * acknowledged is missing; 1 when an acknowledged save is missing; 2 when
 * it could not measure (bad usage, set-up failure). Timing never fails. */
#include <arpa/inet.h>
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "uuid.h"

#define SAVE_MS 15000.0
#define ACTIVITY_MS 10000.0
#define STATE_MS 30000.0
#define ANSWERS_BYTES 2048
#define REQ_TIMEOUT_MS 30000.0
#define DRAIN_MS 30000.0
#define HOLD_P99_MS 50.0
#define MAX_PHASES 16
#define MAX_CONNS 4096
#define INBUF 65536

enum kind { K_START, K_SAVE, K_ACTIVITY, K_STATE, K_SUBMIT, K_LATE, NK };
static const char *const kind_name[NK] = {"start", "save",   "activity",
					  "state", "submit", "late save"};

/* Latency histogram: buckets 1 % wide from 10 µs up. */
#define H_BUCKETS 2048
typedef struct hist {
	unsigned n[H_BUCKETS];
	unsigned long long count;
	double max, sum;
} hist;

static void hist_add(hist *h, double ms)
{
	double us = ms * 1000.0;
	int b = us <= 10.0 ? 0 : (int)(log(us / 10.0) / log(1.01)) + 1;

	if (b >= H_BUCKETS)
		b = H_BUCKETS - 1;
	h->n[b]++;
	h->count++;
	h->sum += ms;
	if (ms > h->max)
		h->max = ms;
}

/* The q-quantile in ms (the bucket's upper edge, capped at the max). */
static double hist_q(const hist *h, double q)
{
	unsigned long long want, seen = 0;
	int b;

	if (h->count == 0)
		return 0;
	want = (unsigned long long)ceil(q * (double)h->count);
	if (want < 1)
		want = 1;
	for (b = 0; b < H_BUCKETS; b++) {
		seen += h->n[b];
		if (seen >= want) {
			double v = 10.0 * pow(1.01, b) / 1000.0;
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

typedef struct student {
	char sub[UUID_STR_LEN + 1];
	char attempt_id[UUID_STR_LEN + 1];
	char *token;
	int phase;
	int version;	    /* the last acknowledged version */
	int acked_saves;    /* saves answered 2xx */
	int unknown_saves;  /* saves whose outcome is unknown (5xx, no answer) */
	int last_acked_seq; /* the seq of the last acknowledged save */
	int next_seq;
	int events;
	int busy; /* queued for a connection or in flight */
	int dead; /* its start failed: nothing more to send */
	int submitted;
	int cur_kind;
	double cur_intended;
	double due[NK];	    /* intended times (ms, monotonic); INFINITY = none */
	double deadline_ms; /* deadline + grace, monotonic (deadline storm) */
	int submitter;	    /* deadline storm: submits 1 s before (else saves after) */
} student;

typedef struct cpu_sample {
	double pg, nginx, workers, self;
} cpu_sample;

typedef struct phase {
	char name[48];
	int deadline; /* the deadline storm */
	int n, first;
	double t0, window_ms, end_ms, hold_ms;
	char exam_id[UUID_STR_LEN + 1];
	hist h[NK];
	unsigned long long ok[NK], err[NK];
	unsigned status[600];
	unsigned long long sent, answered, stale_reads;
	unsigned long long resent; /* resent once after a kept-alive close, see conn_resend */
	double elapsed_ms;
	cpu_sample cpu0, cpu1;
	double value_bytes; /* bytes per answer written by one save */
	/* deadline storm */
	double last_deadline_ms;
	double sweep_s; /* time from the last deadline + grace until no attempt in progress */
	long left_in_progress;
	unsigned long long late_closed, late_submitted; /* the late saves' 409 codes */
	/* verification */
	long checked, missing, ver_bad, data_bad, not_found;
} phase;

typedef struct conn {
	int fd;
	int state; /* 0 closed, 1 connecting, 2 idle, 3 busy */
	int sid;
	buf out;
	size_t out_off;
	char *in;
	size_t in_len;
	double sent_at;
	double idle_since; /* when it last became free */
	unsigned requests;
	int resend; /* connecting to send c->out again (conn_resend) */
	int resent; /* the request in flight was sent a second time */
} conn;

/* ------------------------------------------------------------ globals */

static struct sockaddr_in g_addr;
static const char *g_url, *g_conninfo, *g_secret;
static student *S;
static int n_students;
static phase P[MAX_PHASES];
static int n_phases;
static conn *C;
static int n_conns;
static int ep;
static int *freec, n_free;
static int *ready, ready_head, ready_len, ready_cap;
static int inflight;
static int pid_pg, pid_nginx, pid_workers;
static long g_limit_s = 30, g_grace_s = 2;

typedef struct hent {
	double t;
	int sid;
} hent;
static hent *heap;
static int heap_len, heap_cap;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "examday: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------ timer heap */

static void heap_push(double t, int sid)
{
	int i;

	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? 2 * heap_cap : 4096;
		heap = realloc(heap, (size_t)heap_cap * sizeof *heap);
		if (heap == NULL)
			die("out of memory");
	}
	i = heap_len++;
	while (i > 0 && heap[(i - 1) / 2].t > t) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].t = t;
	heap[i].sid = sid;
}

static hent heap_pop(void)
{
	hent top = heap[0], last = heap[--heap_len];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;
		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1].t < heap[c].t)
			c++;
		if (heap[c].t >= last.t)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

/* ------------------------------------------------------------ CPU */

/* CPU seconds (user + system) of pid and its direct children. */
static double tree_cpu(int pid)
{
	char path[64];
	double ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	DIR *d;
	struct dirent *de;

	if (pid <= 0)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		int p = atoi(de->d_name), ppid;
		unsigned long ut, st;
		char *rp;
		FILE *f;

		if (p <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", p);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		char stat[1024];
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = 0;
		if ((rp = strrchr(stat, ')')) == NULL)
			continue;
		/* after ") ": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut,
			   &st) != 3)
			continue;
		if (p == pid || ppid == pid)
			ticks += (double)(ut + st);
	}
	closedir(d);
	return ticks / (double)hz;
}

static void cpu_now(cpu_sample *c)
{
	struct rusage ru;

	c->pg = tree_cpu(pid_pg);
	c->nginx = tree_cpu(pid_nginx);
	c->workers = tree_cpu(pid_workers);
	getrusage(RUSAGE_SELF, &ru);
	c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------ connections */

static void conn_open(int i)
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

/* ------------------------------------------------------------ schedule */

/* The first time off + k * period (k >= 0) after t. */
static double next_after(double off, double period, double t)
{
	double k = ceil((t - off) / period);

	if (k < 0)
		k = 0;
	if (off + k * period <= t)
		k++;
	return off + k * period;
}

static double clip(const phase *ph, double t)
{
	return t < ph->end_ms ? t : INFINITY;
}

/* The save after one intended at t. */
static double next_save(const student *s, const phase *ph, double t)
{
	double dl, burst;

	if (!ph->deadline)
		return clip(ph, t + SAVE_MS);
	dl = s->deadline_ms - (double)g_grace_s * 1000.0; /* the deadline itself */
	burst = dl - 10000.0;
	if (t < burst)
		return t + SAVE_MS < burst ? t + SAVE_MS : burst;
	t += 2000.0;
	return t <= dl - 2000.0 + 1 ? t : INFINITY;
}

static void enqueue_ready(int sid)
{
	if (ready_len == ready_cap) {
		int *n = xmalloc((size_t)(ready_cap ? 2 * ready_cap : 4096) * sizeof *n);
		for (int k = 0; k < ready_len; k++)
			n[k] = ready[(ready_head + k) % ready_cap];
		free(ready);
		ready = n;
		ready_head = 0;
		ready_cap = ready_cap ? 2 * ready_cap : 4096;
	}
	ready[(ready_head + ready_len) % ready_cap] = sid;
	ready_len++;
}

/* An idle student: queue its earliest due request, or arm its timer. */
static void student_schedule(int sid, double now)
{
	student *s = &S[sid];
	double t = INFINITY;
	int k, best = -1;

	if (s->busy || s->dead)
		return;
	for (k = 0; k < NK; k++) {
		if (s->due[k] < t) {
			t = s->due[k];
			best = k;
		}
	}
	if (best < 0)
		return;
	if (t > now) {
		heap_push(t, sid);
		return;
	}
	s->busy = 1;
	s->cur_kind = best;
	s->cur_intended = t;
	/* The next of this kind, fixed by the schedule, not by this one's answer. */
	switch (best) {
	case K_SAVE:
		s->due[K_SAVE] = next_save(s, &P[s->phase], t);
		break;
	case K_ACTIVITY:
		s->due[K_ACTIVITY] = clip(&P[s->phase], t + ACTIVITY_MS);
		break;
	case K_STATE:
		s->due[K_STATE] = clip(&P[s->phase], t + STATE_MS);
		break;
	default:
		s->due[best] = INFINITY;
	}
	enqueue_ready(sid);
}

/* The filler of save seq of student sid: n bytes of "s<sid>.<seq>." repeated. */
static void filler(buf *b, int sid, int seq, int n)
{
	char unit[32];
	int u = snprintf(unit, sizeof unit, "s%d.%d.", sid, seq), i;

	for (i = 0; i < n; i++)
		buf_putc(b, unit[i % u]);
}

static void build_request(conn *c, int sid)
{
	student *s = &S[sid];
	phase *ph = &P[s->phase];
	buf body = BUF_INIT;
	const char *method = "POST";
	char path[128];

	switch (s->cur_kind) {
	case K_START:
		snprintf(path, sizeof path, "/api/attempts/new?action=start");
		buf_printf(&body, "{\"exam_id\":\"%s\"}", ph->exam_id);
		break;
	case K_SAVE:
	case K_LATE:
		method = "PATCH";
		snprintf(path, sizeof path, "/api/attempts/%s?action=save", s->attempt_id);
		s->next_seq++;
		buf_printf(&body, "{\"answers\":{\"q%d\":\"", s->next_seq);
		filler(&body, sid, s->next_seq, (int)ph->value_bytes);
		buf_printf(&body,
			   "\",\"last\":\"%d\"},\"auto_save_data\":{\"seq\":%d},"
			   "\"expected_version\":%d}",
			   s->next_seq, s->next_seq, s->version);
		break;
	case K_ACTIVITY:
		snprintf(path, sizeof path, "/api/attempts/%s?action=activity", s->attempt_id);
		s->events++;
		buf_printf(&body,
			   "{\"events\":[{\"event_type\":\"heartbeat\",\"client_event_id\":\"ed-%d-"
			   "%d\","
			   "\"payload\":{\"n\":%d}}]}",
			   sid, s->events, s->events);
		break;
	case K_STATE:
		method = "GET";
		snprintf(path, sizeof path, "/api/attempts/%s?action=state", s->attempt_id);
		break;
	case K_SUBMIT:
		snprintf(path, sizeof path, "/api/attempts/%s?action=submit", s->attempt_id);
		buf_printf(&body, "{\"expected_version\":%d}", s->version);
		break;
	}
	buf_reset(&c->out);
	buf_printf(&c->out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n",
		   method, path, s->token);
	if (body.len)
		buf_printf(&c->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			   body.len);
	buf_puts(&c->out, "\r\n");
	if (body.len)
		buf_append(&c->out, body.data, body.len);
	buf_free(&body);
	if (c->out.failed)
		die("out of memory");
	c->out_off = 0;
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
static void dispatch(void)
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

/* ------------------------------------------------------------ answers */

static int json_int(const cJSON *o, const char *name, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *error_code(const cJSON *j)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
}

/* RFC 3339 UTC ("2026-12-01T10:00:00.123456Z") to a monotonic ms time. */
static double deadline_mono(const char *s)
{
	struct tm tm = {0};
	struct timespec rt;
	const char *rest;
	double frac = 0;

	if (s == NULL || (rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return INFINITY;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	clock_gettime(CLOCK_REALTIME, &rt);
	return now_ms() +
	       ((double)timegm(&tm) + frac - ((double)rt.tv_sec + (double)rt.tv_nsec / 1e9)) *
		       1000.0;
}

/* Handles the answer (status 0: none) to the student's current request. */
static void complete(int sid, int status, const char *body, double now)
{
	student *s = &S[sid];
	phase *ph = &P[s->phase];
	int k = s->cur_kind, ok = status >= 200 && status < 300;
	cJSON *j = body && *body ? cJSON_Parse(body) : NULL;
	const char *code = j ? error_code(j) : NULL;

	hist_add(&ph->h[k], now - s->cur_intended);
	ph->answered++;
	if (status >= 0 && status < 600)
		ph->status[status]++;
	switch (k) {
	case K_START:
		if (ok && j) {
			snprintf(s->attempt_id, sizeof s->attempt_id, "%s",
				 cJSON_GetStringValue(
					 cJSON_GetObjectItemCaseSensitive(j, "attempt_id"))
					 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
						   j, "attempt_id"))
					 : "");
			s->version = json_int(j, "version", 1);
			if (ph->deadline) {
				s->deadline_ms = deadline_mono(cJSON_GetStringValue(
							 cJSON_GetObjectItemCaseSensitive(
								 j, "deadline_at"))) +
						 (double)g_grace_s * 1000.0;
				if (isinf(s->deadline_ms)) {
					ok = 0;
				} else {
					double dl = s->deadline_ms - (double)g_grace_s * 1000.0;
					if (s->deadline_ms > ph->last_deadline_ms)
						ph->last_deadline_ms = s->deadline_ms;
					if (s->submitter)
						s->due[K_SUBMIT] = dl - 1000.0;
					else
						s->due[K_LATE] = s->deadline_ms + 1000.0;
					/* the first save at or after now, then next_save's rhythm
					 */
					if (s->due[K_SAVE] > dl - 2000.0)
						s->due[K_SAVE] =
							dl - 10000.0 > now ? dl - 10000.0 : now;
				}
			}
		}
		if (!ok || !uuid_valid(s->attempt_id)) {
			ok = 0;
			s->dead = 1;
		}
		break;
	case K_SAVE:
		if (ok) {
			s->acked_saves++;
			s->last_acked_seq = s->next_seq;
			s->version = json_int(j, "version", s->version + 1);
		} else if (status == 409 && code && strcmp(code, "version_conflict") == 0) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "details");
			s->version = json_int(d, "current_version", s->version);
		} else if (status == 0 || status >= 500) {
			s->unknown_saves++;
		}
		break;
	case K_LATE:
		if (ok) {
			s->acked_saves++;
			s->last_acked_seq = s->next_seq;
			s->version = json_int(j, "version", s->version + 1);
			ok = 0; /* a save after the deadline must not be accepted */
		} else if (status == 409 && code &&
			   (strcmp(code, "attempt_closed") == 0 ||
			    strcmp(code, "attempt_submitted") == 0)) {
			ok = 1;
			if (strcmp(code, "attempt_closed") == 0)
				ph->late_closed++;
			else
				ph->late_submitted++;
		} else if (status == 0 || status >= 500) {
			s->unknown_saves++;
		}
		break;
	case K_SUBMIT:
		if (ok) {
			s->submitted = 1;
			s->version = json_int(j, "version", s->version + 1);
		}
		break;
	case K_STATE:
		if (ok && json_int(j, "version", -1) < s->version)
			ph->stale_reads++;
		break;
	default:
		break;
	}
	if (ok)
		ph->ok[k]++;
	else
		ph->err[k]++;
	cJSON_Delete(j);
	s->busy = 0;
	if (s->dead) {
		for (int q = 0; q < NK; q++)
			s->due[q] = INFINITY;
	}
	student_schedule(sid, now);
}

/* Frees connection i after its request ended (answered or failed). */
static void conn_done(int i, int keep)
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

static void conn_event(int i, unsigned events, double now)
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
static void check_timeouts(double now)
{
	for (int i = 0; i < n_conns; i++) {
		if (C[i].state == 3 && now - C[i].sent_at > REQ_TIMEOUT_MS) {
			int sid = C[i].sid;
			conn_done(i, 0);
			complete(sid, 0, NULL, now);
		}
	}
}

/* ------------------------------------------------------------ set-up */

/* One blocking request on connection 0 (set-up). Returns the status and
 * the parsed body (the caller deletes it). */
static int blocking(const char *method, const char *path, const char *token, const char *body,
		    cJSON **out)
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

static char *sign(const char *sub, auth_role role)
{
	time_t now = time(NULL);
	char *t = auth_sign(sub, role, now, now + 6 * 3600, g_secret, strlen(g_secret));

	if (t == NULL)
		die("cannot sign a token");
	return t;
}

/* Creates an exam; time_limit_s 0 means the default of the steps (3 h). */
static void create_exam(phase *ph, const char *admin, long limit_s, long grace_s)
{
	char body[256];
	cJSON *j;
	int st;

	snprintf(body, sizeof body,
		 "{\"title\":\"examday "
		 "%s\",\"time_limit_s\":%ld,\"grace_s\":%ld,\"max_attempts\":1}",
		 ph->name, limit_s, grace_s);
	st = blocking("POST", "/api/exams", admin, body, &j);
	if (st != 201 || !j || !cJSON_GetStringValue(cJSON_GetObjectItem(j, "exam_id")))
		die("POST /api/exams answered %d", st);
	snprintf(ph->exam_id, sizeof ph->exam_id, "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(j, "exam_id")));
	cJSON_Delete(j);
}

/* ------------------------------------------------------------ running */

static void progress(const phase *ph, double now)
{
	unsigned long long errs = 0;

	for (int k = 0; k < NK; k++)
		errs += ph->err[k];
	printf("[%s] %5.0f s  students %d  sent %llu  answered %llu  waiting %d  in flight %d  "
	       "p99 ms: start %.1f save %.1f activity %.1f state %.1f",
	       ph->name, (now - ph->t0) / 1000.0, ph->n, ph->sent, ph->answered, ready_len,
	       inflight, hist_q(&ph->h[K_START], 0.99), hist_q(&ph->h[K_SAVE], 0.99),
	       hist_q(&ph->h[K_ACTIVITY], 0.99), hist_q(&ph->h[K_STATE], 0.99));
	if (ph->deadline)
		printf(" submit %.1f late %.1f", hist_q(&ph->h[K_SUBMIT], 0.99),
		       hist_q(&ph->h[K_LATE], 0.99));
	printf("  errors %llu\n", errs);
	fflush(stdout);
}

static void run_phase(phase *ph, double progress_ms)
{
	struct epoll_event evs[256];
	double next_prog, stop_at;
	int i;

	ph->t0 = now_ms() + 500.0;
	ph->end_ms = ph->t0 + ph->window_ms + ph->hold_ms;
	if (ph->deadline)
		ph->end_ms =
			ph->t0 + ph->window_ms + (double)(g_limit_s + g_grace_s) * 1000.0 + 4000.0;
	{
		double saves = (ph->end_ms - ph->t0) / SAVE_MS + 1;
		ph->value_bytes = ANSWERS_BYTES / saves - 24;
		if (ph->value_bytes < 16)
			ph->value_bytes = 16;
	}
	for (i = 0; i < ph->n; i++) {
		int sid = ph->first + i;
		student *s = &S[sid];
		double frac = (double)i / ph->n, st = ph->t0 + ph->window_ms * frac;

		for (int k = 0; k < NK; k++)
			s->due[k] = INFINITY;
		s->due[K_START] = st;
		s->due[K_SAVE] = clip(ph, next_after(ph->t0 + SAVE_MS * frac, SAVE_MS, st));
		s->due[K_ACTIVITY] =
			clip(ph, next_after(ph->t0 + ACTIVITY_MS * frac, ACTIVITY_MS, st));
		s->due[K_STATE] = clip(ph, next_after(ph->t0 + STATE_MS * frac, STATE_MS, st));
		heap_push(st, sid);
	}
	cpu_now(&ph->cpu0);
	printf("==> %s: %d students, starts within %.0f s, until %.0f s\n", ph->name, ph->n,
	       ph->window_ms / 1000.0, (ph->end_ms - ph->t0) / 1000.0);
	fflush(stdout);
	next_prog = ph->t0 + progress_ms;
	stop_at = ph->end_ms + DRAIN_MS;
	for (;;) {
		double now = now_ms();
		int timeout, n;

		while (heap_len > 0 && heap[0].t <= now) {
			hent h = heap_pop();
			student_schedule(h.sid, now);
		}
		dispatch();
		if (now >= next_prog) {
			progress(ph, now);
			check_timeouts(now);
			next_prog += progress_ms;
		}
		if (now >= ph->end_ms && heap_len == 0 && ready_len == 0 && inflight == 0)
			break;
		if (now >= stop_at) {
			fprintf(stderr,
				"examday: %s: %d requests still waiting, %d in flight after %.0f s "
				"of drain: counted as errors\n",
				ph->name, ready_len, inflight, DRAIN_MS / 1000.0);
			while (ready_len > 0) {
				int sid = ready[ready_head];
				ready_head = (ready_head + 1) % ready_cap;
				ready_len--;
				complete(sid, 0, NULL, now);
			}
			for (i = 0; i < n_conns; i++) {
				if (C[i].state == 3) {
					int sid = C[i].sid;
					conn_done(i, 0);
					complete(sid, 0, NULL, now);
				}
			}
			heap_len = 0;
			break;
		}
		timeout = heap_len > 0 ? (int)ceil(heap[0].t - now) : 100;
		if (timeout > 100)
			timeout = 100;
		if (timeout < 0)
			timeout = 0;
		n = epoll_wait(ep, evs, 256, timeout);
		now = now_ms();
		for (i = 0; i < n; i++)
			conn_event((int)evs[i].data.u32, evs[i].events, now);
	}
	ph->elapsed_ms = now_ms() - ph->t0;
	cpu_now(&ph->cpu1);
	progress(ph, now_ms());
}

/* ------------------------------------------------------------ verification */

static int cmp_student(const void *a, const void *b)
{
	return strcmp(S[*(const int *)a].attempt_id, S[*(const int *)b].attempt_id);
}

static PGconn *pg;

static void verify_phase(phase *ph)
{
	const char *params[1] = {ph->exam_id};
	PGresult *r;
	int *ids = xmalloc((size_t)ph->n * sizeof *ids), n = 0;

	for (int i = 0; i < ph->n; i++)
		if (uuid_valid(S[ph->first + i].attempt_id))
			ids[n++] = ph->first + i;
	qsort(ids, (size_t)n, sizeof *ids, cmp_student);
	/* A new connection: the server reached at the start may have failed
	 * over since (./dev cluster test: a multi-host conninfo with
	 * target_session_attrs=read-write finds the primary). */
	PQreset(pg);
	r = PQexecParams(pg,
			 "SELECT attempt_id::text, version, status, answers->>'last', "
			 "answers->>('q' || (answers->>'last')) FROM attempts.attempts "
			 "WHERE exam_id = $1 ORDER BY 1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("verification query: %s", PQerrorMessage(pg));
	/* Both lists sorted by attempt id: one merge. */
	{
		int row = 0, rows = PQntuples(r);
		for (int q = 0; q < n; q++) {
			student *s = &S[ids[q]];
			int c = -1;
			while (row < rows && (c = strcmp(PQgetvalue(r, row, 0), s->attempt_id)) < 0)
				row++;
			ph->checked++;
			if (row >= rows || c != 0) {
				ph->not_found++;
				ph->missing++;
				continue;
			}
			int v = atoi(PQgetvalue(r, row, 1));
			int sub = strcmp(PQgetvalue(r, row, 2), "submitted") == 0;
			int lo = 1 + s->acked_saves + sub, hi = lo + s->unknown_saves, bad = 0;
			if (v < lo || v > hi) {
				ph->ver_bad++;
				bad = 1;
			}
			if (s->acked_saves > 0) {
				buf want = BUF_INIT;
				const char *last =
					PQgetisnull(r, row, 3) ? "" : PQgetvalue(r, row, 3);
				int seq = atoi(last);
				filler(&want, ids[q], seq, (int)ph->value_bytes);
				if (seq < s->last_acked_seq ||
				    (s->unknown_saves == 0 && seq != s->last_acked_seq) ||
				    PQgetisnull(r, row, 4) || want.failed ||
				    strcmp(want.data ? want.data : "", PQgetvalue(r, row, 4)) !=
					    0) {
					ph->data_bad++;
					bad = 1;
				}
				buf_free(&want);
			}
			if (bad && ph->missing < 5)
				fprintf(stderr,
					"examday: %s: attempt %s: version %d (want %d..%d), last "
					"%s "
					"(acknowledged %d)\n",
					ph->name, s->attempt_id, v, lo, hi,
					PQgetisnull(r, row, 3) ? "null" : PQgetvalue(r, row, 3),
					s->last_acked_seq);
			ph->missing += bad;
		}
	}
	PQclear(r);
	free(ids);
}

/* Deadline storm: waits until no attempt of the exam is in progress, at
 * most 15 s after the last deadline + grace; records how long it took. */
static void wait_sweep(phase *ph)
{
	const char *params[1] = {ph->exam_id};

	for (;;) {
		PGresult *r =
			PQexecParams(pg,
				     "SELECT count(*) FROM attempts.attempts WHERE exam_id = $1 "
				     "AND status = 'in_progress'",
				     1, NULL, params, NULL, NULL, 0);
		double now = now_ms();
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("sweep query: %s", PQerrorMessage(pg));
		ph->left_in_progress = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (ph->left_in_progress == 0) {
			ph->sweep_s = (now - ph->last_deadline_ms) / 1000.0;
			return;
		}
		if (now > ph->last_deadline_ms + 15000.0) {
			ph->sweep_s = -1;
			return;
		}
		usleep(200000);
	}
}

/* ------------------------------------------------------------ report */

static void statuses(const phase *ph, buf *b)
{
	int any = 0;

	for (int st = 0; st < 600; st++) {
		if (ph->status[st] == 0 || (st >= 200 && st < 300))
			continue;
		if (st == 0)
			buf_printf(b, "%sno answer (timeout, drain cut-off, closed)×%u",
				   any ? ", " : "", ph->status[st]);
		else
			buf_printf(b, "%s%d×%u", any ? ", " : "", st, ph->status[st]);
		any = 1;
	}
	if (!any)
		buf_puts(b, "none");
}

static int holds(const phase *ph)
{
	for (int k = 0; k < NK; k++)
		if (ph->err[k] || hist_q(&ph->h[k], 0.99) > HOLD_P99_MS)
			return 0;
	return 1;
}

static void report(FILE *f)
{
	fprintf(f, "| phase | students | requests | req/s | kind | n | p50 ms | p99 ms | max ms | "
		   "errors | answers other than 2xx | holds (p99 ≤ 50 ms, no error) |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int p = 0; p < n_phases; p++) {
		const phase *ph = &P[p];
		buf st = BUF_INIT;
		int first = 1;

		statuses(ph, &st);
		for (int k = 0; k < NK; k++) {
			if (ph->h[k].count == 0)
				continue;
			if (first)
				fprintf(f, "| %s | %d | %llu | %.0f ", ph->name, ph->n,
					ph->answered,
					(double)ph->answered / (ph->elapsed_ms / 1000.0));
			else
				fprintf(f, "| | | | ");
			fprintf(f, "| %s | %llu | %.1f | %.1f | %.1f | %llu | %s | %s |\n",
				kind_name[k], ph->h[k].count, hist_q(&ph->h[k], 0.5),
				hist_q(&ph->h[k], 0.99), ph->h[k].max, ph->err[k],
				first ? (st.data ? st.data : "none") : "",
				first ? (holds(ph) ? "**holds**" : "no") : "");
			first = 0;
		}
		buf_free(&st);
	}
	fprintf(f, "\nRequests sent again on a new connection because nginx closed a kept-alive "
		   "one before reading them (as browsers do; counted as one request):");
	for (int p = 0; p < n_phases; p++)
		fprintf(f, "%s %s %llu", p ? "," : "", P[p].name, P[p].resent);
	fprintf(f, ".\n");
	fprintf(f, "\nCPU per request (µs of user + system time during the phase, over its "
		   "answered requests):\n\n");
	fprintf(f, "| phase | FastCGI workers | nginx | PostgreSQL | generator | generator CPU "
		   "%% of one core |\n|---|---|---|---|---|---|\n");
	for (int p = 0; p < n_phases; p++) {
		const phase *ph = &P[p];
		double n = ph->answered ? (double)ph->answered : 1;
		fprintf(f, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f %% |\n", ph->name,
			(ph->cpu1.workers - ph->cpu0.workers) * 1e6 / n,
			(ph->cpu1.nginx - ph->cpu0.nginx) * 1e6 / n,
			(ph->cpu1.pg - ph->cpu0.pg) * 1e6 / n,
			(ph->cpu1.self - ph->cpu0.self) * 1e6 / n,
			(ph->cpu1.self - ph->cpu0.self) * 100.0 / (ph->elapsed_ms / 1000.0));
	}
	fprintf(f, "\nAcknowledged saves in the database (version = 1 + acknowledged saves "
		   "(+1 when submitted), answers = the last acknowledged save's):\n\n");
	fprintf(f, "| phase | attempts checked | missing or wrong | of which: version | data | not "
		   "found | stale state reads |\n|---|---|---|---|---|---|---|\n");
	for (int p = 0; p < n_phases; p++) {
		const phase *ph = &P[p];
		fprintf(f, "| %s | %ld | %ld | %ld | %ld | %ld | %llu |\n", ph->name, ph->checked,
			ph->missing, ph->ver_bad, ph->data_bad, ph->not_found, ph->stale_reads);
	}
	for (int p = 0; p < n_phases; p++) {
		const phase *ph = &P[p];
		if (!ph->deadline)
			continue;
		fprintf(f,
			"\nDeadline storm: %d students, time limit %ld s, grace %ld s, "
			"deadlines spread over %.0f s; saves every 2 s in the last 10 s; half "
			"submit "
			"1 s before their deadline, half save 1 s after deadline + grace: answered "
			"409 attempt_closed %llu times, 409 attempt_submitted (the sweep came "
			"first) "
			"%llu times. ",
			ph->n, g_limit_s, g_grace_s, ph->window_ms / 1000.0, ph->late_closed,
			ph->late_submitted);
		if (ph->sweep_s >= 0)
			fprintf(f,
				"Nothing left in progress %.1f s after the last deadline + grace "
				"(target ≤ 10 s: %s).\n",
				ph->sweep_s, ph->sweep_s <= 10.0 ? "met" : "**not met**");
		else
			fprintf(f,
				"**%ld attempts still in progress** 15 s after the last deadline + "
				"grace.\n",
				ph->left_in_progress);
	}
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *steps = "5000,10000,15000,20000,30000", *report_path = NULL;
	double window_s = 60, hold_s = 30, dl_window_s = 20, progress_s = 5;
	int conns = 256, dl_students = 0, opt, port;
	long missing = 0;
	char *admin, admin_sub[UUID_STR_LEN + 1];

	while ((opt = getopt(argc, argv, "u:d:c:s:w:H:D:L:G:W:r:P:p:")) != -1) {
		switch (opt) {
		case 'u':
			g_url = optarg;
			break;
		case 'd':
			g_conninfo = optarg;
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 's':
			steps = optarg;
			break;
		case 'w':
			window_s = atof(optarg);
			break;
		case 'H':
			hold_s = atof(optarg);
			break;
		case 'D':
			dl_students = atoi(optarg);
			break;
		case 'L':
			g_limit_s = atol(optarg);
			break;
		case 'G':
			g_grace_s = atol(optarg);
			break;
		case 'W':
			dl_window_s = atof(optarg);
			break;
		case 'r':
			report_path = optarg;
			break;
		case 'p':
			progress_s = atof(optarg);
			break;
		case 'P': {
			char *spec = strdup(optarg), *tok, *save = NULL;
			for (tok = strtok_r(spec, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (strncmp(tok, "pg:", 3) == 0)
					pid_pg = atoi(tok + 3);
				else if (strncmp(tok, "nginx:", 6) == 0)
					pid_nginx = atoi(tok + 6);
				else if (strncmp(tok, "workers:", 8) == 0)
					pid_workers = atoi(tok + 8);
			}
			free(spec);
			break;
		}
		default:
			die("bad usage (see the comment at the top of tests/bench/examday.c)");
		}
	}
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	if (!g_url || !g_conninfo || !g_secret || conns < 1 || conns > MAX_CONNS || window_s < 0 ||
	    hold_s < 0 || progress_s <= 0 || g_limit_s < 12 || g_grace_s < 0)
		die("usage: examday -u URL -d CONNINFO [-c CONNS] [-s STEPS] [-w S] [-H S] [-D N] "
		    "[-L S] [-G S] [-W S] [-r FILE] [-P pg:PID,nginx:PID,workers:PID] "
		    "(ATTEMPTS_JWT_SECRET set; -L at least 12)");
	if (sscanf(g_url, "http://127.0.0.1:%d", &port) != 1 || port < 1 || port > 65535)
		die("-u must be http://127.0.0.1:PORT");
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((unsigned short)port);
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	pg = PQconnectdb(g_conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		die("cannot connect to the database: %s", PQerrorMessage(pg));

	/* Phases and students. */
	{
		char *list = strdup(steps), *tok, *save = NULL;
		for (tok = strtok_r(list, ",", &save); tok && n_phases < MAX_PHASES - 1;
		     tok = strtok_r(NULL, ",", &save)) {
			phase *ph = &P[n_phases++];
			ph->n = atoi(tok);
			if (ph->n < 1)
				die("bad step '%s'", tok);
			snprintf(ph->name, sizeof ph->name, "step %d", n_phases);
			ph->window_ms = window_s * 1000.0;
			ph->hold_ms = hold_s * 1000.0;
		}
		free(list);
		if (dl_students > 0) {
			phase *ph = &P[n_phases++];
			ph->n = dl_students;
			ph->deadline = 1;
			snprintf(ph->name, sizeof ph->name, "deadline storm");
			ph->window_ms = dl_window_s * 1000.0;
		}
		for (int p = 0; p < n_phases; p++) {
			P[p].first = n_students;
			n_students += P[p].n;
		}
	}
	if (n_phases == 0)
		die("no phase to run");
	S = xmalloc((size_t)n_students * sizeof *S);
	if (uuid_generate(admin_sub) != ATT_OK)
		die("no randomness");
	admin = sign(admin_sub, AUTH_ROLE_ADMIN);
	for (int p = 0; p < n_phases; p++) {
		if (P[p].deadline)
			create_exam(&P[p], admin, g_limit_s, g_grace_s);
		else
			create_exam(&P[p], admin, 10800, 0);
		for (int i = 0; i < P[p].n; i++) {
			student *s = &S[P[p].first + i];
			s->phase = p;
			s->submitter = (i % 2) == 0;
			if (uuid_generate(s->sub) != ATT_OK)
				die("no randomness");
			s->token = sign(s->sub, AUTH_ROLE_STUDENT);
			for (int k = 0; k < NK; k++)
				s->due[k] = INFINITY;
		}
	}
	free(admin);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	n_conns = conns;
	C = xmalloc((size_t)n_conns * sizeof *C);
	freec = xmalloc((size_t)n_conns * sizeof *freec);
	for (int i = 0; i < n_conns; i++) {
		C[i].in = xmalloc(INBUF);
		C[i].sid = -1;
		buf_init(&C[i].out);
		conn_open(i);
	}
	printf("==> examday: %d phases, %d students, %d connections to %s\n", n_phases, n_students,
	       n_conns, g_url);
	for (int p = 0; p < n_phases; p++) {
		run_phase(&P[p], progress_s * 1000.0);
		if (P[p].deadline)
			wait_sweep(&P[p]);
		verify_phase(&P[p]);
		missing += P[p].missing;
	}
	report(stdout);
	if (report_path) {
		FILE *f = fopen(report_path, "w");
		if (f == NULL)
			die("cannot write %s: %s", report_path, strerror(errno));
		report(f);
		if (fclose(f) != 0)
			die("cannot write %s", report_path);
	}
	PQfinish(pg);
	if (missing) {
		printf("examday: FAIL: %ld attempts lack an acknowledged save or have a wrong "
		       "version\n",
		       missing);
		return 1;
	}
	printf("examday: every acknowledged save is in the database\n");
	return 0;
}
