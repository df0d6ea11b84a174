/* check_http_response: building responses (the error shape, headers,
 * JSON) and serialising them through a capture writer, files and the
 * nginx pre-check included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"

/* Counts occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The response of each test and what writing it captures: the checked
 * fixture's, freed after each test. */
static http_response resp;
static fake_cgi_capture cap;

static void fixture_setup(void)
{
	memset(&cap, 0, sizeof cap);
	http_response_init(&resp);
}

static void fixture_teardown(void)
{
	buf_free(&cap.out);
	http_response_free(&resp);
}

/* Writes the response through the capture, asserting it returns want. */
static void expect_written(att_err want)
{
	ck_assert_int_eq(http_response_write(&resp, fake_cgi_write, &cap), want);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

START_TEST(test_http_response_precheck)
{
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
}
END_TEST

START_TEST(test_http_response_write_204)
{
	resp.status = 204;
	http_header(&resp, "X-Request-Id", "r");
	expect_written(ATT_OK);
	ck_assert_str_eq(cap.out.data, "Status: 204 No Content\r\nX-Request-Id: r\r\n\r\n");
}
END_TEST

/* ------------------------------------------------------------ response */

/* Parses an error body and checks it is exactly the section 3 shape with
 * this code; returns the tree (caller deletes) for further checks. */
static cJSON *check_error_body(const http_response *r, const char *code)
{
	cJSON *root, *err;
	const cJSON *c, *m, *it;
	int n = 0;

	ck_assert_int_eq(r->body.failed, 0);
	ck_assert_ptr_nonnull(r->body.data);
	root = cJSON_ParseWithLength(r->body.data, r->body.len);
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
	cJSON *root;

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
}
END_TEST

START_TEST(test_http_error_details)
{
	cJSON *details = cJSON_CreateObject();
	cJSON *root;
	const cJSON *d;

	cJSON_AddNumberToObject(details, "current_version", 3);
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
}
END_TEST

START_TEST(test_http_error_field)
{
	cJSON *root;
	const cJSON *d;

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
}
END_TEST

START_TEST(test_http_error_replaces_body)
{
	cJSON *root;

	http_json_text(&resp, 200, "{\"ok\":true}", 11);
	http_error(&resp, 500, "internal_error", "late failure", NULL);
	ck_assert_int_eq(resp.status, 500);
	root = check_error_body(&resp, "internal_error");
	cJSON_Delete(root);
	ck_assert_int_eq(count_of(resp.headers.data, "Content-Type"), 1);
}
END_TEST

START_TEST(test_http_header_crlf)
{
	http_header(&resp, "X-Test", "a\r\nSet-Cookie: evil\rb\nc");
	ck_assert_str_eq(resp.headers.data, "X-Test: aSet-Cookie: evilbc\r\n");
	http_headerf(&resp, "X-Num", "%d\r\n%s", 7, "z");
	ck_assert_str_eq(resp.headers.data, "X-Test: aSet-Cookie: evilbc\r\nX-Num: 7z\r\n");
}
END_TEST

START_TEST(test_http_json)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "status", "ok");
	ck_assert_int_eq(resp.status, 200);
	http_json(&resp, 201, obj);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_str_eq(resp.body.data, "{\"status\":\"ok\"}");
	ck_assert_int_eq(resp.has_content_type, 1);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_http_content_type_once)
{
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
	const char *out;

	http_header(&resp, "X-Request-Id", "rid");
	http_json_text(&resp, 201, "{\"a\":1}", 7);
	expect_written(ATT_OK);
	out = cap.out.data;
	ck_assert_str_eq(out, "Status: 201 Created\r\n"
			      "X-Request-Id: rid\r\n"
			      "Content-Type: application/json; charset=utf-8\r\n"
			      "Content-Length: 7\r\n"
			      "\r\n"
			      "{\"a\":1}");
}
END_TEST

/* An answer to HEAD: the GET's headers and Content-Length, no body, even
 * after a reset. */
START_TEST(test_http_response_write_head)
{
	resp.head_only = 1;
	http_json_text(&resp, 500, "{}", 2);
	http_response_reset(&resp);
	http_json_text(&resp, 200, "{\"a\":1}", 7);
	expect_written(ATT_OK);
	ck_assert_str_eq(cap.out.data, "Status: 200 OK\r\n"
				       "Content-Type: application/json; charset=utf-8\r\n"
				       "Content-Length: 7\r\n"
				       "\r\n");
}
END_TEST

START_TEST(test_http_response_write_empty_body)
{
	resp.status = 200;
	expect_written(ATT_OK);
	ck_assert_str_eq(cap.out.data, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
}
END_TEST

START_TEST(test_http_response_write_304)
{
	http_header(&resp, "ETag", "\"3\"");
	http_json_text(&resp, 304, "{\"ignored\":1}", 13);
	expect_written(ATT_OK);
	ck_assert_ptr_null(strstr(cap.out.data, "ignored"));
	ck_assert_ptr_null(strstr(cap.out.data, "Content-Length"));
	ck_assert(starts_with(cap.out.data, "Status: 304 Not Modified\r\nETag: \"3\"\r\n"));
	ck_assert_uint_ge(cap.out.len, 4);
	ck_assert_str_eq(cap.out.data + cap.out.len - 4, "\r\n\r\n");
	ck_assert_int_eq(count_of(cap.out.data, "\r\n\r\n"), 1);
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
	http_header(&resp, "Content-Type", "application/pdf");
	http_file(&resp, 200, temp_file_with("%PDF-1.4 bytes"), 14);
	expect_written(ATT_OK);
	ck_assert_str_eq(cap.out.data, "Status: 200 OK\r\n"
				       "Content-Type: application/pdf\r\n"
				       "Content-Length: 14\r\n"
				       "\r\n"
				       "%PDF-1.4 bytes");
	http_response_free(&resp); /* closes the file */
	ck_assert_int_eq(resp.body_fd, -1);
}
END_TEST

START_TEST(test_http_response_write_file_short)
{
	/* the file ends before the promised size */
	http_file(&resp, 200, temp_file_with("short"), 100);
	expect_written(ATT_EIO);
}
END_TEST

START_TEST(test_http_response_write_fails)
{
	http_json_text(&resp, 200, "{}", 2);
	for (int call = 1; call <= 4; call++) {
		buf_free(&cap.out);
		memset(&cap, 0, sizeof cap);
		cap.fail_call = call;
		ck_assert_msg(http_response_write(&resp, fake_cgi_write, &cap) == ATT_EIO,
			      "failure of write call %d not reported", call);
	}
}
END_TEST

START_TEST(test_http_response_write_failed_buffer)
{
	http_json_text(&resp, 200, "{}", 2);
	resp.body.failed = 1;
	expect_written(ATT_ENOMEM);
	ck_assert(starts_with(cap.out.data, "Status: 500 Internal Server Error\r\n"));
	ck_assert_ptr_nonnull(strstr(cap.out.data, "\"code\":\"internal_error\""));
}
END_TEST

/* Statuses and their reason phrases (NULL: any, but one). */
static const struct reason_row {
	int status;
	const char *reason;
} reasons[] = {
	{200, "OK"},
	{304, "Not Modified"},
	{401, "Unauthorized"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{413, "Payload Too Large"},
	{422, "Unprocessable Entity"},
	{503, "Service Unavailable"},
	{599, NULL},
};

START_TEST(test_http_reason)
{
	for (int i = 0; i < CHECK_ROWS(reasons); i++) {
		ck_assert_ptr_nonnull(http_reason(reasons[i].status));
		if (reasons[i].reason != NULL)
			ck_assert_str_eq(http_reason(reasons[i].status), reasons[i].reason);
	}
}
END_TEST

void http_response_cases(Suite *s)
{
	check_tcase(s, "error_shape", fixture_setup, fixture_teardown, test_http_error_shape,
		    test_http_error_details, test_http_error_field, test_http_error_replaces_body,
		    NULL);

	check_tcase(s, "response", fixture_setup, fixture_teardown, test_http_header_crlf,
		    test_http_json, test_http_content_type_once, test_http_reason, NULL);

	check_tcase(s, "write", fixture_setup, fixture_teardown, test_http_response_write,
		    test_http_response_write_empty_body, test_http_response_write_head,
		    test_http_response_write_304, test_http_response_write_204,
		    test_http_response_precheck, test_http_response_write_file,
		    test_http_response_write_file_short, test_http_response_write_fails,
		    test_http_response_write_failed_buffer, NULL);
}
