/* check_uploads_store: a record step that fails cleans up its file, the
 * store's internal locations are not reachable from outside, the
 * /route.ts alias, and an upload read back at once (read-your-writes). */
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

/* ============================================================ 5: record fails */

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void drop_block_constraint(void)
{
	PGconn *c = PQconnectdb(g_db);

	PQsetNoticeProcessor(c, quiet_notice, NULL);
	if (PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, "ALTER TABLE attempts.attempt_uploads DROP CONSTRAINT IF "
				  "EXISTS " BLOCK_CONSTRAINT));
	PQfinish(c);
}

/* The record step fails after the file was stored (a CHECK constraint the
 * test adds refuses the row): the service answers 5xx in the §3 shape and
 * neither the row nor the stored file stays. */
START_TEST(test_record_failure_cleans_up)
{
	world w;
	unsigned char *data = random_bytes(64 * 1024);
	snapshot s;
	resp r;
	char path[192];

	world_new(&w, EXAM_1MIB);
	db_exec("ALTER TABLE attempts.attempt_uploads ADD CONSTRAINT " BLOCK_CONSTRAINT
		" CHECK (filename <> '" BLOCK_FILENAME "')",
		NULL, NULL, -1);
	s = snap_take();
	upload(&r, &w.student, w.attempt_id, BLOCK_FILENAME, "application/pdf", data, 64 * 1024);
	fprintf(stderr, "check_uploads: record failure answered %d %.300s\n", r.r.status, r.r.body);
	ck_assert_msg(r.r.status >= 500 && r.r.status <= 599, "%s: status %d, want 5xx; %s", r.what,
		      r.r.status, r.r.body);
	jstr(expect_error_body(&r, NULL, NULL), "code");
	resp_free(&r);
	snap_expect_same(&s, "an upload whose record failed");
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 0);
	drop_block_constraint();
	/* The service is fine afterwards: the same upload under another name. */
	upload_ok(&w.student, w.attempt_id, "fine.pdf", "fine.pdf", "application/pdf", data,
		  64 * 1024, NULL);
	snprintf(path, sizeof path, "/api/attempts/%s?action=uploads", w.attempt_id);
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(jget(expect_ok(&r, 200), "uploads")), 1);
	resp_free(&r);
	snap_free(&s);
	free(data);
	world_free(&w);
}
END_TEST

/* ============================================================ 6: internal locations */

static int contains(const char *hay, size_t n, const void *needle, size_t k)
{
	return k <= n && memmem(hay, n, needle, k) != NULL;
}

/* Direct requests to the internal locations answer 404 and leak nothing. */
START_TEST(test_internal_locations_not_reachable)
{
	world w;
	unsigned char *data = random_bytes(8192);
	char id[ID_LEN], paths[9][320];
	size_t np = 0;

	world_new(&w, EXAM_1MIB);
	upload_ok(&w.student, w.attempt_id, "secret.pdf", "secret.pdf", "application/pdf", data,
		  8192, id);
	snprintf(paths[np++], sizeof paths[0], "/_attempts_files/%s", id);
	snprintf(paths[np++], sizeof paths[0],
		 "/_attempts_upload/api/attempts/%s?action=upload&upload_id=%s", w.attempt_id, id);
	snprintf(paths[np++], sizeof paths[0], "/_attempts_upload/api/attempts/%s?action=uploads",
		 w.attempt_id);
	snprintf(paths[np++], sizeof paths[0], "/api/../_attempts_files/%s", id);
	snprintf(paths[np++], sizeof paths[0], "/api/attempts/..%%2F..%%2F_attempts_files/%s", id);
	snprintf(paths[np++], sizeof paths[0], "//_attempts_files/%s", id);
	snprintf(paths[np++], sizeof paths[0], "/_attempts_files/%s/", id);
	snprintf(paths[np++], sizeof paths[0], "/_attempts_upload_check?action=upload&upload_id=%s",
		 id);
	for (size_t i = 0; i < np; i++) {
		resp r;

		send_plain(&r, "GET", paths[i], w.student.token, NULL, NULL, 0, NULL);
		ck_assert_msg(r.r.status == 404 || r.r.status == 400,
			      "%s: status %d, want 404; body %.200s", r.what, r.r.status, r.r.body);
		ck_assert_msg(!contains(r.r.body, r.r.body_len, data, 64),
			      "%s: the stored bytes leaked", r.what);
		ck_assert_msg(!contains(r.r.body, r.r.body_len, "secret.pdf", 10) &&
				      http_client_header(&r.r, "Content-Disposition") == NULL,
			      "%s: the upload's metadata leaked: %.200s", r.what, r.r.body);
		resp_free(&r);
	}
	/* The two the brief names are exactly 404. */
	for (size_t i = 0; i < 2; i++) {
		resp r;

		send_plain(&r, "GET", paths[i], w.student.token, NULL, NULL, 0, NULL);
		ck_assert_msg(r.r.status == 404, "%s: status %d, want 404", r.what, r.r.status);
		resp_free(&r);
	}
	/* A POST to the internal upload location stores nothing. */
	{
		snapshot s = snap_take();
		char path[320];
		resp r;

		snprintf(path, sizeof path,
			 "/_attempts_upload/api/attempts/%s?action=upload&filename=direct.pdf",
			 w.attempt_id);
		send_plain(&r, "POST", path, w.student.token, "application/pdf", data, 8192, NULL);
		ck_assert_msg(r.r.status == 404, "%s: status %d, want 404", r.what, r.r.status);
		resp_free(&r);
		snap_expect_same(&s, "POST to the internal upload location");
		snap_free(&s);
	}
	free(data);
	world_free(&w);
}
END_TEST

/* The 404 of the internal locations is an error like any other (§3): the
 * JSON shape and an X-Request-Id. */
START_TEST(test_internal_locations_404_shape)
{
	world w;
	char id[ID_LEN], path[320];
	resp r;

	world_new(&w, EXAM_1MIB);
	upload_ok(&w.student, w.attempt_id, "s.pdf", "s.pdf", "application/pdf", "%PDF-1.4", 8, id);
	snprintf(path, sizeof path, "/_attempts_files/%s", id);
	send_plain(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_error(&r, 404, "not_found");
	expect_request_id(&r);
	resp_free(&r);
	snprintf(path, sizeof path, "/_attempts_upload/api/attempts/%s?action=upload&upload_id=%s",
		 w.attempt_id, id);
	send_plain(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_error(&r, 404, "not_found");
	expect_request_id(&r);
	resp_free(&r);
	send_plain(&r, "POST", "/_attempts_upload_check", w.student.token, "application/pdf",
		   "%PDF-1.4", 8, NULL);
	expect_error(&r, 404, "not_found");
	expect_request_id(&r);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* ============================================================ 7: alias */

START_TEST(test_upload_route_ts_alias)
{
	world w;
	const size_t n = 20000;
	unsigned char *data = random_bytes(n);
	char id[ID_LEN], path[256];
	resp r;

	world_new(&w, EXAM_1MIB);
	upload_as(&r, w.student.token, w.attempt_id, "alias.pdf", "application/pdf", data, n, 1);
	expect_uploaded(&r, "alias.pdf", "application/pdf", data, n, id);
	resp_free(&r);
	expect_stored(id, data, n);
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 1);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=upload&upload_id=%s",
		 w.attempt_id, id);
	send_typed(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_download(&r, "application/pdf", data, n);
	expect_disposition(&r, "alias.pdf");
	resp_free(&r);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=uploads", w.attempt_id);
	send_req(&r, "GET", path, &w.student, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(jget(expect_ok(&r, 200), "uploads")), 1);
	resp_free(&r);
	free(data);
	world_free(&w);
}
END_TEST

/* ============================================================ 8: read-your-writes */

/* GET info as u: upload_count, with X-Cache copied for messages. */
static long info_upload_count(const user *u, const char *attempt_id, char *xcache, size_t cap)
{
	char path[192];
	const char *xc;
	resp r;
	long n;

	snprintf(path, sizeof path, "/api/attempts/%s?action=info", attempt_id);
	send_req(&r, "GET", path, u, NULL, NULL);
	n = (long)jnum(expect_ok(&r, 200), "upload_count");
	xc = http_client_header(&r.r, "X-Cache");
	snprintf(xcache, cap, "%s", xc ? xc : "(none)");
	resp_free(&r);
	return n;
}

/* After each acknowledged upload the very next info, from whichever worker
 * (each holding the info in its cache), counts it (§7). */
START_TEST(test_upload_info_read_your_writes)
{
	world w;
	char xc[32];

	world_new(&w, EXAM_1MIB);
	for (int k = 1; k <= MAX_UPLOADS; k++) {
		long n;

		for (int i = 0; i < 3; i++) {
			n = info_upload_count(&w.student, w.attempt_id, xc, sizeof xc);
			ck_assert_msg(n == k - 1,
				      "info before upload %d: upload_count %ld (X-Cache %s)", k, n,
				      xc);
		}
		upload_ok(&w.student, w.attempt_id, "ryw.txt", "ryw.txt", "text/plain", "x", 1,
			  NULL);
		n = info_upload_count(&w.student, w.attempt_id, xc, sizeof xc);
		ck_assert_msg(n == k, "info right after upload %d: upload_count %ld (X-Cache %s)",
			      k, n, xc);
		n = info_upload_count(&w.proctor, w.attempt_id, xc, sizeof xc);
		ck_assert_msg(n == k,
			      "proctor's info after upload %d: upload_count %ld (X-Cache %s)", k, n,
			      xc);
	}
	world_free(&w);
}
END_TEST

void uploads_store_tests(Suite *s)
{
	TCase *tc = tcase(s, "record_failure", 60);

	tcase_add_unchecked_fixture(tc, drop_block_constraint, drop_block_constraint);
	tcase_add_test(tc, test_record_failure_cleans_up);

	E2E_ADD_TESTS(s, "internal", 60, test_internal_locations_not_reachable,
		      test_internal_locations_404_shape);
	E2E_ADD_TESTS(s, "alias", 60, test_upload_route_ts_alias);
	E2E_ADD_TESTS(s, "read_your_writes", 60, test_upload_info_read_your_writes);
}
