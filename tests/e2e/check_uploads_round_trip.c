/* check_uploads_round_trip: uploads that succeed: the bytes round trip
 * through the store and back, the filename and type rules of an accepted
 * upload, the limits at their edges, and the list of an attempt's uploads. */
#include <check.h>
#include <cJSON.h>
#include <errno.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_uploads.h"

/* ============================================================ 1-2: round trip */

START_TEST(test_upload_binary_round_trip)
{
	world w;
	const size_t n = 300 * 1024 + 17;
	unsigned char *data = random_bytes(n);
	char id[ID_LEN], hex[65];
	const char *params[2];
	const char *rid_hdr[] = {"X-Request-Id: upl-dl-1", NULL};
	char path[256];
	PGresult *res;
	resp r;
	const cJSON *o;

	world_new(&w, EXAM_1MIB);
	upload(&r, &w.student, w.attempt_id, "essay.pdf", "application/pdf", data, n);
	o = expect_uploaded(&r, "essay.pdf", "application/pdf", data, n, id);
	{
		/* The answer's created_at is the row's. */
		char created[64];

		snprintf(created, sizeof created, "%s", jstr(o, "created_at"));
		resp_free(&r);
		expect_stored(id, data, n);
		sha256_hex(data, n, hex);
		params[0] = id;
		params[1] = w.attempt_id;
		res = db_query(
			"SELECT filename, content_type, size_bytes::text, sha256,"
			" to_char(created_at AT TIME ZONE 'UTC',"
			" 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
			" FROM attempts.attempt_uploads WHERE upload_id = $1 AND attempt_id = $2",
			2, params);
		ck_assert_msg(PQntuples(res) == 1, "no attempt_uploads row for %s", id);
		ck_assert_str_eq(PQgetvalue(res, 0, 0), "essay.pdf");
		ck_assert_str_eq(PQgetvalue(res, 0, 1), "application/pdf");
		ck_assert_int_eq(strtol(PQgetvalue(res, 0, 2), NULL, 10), (long)n);
		ck_assert_str_eq(PQgetvalue(res, 0, 3), hex);
		/* Same instant (the answer may drop trailing zeros of the fraction). */
		ck_assert_msg(strncmp(created, PQgetvalue(res, 0, 4), 19) == 0,
			      "created_at %s, row %s", created, PQgetvalue(res, 0, 4));
		PQclear(res);
	}
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 1);
	expect_no_body_temp("after the upload");

	/* Download: the same bytes, type, disposition, nosniff, request id. */
	download_path(path, sizeof path, w.attempt_id, id);
	send_typed(&r, "GET", path, w.student.token, NULL, NULL, 0, rid_hdr);
	expect_download(&r, "application/pdf", data, n);
	expect_disposition(&r, "essay.pdf");
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "upl-dl-1");
	ck_assert_msg(header_count(&r, "X-Content-Type-Options") == 1,
		      "%s: %zu X-Content-Type-Options headers", r.what,
		      header_count(&r, "X-Content-Type-Options"));
	ck_assert_msg(header_count(&r, "Content-Disposition") == 1,
		      "%s: %zu Content-Disposition headers", r.what,
		      header_count(&r, "Content-Disposition"));
	resp_free(&r);

	/* Staff may read it too. */
	download_ok(&w.proctor, w.attempt_id, id, "application/pdf", data, n);
	download_ok(&w.admin, w.attempt_id, id, "application/pdf", data, n);
	free(data);
	world_free(&w);
}
END_TEST

/* A non-ASCII name is percent-encoded (UTF-8) in filename*, and characters
 * that would break the header are encoded too. */
START_TEST(test_download_filename_encoding)
{
	static const struct {
		const char *query, *name, *ext;
	} cases[] = {
		{"r%C3%A9sum%C3%A9.pdf", "r\xc3\xa9sum\xc3\xa9.pdf", "r%C3%A9sum%C3%A9.pdf"},
		{"a%20%22b%22%3Bc%25d%2C.pdf", "a \"b\";c%d,.pdf", "a%20%22b%22%3Bc%25d%2C.pdf"},
		{"%E6%9B%B8.pdf", "\xe6\x9b\xb8.pdf", "%E6%9B%B8.pdf"},
	};
	world w;
	unsigned char *data = random_bytes(4096);

	world_new(&w, EXAM_1MIB);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char id[ID_LEN];
		resp r;

		upload_ok(&w.student, w.attempt_id, cases[i].query, cases[i].name,
			  "application/pdf", data, 4096, id);
		download(&r, &w.student, w.attempt_id, id);
		expect_download(&r, "application/pdf", data, 4096);
		expect_disposition(&r, cases[i].ext);
		resp_free(&r);
	}
	free(data);
	world_free(&w);
}
END_TEST

/* The media type is stored lowercased without parameters and served so. */
START_TEST(test_upload_content_type_normalized)
{
	world w;
	const char text[] = "plain text\n";
	char id[ID_LEN];
	resp r;

	world_new(&w, EXAM_1MIB);
	upload(&r, &w.student, w.attempt_id, "notes.txt", "Text/Plain; charset=utf-8", text,
	       sizeof text - 1);
	expect_uploaded(&r, "notes.txt", "text/plain", text, sizeof text - 1, id);
	resp_free(&r);
	download_ok(&w.student, w.attempt_id, id, "text/plain", text, sizeof text - 1);
	world_free(&w);
}
END_TEST

/* An empty file is a file. */
START_TEST(test_upload_empty_file)
{
	world w;
	char id[ID_LEN];

	world_new(&w, EXAM_1MIB);
	upload_ok(&w.student, w.attempt_id, "empty.txt", "empty.txt", "text/plain", "", 0, id);
	expect_stored(id, "", 0);
	download_ok(&w.student, w.attempt_id, id, "text/plain", "", 0);
	world_free(&w);
}
END_TEST

/* Exactly the exam's limit is accepted; 255 bytes of filename too. */
START_TEST(test_upload_at_limits)
{
	world w;
	unsigned char *data = random_bytes(1024);
	char name[1024], id[ID_LEN];
	size_t k = 0;

	world_new(&w, EXAM_1KIB);
	upload_ok(&w.student, w.attempt_id, "exact.pdf", "exact.pdf", "application/pdf", data, 1024,
		  id);
	expect_stored(id, data, 1024);
	memset(name, 'a', 251);
	memcpy(name + 251, ".pdf", 5); /* 255 bytes */
	upload_ok(&w.student, w.attempt_id, name, name, "application/pdf", data, 10, NULL);
	/* 127 two-byte characters + "a": 255 bytes of UTF-8. */
	for (int i = 0; i < 127; i++)
		k += (size_t)snprintf(name + k, sizeof name - k, "%%C3%%A9");
	snprintf(name + k, sizeof name - k, "a");
	{
		char plain[256];
		size_t m = 0;

		for (int i = 0; i < 127; i++) {
			plain[m++] = (char)0xc3;
			plain[m++] = (char)0xa9;
		}
		plain[m++] = 'a';
		plain[m] = '\0';
		upload_ok(&w.student, w.attempt_id, name, plain, "application/pdf", data, 10, NULL);
	}
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 3);
	free(data);
	world_free(&w);
}
END_TEST

/* Uploads have their own per-exam limit (§3, §6): nginx lets bodies over
 * the 1 MiB JSON limit through to the upload location. The default exam
 * takes up to 10 MiB; 3 MiB must be stored. */
START_TEST(test_upload_over_json_limit)
{
	world w;
	const size_t n = 3 * 1024 * 1024 + 5;
	unsigned char *data = random_bytes(n);
	char id[ID_LEN];

	world_new(&w, "{\"title\":\"u-default\"}");
	upload_ok(&w.student, w.attempt_id, "big.pdf", "big.pdf", "application/pdf", data, n, id);
	expect_stored(id, data, n);
	download_ok(&w.student, w.attempt_id, id, "application/pdf", data, n);
	free(data);
	world_free(&w);
}
END_TEST

/* "action=%75pload" is the same query as "action=upload" (RFC 3986
 * 6.2.2.2; the service decodes it so): it is an upload and a download like
 * the other, whichever way it reaches the worker, leaves no temp file
 * behind, and takes bodies up to the exam's limit. */
START_TEST(test_upload_action_percent_encoded)
{
	world w;
	unsigned char *data = random_bytes(5000);
	char id[ID_LEN], path[256];
	snapshot s;
	resp r;

	world_new(&w, "{\"title\":\"u-default\"}");
	/* action=%75pload slips past nginx's rewrite, so its body would come
	 * through FastCGI, which API.md section 6 rules out: refused, nothing
	 * stored. */
	s = snap_take();
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&filename=enc.pdf",
		 w.attempt_id);
	send_typed(&r, "POST", path, w.student.token, "application/pdf", data, 5000, NULL);
	expect_error_free(&r, 400, "invalid_query");
	snap_expect_same(&s, "upload with an escaped action");
	snap_free(&s);
	/* A download spelled that way is still checked and served. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=enc.pdf",
		 w.attempt_id);
	send_typed(&r, "POST", path, w.student.token, "application/pdf", data, 5000, NULL);
	expect_uploaded(&r, "enc.pdf", "application/pdf", data, 5000, id);
	resp_free(&r);
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&upload_id=%s", w.attempt_id,
		 id);
	send_typed(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_download(&r, "application/pdf", data, 5000);
	expect_disposition(&r, "enc.pdf");
	resp_free(&r);
	free(data);
	world_free(&w);
}
END_TEST

/* ============================================================ 3: list */

START_TEST(test_uploads_list)
{
	static const char *const names[] = {"b-first.pdf", "a-second.png", "c-third.txt"};
	static const char *const types[] = {"application/pdf", "image/png", "text/plain"};
	world w;
	char ids[3][ID_LEN];
	unsigned char *data[3];
	size_t sizes[3] = {1000, 2000, 3000};
	char path[192];
	const cJSON *list, *it;
	resp r, rs[3];
	int i = 0;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	/* Empty first. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=uploads", w.attempt_id);
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	list = jget(expect_ok(&r, 200), "uploads");
	ck_assert_msg(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0,
		      "uploads of a fresh attempt: %s", r.r.body);
	ck_assert_int_eq(nkeys(r.json), 1);
	resp_free(&r);

	for (int k = 0; k < 3; k++) {
		data[k] = random_bytes(sizes[k]);
		upload(&rs[k], &w.student, w.attempt_id, names[k], types[k], data[k], sizes[k]);
		expect_uploaded(&rs[k], names[k], types[k], data[k], sizes[k], ids[k]);
	}
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	list = jget(expect_ok(&r, 200), "uploads");
	ck_assert_msg(nkeys(r.json) == 1, "uploads answer is exactly {\"uploads\"}: %s", r.r.body);
	ck_assert_msg(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 3, "uploads: %s",
		      r.r.body);
	cJSON_ArrayForEach(it, list)
	{
		/* Each item is the metadata the upload answered, in creation order. */
		ck_assert_msg(cJSON_Compare(it, rs[i].json, 1), "uploads[%d] is %s, want %s", i,
			      cJSON_PrintUnformatted(it), rs[i].r.body);
		expect_str(it, "upload_id", ids[i]);
		i++;
	}
	resp_free(&r);

	/* Staff read it; another student and no token do not. */
	send_req(&r, "GET", path, &w.proctor, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(jget(expect_ok(&r, 200), "uploads")), 3);
	resp_free(&r);
	refused("GET", path, &w.other, NULL, 404, "not_found");
	refused("GET", path, NULL, NULL, 401, "unauthorized");
	/* The other student's list does not show them. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=uploads", w.other_attempt_id);
	send_req(&r, "GET", path, &w.other, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(jget(expect_ok(&r, 200), "uploads")), 0);
	resp_free(&r);
	for (int k = 0; k < 3; k++) {
		resp_free(&rs[k]);
		free(data[k]);
	}
	world_free(&w);
}
END_TEST

void uploads_round_trip_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "round_trip", 60, test_upload_binary_round_trip,
		      test_download_filename_encoding, test_upload_content_type_normalized,
		      test_upload_empty_file, test_upload_at_limits, test_upload_over_json_limit,
		      test_upload_action_percent_encoded);
	E2E_ADD_TESTS(s, "list", 60, test_uploads_list);
}
