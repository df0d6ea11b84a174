/* check_http: request parsing from a fake CGI parameter table: the
 * method, the path, headers and the request id; and the uuid helpers the
 * request id and routes rely on. The query: check_http_query.c; the body:
 * check_http_body.c; responses: check_http_response.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_proto_util.h"
#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"
#include "uuid.h"

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

/* http_method_parse on each name (NULL included), and the method it is. */
static const check_text_row method_rows[] = {
	{"GET", HTTP_GET},	   {"HEAD", HTTP_HEAD},	  {"POST", HTTP_POST},
	{"PUT", HTTP_PUT},	   {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
	{"OPTIONS", HTTP_OPTIONS}, {"get", HTTP_OTHER},	  {"BREW", HTTP_OTHER},
	{"", HTTP_OTHER},	   {NULL, HTTP_OTHER},
};

START_TEST(test_http_method_parse)
{
	for (int i = 0; i < CHECK_ROWS(method_rows); i++)
		ck_assert_msg((int)http_method_parse(method_rows[i].text) == method_rows[i].want,
			      "http_method_parse(\"%s\")", method_rows[i].text);
}
END_TEST

START_TEST(test_http_request_method)
{
	static const char *const p1[] = {"REQUEST_METHOD", "PATCH", "DOCUMENT_URI", "/x", NULL};
	static const char *const p2[] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;

	fake_cgi_request(&req, &io, p1, ATT_OK);
	ck_assert_int_eq(req.method, HTTP_PATCH);
	ck_assert_str_eq(req.method_name, "PATCH");
	http_request_free(&req);
	fake_cgi_request(&req, &io, p2, ATT_OK);
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

/* A parameter table (no body) and the path of the request it makes. */
static const struct path_row {
	const char *const *params;
	const char *path;
} path_rows[] = {
	/* DOCUMENT_URI first */
	{(const char *const[]){"REQUEST_METHOD", "GET", "DOCUMENT_URI", "/api/health",
			       "REQUEST_URI", "/other?x=1", "SCRIPT_NAME", "/s", "PATH_INFO", "/i",
			       NULL},
	 "/api/health"},
	/* else REQUEST_URI without its query, decoded ('+' is no space in a path) */
	{(const char *const[]){"REQUEST_METHOD", "GET", "REQUEST_URI", "/api/a%20b+c?action=x%20y",
			       "SCRIPT_NAME", "/s", "PATH_INFO", "/i", NULL},
	 "/api/a b+c"},
	/* undecodable: kept as sent, for the path's own rules to refuse */
	{(const char *const[]){"REQUEST_URI", "/api/a%00b", NULL}, "/api/a%00b"},
	{(const char *const[]){"REQUEST_URI", "/api/%zz", NULL}, "/api/%zz"},
	{(const char *const[]){"DOCUMENT_URI", "", "REQUEST_URI", "/r", NULL}, "/r"},
	/* else SCRIPT_NAME and PATH_INFO; nothing at all: "" */
	{(const char *const[]){"REQUEST_METHOD", "GET", "SCRIPT_NAME", "/cgi-bin/attempts.fcgi",
			       "PATH_INFO", "/api/health", NULL},
	 "/cgi-bin/attempts.fcgi/api/health"},
	{(const char *const[]){"REQUEST_METHOD", "GET", NULL}, ""},
	/* nginx's upload location rewrites the URI and passes the original */
	{(const char *const[]){"ATTEMPTS_PATH", "/api/attempts/x", "DOCUMENT_URI",
			       "/internal/upload", NULL},
	 "/api/attempts/x"},
	{(const char *const[]){"ATTEMPTS_PATH", "", "DOCUMENT_URI", "/api/health", NULL},
	 "/api/health"},
};

START_TEST(test_http_path)
{
	http_request req;
	fake_cgi_io io;

	fake_cgi_request(&req, &io, path_rows[_i].params, ATT_OK);
	ck_assert_ptr_nonnull(req.path);
	ck_assert_str_eq(req.path, path_rows[_i].path);
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

	fake_cgi_request(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.body_file, "/tmp/nginx/0001");
	ck_assert_str_eq(req.accel_prefix, "/_uploads/");
	http_request_free(&req);
	fake_cgi_request(&req, &io, empty, ATT_OK);
	ck_assert_ptr_null(req.body_file);
	ck_assert_ptr_null(req.accel_prefix);
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

	fake_cgi_request(&req, &io, p, ATT_OK);
	ck_assert_str_eq(req.authorization, "Bearer t");
	ck_assert_str_eq(req.if_match, "\"3\"");
	ck_assert_str_eq(req.if_none_match, "\"4\"");
	ck_assert_str_eq(req.cache_control, "no-cache");
	ck_assert_str_eq(req.content_type, "application/json");
	ck_assert_int_eq(req.content_length, 17);
	ck_assert_ptr_null(req.body);
	http_request_free(&req);
	fake_cgi_request(&req, &io, none, ATT_OK);
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

		fake_cgi_request(&req, &io, p, ATT_OK);
		ck_assert_int_eq(req.content_length, -1);
		http_request_free(&req);
	}
}
END_TEST

/* ------------------------------------------------------------ request id */

/* The request id chosen for a client id and an nginx id (either NULL). */
static void request_id_for(const char *client, const char *nginx, char *out)
{
	const char *p[7] = {"DOCUMENT_URI", "/x", NULL};
	http_request req;
	fake_cgi_io io;

	proto_param_add(p, CHECK_ROWS(p), "HTTP_X_REQUEST_ID", client);
	proto_param_add(p, CHECK_ROWS(p), "REQUEST_ID", nginx);
	fake_cgi_request(&req, &io, p, ATT_OK);
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

/* ------------------------------------------------------------ uuid */

/* uuid_valid on each text, and whether it is a valid UUID. */
static const check_text_row uuid_rows[] = {
	{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 1},
	{"00000000-0000-0000-0000-000000000000", 1},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", 1},
	{"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", 0},
	{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4D", 0},
	{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4", 0},
	{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d0", 0},
	{"0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d", 0},
	{"0a1b2c3d-4e5f-4a6b-8c7d9e0f1a2b3c4d-", 0},
	{"0a1b2c3-d4e5f-4a6b-8c7d-9e0f1a2b3c4d", 0},
	{"{0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}", 0},
	{"0a1b2c3g-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 0},
	{"", 0},
	{"new", 0},
};

START_TEST(test_uuid_valid)
{
	const check_text_row *r = &uuid_rows[_i];

	ck_assert_msg(uuid_valid(r->text) == r->want, "uuid_valid(\"%s\") != %d", r->text, r->want);
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

void http_cases(Suite *s)
{
	TCase *tc;

	tc = check_tcase(s, "method", NULL, NULL, test_http_method_parse, test_http_request_method,
			 test_http_methods_text, NULL);

	tc = check_tcase(s, "path", NULL, NULL, NULL);
	tcase_add_loop_test(tc, test_http_path, 0, CHECK_ROWS(path_rows));

	tc = check_tcase(s, "headers", NULL, NULL, test_http_request_headers,
			 test_http_content_length_garbage, test_http_body_file_params, NULL);

	tc = check_tcase(s, "request_id", NULL, NULL, test_http_request_id_client_kept,
			 test_http_request_id_invalid_client, test_http_request_id_generated, NULL);

	tc = check_tcase(s, "uuid", NULL, NULL, test_uuid_generate, NULL);
	tcase_add_loop_test(tc, test_uuid_valid, 0, CHECK_ROWS(uuid_rows));
}
