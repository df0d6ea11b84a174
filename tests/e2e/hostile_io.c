/* hostile_io: what it adds to lib/buf (fill, out of memory), the seeded
 * randomness, one exchange over a plain socket to the stack (send, read
 * with a deadline, parse the answer, chunked bodies undone) and the
 * checks of one error body. */
#include <cJSON.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
#include "http_client.h"

/* ================================================================ buffers */

void b_fill(buf *b, char c, size_t n)
{
	char block[4096];

	memset(block, c, sizeof block);
	for (size_t k; n > 0; n -= k) {
		k = n < sizeof block ? n : sizeof block;
		buf_append(b, block, k);
	}
}

void b_must(const buf *b)
{
	if (b->failed) {
		fputs("hostile: out of memory\n", stderr);
		exit(1);
	}
}

/* ================================================================ randomness */

uint64_t rnd(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned below(rng *r, unsigned n)
{
	return n ? (unsigned)(rnd(r) % n) : 0;
}

int chance(rng *r, unsigned percent)
{
	return below(r, 100) < percent;
}

void rand_uuid(rng *r, char out[ID_LEN])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < UUID_STR_LEN; i++)
		out[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[below(r, 16)];
	out[14] = '4';
	out[ID_LEN - 1] = '\0';
}

/* ================================================================ one exchange */

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int connect_local(void)
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

/* Reads until the peer closes or the deadline passes. */
static void read_all(int fd, buf *in, long long deadline, answer *a)
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
		buf_append(in, chunk, (size_t)n);
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
static int dechunk(const char *p, size_t n, buf *out)
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
		buf_append(out, p + i, size);
		i += size + 2;
	}
}

/* Parses the first final (non-1xx) response of in into a. */
static void parse_answer(const buf *in, answer *a, int head)
{
	const char *p = in->data, *e = in->data + in->len;
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
			buf_append(&a->body, p, (size_t)(e - p) < want ? (size_t)(e - p) : want);
		} else {
			buf_append(&a->body, p, (size_t)(e - p));
		}
		return;
	}
}

/* Sends req and reads the answer (unless it gives up on purpose). */
/* As perform(), on a connection already open (fd < 0: none could be). */
void perform_on(int fd, const request *req, answer *a)
{
	buf in = BUF_INIT;
	int err = 0;

	memset(a, 0, sizeof *a);
	if (fd < 0) {
		snprintf(a->error, sizeof a->error, "connect: %s", strerror(errno));
		return;
	}
	b_must(&req->raw);
	b_must(&req->slow_body);
	err = http_client_send_all(fd, req->raw.data, req->raw.len);
	for (size_t i = 0; err == 0 && i < req->slow_body.len; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		err = http_client_send_all(fd, req->slow_body.data + i, 1);
	}
	if (req->slow_give_up) {
		close(fd);
		return;
	}
	if (req->half_close || err != 0)
		shutdown(fd, SHUT_WR);
	read_all(fd, &in, now_ms() + TIMEOUT_MS, a);
	close(fd);
	b_must(&in);
	parse_answer(&in, a, req->head);
	b_must(&a->body);
	if (a->status == 0 && a->error[0] == '\0' && err != 0)
		snprintf(a->error, sizeof a->error, "send: %s", strerror(err));
	buf_free(&in);
}

void perform(const request *req, answer *a)
{
	perform_on(connect_local(), req, a);
}

/* ================================================================ checks */

/* 1 if body is exactly {"error": {"code", "message"[, "details"]}}. */
int error_shape_ok(const buf *body, char *why, size_t cap)
{
	cJSON *root = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
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

int is_json(const buf *body)
{
	cJSON *root = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
	int ok = root != NULL;

	cJSON_Delete(root);
	return ok;
}

/* Who wrote a non-JSON body: nginx's own pages name it. */
int by_nginx(const answer *a)
{
	return (a->body.data != NULL && strstr(a->body.data, "<center>nginx</center>") != NULL) ||
	       strncmp(a->ctype, "text/html", 9) == 0;
}
