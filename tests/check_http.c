/* check_http: request parsing from a fake CGI parameter table and body
 * reader, response building and serialisation through a capture writer,
 * and the uuid helpers the request id and routes rely on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"
#include "uuid.h"

/* Counts occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Runs http_request_init on params; asserts its result. */
static void init_req(http_request *req, fake_cgi_io *io, const char *const *params, att_err expect)
{
	fake_cgi_init(io, params, NULL, 0);
	ck_assert_int_eq(http_request_init(req, fake_cgi_param, fake_cgi_read, io), expect);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_hex32(const char *s)
{
	if (strlen(s) != 32)
		return 0;
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* ------------------------------------------------------------ method */

START_TEST(test_http_method_parse)
{
	ck_assert_int_eq(http_method_parse("GET"), HTTP_GET);
	ck_assert_int_eq(http_method_parse("HEAD"), HTTP_HEAD);
	ck_assert_int_eq(http_method_parse("POST"), HTTP_POST);
	ck_assert_int_eq(http_method_parse("PUT"), HTTP_PUT);
	ck_assert_int_eq(http_method_parse("PATCH"), HTTP_PATCH);
	ck_assert_int_eq(http_method_parse("DELETE"), HTTP_DELETE);
	ck_assert_int_eq(http_method_parse("OPTIONS"), HTTP_OPTIONS);
	ck_assert_int_eq(http_method_parse("get"), HTTP_OTHER);
	ck_assert_int_eq(http_method_parse("BREW"), HTTP_OTHER);
	ck_assert_int_eq(http_method_parse(""), HTTP_OTHER);
	ck_assert_int_eq(http_method_parse(NULL), HTTP_OTHER);
}
END_TEST

START_TEST(test_http_request_method)
{
	static const char *const p1[] = {"REQUEST_METHOD", "PATCH", "DOCUMENT_URI", "/x", NULL};
	static const char *const p2[] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p1, ATT_OK);
	ck_assert_int_eq(req.method, HTTP_PATCH);
	ck_assert_str_eq(req.method_name, "PATCH");
	http_request_free(&req);
	init_req(&req, &io, p2, ATT_OK);
	ck_assert_int_eq(req.method, HTTP_OTHER);
	ck_assert_ptr_null(req.method_name);
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_methods_text)
{
	char text[64];

	http_methods_text(HTTP_GET, text, sizeof text);
	ck_assert_str_eq(text, "GET");
	http_methods_text(HTTP_PATCH | HTTP_GET | HTTP_POST, text, sizeof text);
	ck_assert_str_eq(text, "GET, POST, PATCH");
	http_methods_text(0, text, sizeof text);
	ck_assert_str_eq(text, "");
	http_methods_text(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE |
				  HTTP_OPTIONS,
			  text, sizeof text);
	ck_assert_str_eq(text, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	text[0] = 'z';
	http_methods_text(HTTP_GET, text, 0); /* no room: untouched */
	ck_assert_int_eq(text[0], 'z');
}
END_TEST

/* ------------------------------------------------------------ path */

START_TEST(test_http_path_document_uri)
{
	static const char *const p[] = {
		"REQUEST_METHOD", "GET", "DOCUMENT_URI", "/api/health", "REQUEST_URI", "/other?x=1",
		"SCRIPT_NAME",	  "/s",	 "PATH_INFO",	 "/i",		NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.path, "/api/health");
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_path_request_uri)
{
	static const char *const p[] = {"REQUEST_METHOD",
					"GET",
					"REQUEST_URI",
					"/api/a%20b+c?action=x%20y",
					"SCRIPT_NAME",
					"/s",
					"PATH_INFO",
					"/i",
					NULL};
	static const char *const nul[] = {"REQUEST_URI", "/api/a%00b", NULL};
	static const char *const bad[] = {"REQUEST_URI", "/api/%zz", NULL};
	static const char *const empty_doc[] = {"DOCUMENT_URI", "", "REQUEST_URI", "/r", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.path, "/api/a b+c"); /* '+' is no space in a path */
	http_request_free(&req);
	/* undecodable: kept as sent, for the path's own rules to refuse */
	init_req(&req, &io, nul, ATT_OK);
	ck_assert_str_eq(req.path, "/api/a%00b");
	http_request_free(&req);
	init_req(&req, &io, bad, ATT_OK);
	ck_assert_str_eq(req.path, "/api/%zz");
	http_request_free(&req);
	init_req(&req, &io, empty_doc, ATT_OK);
	ck_assert_str_eq(req.path, "/r");
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_path_script_name)
{
	static const char *const p[] = {
		"REQUEST_METHOD", "GET",	 "SCRIPT_NAME", "/cgi-bin/attempts.fcgi",
		"PATH_INFO",	  "/api/health", NULL};
	static const char *const none[] = {"REQUEST_METHOD", "GET", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.path, "/cgi-bin/attempts.fcgi/api/health");
	http_request_free(&req);
	init_req(&req, &io, none, ATT_OK);
	ck_assert_ptr_nonnull(req.path);
	ck_assert_str_eq(req.path, "");
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_path_attempts_path)
{
	/* nginx's upload location rewrites the URI and passes the original */
	static const char *const p[] = {"ATTEMPTS_PATH", "/api/attempts/x", "DOCUMENT_URI",
					"/internal/upload", NULL};
	static const char *const empty[] = {"ATTEMPTS_PATH", "", "DOCUMENT_URI", "/api/health",
					    NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.path, "/api/attempts/x");
	http_request_free(&req);
	init_req(&req, &io, empty, ATT_OK);
	ck_assert_str_eq(req.path, "/api/health");
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_body_file_params)
{
	static const char *const p[] = {"DOCUMENT_URI",
					"/x",
					"REQUEST_BODY_FILE",
					"/tmp/nginx/0001",
					"ATTEMPTS_ACCEL_PREFIX",
					"/_uploads/",
					NULL};
	static const char *const empty[] = {
		"DOCUMENT_URI", "/x", "REQUEST_BODY_FILE", "", "ATTEMPTS_ACCEL_PREFIX", "", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.body_file, "/tmp/nginx/0001");
	ck_assert_str_eq(req.accel_prefix, "/_uploads/");
	http_request_free(&req);
	init_req(&req, &io, empty, ATT_OK);
	ck_assert_ptr_null(req.body_file);
	ck_assert_ptr_null(req.accel_prefix);
	http_request_free(&req);
}
END_TEST

/* ------------------------------------------------------------ query */

START_TEST(test_http_query_parse)
{
	static const char *const p[] = {"REQUEST_METHOD",
					"GET",
					"DOCUMENT_URI",
					"/x",
					"QUERY_STRING",
					"action=state&x=a%20b+c&&empty=&flag&%61ct=%2B%26%3d",
					NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_int_eq(req.nparams, 5);
	ck_assert_str_eq(req.query, "action=state&x=a%20b+c&&empty=&flag&%61ct=%2B%26%3d");
	ck_assert_str_eq(http_query(&req, "action", NULL), "state");
	ck_assert_str_eq(http_query(&req, "x", NULL), "a b c");
	ck_assert_str_eq(http_query(&req, "empty", NULL), "");
	ck_assert_str_eq(http_query(&req, "flag", NULL), "");
	ck_assert_str_eq(http_query(&req, "act", NULL), "+&=");
	ck_assert_ptr_null(http_query(&req, "missing", NULL));
	ck_assert_ptr_null(http_query(&req, "ACTION", NULL));
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_query_absent)
{
	static const char *const p[] = {"REQUEST_METHOD", "GET", "DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_ptr_nonnull(req.query);
	ck_assert_str_eq(req.query, "");
	ck_assert_int_eq(req.nparams, 0);
	ck_assert_ptr_null(http_query(&req, "action", NULL));
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_query_first_wins)
{
	static const char *const p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING", "a=1&a=2", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_int_eq(req.nparams, 2);
	ck_assert_str_eq(http_query(&req, "a", NULL), "1");
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_query_malformed)
{
	static const char *const bad[] = {"a=%zz",
					  "a=%4",
					  "a=%",
					  "%g1=x",
					  "x=1&y=a%0",
					  "filename=%zz.pdf",
					  "filename=x%E",
					  "filename=x%0.pdf",
					  "filename=x%00.pdf&y=%",
					  NULL};

	for (int i = 0; bad[i] != NULL; i++) {
		const char *p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING", bad[i], NULL};
		http_request req;
		fake_cgi_io io;

		fake_cgi_init(&io, p, NULL, 0);
		ck_assert_msg(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io) ==
				      ATT_EINVAL,
			      "query \"%s\" was not refused", bad[i]);
		/* usable for an error response and freeable */
		ck_assert_ptr_nonnull(req.path);
		ck_assert_int_eq(strlen(req.request_id), 32);
		http_request_free(&req);
	}
}
END_TEST

/* An encoded NUL is a byte like any other: it stays in the decoded value
 * (and name), for the parameter's own rule to judge; it never cuts a value
 * or a name short. */
START_TEST(test_http_query_encoded_nul)
{
	static const char *const p[] = {
		"DOCUMENT_URI", "/x", "QUERY_STRING",
		"action=upload&filename=x%00.pdf&upload_id=%00&act%00ion=state&%00=a&type%00=x&e=",
		NULL};
	http_request req;
	fake_cgi_io io;
	const char *v;
	size_t len = 99;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_int_eq(req.nparams, 7);
	v = http_query(&req, "filename", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(v, "x\0.pdf", 6);
	ck_assert_int_eq(http_query_is_text(v, len), 0);
	v = http_query(&req, "upload_id", &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(http_query_is_text(v, len), 0);
	v = http_query(&req, "action", &len);
	ck_assert_str_eq(v, "upload");
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(http_query_is_text(v, len), 1);
	v = http_query(&req, "e", &len);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(http_query_is_text(v, len), 1);
	ck_assert_int_eq(http_query_is_text(NULL, 0), 0);
	/* as text: absent NULL, an encoded NUL "", else the value */
	ck_assert_str_eq(http_query_text(&req, "action"), "upload");
	ck_assert_str_eq(http_query_text(&req, "upload_id"), "");
	ck_assert_str_eq(http_query_text(&req, "filename"), "");
	ck_assert_str_eq(http_query_text(&req, "e"), "");
	ck_assert_ptr_null(http_query_text(&req, "nothing"));
	/* names compare in full: "act\0ion" is not "act", "type\0" not "type" */
	ck_assert_ptr_null(http_query(&req, "act", NULL));
	ck_assert_ptr_null(http_query(&req, "type", NULL));
	ck_assert_ptr_null(http_query(&req, "", NULL));
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_query_too_many)
{
	char query[HTTP_MAX_QUERY_PARAMS * 8 + 16];
	size_t n = 0;
	http_request req;
	fake_cgi_io io;
	const char *p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING", query, NULL};

	for (int i = 0; i < HTTP_MAX_QUERY_PARAMS; i++)
		n += (size_t)snprintf(query + n, sizeof query - n, "%sp%d=%d", i ? "&" : "", i, i);
	fake_cgi_init(&io, p, NULL, 0);
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	ck_assert_int_eq(req.nparams, HTTP_MAX_QUERY_PARAMS);
	ck_assert_str_eq(http_query(&req, "p31", NULL), "31");
	http_request_free(&req);
	snprintf(query + n, sizeof query - n, "&one=more");
	fake_cgi_init(&io, p, NULL, 0);
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_EINVAL);
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_percent_decode)
{
	char s1[] = "a%2Fb%2fc+d";
	char s2[] = "a+b";
	char s3[] = "%41%42%43";
	char s4[] = "100%";
	char s5[] = "%0";
	char s6[] = "x%00y";
	char s7[] = "%e2%82%ac";

	ck_assert_int_eq(http_percent_decode(s1, 1), 0);
	ck_assert_str_eq(s1, "a/b/c d");
	ck_assert_int_eq(http_percent_decode(s2, 0), 0);
	ck_assert_str_eq(s2, "a+b");
	ck_assert_int_eq(http_percent_decode(s3, 0), 0);
	ck_assert_str_eq(s3, "ABC");
	ck_assert_int_eq(http_percent_decode(s4, 1), -1);
	ck_assert_int_eq(http_percent_decode(s5, 1), -1);
	ck_assert_int_eq(http_percent_decode(s6, 1), -1);
	ck_assert_int_eq(http_percent_decode(s7, 1), 0);
	ck_assert_str_eq(s7, "\xe2\x82\xac");
}
END_TEST

START_TEST(test_http_percent_decode_n)
{
	char s1[] = "x%00.pdf";
	char s2[] = "%E2%80%AE+%2e%00";
	char s3[] = "ok%zz";
	char s4[] = "%E2%80";
	char s5[] = "";
	size_t len = 99;

	ck_assert_int_eq(http_percent_decode_n(s1, 1, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(s1, "x\0.pdf", 7);
	ck_assert_int_eq(http_percent_decode_n(s2, 1, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(s2, "\xe2\x80\xae .\0", 7);
	len = 99;
	ck_assert_int_eq(http_percent_decode_n(s3, 1, &len), -1);
	ck_assert_uint_eq(len, 99); /* written only on success */
	/* a truncated UTF-8 sequence is two good escapes */
	ck_assert_int_eq(http_percent_decode_n(s4, 0, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(http_percent_decode_n(s5, 0, &len), 0);
	ck_assert_uint_eq(len, 0);
}
END_TEST

/* A pre-check's answer (http_response_precheck): a 2xx becomes 204
 * without a body, headers kept; a refusal becomes 403 carrying its status,
 * body and headers in X-Attempts-* headers, with no body of its own. */
START_TEST(test_http_response_precheck)
{
	http_response resp;

	http_response_init(&resp);
	http_header(&resp, "X-Attempts-Upload-Key", "abc");
	http_json_text(&resp, 200, "{}", 2);
	http_response_precheck(&resp);
	ck_assert_int_eq(resp.status, 204);
	ck_assert_uint_eq(resp.body.len, 0);
	ck_assert_ptr_nonnull(strstr(resp.headers.data, "X-Attempts-Upload-Key: abc\r\n"));
	http_response_free(&resp);

	http_response_init(&resp);
	http_header(&resp, "X-Request-Id", "r1");
	http_header(&resp, "Retry-After", "3");
	http_error(&resp, 503, "service_unavailable", "later", NULL);
	http_response_precheck(&resp);
	ck_assert_int_eq(resp.status, 403);
	ck_assert_uint_eq(resp.body.len, 0);
	ck_assert_int_eq(resp.has_content_type, 0);
	ck_assert_str_eq(
		resp.headers.data,
		"X-Attempts-X-Request-Id: r1\r\n"
		"X-Attempts-Retry-After: 3\r\n"
		"X-Attempts-Content-Type: application/json; charset=utf-8\r\n"
		"X-Attempts-Status: 503\r\n"
		"X-Attempts-Error: "
		"{\"error\":{\"code\":\"service_unavailable\",\"message\":\"later\"}}\r\n");
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_response_write_204)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	resp.status = 204;
	http_header(&resp, "X-Request-Id", "r");
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	ck_assert_str_eq(c.out.data, "Status: 204 No Content\r\nX-Request-Id: r\r\n\r\n");
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_query_plus_and_names)
{
	static const char *const p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING",
					"a+b=c+d&=v&filename=essay%2B1.pdf", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_int_eq(req.nparams, 3);
	ck_assert_str_eq(http_query(&req, "a b", NULL), "c d");
	ck_assert_str_eq(http_query(&req, "", NULL), "v");
	ck_assert_str_eq(http_query(&req, "filename", NULL), "essay+1.pdf");
	http_request_free(&req);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(test_http_request_headers)
{
	static const char *const p[] = {"REQUEST_METHOD",
					"PATCH",
					"DOCUMENT_URI",
					"/x",
					"HTTP_AUTHORIZATION",
					"Bearer t",
					"HTTP_IF_MATCH",
					"\"3\"",
					"HTTP_IF_NONE_MATCH",
					"\"4\"",
					"HTTP_CACHE_CONTROL",
					"no-cache",
					"CONTENT_TYPE",
					"application/json",
					"CONTENT_LENGTH",
					"17",
					NULL};
	static const char *const none[] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;

	init_req(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.authorization, "Bearer t");
	ck_assert_str_eq(req.if_match, "\"3\"");
	ck_assert_str_eq(req.if_none_match, "\"4\"");
	ck_assert_str_eq(req.cache_control, "no-cache");
	ck_assert_str_eq(req.content_type, "application/json");
	ck_assert_int_eq(req.content_length, 17);
	ck_assert_ptr_null(req.body);
	http_request_free(&req);
	init_req(&req, &io, none, ATT_OK);
	ck_assert_ptr_null(req.authorization);
	ck_assert_ptr_null(req.if_match);
	ck_assert_ptr_null(req.if_none_match);
	ck_assert_ptr_null(req.cache_control);
	ck_assert_ptr_null(req.content_type);
	ck_assert_int_eq(req.content_length, -1);
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_content_length_garbage)
{
	static const char *const bad[] = {"abc", "12x", "-5", "", NULL};

	for (int i = 0; bad[i] != NULL; i++) {
		const char *p[] = {"DOCUMENT_URI", "/x", "CONTENT_LENGTH", bad[i], NULL};
		http_request req;
		fake_cgi_io io;

		init_req(&req, &io, p, ATT_OK);
		ck_assert_int_eq(req.content_length, -1);
		http_request_free(&req);
	}
}
END_TEST

/* ------------------------------------------------------------ request id */

/* The request id chosen for a client id and an nginx id (either NULL). */
static void request_id_for(const char *client, const char *nginx, char *out)
{
	const char *p[7] = {"DOCUMENT_URI", "/x", NULL, NULL, NULL, NULL, NULL};
	int n = 2;
	http_request req;
	fake_cgi_io io;

	if (client != NULL) {
		p[n++] = "HTTP_X_REQUEST_ID";
		p[n++] = client;
	}
	if (nginx != NULL) {
		p[n++] = "REQUEST_ID";
		p[n++] = nginx;
	}
	init_req(&req, &io, p, ATT_OK);
	strcpy(out, req.request_id);
	http_request_free(&req);
}

START_TEST(test_http_request_id_client_kept)
{
	char id[HTTP_REQUEST_ID_MAX + 1];
	char max[HTTP_REQUEST_ID_MAX + 1];

	request_id_for("abc-DEF_1.2", "0123456789abcdef0123456789abcdef", id);
	ck_assert_str_eq(id, "abc-DEF_1.2");
	request_id_for("x", NULL, id);
	ck_assert_str_eq(id, "x");
	memset(max, 'a', HTTP_REQUEST_ID_MAX);
	max[HTTP_REQUEST_ID_MAX] = '\0';
	request_id_for(max, NULL, id);
	ck_assert_str_eq(id, max);
}
END_TEST

START_TEST(test_http_request_id_invalid_client)
{
	static const char nginx_id[] = "fedcba9876543210fedcba9876543210";
	char id[HTTP_REQUEST_ID_MAX + 1];
	char over[HTTP_REQUEST_ID_MAX + 2];
	static const char *const bad[] = {"",	    "has space", "semi;colon", "new\r\nline",
					  "slash/", "\xc3\xa9",	 NULL};

	memset(over, 'a', HTTP_REQUEST_ID_MAX + 1);
	over[HTTP_REQUEST_ID_MAX + 1] = '\0';
	request_id_for(over, nginx_id, id);
	ck_assert_str_eq(id, nginx_id);
	for (int i = 0; bad[i] != NULL; i++) {
		request_id_for(bad[i], nginx_id, id);
		ck_assert_msg(strcmp(id, nginx_id) == 0, "client id \"%s\" kept", bad[i]);
	}
	request_id_for(over, NULL, id);
	ck_assert_msg(is_hex32(id), "generated id \"%s\"", id);
	request_id_for("bad id", "bad nginx id", id);
	ck_assert_msg(is_hex32(id), "generated id \"%s\"", id);
}
END_TEST

START_TEST(test_http_request_id_generated)
{
	char a[HTTP_REQUEST_ID_MAX + 1], b[HTTP_REQUEST_ID_MAX + 1];

	request_id_for(NULL, NULL, a);
	request_id_for(NULL, NULL, b);
	ck_assert(is_hex32(a));
	ck_assert(is_hex32(b));
	ck_assert_str_ne(a, b);
}
END_TEST

/* ------------------------------------------------------------ body */

/* Reads body (with CONTENT_LENGTH cl, NULL = absent) in chunks under max;
 * returns the result and, on success, checks the body came through whole. */
static att_err read_body(const char *body, const char *cl, size_t chunk, size_t max,
			 fake_cgi_io *io)
{
	const char *p[] = {"REQUEST_METHOD",
			   "POST",
			   "DOCUMENT_URI",
			   "/x",
			   cl ? "CONTENT_LENGTH" : NULL,
			   cl,
			   NULL};
	http_request req;
	att_err err;

	fake_cgi_init(io, p, body, chunk);
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, io), ATT_OK);
	err = http_request_read_body(&req, max);
	if (err == ATT_OK) {
		ck_assert_ptr_nonnull(req.body);
		ck_assert_uint_eq(req.body_len, strlen(body));
		ck_assert_mem_eq(req.body, body, req.body_len);
		ck_assert_int_eq(req.body[req.body_len], '\0');
	} else {
		ck_assert_ptr_null(req.body);
	}
	http_request_free(&req);
	return err;
}

START_TEST(test_http_body_chunks)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7, 64, 4095, 4096, 5000};
	char big[10001];
	char cl[16];
	fake_cgi_io io;

	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		ck_assert_int_eq(read_body("{\"a\":1}", "7", chunks[i], 1024, &io), ATT_OK);
		ck_assert_int_eq(read_body("{\"a\":1}", NULL, chunks[i], 1024, &io), ATT_OK);
		snprintf(cl, sizeof cl, "%zu", strlen(big));
		ck_assert_int_eq(read_body(big, cl, chunks[i], 20000, &io), ATT_OK);
		ck_assert_int_eq(read_body(big, NULL, chunks[i], 20000, &io), ATT_OK);
	}
}
END_TEST

START_TEST(test_http_body_empty)
{
	fake_cgi_io io;

	ck_assert_int_eq(read_body("", "0", 0, 1024, &io), ATT_OK);
	ck_assert_int_eq(read_body("", NULL, 0, 1024, &io), ATT_OK);
}
END_TEST

START_TEST(test_http_body_exact_max)
{
	char body[1025];
	fake_cgi_io io;

	memset(body, 'm', 1024);
	body[1024] = '\0';
	ck_assert_int_eq(read_body(body, "1024", 100, 1024, &io), ATT_OK);
	ck_assert_int_eq(read_body(body, NULL, 100, 1024, &io), ATT_OK);
	ck_assert_int_eq(read_body(body, NULL, 0, 1024, &io), ATT_OK);
}
END_TEST

START_TEST(test_http_body_too_big_by_length)
{
	fake_cgi_io io;

	ck_assert_int_eq(read_body("tiny", "1025", 0, 1024, &io), ATT_ETOOBIG);
	ck_assert_int_eq(io.reads, 0); /* refused before reading */
	ck_assert_int_eq(read_body("tiny", "99999999999", 0, 1024, &io), ATT_ETOOBIG);
}
END_TEST

START_TEST(test_http_body_too_big_by_count)
{
	char body[1026];
	fake_cgi_io io;
	const char *p[] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;

	memset(body, 'o', 1025);
	body[1025] = '\0';
	ck_assert_int_eq(read_body(body, NULL, 0, 1024, &io), ATT_ETOOBIG);
	ck_assert_int_eq(read_body(body, NULL, 10, 1024, &io), ATT_ETOOBIG);
	/* Content-Length lies low: the count still decides */
	ck_assert_int_eq(read_body(body, "10", 0, 1024, &io), ATT_ETOOBIG);
	/* an endless stream stops soon after the limit */
	fake_cgi_init(&io, p, NULL, 0);
	io.infinite = 1;
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	ck_assert_int_eq(http_request_read_body(&req, 1024), ATT_ETOOBIG);
	ck_assert_uint_le(io.pos, 8192);
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_body_stream_error)
{
	const char *p[] = {"DOCUMENT_URI", "/x", "CONTENT_LENGTH", "10", NULL};
	http_request req;
	fake_cgi_io io;

	fake_cgi_init(&io, p, "0123456789", 3);
	io.fail_at = 6;
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	ck_assert_int_eq(http_request_read_body(&req, 1024), ATT_EIO);
	ck_assert_ptr_null(req.body);
	http_request_free(&req);
	fake_cgi_init(&io, p, "0123456789", 0);
	io.fail_at = 0;
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	ck_assert_int_eq(http_request_read_body(&req, 1024), ATT_EIO);
	http_request_free(&req);
}
END_TEST

START_TEST(test_http_body_short)
{
	fake_cgi_io io;

	ck_assert_int_eq(read_body("12345", "10", 0, 1024, &io), ATT_EIO);
	ck_assert_int_eq(read_body("12345", "10", 2, 1024, &io), ATT_EIO);
	ck_assert_int_eq(read_body("", "1", 0, 1024, &io), ATT_EIO);
	/* more than announced is no better */
	ck_assert_int_eq(read_body("1234567890", "5", 0, 1024, &io), ATT_EIO);
}
END_TEST

START_TEST(test_http_body_read_twice)
{
	const char *p[] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;
	char *first;

	fake_cgi_init(&io, p, "abc", 0);
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	ck_assert_int_eq(http_request_read_body(&req, 1024), ATT_OK);
	first = req.body;
	ck_assert_int_eq(http_request_read_body(&req, 1024), ATT_OK);
	ck_assert_ptr_eq(req.body, first);
	ck_assert_str_eq(req.body, "abc");
	http_request_free(&req);
	http_request_free(&req); /* idempotent */
	http_request_free(NULL);
}
END_TEST

/* ------------------------------------------------------------ response */

/* Parses an error body and checks it is exactly the section 3 shape with
 * this code; returns the tree (caller deletes) for further checks. */
static cJSON *check_error_body(const http_response *resp, const char *code)
{
	cJSON *root, *err;
	const cJSON *c, *m, *it;
	int n = 0;

	ck_assert_int_eq(resp->body.failed, 0);
	ck_assert_ptr_nonnull(resp->body.data);
	root = cJSON_ParseWithLength(resp->body.data, resp->body.len);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(root), 1);
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	ck_assert(cJSON_IsObject(err));
	c = cJSON_GetObjectItemCaseSensitive(err, "code");
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	ck_assert(cJSON_IsString(c));
	ck_assert_str_eq(c->valuestring, code);
	ck_assert(cJSON_IsString(m));
	ck_assert_uint_gt(strlen(m->valuestring), 0);
	cJSON_ArrayForEach(it, err)
	{
		ck_assert_msg(strcmp(it->string, "code") == 0 ||
				      strcmp(it->string, "message") == 0 ||
				      (strcmp(it->string, "details") == 0 && cJSON_IsObject(it)),
			      "unexpected member \"%s\" in error", it->string);
		n++;
	}
	ck_assert_int_ge(n, 2);
	return root;
}

START_TEST(test_http_error_shape)
{
	http_response resp;
	cJSON *root;

	http_response_init(&resp);
	http_error(&resp, 404, "not_found", "no such attempt", NULL);
	ck_assert_int_eq(resp.status, 404);
	root = check_error_body(&resp, "not_found");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "error"), "details"));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(root, "error"), "message")
				 ->valuestring,
			 "no such attempt");
	cJSON_Delete(root);
	ck_assert_int_eq(
		count_of(resp.headers.data, "Content-Type: application/json; charset=utf-8\r\n"),
		1);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_error_details)
{
	http_response resp;
	cJSON *details = cJSON_CreateObject();
	cJSON *root;
	const cJSON *d;

	cJSON_AddNumberToObject(details, "current_version", 3);
	http_response_init(&resp);
	http_error(&resp, 409, "version_conflict", "stale", details);
	ck_assert_int_eq(resp.status, 409);
	root = check_error_body(&resp, "version_conflict");
	d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"),
					     "details");
	ck_assert(cJSON_IsObject(d));
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(d, "current_version")->valueint, 3);
	cJSON_Delete(root);
	/* details is not consumed */
	ck_assert_int_eq(cJSON_GetArraySize(details), 1);
	cJSON_Delete(details);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_error_field)
{
	http_response resp;
	cJSON *root;
	const cJSON *d;

	http_response_init(&resp);
	http_error_field(&resp, "events[0].event_type", "bad event type");
	ck_assert_int_eq(resp.status, 422);
	root = check_error_body(&resp, "validation_failed");
	d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"),
					     "details");
	ck_assert(cJSON_IsObject(d));
	ck_assert_int_eq(cJSON_GetArraySize(d), 1);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(d, "field")->valuestring,
			 "events[0].event_type");
	cJSON_Delete(root);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_error_replaces_body)
{
	http_response resp;
	cJSON *root;

	http_response_init(&resp);
	http_json_text(&resp, 200, "{\"ok\":true}", 11);
	http_error(&resp, 500, "internal_error", "late failure", NULL);
	ck_assert_int_eq(resp.status, 500);
	root = check_error_body(&resp, "internal_error");
	cJSON_Delete(root);
	ck_assert_int_eq(count_of(resp.headers.data, "Content-Type"), 1);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_header_crlf)
{
	http_response resp;

	http_response_init(&resp);
	http_header(&resp, "X-Test", "a\r\nSet-Cookie: evil\rb\nc");
	ck_assert_str_eq(resp.headers.data, "X-Test: aSet-Cookie: evilbc\r\n");
	http_headerf(&resp, "X-Num", "%d\r\n%s", 7, "z");
	ck_assert_str_eq(resp.headers.data, "X-Test: aSet-Cookie: evilbc\r\nX-Num: 7z\r\n");
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_json)
{
	http_response resp;
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "status", "ok");
	http_response_init(&resp);
	ck_assert_int_eq(resp.status, 200);
	http_json(&resp, 201, obj);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_str_eq(resp.body.data, "{\"status\":\"ok\"}");
	ck_assert_int_eq(resp.has_content_type, 1);
	cJSON_Delete(obj);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_content_type_once)
{
	http_response resp;

	http_response_init(&resp);
	http_header(&resp, "content-type", "application/problem+json");
	http_json_text(&resp, 200, "{}", 2);
	http_json_text(&resp, 200, "[]", 2);
	ck_assert_int_eq(count_of(resp.headers.data, "ontent-"), 1);
	ck_assert_str_eq(resp.body.data, "[]");
	http_response_reset(&resp);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.headers.len, 0);
	ck_assert_uint_eq(resp.body.len, 0);
	ck_assert_int_eq(resp.has_content_type, 0);
	http_response_free(&resp);
	http_response_free(&resp);
	http_response_free(NULL);
}
END_TEST

START_TEST(test_http_response_write)
{
	http_response resp;
	fake_cgi_capture c;
	const char *out;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	http_header(&resp, "X-Request-Id", "rid");
	http_json_text(&resp, 201, "{\"a\":1}", 7);
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	out = c.out.data;
	ck_assert_str_eq(out, "Status: 201 Created\r\n"
			      "X-Request-Id: rid\r\n"
			      "Content-Type: application/json; charset=utf-8\r\n"
			      "Content-Length: 7\r\n"
			      "\r\n"
			      "{\"a\":1}");
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

/* An answer to HEAD: the GET's headers and Content-Length, no body, even
 * after a reset. */
START_TEST(test_http_response_write_head)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	resp.head_only = 1;
	http_json_text(&resp, 500, "{}", 2);
	http_response_reset(&resp);
	http_json_text(&resp, 200, "{\"a\":1}", 7);
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	ck_assert_str_eq(c.out.data, "Status: 200 OK\r\n"
				     "Content-Type: application/json; charset=utf-8\r\n"
				     "Content-Length: 7\r\n"
				     "\r\n");
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_response_write_empty_body)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	resp.status = 200;
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	ck_assert_str_eq(c.out.data, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_response_write_304)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	http_header(&resp, "ETag", "\"3\"");
	http_json_text(&resp, 304, "{\"ignored\":1}", 13);
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	ck_assert_ptr_null(strstr(c.out.data, "ignored"));
	ck_assert_ptr_null(strstr(c.out.data, "Content-Length"));
	ck_assert(starts_with(c.out.data, "Status: 304 Not Modified\r\nETag: \"3\"\r\n"));
	ck_assert_uint_ge(c.out.len, 4);
	ck_assert_str_eq(c.out.data + c.out.len - 4, "\r\n\r\n");
	ck_assert_int_eq(count_of(c.out.data, "\r\n\r\n"), 1);
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

/* An unlinked temporary file holding text, positioned at its start. */
static int temp_file_with(const char *text)
{
	char path[] = "/tmp/check_http_XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

START_TEST(test_http_response_write_file)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	http_header(&resp, "Content-Type", "application/pdf");
	http_file(&resp, 200, temp_file_with("%PDF-1.4 bytes"), 14);
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_OK);
	ck_assert_str_eq(c.out.data, "Status: 200 OK\r\n"
				     "Content-Type: application/pdf\r\n"
				     "Content-Length: 14\r\n"
				     "\r\n"
				     "%PDF-1.4 bytes");
	buf_free(&c.out);
	http_response_free(&resp); /* closes the file */
	ck_assert_int_eq(resp.body_fd, -1);
}
END_TEST

START_TEST(test_http_response_write_file_short)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	/* the file ends before the promised size */
	http_file(&resp, 200, temp_file_with("short"), 100);
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_EIO);
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_response_write_fails)
{
	http_response resp;
	fake_cgi_capture c;

	http_response_init(&resp);
	http_json_text(&resp, 200, "{}", 2);
	for (int call = 1; call <= 4; call++) {
		memset(&c, 0, sizeof c);
		c.fail_call = call;
		ck_assert_msg(http_response_write(&resp, fake_cgi_write, &c) == ATT_EIO,
			      "failure of write call %d not reported", call);
		buf_free(&c.out);
	}
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_response_write_failed_buffer)
{
	http_response resp;
	fake_cgi_capture c;

	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	http_json_text(&resp, 200, "{}", 2);
	resp.body.failed = 1;
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &c), ATT_ENOMEM);
	ck_assert(starts_with(c.out.data, "Status: 500 Internal Server Error\r\n"));
	ck_assert_ptr_nonnull(strstr(c.out.data, "\"code\":\"internal_error\""));
	buf_free(&c.out);
	http_response_free(&resp);
}
END_TEST

START_TEST(test_http_reason)
{
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(304), "Not Modified");
	ck_assert_str_eq(http_reason(401), "Unauthorized");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(405), "Method Not Allowed");
	ck_assert_str_eq(http_reason(413), "Payload Too Large");
	ck_assert_str_eq(http_reason(422), "Unprocessable Entity");
	ck_assert_str_eq(http_reason(503), "Service Unavailable");
	ck_assert_ptr_nonnull(http_reason(599));
}
END_TEST

/* ------------------------------------------------------------ uuid */

START_TEST(test_uuid_valid)
{
	ck_assert_int_eq(uuid_valid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), 1);
	ck_assert_int_eq(uuid_valid("00000000-0000-0000-0000-000000000000"), 1);
	ck_assert_int_eq(uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"), 1);
	ck_assert_int_eq(uuid_valid("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4D"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d0"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3d-4e5f-4a6b-8c7d9e0f1a2b3c4d-"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3-d4e5f-4a6b-8c7d-9e0f1a2b3c4d"), 0);
	ck_assert_int_eq(uuid_valid("{0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"), 0);
	ck_assert_int_eq(uuid_valid("0a1b2c3g-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), 0);
	ck_assert_int_eq(uuid_valid(""), 0);
	ck_assert_int_eq(uuid_valid("new"), 0);
}
END_TEST

START_TEST(test_uuid_generate)
{
	char ids[64][UUID_STR_LEN + 1];

	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(uuid_generate(ids[i]), ATT_OK);
		ck_assert_msg(uuid_valid(ids[i]), "generated \"%s\"", ids[i]);
		ck_assert_int_eq(ids[i][14], '4');
		ck_assert_ptr_nonnull(strchr("89ab", ids[i][19]));
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = check_tcase(s, "method", NULL, NULL);
	tcase_add_test(tc, test_http_method_parse);
	tcase_add_test(tc, test_http_request_method);
	tcase_add_test(tc, test_http_methods_text);

	tc = check_tcase(s, "path", NULL, NULL);
	tcase_add_test(tc, test_http_path_document_uri);
	tcase_add_test(tc, test_http_path_request_uri);
	tcase_add_test(tc, test_http_path_script_name);
	tcase_add_test(tc, test_http_path_attempts_path);

	tc = check_tcase(s, "query", NULL, NULL);
	tcase_add_test(tc, test_http_query_parse);
	tcase_add_test(tc, test_http_query_absent);
	tcase_add_test(tc, test_http_query_first_wins);
	tcase_add_test(tc, test_http_query_malformed);
	tcase_add_test(tc, test_http_query_encoded_nul);
	tcase_add_test(tc, test_http_query_too_many);
	tcase_add_test(tc, test_http_percent_decode);
	tcase_add_test(tc, test_http_percent_decode_n);
	tcase_add_test(tc, test_http_query_plus_and_names);

	tc = check_tcase(s, "headers", NULL, NULL);
	tcase_add_test(tc, test_http_request_headers);
	tcase_add_test(tc, test_http_content_length_garbage);
	tcase_add_test(tc, test_http_body_file_params);

	tc = check_tcase(s, "request_id", NULL, NULL);
	tcase_add_test(tc, test_http_request_id_client_kept);
	tcase_add_test(tc, test_http_request_id_invalid_client);
	tcase_add_test(tc, test_http_request_id_generated);

	tc = check_tcase(s, "body", NULL, NULL);
	tcase_add_test(tc, test_http_body_chunks);
	tcase_add_test(tc, test_http_body_empty);
	tcase_add_test(tc, test_http_body_exact_max);
	tcase_add_test(tc, test_http_body_too_big_by_length);
	tcase_add_test(tc, test_http_body_too_big_by_count);
	tcase_add_test(tc, test_http_body_stream_error);
	tcase_add_test(tc, test_http_body_short);
	tcase_add_test(tc, test_http_body_read_twice);

	tc = check_tcase(s, "error_shape", NULL, NULL);
	tcase_add_test(tc, test_http_error_shape);
	tcase_add_test(tc, test_http_error_details);
	tcase_add_test(tc, test_http_error_field);
	tcase_add_test(tc, test_http_error_replaces_body);

	tc = check_tcase(s, "response", NULL, NULL);
	tcase_add_test(tc, test_http_header_crlf);
	tcase_add_test(tc, test_http_json);
	tcase_add_test(tc, test_http_content_type_once);
	tcase_add_test(tc, test_http_reason);

	tc = check_tcase(s, "write", NULL, NULL);
	tcase_add_test(tc, test_http_response_write);
	tcase_add_test(tc, test_http_response_write_empty_body);
	tcase_add_test(tc, test_http_response_write_head);
	tcase_add_test(tc, test_http_response_write_304);
	tcase_add_test(tc, test_http_response_write_204);
	tcase_add_test(tc, test_http_response_precheck);
	tcase_add_test(tc, test_http_response_write_file);
	tcase_add_test(tc, test_http_response_write_file_short);
	tcase_add_test(tc, test_http_response_write_fails);
	tcase_add_test(tc, test_http_response_write_failed_buffer);

	tc = check_tcase(s, "uuid", NULL, NULL);
	tcase_add_test(tc, test_uuid_valid);
	tcase_add_test(tc, test_uuid_generate);
	return s;
}
