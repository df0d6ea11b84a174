/* live_feed_post: the live feed's HTTP client - one POST of a JSON body
 * to nginx's publisher location over a unix socket, each step bounded by
 * a timeout, and the status line of its answer. Owns no connection beyond
 * one call; what is posted, when and by whom is live_feed's. */
#ifndef ATT_LIVE_FEED_POST_H
#define ATT_LIVE_FEED_POST_H

#include <stddef.h>

#include "att_err.h"

/* POSTs len bytes of JSON to path (URL path, no query) on the HTTP server
 * listening on the unix socket socket_path, with HTTP/1.1 and
 * Connection: close, taking at most about timeout_ms for each step
 * (connect, send, receive). On ATT_OK *status is the answer's status code.
 * ATT_EIO: no server or a broken exchange; ATT_ETIMEOUT: too slow;
 * ATT_EINVAL: a path too long. */
att_err live_feed_post(const char *socket_path, const char *path, const char *body, size_t len,
		       int timeout_ms, int *status) ATT_MUSTCHECK;

/* The status code of the HTTP/1.x status line at the start of text (n
 * bytes), or -1 if it is not one. */
int live_feed_parse_status(const char *text, size_t n);

#endif
