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

	fake_cgi_request(&req, &io, p, ATT_OK);
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

	fake_cgi_request(&req, &io, p, ATT_OK);
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

	fake_cgi_request(&req, &io, p, ATT_OK);
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

START_TEST(test_http_query_plus_and_names)
{
	static const char *const p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING",
					"a+b=c+d&=v&filename=essay%2B1.pdf", NULL};
	http_request req;
	fake_cgi_io io;

	fake_cgi_request(&req, &io, p, ATT_OK);
	ck_assert_int_eq(req.nparams, 3);
	ck_assert_str_eq(http_query(&req, "a b", NULL), "c d");
	ck_assert_str_eq(http_query(&req, "", NULL), "v");
	ck_assert_str_eq(http_query(&req, "filename", NULL), "essay+1.pdf");
	http_request_free(&req);
}
END_TEST

Suite *http_query_suite(void)
{
	Suite *s = suite_create("http_query");

	check_tcase(s, "query", NULL, NULL, test_http_query_parse, test_http_query_absent,
		    test_http_query_first_wins, test_http_query_malformed,
		    test_http_query_encoded_nul, test_http_query_too_many, test_http_percent_decode,
		    test_http_percent_decode_n, test_http_query_plus_and_names, NULL);
	return s;
}
