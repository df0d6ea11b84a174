/* hostile_fcgi: the keep-alive check spoken straight to a worker's
 * FastCGI socket: a request with unread input, then one more on the same
 * connection, which must get its own answer. */
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
#include "http_client.h"

/* ------------------------------------------------ the worker's socket */

/* Appends one FastCGI record (type, request id 1, content). */
static void fcgi_record(buf *b, int type, const char *content, size_t len)
{
	unsigned char h[8] = {1,
			      (unsigned char)type,
			      0,
			      1,
			      (unsigned char)(len >> 8),
			      (unsigned char)(len & 0xff),
			      0,
			      0};

	buf_append(b, h, sizeof h);
	if (len > 0)
		buf_append(b, content, len);
}

static void fcgi_pair(buf *params, const char *name, const char *value)
{
	unsigned char l[2] = {(unsigned char)strlen(name), (unsigned char)strlen(value)};

	buf_append(params, l, 2); /* names and values here are < 128 buf */
	buf_puts(params, name);
	buf_puts(params, value);
}

/* One whole request as nginx sends it over a kept-alive connection
 * (FCGI_KEEP_CONN), with a body of body_len bytes of '['. */
static void fcgi_request(buf *out, const char *method, const char *path, const char *query,
			 size_t body_len)
{
	static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0}; /* responder, keep conn */
	char uri[256], len[24];
	buf params = BUF_INIT;

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
	fcgi_record(out, 4, params.data, params.len);
	fcgi_record(out, 4, NULL, 0);
	while (body_len > 0) {
		size_t n = body_len > 32768 ? 32768 : body_len;
		char chunk[32768];
		memset(chunk, '[', n);
		fcgi_record(out, 5, chunk, n);
		body_len -= n;
	}
	fcgi_record(out, 5, NULL, 0);
	buf_free(&params);
}

/* Reads records until FCGI_END_REQUEST; returns the HTTP status of the
 * CGI answer ("Status: NNN"), 200 if none is given, or 0 when the
 * connection ends or stalls first. */
static int fcgi_answer(int fd)
{
	buf out = BUF_INIT;
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
			buf_append(&out, body, len);
		else if (h[1] == 3)
			done = 1;
		free(body);
	}
	b_must(&out);
	status = 200;
	if (out.data != NULL && strncmp(out.data, "Status: ", 8) == 0)
		status = atoi(out.data + 8);
out:
	buf_free(&out);
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
	buf req = BUF_INIT;
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
	b_must(&req);
	if (http_client_send_all(fd, req.data, req.len) != 0)
		goto out;
	*first = fcgi_answer(fd);
	buf_free(&req);
	fcgi_request(&req, "POST", "/api/exams", "", 2);
	b_must(&req);
	ok = http_client_send_all(fd, req.data, req.len) == 0 && fcgi_answer(fd) == 401;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&req);
	return ok;
}

/* Runs fcgi_keepalive_check for a few body sizes; returns the failures. */
long fcgi_checks(const char *sock)
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
