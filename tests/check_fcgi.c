/* check_fcgi: the FastCGI records (fcgi_proto): requests whole and byte
 * by byte, long lengths, refusals, management records, protocol errors,
 * streaming bodies. The event-loop server: check_fcgi_server.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_fcgi.h"
#include "check_suites.h"
#include "fcgi_proto.h"

/* What a test feeds (in), what the parser answers (reply), the parser of
 * the test (made by parser()) and the request it hands out: the checked
 * fixture's, freed after each test. */
static buf in, reply;
static fcgi_parser *p;
static fcgi_request r;

static void fixture_teardown(void)
{
	buf_free(&in);
	buf_free(&reply);
	fcgi_parser_free(p);
	p = NULL;
}

/* Makes the test's parser, of a body cap of cap bytes. */
static void parser(size_t cap)
{
	ck_assert_int_eq(fcgi_parser_create(cap, &p), ATT_OK);
}

/* Appends the empty PARAMS and STDIN records that end request id's
 * parameters and its body. */
static void end_streams(int id)
{
	fc_rec(&in, PARAMS, id, "", 0);
	fc_rec(&in, STDIN_, id, "", 0);
}

/* Feeds all of in to the parser and parses once. */
static fcgi_event feed_all(void)
{
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	return fcgi_parse(p, &r, &reply);
}

/* --------------------------------------------------------------- proto */

START_TEST(test_fcgi_request_whole_and_bytewise)
{
	fc_request(&in, 1, 1, "POST", "{\"a\":1}", 3);
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		fcgi_event ev = FCGI_NEED_MORE;

		parser(1 << 20);
		if (bytewise) {
			for (size_t i = 0; i < in.len && ev == FCGI_NEED_MORE; i++) {
				ck_assert_int_eq(fcgi_parser_feed(p, in.data + i, 1), ATT_OK);
				ev = fcgi_parse(p, &r, &reply);
			}
		} else {
			ev = feed_all();
		}
		ck_assert_int_eq(ev, FCGI_REQUEST);
		ck_assert_int_eq(r.id, 1);
		ck_assert_int_eq(r.keep_conn, 1);
		ck_assert_uint_eq(r.nparams, 2);
		ck_assert_str_eq(fcgi_request_param(&r, "REQUEST_METHOD"), "POST");
		ck_assert_str_eq(fcgi_request_param(&r, "CONTENT_LENGTH"), "7");
		ck_assert_ptr_null(fcgi_request_param(&r, "QUERY_STRING"));
		ck_assert_uint_eq(r.body_len, 7);
		ck_assert_int_eq(memcmp(r.body, "{\"a\":1}", 7), 0);
		ck_assert_int_eq(r.body_more, 0);
		ck_assert_uint_eq(reply.len, 0);
		ck_assert_uint_eq(fcgi_parser_pending(p), 0);
		fcgi_request_free(&r);
		fcgi_request_free(NULL);
		fcgi_parser_free(p);
		p = NULL;
	}
	fcgi_parser_free(NULL);
}
END_TEST

/* Names and values of 128 bytes and more take 4-byte lengths; two
 * requests back to back on a kept-alive connection come out one by one. */
START_TEST(test_fcgi_long_pairs_and_two_requests)
{
	buf pairs = BUF_INIT;
	char name[200], value[70000];

	parser(1 << 20);
	memset(name, 'N', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	fc_begin(&in, 7, 1, 0);
	fc_pair(&pairs, name, value);
	fc_pair(&pairs, "EMPTY", "");
	/* The PARAMS stream may cut a pair anywhere between records. */
	fc_rec(&in, PARAMS, 7, pairs.data, 40000);
	fc_rec(&in, PARAMS, 7, pairs.data + 40000, pairs.len - 40000);
	buf_free(&pairs);
	end_streams(7);
	fc_request(&in, 8, 1, "GET", "", 1);
	ck_assert_int_eq(feed_all(), FCGI_REQUEST);
	ck_assert_int_eq(r.keep_conn, 0);
	ck_assert_str_eq(fcgi_request_param(&r, name), value);
	ck_assert_str_eq(fcgi_request_param(&r, "EMPTY"), "");
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_ptr_nonnull(r.body);
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.id, 8);
	ck_assert_str_eq(fcgi_request_param(&r, "REQUEST_METHOD"), "GET");
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_NEED_MORE);
}
END_TEST

/* A request without any parameter bytes (found by fuzz_fcgi: the
 * decoder did pointer arithmetic on a NULL buffer). */
START_TEST(test_fcgi_no_params)
{
	parser(16);
	fc_begin(&in, 1, 1, 0);
	end_streams(1);
	ck_assert_int_eq(feed_all(), FCGI_REQUEST);
	ck_assert_uint_eq(r.nparams, 0);
	ck_assert_ptr_null(fcgi_request_param(&r, "REQUEST_METHOD"));
	fcgi_request_free(&r);
}
END_TEST

/* The next reply is an END_REQUEST (after an empty STDOUT) of a refusal:
 * type 3, id, appStatus 0, protocolStatus status. */
static void expect_end(int id, int status)
{
	const unsigned char *h;

	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	ck_assert_uint_ge(reply.len, 8 + 16);
	h = (const unsigned char *)reply.data + 8;
	ck_assert_int_eq(h[1], END);
	ck_assert_int_eq((h[2] << 8) | h[3], id);
	ck_assert_int_eq(h[5], 8);
	ck_assert_int_eq(h[8 + 4], status);
	buf_reset(&reply);
}

/* A second request while one is open (multiplexing), an unknown role and
 * an abort are answered with END_REQUEST; the open request goes on. */
START_TEST(test_fcgi_refusals)
{
	parser(1 << 20);
	fc_begin(&in, 1, 1, 1);
	fc_begin(&in, 2, 1, 1);
	fc_begin(&in, 3, 2 /* AUTHORIZER */, 1);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	expect_end(2, FCGI_CANT_MPX_CONN);
	expect_end(3, FCGI_CANT_MPX_CONN);
	buf_reset(&in);
	/* Records of the refused ids are ignored; request 1 completes. */
	fc_rec(&in, PARAMS, 2,
	       "\x01\x01"
	       "ab",
	       4);
	end_streams(1);
	ck_assert_int_eq(feed_all(), FCGI_REQUEST);
	fcgi_request_free(&r);
	/* Now idle: an unknown role is refused as such. */
	buf_reset(&in);
	fc_begin(&in, 4, 2, 1);
	fc_begin(&in, 5, 1, 1);
	fc_rec(&in, ABORT, 5, "", 0);
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	expect_end(4, FCGI_UNKNOWN_ROLE);
	expect_end(5, FCGI_REQUEST_COMPLETE);
}
END_TEST

START_TEST(test_fcgi_management_records)
{
	buf q = BUF_INIT;
	const unsigned char *h;

	parser(1 << 20);
	fc_pair(&q, "FCGI_MAX_CONNS", "");
	fc_pair(&q, "FCGI_MPXS_CONNS", "");
	fc_rec(&in, GET_VALUES, 0, q.data, q.len);
	buf_free(&q);
	fc_rec(&in, 42, 0, "", 0);
	ck_assert_int_eq(feed_all(), FCGI_REPLY);
	h = (const unsigned char *)reply.data;
	ck_assert_int_eq(h[1], GET_VALUES_RESULT);
	ck_assert_int_eq(h[5], 18);
	ck_assert_int_eq(memcmp(reply.data + 8,
				"\x0f\x01"
				"FCGI_MPXS_CONNS0",
				18),
			 0);
	buf_reset(&reply);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REPLY);
	h = (const unsigned char *)reply.data;
	ck_assert_int_eq(h[1], UNKNOWN_TYPE);
	ck_assert_int_eq(h[8], 42);
}
END_TEST

/* Each of these closes the connection (FCGI_BAD); one row per test. */
static const char *const protocol_errors[] = {
	"version 2",	    "pair longer than its record", "STDIN before the end of PARAMS",
	"BEGIN of 7 bytes", "parameters over the limit",   "unknown application record"};

START_TEST(test_fcgi_protocol_errors)
{
	fcgi_event ev = FCGI_NEED_MORE;

	parser(1 << 20);
	switch (_i) {
	case 0:
		fc_begin(&in, 1, 1, 1);
		in.data[0] = 2;
		break;
	case 1:
		fc_begin(&in, 1, 1, 1);
		fc_rec(&in, PARAMS, 1,
		       "\x05\x01"
		       "ab",
		       4);
		end_streams(1);
		break;
	case 2:
		fc_begin(&in, 1, 1, 1);
		fc_rec(&in, STDIN_, 1, "x", 1);
		break;
	case 3:
		fc_rec(&in, BEGIN, 1, "\0\1\1\0\0\0\0", 7);
		break;
	case 4: {
		char big[60000];
		memset(big, 'x', sizeof big);
		fc_begin(&in, 1, 1, 1);
		for (int i = 0; i < 6; i++)
			fc_rec(&in, PARAMS, 1, big, sizeof big);
		break;
	}
	default:
		fc_begin(&in, 1, 1, 1);
		fc_rec(&in, 42, 1, "", 0);
	}
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, in.len), ATT_OK);
	for (int i = 0; i < 10 && ev != FCGI_BAD; i++) {
		ev = fcgi_parse(p, &r, &reply);
		if (ev == FCGI_REQUEST)
			fcgi_request_free(&r);
	}
	ck_assert_msg(ev == FCGI_BAD, "%s: not refused", protocol_errors[_i]);
}
END_TEST

/* A body longer than the cap: the request comes when the cap is reached,
 * the rest streams through fcgi_parser_body, then the next request. */
START_TEST(test_fcgi_streaming_body)
{
	char body[1000], got[1000];
	size_t have, n = 0;
	int rc = 0;

	parser(100);
	for (size_t i = 0; i < sizeof body - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof body - 1] = '\0';
	fc_request(&in, 1, 1, "POST", body, 64);
	fc_request(&in, 2, 1, "GET", "", 1);
	/* Fed in two halves: the body streams across them. */
	ck_assert_int_eq(fcgi_parser_feed(p, in.data, 400), ATT_OK);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.body_more, 1);
	ck_assert_uint_ge(r.body_len, 100);
	memcpy(got, r.body, r.body_len);
	have = r.body_len;
	/* While the body streams, fcgi_parse waits. */
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_NEED_MORE);
	for (int fed = 0; rc != 1;) {
		rc = fcgi_parser_body(p, got + have, 37, &n);
		ck_assert_int_ge(rc, 0);
		have += n;
		if (rc == 0 && n == 0) {
			ck_assert_int_eq(fed, 0);
			ck_assert_int_eq(fcgi_parser_feed(p, in.data + 400, in.len - 400), ATT_OK);
			fed = 1;
		}
	}
	ck_assert_uint_eq(have, sizeof body - 1);
	ck_assert_int_eq(memcmp(got, body, have), 0);
	fcgi_request_free(&r);
	ck_assert_int_eq(fcgi_parse(p, &r, &reply), FCGI_REQUEST);
	ck_assert_int_eq(r.id, 2);
	fcgi_request_free(&r);
}
END_TEST

/* A body of exactly the cap streams on with nothing more to read (found
 * by fuzz_fcgi: a copy from the empty stream's NULL buffer). */
START_TEST(test_fcgi_streaming_body_exactly_cap)
{
	char sink[8];
	size_t got = 1;

	parser(4);
	fc_request(&in, 1, 0, "POST", "abcd", 4);
	ck_assert_int_eq(feed_all(), FCGI_REQUEST);
	ck_assert_int_eq(r.body_more, 1);
	ck_assert_uint_eq(r.body_len, 4);
	ck_assert_int_eq(fcgi_parser_body(p, sink, sizeof sink, &got), 1);
	ck_assert_uint_eq(got, 0);
	fcgi_request_free(&r);
}
END_TEST

void fcgi_cases(Suite *s)
{
	TCase *tc = check_tcase(
		s, "proto", NULL, fixture_teardown, test_fcgi_request_whole_and_bytewise,
		test_fcgi_long_pairs_and_two_requests, test_fcgi_no_params, test_fcgi_refusals,
		test_fcgi_management_records, test_fcgi_streaming_body,
		test_fcgi_streaming_body_exactly_cap, NULL);

	tcase_add_loop_test(tc, test_fcgi_protocol_errors, 0, CHECK_ROWS(protocol_errors));
}
