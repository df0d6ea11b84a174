/* check_uploads_refusals: uploads and downloads that are refused (type,
 * size, filename, traversal, a closed or late attempt, someone else's,
 * the wrong method, the count limit, also raced) and leave neither a row
 * nor a file behind. */
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

/* ============================================================ 4: refusals */

START_TEST(test_upload_type_not_allowed)
{
	world w;
	unsigned char *data = random_bytes(512);
	snapshot s;
	resp r;
	const cJSON *d;

	world_new(&w, EXAM_1MIB);
	s = snap_take();
	upload(&r, &w.student, w.attempt_id, "archive.zip", "application/zip", data, 512);
	d = expect_error(&r, 415, "unsupported_media_type");
	if (d != NULL && cJSON_GetObjectItemCaseSensitive(d, "allowed_types") != NULL)
		ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "allowed_types")));
	resp_free(&r);
	snap_expect_same(&s, "415 application/zip");
	/* No Content-Type at all is no allowed type either. */
	upload_refused(&w.student, w.attempt_id, "x.pdf", NULL, data, 512, 415,
		       "unsupported_media_type");
	snap_expect_same(&s, "415 without Content-Type");
	snap_free(&s);
	free(data);
	world_free(&w);
}
END_TEST

START_TEST(test_upload_over_exam_limit)
{
	world w;
	unsigned char *data = random_bytes(2048);
	snapshot s;

	world_new(&w, EXAM_1KIB);
	s = snap_take();
	upload_refused(&w.student, w.attempt_id, "big.pdf", "application/pdf", data, 2048, 413,
		       "payload_too_large");
	snap_expect_same(&s, "413 over the exam's limit");
	/* One byte over. */
	upload_refused(&w.student, w.attempt_id, "big.pdf", "application/pdf", data, 1025, 413,
		       "payload_too_large");
	snap_expect_same(&s, "413 one byte over");
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 0);
	snap_free(&s);
	free(data);
	world_free(&w);
}
END_TEST

/* The bad filenames of §6, each refused with 400 and nothing written. */
START_TEST(test_upload_bad_filenames)
{
	char long_name[300], long_utf8[800], tag[17];
	struct {
		const char *query; /* NULL: no filename parameter */
	} cases[] = {
		{"..%2Fetc%2Fpasswd"},
		{"a%2Fb.pdf"},
		{"a/b.pdf"},
		{"..%5C..%5Cwindows%5Cwin.ini"},
		{"a%5Cb.pdf"},
		{"a%00b"},
		{"a%01b.pdf"},
		{"a%0Ab.pdf"},
		{"a%0D%0AX-Injected:%201.pdf"},
		{"a%09b.pdf"},
		{"a%7Fb.pdf"},
		{".htaccess"},
		{"."},
		{".."},
		{".pdf"},
		{long_name},
		{long_utf8},
		{""},
		{NULL},
		{"%FF%FE.pdf"},
		{"%C3.pdf"},
	};
	world w;
	snapshot s;
	size_t k = 0;

	random_tag(tag, 8);
	memset(long_name, 'a', 252);
	memcpy(long_name + 252, ".pdf", 5); /* 256 bytes */
	for (int i = 0; i < 128; i++)	    /* 256 bytes of UTF-8 */
		k += (size_t)snprintf(long_utf8 + k, sizeof long_utf8 - k, "%%C3%%A9");
	world_new(&w, EXAM_1MIB);
	s = snap_take();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		resp r;

		upload(&r, &w.student, w.attempt_id, cases[i].query, "application/pdf", "%PDF-1.4",
		       8);
		expect_error(&r, 400, "invalid_filename");
		ck_assert_msg(http_client_header(&r.r, "X-Injected") == NULL,
			      "%s: a header was injected", r.what);
		resp_free(&r);
		snap_expect_same(&s, cases[i].query ? cases[i].query : "(no filename)");
	}
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 0);
	snap_free(&s);
	world_free(&w);
}
END_TEST

/* "however it is percent-encoded" (API.md section 6): the filename rule
 * answers for the decoded bytes, an encoded NUL included, through nginx's
 * upload location (the body is a file nginx wrote) and past it (an escaped
 * action); nothing is stored, no row, no temp file left. A malformed
 * escape is the query's fault (docs/API.md section 11). */
START_TEST(test_upload_filename_percent_encodings)
{
	static const char *const bad[] = {
		"x%00.pdf", /* NUL */
		"%00",
		"x.pdf%00",
		"a%2Fb.pdf", /* '/' */
		"a%2fb.pdf",
		"a%5Cb.pdf",	 /* '\\' */
		"%2ehidden.pdf", /* leading dot */
		"%2E%2E%2Fx.pdf",
		"a%C2%85b.pdf",		   /* U+0085, C1 */
		"a%E2%80%8Bb.pdf",	   /* U+200B ZERO WIDTH SPACE */
		"a%E2%80%8Fb.pdf",	   /* U+200F RLM */
		"invoice%E2%80%AEfdp.exe", /* U+202E RLO */
		"a%E2%81%A6b.pdf",	   /* U+2066 */
		"%EF%BB%BFa.pdf",	   /* U+FEFF */
		"a%C0%AFb.pdf",		   /* over-long '/' */
		"a%FF.pdf",		   /* not UTF-8 */
		"a%E2%80.pdf",		   /* truncated UTF-8 */
		"a%ED%A0%80.pdf",	   /* surrogate */
	};
	static const char *const malformed[] = {"a%zz.pdf", "a%E.pdf", "a.pdf%"};
	world w;
	snapshot s;
	char path[512], id[ID_LEN];
	resp r;

	world_new(&w, EXAM_1MIB);
	s = snap_take();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* action=upload: nginx writes the body to a file first */
		upload_refused(&w.student, w.attempt_id, bad[i], "application/pdf", "%PDF-1.4", 8,
			       400, "invalid_filename");
		snap_expect_same(&s, bad[i]);
		/* through the seed's alias too */
		upload_as(&r, w.student.token, w.attempt_id, bad[i], "application/pdf", "%PDF-1.4",
			  8, 1);
		expect_error_free(&r, 400, "invalid_filename");
		snap_expect_same(&s, bad[i]);
	}
	/* The body comes through FastCGI here: still the filename rule. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&filename=x%%00.pdf",
		 w.attempt_id);
	send_typed(&r, "POST", path, w.student.token, "application/pdf", "%PDF-1.4", 8, NULL);
	expect_error_free(&r, 400, "invalid_filename");
	snap_expect_same(&s, "escaped action, NUL in the filename");
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		upload_refused(&w.student, w.attempt_id, malformed[i], "application/pdf",
			       "%PDF-1.4", 8, 400, "invalid_query");
		snap_expect_same(&s, malformed[i]);
	}
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 0);
	snap_free(&s);
	/* A name the rule accepts is stored decoded, however it was spelled. */
	upload_ok(&w.student, w.attempt_id, "caf%C3%A9%20%E2%82%AC.pdf",
		  "caf\xc3\xa9 \xe2\x82\xac.pdf", "application/pdf", "%PDF-1.4", 8, id);
	upload_ok(&w.student, w.attempt_id, "%65ssay+1.pdf", "essay 1.pdf", "application/pdf",
		  "%PDF-1.4", 8, id);
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 2);
	world_free(&w);
}
END_TEST

/* Path traversal in the filename never creates a file anywhere by that
 * name: the store names files by upload id only. */
START_TEST(test_upload_traversal_writes_nothing_outside)
{
	char tag[17], name[64], query[256], probe[4400];
	const char *dirs[] = {"/tmp", "/", "/etc", g_run_dir, g_upload_dir, NULL};
	struct stat passwd_before, passwd_after, st;
	world w;
	snapshot s;

	random_tag(tag, 8);
	snprintf(name, sizeof name, "upl-trav-%s", tag);
	ck_assert_int_eq(stat("/etc/passwd", &passwd_before), 0);
	world_new(&w, EXAM_1MIB);
	s = snap_take();
	snprintf(query, sizeof query, "..%%2F..%%2F..%%2F..%%2F..%%2F..%%2Ftmp%%2F%s", name);
	upload_refused(&w.student, w.attempt_id, query, "application/pdf", "%PDF-1.4", 8, 400,
		       "invalid_filename");
	snprintf(query, sizeof query, "..%%5C..%%5C..%%5Ctmp%%5C%s", name);
	upload_refused(&w.student, w.attempt_id, query, "application/pdf", "%PDF-1.4", 8, 400,
		       "invalid_filename");
	upload_refused(&w.student, w.attempt_id, "..%2F..%2F..%2Fetc%2Fpasswd", "text/plain",
		       "pwned\n", 6, 400, "invalid_filename");
	snap_expect_same(&s, "traversal filenames");
	for (size_t i = 0; dirs[i] != NULL; i++) {
		snprintf(probe, sizeof probe, "%s/%s", dirs[i], name);
		ck_assert_msg(stat(probe, &st) != 0 && errno == ENOENT, "%s exists", probe);
	}
	snprintf(probe, sizeof probe, "%s/../%s", g_upload_dir, name);
	ck_assert_msg(stat(probe, &st) != 0 && errno == ENOENT, "%s exists", probe);
	ck_assert_int_eq(stat("/etc/passwd", &passwd_after), 0);
	ck_assert_msg(passwd_after.st_mtime == passwd_before.st_mtime &&
			      passwd_after.st_size == passwd_before.st_size &&
			      passwd_after.st_ino == passwd_before.st_ino,
		      "/etc/passwd changed");
	snap_free(&s);
	world_free(&w);
}
END_TEST

START_TEST(test_upload_submitted_attempt)
{
	world w;
	snapshot s;
	char path[192];
	resp r;

	world_new(&w, EXAM_1MIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=submit", w.attempt_id);
	send_req(&r, "POST", path, &w.student, NULL, NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	s = snap_take();
	upload_refused(&w.student, w.attempt_id, "late.pdf", "application/pdf", "%PDF-1.4", 8, 409,
		       "attempt_submitted");
	snap_expect_same(&s, "upload to a submitted attempt");
	snap_free(&s);
	world_free(&w);
}
END_TEST

/* Past deadline_at + grace_s (sweep held off): no upload. */
START_TEST(test_upload_past_deadline)
{
	world w;
	snapshot s;
	PGconn *lock;
	resp r;

	world_new(&w, "{\"title\":\"u-timed\",\"time_limit_s\":3600}");
	lock = sweep_hold();
	db_exec("UPDATE attempts.attempts SET started_at = now() - interval '2 hours',"
		" deadline_at = now() - interval '1 hour' WHERE attempt_id = $1",
		w.attempt_id, NULL, -1);
	s = snap_take();
	upload(&r, &w.student, w.attempt_id, "late.pdf", "application/pdf", "%PDF-1.4", 8);
	ck_assert_msg(r.r.status == 409, "%s: status %d, want 409; %s", r.what, r.r.status,
		      r.r.body);
	{
		const char *code = jstr(expect_error_body(&r, NULL, NULL), "code");

		ck_assert_msg(strcmp(code, "attempt_closed") == 0 ||
				      strcmp(code, "attempt_submitted") == 0,
			      "%s: code %s, want attempt_closed", r.what, code);
	}
	resp_free(&r);
	snap_expect_same(&s, "upload past the deadline");
	sweep_release(lock);
	snap_free(&s);
	world_free(&w);
}
END_TEST

START_TEST(test_upload_access)
{
	world w;
	snapshot s;
	char missing[ID_LEN];
	resp r;
	const char *www;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	s = snap_take();
	/* Another student's attempt looks missing. */
	upload_refused(&w.other, w.attempt_id, "x.pdf", "application/pdf", "%PDF-1.4", 8, 404,
		       "not_found");
	upload_refused(&w.student, missing, "x.pdf", "application/pdf", "%PDF-1.4", 8, 404,
		       "not_found");
	/* Staff read attempts but do not upload into them. */
	upload_refused(&w.proctor, w.attempt_id, "x.pdf", "application/pdf", "%PDF-1.4", 8, 403,
		       "forbidden");
	upload_refused(&w.admin, w.attempt_id, "x.pdf", "application/pdf", "%PDF-1.4", 8, 403,
		       "forbidden");
	/* No token, a bad token. */
	upload(&r, NULL, w.attempt_id, "x.pdf", "application/pdf", "%PDF-1.4", 8);
	expect_error(&r, 401, "unauthorized");
	www = http_client_header(&r.r, "WWW-Authenticate");
	ck_assert_msg(www != NULL && strncmp(www, "Bearer", 6) == 0,
		      "401 without WWW-Authenticate: Bearer");
	resp_free(&r);
	upload_as(&r, "not.a.token", w.attempt_id, "x.pdf", "application/pdf", "%PDF-1.4", 8, 0);
	expect_error_free(&r, 401, "unauthorized");
	/* A path id that is no UUID. */
	upload_refused(&w.student, "not-a-uuid", "x.pdf", "application/pdf", "%PDF-1.4", 8, 400,
		       "invalid_uuid");
	snap_expect_same(&s, "refused uploads");
	snap_free(&s);
	world_free(&w);
}
END_TEST

/* Only GET and POST take action=upload. */
START_TEST(test_upload_wrong_methods)
{
	static const char *const methods[] = {"PATCH", "PUT", "DELETE"};
	world w;
	snapshot s;
	char path[192];

	world_new(&w, EXAM_1MIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=x.pdf", w.attempt_id);
	s = snap_take();
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		resp r;
		const char *allow;

		send_typed(&r, methods[i], path, w.student.token, "application/pdf", "%PDF-1.4", 8,
			   NULL);
		expect_error(&r, 405, "method_not_allowed");
		allow = http_client_header(&r.r, "Allow");
		ck_assert_msg(allow != NULL && strstr(allow, "GET") != NULL &&
				      strstr(allow, "POST") != NULL,
			      "%s: Allow %s, want GET and POST", r.what, allow ? allow : "(none)");
		resp_free(&r);
	}
	snap_expect_same(&s, "wrong methods");
	snap_free(&s);
	world_free(&w);
}
END_TEST

START_TEST(test_download_errors)
{
	world w, w2;
	char id[ID_LEN], other_id[ID_LEN], missing[ID_LEN], upper[ID_LEN];
	char path[256];
	resp r;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	upload_ok(&w.student, w.attempt_id, "mine.pdf", "mine.pdf", "application/pdf", "%PDF-1.4",
		  8, id);
	upload_ok(&w.other, w.other_attempt_id, "theirs.pdf", "theirs.pdf", "application/pdf",
		  "%PDF-1.5", 8, other_id);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);

	/* Not a canonical UUID, or none. */
	download_refused(&w.student, w.attempt_id, "not-a-uuid", 400, "invalid_uuid");
	for (size_t i = 0; i < ID_LEN; i++)
		upper[i] = (char)((id[i] >= 'a' && id[i] <= 'f') ? id[i] - 32 : id[i]);
	download_refused(&w.student, w.attempt_id, upper, 400, "invalid_uuid");
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload", w.attempt_id);
	send_typed(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_error_free(&r, 400, "invalid_uuid");
	/* Unknown upload. */
	download_refused(&w.student, w.attempt_id, missing, 404, "not_found");
	/* Another student's upload, through their attempt or through mine. */
	download_refused(&w.student, w.other_attempt_id, other_id, 404, "not_found");
	download_refused(&w.student, w.attempt_id, other_id, 404, "not_found");
	download_refused(&w.other, w.attempt_id, id, 404, "not_found");
	/* No token. */
	download_refused(NULL, w.attempt_id, id, 401, "unauthorized");
	/* The same student's upload in another attempt is not this attempt's. */
	w2.student = w.student;
	w2.proctor = user_new(AUTH_ROLE_PROCTOR);
	exam_create(&w2.proctor, EXAM_1MIB, w2.exam_id);
	attempt_start(&w.student, w2.exam_id, w2.attempt_id);
	download_refused(&w.student, w2.attempt_id, id, 404, "not_found");
	/* The owner still gets it. */
	download_ok(&w.student, w.attempt_id, id, "application/pdf", "%PDF-1.4", 8);
	user_free(&w2.proctor);
	world_free(&w);
}
END_TEST

/* At most 20 uploads per attempt: the 21st answers validation_failed
 * naming upload_count (validate_attempt_upload / upload_check). */
START_TEST(test_upload_count_limit)
{
	world w;
	snapshot s;
	size_t before_n, after_n;
	char *before_files, *after_files;
	const cJSON *d;
	resp r;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	before_files = dir_listing(g_upload_dir, &before_n);
	for (int i = 0; i < MAX_UPLOADS; i++) {
		char name[32], body[32];

		snprintf(name, sizeof name, "f%02d.txt", i);
		snprintf(body, sizeof body, "file %d\n", i);
		upload_ok(&w.student, w.attempt_id, name, name, "text/plain", body, strlen(body),
			  NULL);
	}
	after_files = dir_listing(g_upload_dir, &after_n);
	ck_assert_int_eq(after_n, before_n + MAX_UPLOADS);
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), MAX_UPLOADS);
	s = snap_take();
	upload(&r, &w.student, w.attempt_id, "f20.txt", "text/plain", "one too many\n", 13);
	d = expect_error(&r, 422, "validation_failed");
	ck_assert_msg(cJSON_IsObject(d) &&
			      cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "field")) &&
			      strcmp(cJSON_GetObjectItemCaseSensitive(d, "field")->valuestring,
				     "upload_count") == 0,
		      "%s: details.field should be upload_count: %s", r.what, r.r.body);
	resp_free(&r);
	snap_expect_same(&s, "the 21st upload");
	/* The other student's attempt is not affected. */
	upload_ok(&w.other, w.other_attempt_id, "x.txt", "x.txt", "text/plain", "x", 1, NULL);
	free(before_files);
	free(after_files);
	snap_free(&s);
	world_free(&w);
}
END_TEST

/* Uploads racing for the last places: exactly as many succeed as there
 * are places; the losers (refused by record_attempt_upload after their
 * file was stored) leave no file behind. */
typedef struct race_arg {
	const char *token;
	const char *attempt_id;
	int index;
	int status;
	char upload_id[ID_LEN];
} race_arg;

static void *race_upload(void *p)
{
	race_arg *a = p;
	char path[256], auth[AUTH_MAX_TOKEN_LEN + 32], body[64];
	const char *headers[] = {auth, "Content-Type: text/plain", NULL};
	http_client_response out;

	memset(&out, 0, sizeof out);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=race%d.txt",
		 a->attempt_id, a->index);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->token);
	snprintf(body, sizeof body, "racer %d\n", a->index);
	a->status = -1;
	a->upload_id[0] = '\0';
	if (http_client_request(g_url, "POST", path, headers, body, strlen(body), &out) == 0) {
		cJSON *j = cJSON_ParseWithLength(out.body, out.body_len);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "upload_id");

		a->status = out.status;
		if (cJSON_IsString(id) && strlen(id->valuestring) == UUID_STR_LEN)
			memcpy(a->upload_id, id->valuestring, ID_LEN);
		cJSON_Delete(j);
	}
	http_client_response_free(&out);
	return NULL;
}

START_TEST(test_upload_count_limit_race)
{
	enum { RACERS = 6, PRELOAD = MAX_UPLOADS - 2 };
	world w;
	pthread_t th[RACERS];
	race_arg args[RACERS];
	size_t before_n, after_n;
	char *files;
	int created = 0, refused = 0;

	world_new(&w, EXAM_1MIB);
	for (int i = 0; i < PRELOAD; i++) {
		char name[32];

		snprintf(name, sizeof name, "p%02d.txt", i);
		upload_ok(&w.student, w.attempt_id, name, name, "text/plain", "p", 1, NULL);
	}
	free(dir_listing(g_upload_dir, &before_n));
	for (int i = 0; i < RACERS; i++) {
		args[i].token = w.student.token;
		args[i].attempt_id = w.attempt_id;
		args[i].index = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_upload, &args[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < RACERS; i++) {
		if (args[i].status == 201) {
			char path[4200];
			struct stat st;

			created++;
			store_path(path, sizeof path, args[i].upload_id);
			ck_assert_msg(stat(path, &st) == 0, "racer %d: 201 but no file %s", i,
				      path);
		} else {
			ck_assert_msg(args[i].status == 422, "racer %d: status %d, want 201 or 422",
				      i, args[i].status);
			refused++;
		}
	}
	ck_assert_msg(created == MAX_UPLOADS - PRELOAD, "%d racers got 201, want %d", created,
		      MAX_UPLOADS - PRELOAD);
	ck_assert_int_eq(refused, RACERS - created);
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), MAX_UPLOADS);
	files = dir_listing(g_upload_dir, &after_n);
	ck_assert_msg(after_n == before_n + (size_t)created,
		      "the store gained %zu files for %d uploads:\n%s", after_n - before_n, created,
		      files);
	free(files);
	expect_no_body_temp("after the race");
	world_free(&w);
}
END_TEST

/* U+0080..U+009F (C1 controls, e.g. U+0085 NEXT LINE) are control
 * characters: 400 invalid_filename like C0 controls, nothing stored. */
START_TEST(test_upload_c1_control_filename)
{
	static const char *const names[] = {"a%C2%85b.pdf", "a%C2%80b.pdf", "a%C2%9Fb.pdf"};
	world w;
	snapshot s;

	world_new(&w, EXAM_1MIB);
	s = snap_take();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		resp r;

		upload(&r, &w.student, w.attempt_id, names[i], "application/pdf", "%PDF-1.4", 8);
		snap_expect_same(&s, names[i]);
		expect_error_free(&r, 400, "invalid_filename");
	}
	snap_free(&s);
	world_free(&w);
}
END_TEST

void uploads_refusal_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "refusals", 60, test_upload_type_not_allowed, test_upload_over_exam_limit,
		      test_upload_bad_filenames, test_upload_c1_control_filename,
		      test_upload_filename_percent_encodings,
		      test_upload_traversal_writes_nothing_outside, test_upload_submitted_attempt,
		      test_upload_past_deadline, test_upload_access, test_upload_wrong_methods,
		      test_download_errors, test_upload_count_limit, test_upload_count_limit_race);
}
