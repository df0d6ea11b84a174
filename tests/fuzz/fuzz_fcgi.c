/* fuzz_fcgi: libFuzzer harness for the FastCGI record parser (fcgi_proto)
 * that reads every byte nginx or mod_fcgid sends a worker.
 *
 * Input: the first byte sets the body cap (0..255) and the second the
 * size of the pieces the rest is fed in (1..256), as a connection's reads
 * would cut it. Every event is acted on as fcgi_server does: requests
 * freed, streaming bodies read to their end, replies dropped.
 *
 * Invariants: a request's parameter names and values are NUL-terminated
 * within its store; its body is at most the cap unless it streams on (and
 * then holds at least the cap); a streaming body ends or fails, never
 * loops; after FCGI_BAD nothing more is parsed; everything is freed
 * (LeakSanitizer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const fcgi_request *r, size_t cap)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (r->params[i].name == NULL || r->params[i].value == NULL)
			abort();
	if (r->body == NULL || (!r->body_more && r->body_len > cap) ||
	    (r->body_more && r->body_len < cap))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fcgi_parser *p = NULL;
	buf reply = BUF_INIT;
	size_t cap, piece, at = 2;
	int bad = 0;

	if (size < 2)
		return 0;
	cap = data[0];
	piece = (size_t)data[1] + 1;
	if (fcgi_parser_create(cap, &p) != ATT_OK)
		return 0;
	while (at < size && !bad) {
		size_t n = size - at < piece ? size - at : piece;
		fcgi_request r;
		fcgi_event ev;

		if (fcgi_parser_feed(p, (const char *)data + at, n) != ATT_OK)
			break;
		at += n;
		while ((ev = fcgi_parse(p, &r, &reply)) != FCGI_NEED_MORE) {
			if (ev == FCGI_BAD) {
				bad = 1;
				break;
			}
			if (ev == FCGI_REQUEST) {
				check_request(&r, cap);
				/* Read a streaming body with what is fed so far,
				 * then with each next piece, as a thread would. */
				while (r.body_more) {
					char sink[64];
					size_t got = 0;
					int rc = fcgi_parser_body(p, sink, sizeof sink, &got);

					if (rc < 0) {
						bad = 1;
						break;
					}
					if (rc == 1)
						r.body_more = 0;
					else if (got == 0) {
						if (at >= size)
							break;
						n = size - at < piece ? size - at : piece;
						if (fcgi_parser_feed(p, (const char *)data + at,
								     n) != ATT_OK)
							break;
						at += n;
					}
				}
				fcgi_request_free(&r);
				if (bad)
					break;
			}
			buf_reset(&reply);
		}
	}
	buf_free(&reply);
	fcgi_parser_free(p);
	return 0;
}
