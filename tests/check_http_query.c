/* check_http_query: the query string from a fake CGI parameter table:
 * parameters, malformed and encoded-NUL escapes, limits, and percent
 * decoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"

/* ------------------------------------------------------------ query */

#define Q_MIXED "action=state&x=a%20b+c&&empty=&flag&%61ct=%2B%26%3d"
#define Q_PLUS "a+b=c+d&=v&filename=essay%2B1.pdf"

/* A QUERY_STRING (NULL: none), the number of parameters it holds, and
 * what http_query finds for a name (NULL: nothing). */
static const struct query_row {
	const char *query;
	int nparams;
	const char *name, *want;
} query_rows[] = {
	{Q_MIXED, 5, "action", "state"},
	{Q_MIXED, 5, "x", "a b c"},
	{Q_MIXED, 5, "empty", ""},
	{Q_MIXED, 5, "flag", ""},
	{Q_MIXED, 5, "act", "+&="},
	{Q_MIXED, 5, "missing", NULL},
	{Q_MIXED, 5, "ACTION", NULL},
	{NULL, 0, "action", NULL},
	/* the first of a name wins */
	{"a=1&a=2", 2, "a", "1"},
	/* '+' is a space in names and values; a name may be empty */
	{Q_PLUS, 3, "a b", "c d"},
	{Q_PLUS, 3, "", "v"},
	{Q_PLUS, 3, "filename", "essay+1.pdf"},
};

START_TEST(test_http_query_lookup)
{
	const struct query_row *r = &query_rows[_i];
	const char *p[] = {"DOCUMENT_URI", "/x", r->query != NULL ? "QUERY_STRING" : NULL, r->query,
			   NULL};
	http_request req;
	fake_cgi_io io;

	fake_cgi_request(&req, &io, p, ATT_OK);
	ck_assert_ptr_nonnull(req.query);
	ck_assert_str_eq(req.query, r->query != NULL ? r->query : "");
	ck_assert_int_eq(req.nparams, r->nparams);
	ck_assert_pstr_eq(http_query(&req, r->name, NULL), r->want);
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

	fake_cgi_request(&req, &io, p, ATT_OK);
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

/* Text decoded in place by http_percent_decode (or, when counted, by
 * http_percent_decode_n) with or without '+' as a space: what it returns
 * and, on success, the bytes it leaves (len of them, then a NUL). */
static const struct decode_row {
	const char *in;
	int plus, counted, rc;
	const char *out;
	size_t len;
} decode_rows[] = {
	{"a%2Fb%2fc+d", 1, 0, 0, "a/b/c d", 7},
	{"a+b", 0, 0, 0, "a+b", 3},
	{"%41%42%43", 0, 0, 0, "ABC", 3},
	{"100%", 1, 0, -1, NULL, 0},
	{"%0", 1, 0, -1, NULL, 0},
	{"x%00y", 1, 0, -1, NULL, 0},
	{"%e2%82%ac", 1, 0, 0, "\xe2\x82\xac", 3},
	/* counted: an encoded NUL is a byte of the value */
	{"x%00.pdf", 1, 1, 0, "x\0.pdf", 6},
	{"%E2%80%AE+%2e%00", 1, 1, 0, "\xe2\x80\xae .\0", 6},
	{"ok%zz", 1, 1, -1, NULL, 0},
	/* a truncated UTF-8 sequence is two good escapes */
	{"%E2%80", 0, 1, 0, "\xe2\x80", 2},
	{"", 0, 1, 0, "", 0},
};

START_TEST(test_http_percent_decode)
{
	const struct decode_row *r = &decode_rows[_i];
	char s[64];
	size_t len = 99;
	int rc;

	snprintf(s, sizeof s, "%s", r->in);
	rc = r->counted ? http_percent_decode_n(s, r->plus, &len) : http_percent_decode(s, r->plus);
	ck_assert_msg(rc == r->rc, "\"%s\": %d", r->in, rc);
	if (r->counted) /* the length is written only on success */
		ck_assert_uint_eq(len, rc == 0 ? r->len : 99);
	if (rc == 0)
		ck_assert_mem_eq(s, r->out, r->len + 1);
}
END_TEST

void http_query_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "query", NULL, NULL, test_http_query_malformed,
				test_http_query_encoded_nul, test_http_query_too_many, NULL);

	tcase_add_loop_test(tc, test_http_query_lookup, 0, CHECK_ROWS(query_rows));
	tcase_add_loop_test(tc, test_http_percent_decode, 0, CHECK_ROWS(decode_rows));
}
