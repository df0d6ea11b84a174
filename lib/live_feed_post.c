/* live_feed_post: one HTTP POST over a unix socket (see live_feed_post.h). */
#include "live_feed_post.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int live_feed_parse_status(const char *text, size_t n)
{
	int code = 0;

	/* "HTTP/1.x NNN" */
	if (n < 12 || memcmp(text, "HTTP/1.", 7) != 0 || text[7] < '0' || text[7] > '9' ||
	    text[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		code = code * 10 + (text[i] - '0');
	}
	if (n > 12 && text[12] != ' ' && text[12] != '\r' && text[12] != '\n')
		return -1;
	return code >= 100 ? code : -1;
}

/* Writes all n bytes of p to fd; ATT_ETIMEOUT past the socket's send
 * timeout, ATT_EIO on any other failure. */
static att_err write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? ATT_ETIMEOUT : ATT_EIO;
		p += w;
		n -= (size_t)w;
	}
	return ATT_OK;
}

att_err live_feed_post(const char *socket_path, const char *path, const char *body, size_t len,
		       int timeout_ms, int *status)
{
	struct sockaddr_un sa;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	char head[512], answer[256];
	size_t got = 0;
	int fd = -1, n, code;
	att_err err;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof sa.sun_path)
		return ATT_EINVAL;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	n = snprintf(head, sizeof head,
		     "POST %s HTTP/1.1\r\nHost: localhost\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		     path, len);
	if (n < 0 || (size_t)n >= sizeof head)
		return ATT_EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ATT_EIO;
	/* Blocking I/O bounded by the socket timeouts (connect to a unix
	 * socket whose backlog is full waits for the send timeout too). */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
		err = ATT_EIO;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		err = errno == EAGAIN || errno == EINPROGRESS ? ATT_ETIMEOUT : ATT_EIO;
		goto out;
	}
	err = write_all(fd, head, (size_t)n);
	if (err == ATT_OK)
		err = write_all(fd, body, len);
	if (err != ATT_OK)
		goto out;
	/* The status line is all we need; then read to the end (the server
	 * closes), so that it never sees its answer refused. */
	for (;;) {
		char sink[512];
		ssize_t r = got < sizeof answer ? recv(fd, answer + got, sizeof answer - got, 0)
						: recv(fd, sink, sizeof sink, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno == EAGAIN || errno == EWOULDBLOCK ? ATT_ETIMEOUT : ATT_EIO;
			if (got >= 12 && err == ATT_ETIMEOUT)
				err = ATT_OK; /* answered, just not closed */
			break;
		}
		if (r == 0)
			break;
		if (got < sizeof answer)
			got += (size_t)r;
	}
	if (err != ATT_OK)
		goto out;
	code = live_feed_parse_status(answer, got);
	if (code < 0) {
		err = ATT_EIO;
		goto out;
	}
	*status = code;
	err = ATT_OK;
out:
	close(fd);
	return err;
}
