/* fuzz_query: libFuzzer harness for request-line parsing: the query
 * string and the path as the web server hands them over
 * (http_request_init over a fake CGI parameter table), path
 * classification (router_match_path, router_find), percent-decoding,
 * request ids and the small header parsers (If-Match, If-None-Match,
 * RFC 3339 times).
 *
 * Input: byte 0 selects where the path comes from (DOCUMENT_URI,
 * REQUEST_URI, ATTEMPTS_PATH, SCRIPT_NAME + PATH_INFO) and a method; the
 * rest is NUL-separated fields: QUERY_STRING, path, X-Request-Id,
 * If-Match, If-None-Match, CONTENT_LENGTH, a timestamp. Missing fields
 * are absent parameters.
 *
 * Invariants: the request id is always 1..128 bytes of [A-Za-z0-9._-];
 * a client id that qualifies is kept as is; at most 32 parameters; a
 * decoded string never grows; a decoded query name or value ends at its
 * recorded length (an encoded NUL may sit before it); a parsed
 * If-Match version is within 0..2^31-1; the id router_match_path copies
 * fits its buffer (an exact-size heap buffer) and is a segment of the
 * path; headers written into a response carry no CR or LF. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_cond.h"
#include "http.h"
#include "router.h"
#include "uuid.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_QUERY, F_PATH, F_REQID, F_IFMATCH, F_IFNONE, F_CLEN, F_TIME, F_COUNT };

static int id_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static void check_request_id(const char *id, const char *client)
{
	size_t n = strnlen(id, HTTP_REQUEST_ID_MAX + 1);
	int client_ok = client != NULL && *client != '\0';

	if (n == 0 || n > HTTP_REQUEST_ID_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!id_char(id[i]))
			abort();
	if (client_ok) {
		size_t cn = strlen(client);
		for (size_t i = 0; i < cn && client_ok; i++)
			client_ok = id_char(client[i]);
		client_ok = client_ok && cn <= HTTP_REQUEST_ID_MAX;
	}
	if (client_ok && strcmp(id, client) != 0)
		abort();
}

/* Decodes a copy of s both ways; the result never grows. */
static void check_decode(const char *s)
{
	size_t n = strlen(s);

	for (int plus = 0; plus < 2; plus++) {
		char *copy = malloc(n + 1);
		if (copy == NULL)
			return;
		memcpy(copy, s, n + 1);
		if (http_percent_decode(copy, plus) == 0) {
			size_t m = strlen(copy);
			if (m > n)
				abort();
			/* An undecoded "%00" would have made it fail. */
			if (m < n && strchr(s, '%') == NULL && !(plus && strchr(s, '+')))
				abort();
		}
		free(copy);
	}
}

/* router_match_path with an exact-size id buffer. */
static void check_match(const char *path, size_t idcap)
{
	char *id = malloc(idcap);
	route_path rp;
	unsigned allowed = 0;

	if (id == NULL)
		return;
	rp = router_match_path(path, id, idcap);
	if (strnlen(id, idcap) >= idcap)
		abort();
	if (id[0] != '\0') {
		if (rp != ROUTE_PATH_EXAM && rp != ROUTE_PATH_ATTEMPT)
			abort();
		if (path == NULL || strstr(path, id) == NULL || strchr(id, '/') != NULL)
			abort();
	}
	if (rp == ROUTE_PATH_HEALTH && strcmp(path, "/api/health") != 0)
		abort();
	(void)router_find(rp, "state", HTTP_GET, &allowed);
	(void)router_find(rp, NULL, HTTP_POST, &allowed);
	free(id);
}

/* Response headers built from request text never split a line. */
static void sink_check(const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (data[i] == '\r' && (i + 1 >= n || data[i + 1] != '\n'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET",  "POST",	 "PATCH", "PUT", "DELETE",
					      "HEAD", "OPTIONS", "BREW",  "",	 NULL};
	const char *fields[F_COUNT] = {0};
	fuzz_cgi p;
	http_request req;
	http_response resp;
	buf out = BUF_INIT;
	char *text;
	unsigned sel;
	long version = -1;
	att_err err;

	if (size < 1)
		return 0;
	sel = data[0];
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	{
		size_t len = size - 1, pos = 0;
		for (int f = 0; f < F_COUNT && pos <= len; f++) {
			fields[f] = text + pos;
			pos += strlen(text + pos) + 1;
		}
	}

	memset(&p, 0, sizeof p);
	p.value[FUZZ_CGI_METHOD] = methods[(sel >> 2) % (sizeof methods / sizeof methods[0])];
	p.value[FUZZ_CGI_QUERY] = fields[F_QUERY];
	switch (sel & 3) {
	case 0:
		p.value[FUZZ_CGI_DOCUMENT_URI] = fields[F_PATH];
		break;
	case 1:
		p.value[FUZZ_CGI_REQUEST_URI] = fields[F_PATH];
		break;
	case 2:
		p.value[FUZZ_CGI_ATTEMPTS_PATH] = fields[F_PATH];
		p.value[FUZZ_CGI_DOCUMENT_URI] = "/upload-internal";
		break;
	default:
		p.value[FUZZ_CGI_SCRIPT_NAME] = "/api";
		p.value[FUZZ_CGI_PATH_INFO] = fields[F_PATH];
		break;
	}
	p.value[FUZZ_CGI_REQUEST_ID] = fields[F_REQID];
	p.value[FUZZ_CGI_IF_MATCH] = fields[F_IFMATCH];
	p.value[FUZZ_CGI_IF_NONE_MATCH] = fields[F_IFNONE];
	p.value[FUZZ_CGI_CONTENT_LENGTH] = fields[F_CLEN];

	err = http_request_init(&req, fuzz_cgi_param, NULL, &p);
	check_request_id(req.request_id, p.value[FUZZ_CGI_REQUEST_ID]);
	if (req.nparams < 0 || req.nparams > HTTP_MAX_QUERY_PARAMS)
		abort();
	if (err == ATT_OK) {
		if (req.path == NULL || req.query == NULL)
			abort();
		for (int i = 0; i < req.nparams; i++) {
			const http_query_param *qp = &req.params[i];
			size_t vlen = 0;
			const char *v;
			/* decoded lengths never exceed the text and end at a NUL */
			if (qp->name[qp->name_len] != '\0' || qp->value[qp->value_len] != '\0')
				abort();
			/* a name without an encoded NUL is found, with its own
			 * value or an earlier one of the same name */
			if (strlen(qp->name) != qp->name_len)
				continue;
			v = http_query(&req, qp->name, &vlen);
			if (v == NULL)
				abort();
			if (v == qp->value && vlen != qp->value_len)
				abort();
		}
		(void)http_query(&req, "action", NULL);
		check_match(req.path, 64);
		check_match(req.path, UUID_STR_LEN + 1);
		check_match(req.path, 1 + (sel >> 4));
		if (req.content_length < -1)
			abort();
	} else if (err != ATT_EINVAL) {
		abort(); /* no allocation failures here: only malformed input */
	}

	/* The response side: the request id and an Allow list as the app writes them. */
	http_response_init(&resp);
	http_header(&resp, "X-Request-Id", req.request_id);
	if (fields[F_REQID] != NULL)
		http_header(&resp, "X-Echo", fields[F_REQID]);
	{
		char allow[128];
		http_methods_text(sel, allow, 1 + (sel % sizeof allow));
		http_header(&resp, "Allow", allow);
	}
	http_error(&resp, 400, "invalid_query", "the query string is malformed", NULL);
	if (http_response_write(&resp, fuzz_sink_write, &out) != ATT_OK)
		abort();
	if (!out.failed)
		sink_check(out.data, out.len);
	buf_free(&out);
	http_response_free(&resp);
	http_request_free(&req);

	/* Standalone decoders on copies. */
	for (int f = 0; f < F_COUNT; f++)
		if (fields[f] != NULL)
			check_decode(fields[f]);
	switch (http_cond_if_match(fields[F_IFMATCH], &version)) {
	case 1:
		if (version < 0 || version > 2147483647L)
			abort();
		break;
	case 0:
	case -1:
		break;
	default:
		abort();
	}
	(void)http_cond_etag_matches(fields[F_IFNONE], (long long)(sel * 7));
	(void)http_cond_etag_matches(fields[F_IFNONE], version);
	(void)clock_parse_utc_ms(fields[F_TIME]);
	(void)http_cond_no_cache(fields[F_TIME]);
	(void)http_method_parse(fields[F_QUERY]);
	free(text);
	return 0;
}
