/* check_http_body: reading a request's body through a fake body reader:
 * chunks, limits, short and failing streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"

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

void http_body_cases(Suite *s)
{
	check_tcase(s, "body", NULL, NULL, test_http_body_chunks, test_http_body_empty,
		    test_http_body_exact_max, test_http_body_too_big_by_length,
		    test_http_body_too_big_by_count, test_http_body_stream_error,
		    test_http_body_short, test_http_body_read_twice, NULL);
}
