/* hostile_build: builds request INDEX of a run from the seed (each kind
 * of hostile traffic), and the slow variant of one. */
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

/* A path and query for a known route, with a random target. */
static void route_target(rng *r, const route_t *rt, int student, buf *t)
{
	char id[ID_LEN + 40], up[ID_LEN];

	if (rt->action == NULL) {
		if (strstr(rt->path, "{E}") != NULL)
			buf_printf(t, "/api/exams/%s", chance(r, 70) ? g_exam : "bogus");
		else
			buf_puts(t, rt->path);
		return;
	}
	pick_attempt(r, student, id);
	buf_printf(t, "/api/attempts/%s%s?action=%s", id, chance(r, 10) ? "/route.ts" : "",
		   rt->action);
	if (strcmp(rt->action, "stats") == 0) {
		static const char *const types[] = {"stats", "active", "optimization", "x", ""};
		buf_printf(t, "&type=%s", PICK(r, types));
	} else if (strcmp(rt->action, "upload") == 0 && strcmp(rt->method, "GET") == 0) {
		rand_uuid(r, up);
		buf_printf(t, "&upload_id=%s", up);
	} else if (strcmp(rt->action, "upload") == 0) {
		static const char *const names[] = {
			"a.txt",	"essay.pdf", ".hidden",		  "a/b",     "..",
			"%2e%2e%2fetc", "x%0d%0ay",  "%c3%a9t%c3%a9.png", "%ff.txt", ""};
		buf_printf(t, "&filename=%s", PICK(r, names));
	}
}

/* Builds request index into q. */
void build(long index, uint64_t seed, request *q)
{
	rng r = {seed ^ ((uint64_t)index * 0x2545f4914f6cdd1dULL)};
	int valid, student;
	const char *token = pick_token(&r, &valid, &student);
	const route_t *rt = &known[below(&r, NKNOWN)];
	buf t = BUF_INIT, body = BUF_INIT;
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
		for (size_t i = 0; i < n; i++)
			buf_putc(&body, (char)rnd(&r));
		head(&q->raw, rt->method, t.data, token);
		finish(&q->raw, chance(&r, 50) ? "application/json" : "application/octet-stream",
		       body.data, body.len);
		/* Random bytes are a valid upload body. */
		q->may_succeed = valid;
		break;
	}
	case K_HUGE_HEADERS: {
		unsigned v = below(&r, 5);
		size_t n = 8192 + below(&r, 8192); /* up to ~16 KiB */
		head(&q->raw, rt->method, t.data, v == 0 ? NULL : token);
		if (v == 0) { /* a huge token */
			buf_puts(&q->raw, "Authorization: Bearer ");
			b_fill(&q->raw, 'A', n);
			buf_puts(&q->raw, "\r\n");
		} else if (v == 1) {
			buf_puts(&q->raw, "X-Filler: ");
			b_fill(&q->raw, 'x', n);
			buf_puts(&q->raw, "\r\n");
		} else if (v == 2) { /* many medium headers */
			for (size_t i = 0; i * 80 < n; i++) {
				buf_printf(&q->raw, "X-H%zu: ", i);
				b_fill(&q->raw, 'h', 70);
				buf_puts(&q->raw, "\r\n");
			}
		} else if (v == 3) {
			buf_puts(&q->raw, "Cookie: ");
			for (size_t i = 0; i * 20 < n; i++)
				buf_printf(&q->raw, "c%zu=%012zu; ", i, i);
			buf_puts(&q->raw, "\r\n");
		} else {
			buf_puts(&q->raw, "X-Request-Id: ");
			b_fill(&q->raw, 'r', n);
			buf_puts(&q->raw, "\r\n");
		}
		if (strcmp(rt->method, "GET") != 0) {
			plausible_body(&r, rt->action, student, &body);
			finish(&q->raw, NULL, body.data, body.len);
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
				buf_puts(&body, "{\"a\":");
		else { /* deep inside a valid save body, closed properly */
			buf_puts(&body, "{\"answers\":{\"q\":");
			b_fill(&body, '[', 5000);
			b_fill(&body, ']', 5000);
			buf_puts(&body, "}}");
		}
		head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "PATCH", t.data, token);
		finish(&q->raw, NULL, body.data, body.len);
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
			buf_printf(&body, "{\"answers\":{\"q\":\"a%sb\"}}", x);
			break;
		case 1:
			buf_printf(&body, "{\"answers\":{\"%s\":1}}", x);
			break;
		default:
			buf_printf(
				&body,
				"{\"events\":[{\"event_type\":\"focus\",\"payload\":{\"t\":\"%s\"}"
				"}]}",
				x);
			break;
		}
		head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "POST", t.data, token);
		finish(&q->raw, NULL, body.data, body.len);
		/* An upload's bytes are not text: anything goes there. */
		q->may_succeed = valid && rt->action != NULL && strcmp(rt->action, "upload") == 0;
		break;
	}
	case K_NUL: {
		unsigned v = below(&r, 6);
		char id[ID_LEN + 40];
		pick_attempt(&r, student, id);
		if (v == 0) { /* NUL inside a JSON string */
			buf_puts(&body, "{\"answers\":{\"q\":\"a");
			buf_append(&body, "\0", 1);
			buf_puts(&body, "b\"}}");
			head(&q->raw, "PATCH", t.data, token);
			finish(&q->raw, NULL, body.data, body.len);
		} else if (v == 1) { /* NUL before the JSON */
			buf_append(&body, "\0", 1);
			buf_puts(&body, "{\"answers\":{}}");
			head(&q->raw, "PATCH", t.data, token);
			finish(&q->raw, NULL, body.data, body.len);
		} else if (v == 2) { /* %00 in the query */
			buf_free(&t);
			buf_printf(&t, "/api/attempts/%s?action=state%%00&type=%%00", id);
			head(&q->raw, "GET", t.data, token);
			finish(&q->raw, NULL, NULL, 0);
		} else if (v == 3) { /* %00 in an upload's filename */
			buf_free(&t);
			buf_printf(&t, "/api/attempts/%s?action=upload&filename=a%%00.txt", id);
			head(&q->raw, "POST", t.data, token);
			finish(&q->raw, "text/plain", "hello", 5);
		} else if (v == 4) { /* %00 in the path */
			buf_free(&t);
			buf_printf(&t, "/api/attempts/%s%%00?action=state", id);
			head(&q->raw, "GET", t.data, token);
			finish(&q->raw, NULL, NULL, 0);
		} else { /* a raw NUL in the request line */
			buf_printf(&q->raw, "GET /api/attempts/%s?action=st", id);
			buf_append(&q->raw, "\0", 1);
			buf_printf(&q->raw,
				   "ate HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
				   g_host, g_port);
		}
		break;
	}
	case K_RANDOM_METHOD: {
		const char *m = PICK(&r, methods);
		char id[ID_LEN + 40];
		pick_attempt(&r, student, id);
		buf_free(&t);
		buf_printf(&t, "/api/attempts/%s?action=%s", id, PICK(&r, actions));
		if (chance(&r, 30))
			buf_printf(&t, "&action=%s", PICK(&r, actions));
		if (chance(&r, 10))
			buf_puts(&t, "&ACTION=upload");
		head(&q->raw, m, t.data, token);
		if (chance(&r, 50)) {
			plausible_body(&r, PICK(&r, actions), student, &body);
			finish(&q->raw, NULL, body.data, body.len);
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
		buf_free(&t);
		buf_puts(&t, p);
		if (strcmp(p, "/api/attempts/x?action=state&") == 0)
			for (int i = 0; i < 40; i++)
				buf_printf(&t, "p%d=%d&", i, i);
		if (chance(&r, 20)) { /* a long random path */
			buf_puts(&t, "/");
			for (unsigned i = 0, n = below(&r, 4000); i < n; i++)
				buf_append(&t,
					   &"abcdefghijklmnopqrstuvwxyz0123456789-._~%/"[below(&r,
											       42)],
					   1);
		}
		head(&q->raw, chance(&r, 70) ? "GET" : "POST", t.data, token);
		finish(&q->raw, NULL, NULL, 0);
		break;
	}
	case K_OVERSIZED: {
		b_fill(&body, ' ', TWO_MIB - 2);
		buf_puts(&body, "{}");
		if (chance(&r, 15)) { /* to the upload location (1 GiB limit) */
			char id[ID_LEN + 40];
			pick_attempt(&r, student, id);
			buf_free(&t);
			buf_printf(&t, "/api/attempts/%s?action=upload&filename=big.txt", id);
			head(&q->raw, "POST", t.data, token);
			finish(&q->raw, "text/plain", body.data, body.len);
			q->may_succeed = valid;
		} else {
			head(&q->raw, strcmp(rt->method, "GET") ? rt->method : "POST", t.data,
			     token);
			finish(&q->raw, NULL, body.data, body.len);
		}
		break;
	}
	case K_BAD_LENGTH: {
		unsigned v = below(&r, 9);
		const char *m = strcmp(rt->method, "GET") ? rt->method : "POST";
		plausible_body(&r, rt->action, student, &body);
		head(&q->raw, m, t.data, token);
		buf_puts(&q->raw, "Content-Type: application/json\r\n");
		switch (v) {
		case 0:
			buf_puts(&q->raw, "Content-Length: abc\r\n\r\n");
			break;
		case 1:
			buf_puts(&q->raw, "Content-Length: -5\r\n\r\n");
			break;
		case 2:
			buf_puts(&q->raw, "Content-Length: 99999999999999999999999\r\n\r\n");
			break;
		case 3:
			buf_printf(&q->raw, "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n",
				   body.len, body.len + 7);
			break;
		case 4:
			buf_printf(&q->raw,
				   "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n",
				   body.len);
			buf_printf(&q->raw, "%zx\r\n", body.len);
			break;
		case 5: /* promises more than it sends, then stops sending */
			buf_printf(&q->raw, "Content-Length: %zu\r\n\r\n", body.len + 100);
			q->half_close = 1;
			q->answer_optional = 1;
			break;
		case 6: /* sends more than it announces */
			buf_printf(&q->raw, "Content-Length: %zu\r\n\r\n",
				   body.len > 3 ? body.len - 3 : 0);
			break;
		case 7:
			buf_puts(&q->raw, "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
			break;
		default:
			buf_puts(&q->raw, "Transfer-Encoding: gzip, chunked\r\n\r\n");
			q->explained_5xx = 1; /* nginx: 501 Not Implemented */
			break;
		}
		if (v != 7 && v != 8)
			buf_append(&q->raw, body.data, body.len);
		if (v == 4)
			buf_puts(&q->raw, "\r\n0\r\n\r\n");
		/* A chunked body with a stray Content-Length may be taken as
		 * chunked; a body longer than announced is cut to the length. */
		q->may_succeed = valid && (v == 4 || v == 6);
		break;
	}
	default: { /* K_VALID_RANDOM */
		const char *method = rt->method;
		if (chance(&r, 5))
			method = PICK(&r, methods);
		head(&q->raw, method, t.data, token);
		if (rt->action != NULL && strcmp(rt->action, "upload") == 0 &&
		    strcmp(rt->method, "POST") == 0) {
			static const char *const types[] = {
				"text/plain", "application/pdf",
				"image/png",  "application/x-evil",
				"text/html",  "TEXT/PLAIN; charset=utf-8"};
			size_t n = below(&r, 2048);
			b_fill(&body, 'u', n);
			finish(&q->raw, PICK(&r, types), body.data, body.len);
		} else if (strcmp(rt->method, "GET") != 0 || chance(&r, 10)) {
			if (chance(&r, 60))
				plausible_body(&r, rt->action, student, &body);
			else
				rand_json(&r, &body, 0);
			finish(&q->raw, NULL, body.data, body.len);
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
		const char *eol = memchr(q->raw.data, '\r', q->raw.len);
		size_t n = eol ? (size_t)(eol - q->raw.data) : q->raw.len;
		const char *sp = memchr(q->raw.data, ' ', n);
		printable(q->line, sizeof q->line, q->raw.data, n < 150 ? n : 150);
		if (sp != NULL) {
			size_t tl = strcspn(sp + 1, " ?\r");
			/* Someone else's attempt in the path: never a 2xx (the
			 * path id of batch and start is ignored). */
			if (g_foreign != NULL && memmem(sp + 1, tl, g_foreign, strlen(g_foreign)) &&
			    !memmem(q->raw.data, n, "action=batch", 12) &&
			    !memmem(q->raw.data, n, "action=start", 12))
				q->may_succeed = 0;
			if (memmem(sp + 1, tl, "health", 6) != NULL)
				q->may_succeed = 1;
		}
	}
	buf_free(&t);
	buf_free(&body);
}

/* A slow request: the head at once, then a body 1 byte per 100 ms; odd
 * ones give up half way (no answer read), even ones finish. */
void slow_request(long index, request *q)
{
	static const char body[] = "{\"answers\":{\"slow\":1}}";
	const char *id = g_students[index % NSTUDENTS].attempt;
	char target[128];

	memset(q, 0, sizeof *q);
	q->kind = K_SLOW;
	snprintf(target, sizeof target, "/api/attempts/%s?action=save", id);
	head(&q->raw, "PATCH", target, g_students[(index + 1) % NSTUDENTS].token);
	buf_printf(&q->raw, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		   sizeof body - 1);
	if (index % 2) {
		buf_append(&q->slow_body, body, 10);
		q->slow_give_up = 1;
	} else {
		buf_append(&q->slow_body, body, sizeof body - 1);
	}
	snprintf(q->line, sizeof q->line, "PATCH %s (slow body%s)", target,
		 q->slow_give_up ? ", given up" : "");
}

void request_free(request *q)
{
	buf_free(&q->raw);
	buf_free(&q->slow_body);
}
