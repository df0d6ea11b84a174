/* check_uploads: end-to-end tests of the upload actions (docs/API.md §6
 * upload, uploads, download) through nginx: the body written to a file by
 * nginx and hard-linked into the store, downloads through X-Accel-Redirect,
 * the limits of validate_attempt_upload / record_attempt_upload, the
 * filename rules, and that a refused or failed upload leaves neither a row
 * nor a file behind.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret), ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database) and ATTEMPTS_RUN_DIR (the stack's run directory: the store is
 * $ATTEMPTS_RUN_DIR/uploads unless ATTEMPTS_UPLOAD_DIR names it). Exits 77
 * (automake SKIP) when one is missing. Every test makes its own users,
 * exams and attempts. The tests compare listings of the store and row
 * counts before and after a request, so nothing else may upload to the
 * stack while they run (e2e_test.sh runs the suites one after another). */
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

static const char *g_run_dir;
static char g_upload_dir[4096];
static char g_body_temp_dir[4096]; /* nginx's client_body_temp_path under ./dev up */

/* The constraint test_record_failure_cleans_up adds to make the record step
 * fail; the tcase's unchecked teardown drops it whatever happened. */
#define BLOCK_CONSTRAINT "check_uploads_test_block"
#define BLOCK_FILENAME "fail-me.pdf"

#define MAX_UPLOADS 20

/* ------------------------------------------------------------ HTTP */

/* ------------------------------------------------------------ bytes */

static void sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)data, n, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* n random bytes (malloc'd). */
static unsigned char *random_bytes(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(RAND_bytes(p, (int)n), 1);
	return p;
}

/* A random lowercase hex tag of 2 * n characters (n <= 16). */
static void random_tag(char *out, size_t n)
{
	unsigned char b[16];

	ck_assert(n <= sizeof b);
	ck_assert_int_eq(RAND_bytes(b, (int)n), 1);
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The whole content of a file (malloc'd, *n its size), or NULL. */
static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0, len = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (len + 65536 > cap) {
			unsigned char *d = realloc(data, cap + 65536 + 1);
			ck_assert_ptr_nonnull(d);
			data = d;
			cap += 65536;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*n = len;
	return data;
}

static void store_path(char *out, size_t cap, const char *upload_id)
{
	snprintf(out, cap, "%s/%s", g_upload_dir, upload_id);
}

/* ------------------------------------------------------------ database */

static long db_upload_rows(void)
{
	return db_long("SELECT count(*) FROM attempts.attempt_uploads", NULL);
}

static long db_attempt_upload_rows(const char *attempt_id)
{
	return db_long("SELECT count(*) FROM attempts.attempt_uploads WHERE attempt_id = $1",
		       attempt_id);
}

/* ------------------------------------------------------------ the store */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir (without . and ..), one per line, malloc'd;
 * *count gets how many. */
static char *dir_listing(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, *out;
	size_t n = 0, cap = 0, len = 1;

	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
			ck_assert_ptr_nonnull(nn);
			names = nn;
		}
		names[n] = strdup(e->d_name);
		ck_assert_ptr_nonnull(names[n]);
		len += strlen(names[n]) + 1;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, name_cmp);
	out = malloc(len);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(out, names[i]);
		strcat(out, "\n");
		free(names[i]);
	}
	free(names);
	if (count != NULL)
		*count = n;
	return out;
}

/* nginx deletes its temp file once the request is finalized, which may be
 * a moment after the client got the answer: waits up to 2 s for the
 * client_body temp directory (./dev up's layout) to be empty. A directory
 * it cannot read fails the test. */
static void expect_no_body_temp(const char *what)
{
	struct stat st;
	char *list = NULL;
	size_t n = 0;

	ck_assert_msg(stat(g_body_temp_dir, &st) == 0 && access(g_body_temp_dir, R_OK | X_OK) == 0,
		      "%s: cannot read nginx's client_body temp directory %s", what,
		      g_body_temp_dir);
	for (int i = 0; i < 40; i++) {
		free(list);
		list = dir_listing(g_body_temp_dir, &n);
		if (n == 0)
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(n == 0, "%s: nginx's temp files stayed behind in %s:\n%s", what,
		      g_body_temp_dir, list);
	free(list);
}

/* What a refused request must not change: the store's files and the rows. */
typedef struct snapshot {
	char *files;
	long rows;
} snapshot;

static snapshot snap_take(void)
{
	snapshot s;

	s.files = dir_listing(g_upload_dir, NULL);
	s.rows = db_upload_rows();
	return s;
}

static void snap_expect_same(snapshot *before, const char *what)
{
	char *files = dir_listing(g_upload_dir, NULL);
	long rows = db_upload_rows();

	ck_assert_msg(strcmp(files, before->files) == 0,
		      "%s: the upload store changed\nbefore:\n%s\nafter:\n%s", what, before->files,
		      files);
	ck_assert_msg(rows == before->rows, "%s: attempt_uploads has %ld rows, had %ld", what, rows,
		      before->rows);
	free(files);
	expect_no_body_temp(what);
}

static void snap_free(snapshot *s)
{
	free(s->files);
	s->files = NULL;
}

/* ------------------------------------------------------------ fixtures */

#define EXAM_1MIB "{\"title\":\"u\",\"upload\":{\"max_bytes\":1048576}}"
#define EXAM_1KIB "{\"title\":\"u-small\",\"upload\":{\"max_bytes\":1024}}"

/* ------------------------------------------------------------ uploads */

/* POST /api/attempts/{id}[/route.ts]?action=upload[&filename=fq] with the
 * raw body; fq is put in the query as given (already percent-encoded),
 * NULL leaves the parameter out. */
static void upload_as(resp *r, const char *token, const char *attempt_id, const char *fq,
		      const char *content_type, const void *data, size_t n, int alias)
{
	char path[1024];

	snprintf(path, sizeof path, "/api/attempts/%s%s?action=upload%s%.900s", attempt_id,
		 alias ? "/route.ts" : "", fq ? "&filename=" : "", fq ? fq : "");
	send_typed(r, "POST", path, token, content_type, data, n, NULL);
}

static void upload(resp *r, const user *u, const char *attempt_id, const char *fq,
		   const char *content_type, const void *data, size_t n)
{
	upload_as(r, u ? u->token : NULL, attempt_id, fq, content_type, data, n, 0);
}

/* upload, then asserts the error answer and frees the answer. */
static void upload_refused(const user *u, const char *attempt_id, const char *fq,
			   const char *content_type, const void *data, size_t n, int status,
			   const char *code)
{
	resp r;

	upload(&r, u, attempt_id, fq, content_type, data, n);
	expect_error(&r, status, code);
	resp_free(&r);
}

/* Asserts a 201 upload answer for the given bytes; copies the upload id. */
static const cJSON *expect_uploaded(const resp *r, const char *filename, const char *type,
				    const void *data, size_t n, char upload_id[ID_LEN])
{
	const cJSON *o = expect_ok(r, 201);
	char hex[65];

	ck_assert_msg(nkeys(o) == 6,
		      "%s: an upload answer is exactly upload_id, filename, content_type, "
		      "size_bytes, sha256, created_at: %.400s",
		      r->what, r->r.body);
	ck_assert_msg(uuid_valid(jstr(o, "upload_id")), "%s: upload_id %s is not a UUID", r->what,
		      jstr(o, "upload_id"));
	expect_str(o, "filename", filename);
	expect_str(o, "content_type", type);
	ck_assert_msg(jnum(o, "size_bytes") == (double)n, "%s: size_bytes %.0f, want %zu", r->what,
		      jnum(o, "size_bytes"), n);
	sha256_hex(data, n, hex);
	expect_str(o, "sha256", hex);
	expect_ts(o, "created_at");
	if (upload_id != NULL)
		memcpy(upload_id, jstr(o, "upload_id"), ID_LEN);
	return o;
}

/* Uploads data as u, expecting 201; copies the upload id. */
static void upload_ok(const user *u, const char *attempt_id, const char *fq, const char *filename,
		      const char *type, const void *data, size_t n, char upload_id[ID_LEN])
{
	resp r;

	upload(&r, u, attempt_id, fq, type, data, n);
	expect_uploaded(&r, filename, type, data, n, upload_id);
	resp_free(&r);
}

/* The stored file holds exactly data. */
static void expect_stored(const char *upload_id, const void *data, size_t n)
{
	char path[4200];
	size_t got_n = 0;
	unsigned char *got;

	store_path(path, sizeof path, upload_id);
	got = read_file(path, &got_n);
	ck_assert_msg(got != NULL, "the store has no file %s: %s", path, strerror(errno));
	ck_assert_msg(got_n == n && (n == 0 || memcmp(got, data, n) == 0),
		      "%s holds %zu bytes that differ from the %zu uploaded", path, got_n, n);
	free(got);
}

static void download_path(char *out, size_t cap, const char *attempt_id, const char *upload_id)
{
	snprintf(out, cap, "/api/attempts/%s?action=upload&upload_id=%.100s", attempt_id,
		 upload_id);
}

static void download(resp *r, const user *u, const char *attempt_id, const char *upload_id)
{
	char path[256];

	download_path(path, sizeof path, attempt_id, upload_id);
	send_typed(r, "GET", path, u ? u->token : NULL, NULL, NULL, 0, NULL);
}

/* download, then asserts the error answer and frees the answer. */
static void download_refused(const user *u, const char *attempt_id, const char *upload_id,
			     int status, const char *code)
{
	resp r;

	download(&r, u, attempt_id, upload_id);
	expect_error(&r, status, code);
	resp_free(&r);
}

/* Asserts a 200 download of exactly data with the stored type. */
static void expect_download(const resp *r, const char *type, const void *data, size_t n)
{
	const char *ct = http_client_header(&r->r, "Content-Type");
	const char *nosniff = http_client_header(&r->r, "X-Content-Type-Options");
	char want[65], got[65];

	ck_assert_msg(r->r.status == 200, "%s: status %d, want 200; body %.300s", r->what,
		      r->r.status, r->r.body);
	ck_assert_msg(ct != NULL && strcmp(ct, type) == 0, "%s: Content-Type %s, want %s", r->what,
		      ct ? ct : "(none)", type);
	ck_assert_msg(r->r.body_len == n, "%s: %zu bytes, want %zu", r->what, r->r.body_len, n);
	sha256_hex(data, n, want);
	sha256_hex(r->r.body, r->r.body_len, got);
	ck_assert_msg(strcmp(want, got) == 0 && (n == 0 || memcmp(r->r.body, data, n) == 0),
		      "%s: the bytes differ (sha256 %s, want %s)", r->what, got, want);
	ck_assert_msg(nosniff != NULL && strcasecmp(nosniff, "nosniff") == 0,
		      "%s: X-Content-Type-Options %s, want nosniff", r->what,
		      nosniff ? nosniff : "(none)");
	ck_assert_msg(http_client_header(&r->r, "X-Accel-Redirect") == NULL,
		      "%s: X-Accel-Redirect reached the client", r->what);
}

/* Checks Content-Disposition: "attachment" and, as its last parameter,
 * filename*=UTF-8''<want_ext> (RFC 5987/8187 percent-encoding); a
 * filename="..." fallback, if any, is a quoted string of printable ASCII
 * without quote or backslash. */
static void expect_disposition(const resp *r, const char *want_ext)
{
	const char *cd = http_client_header(&r->r, "Content-Disposition");
	const char *star, *fb;
	char want[1024];

	ck_assert_msg(cd != NULL, "%s: no Content-Disposition", r->what);
	ck_assert_msg(strncasecmp(cd, "attachment", 10) == 0 && (cd[10] == ';' || cd[10] == '\0'),
		      "%s: Content-Disposition %s is not attachment", r->what, cd);
	snprintf(want, sizeof want, "filename*=UTF-8''%s", want_ext);
	star = strstr(cd, "filename*=");
	ck_assert_msg(star != NULL && strcmp(star, want) == 0,
		      "%s: Content-Disposition %s, want its last parameter %s", r->what, cd, want);
	fb = strstr(cd, "filename=\"");
	if (fb != NULL) {
		const char *p = fb + 10;

		while (*p && *p != '"') {
			ck_assert_msg(*p >= 0x20 && *p < 0x7f && *p != '\\',
				      "%s: the filename fallback of %s is not printable ASCII",
				      r->what, cd);
			p++;
		}
		ck_assert_msg(*p == '"' && fb < star, "%s: malformed filename fallback in %s",
			      r->what, cd);
	}
}

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
	download(&r, &w.proctor, w.attempt_id, id);
	expect_download(&r, "application/pdf", data, n);
	resp_free(&r);
	download(&r, &w.admin, w.attempt_id, id);
	expect_download(&r, "application/pdf", data, n);
	resp_free(&r);
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
	download(&r, &w.student, w.attempt_id, id);
	expect_download(&r, "text/plain", text, sizeof text - 1);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* An empty file is a file. */
START_TEST(test_upload_empty_file)
{
	world w;
	char id[ID_LEN];
	resp r;

	world_new(&w, EXAM_1MIB);
	upload_ok(&w.student, w.attempt_id, "empty.txt", "empty.txt", "text/plain", "", 0, id);
	expect_stored(id, "", 0);
	download(&r, &w.student, w.attempt_id, id);
	expect_download(&r, "text/plain", "", 0);
	resp_free(&r);
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
	resp r;

	world_new(&w, "{\"title\":\"u-default\"}");
	upload(&r, &w.student, w.attempt_id, "big.pdf", "application/pdf", data, n);
	expect_uploaded(&r, "big.pdf", "application/pdf", data, n, id);
	resp_free(&r);
	expect_stored(id, data, n);
	download(&r, &w.student, w.attempt_id, id);
	expect_download(&r, "application/pdf", data, n);
	resp_free(&r);
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
	expect_error(&r, 400, "invalid_query");
	resp_free(&r);
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
		expect_error(&r, 400, "invalid_filename");
		resp_free(&r);
	}
	snap_free(&s);
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
		expect_error(&r, 400, "invalid_filename");
		resp_free(&r);
		snap_expect_same(&s, bad[i]);
	}
	/* The body comes through FastCGI here: still the filename rule. */
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&filename=x%%00.pdf",
		 w.attempt_id);
	send_typed(&r, "POST", path, w.student.token, "application/pdf", "%PDF-1.4", 8, NULL);
	expect_error(&r, 400, "invalid_filename");
	resp_free(&r);
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
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
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
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
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
	download(&r, &w.student, w.attempt_id, id);
	expect_download(&r, "application/pdf", "%PDF-1.4", 8);
	resp_free(&r);
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

/* ============================================================ chunked bodies */

/* A TCP connection to the stack (g_url), with send and receive timeouts. */
static int raw_connect(char *host, size_t host_cap)
{
	char port[16];
	const char *p = g_url + 7, *colon = strchr(p, ':');
	struct addrinfo hints, *res = NULL;
	struct timeval tv = {HTTP_CLIENT_TIMEOUT_S, 0};
	int fd;

	ck_assert_msg(strncmp(g_url, "http://", 7) == 0 && colon != NULL, "URL %s", g_url);
	snprintf(host, host_cap, "%.*s", (int)(colon - p), p);
	snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	ck_assert_int_eq(getaddrinfo(host, port, &hints, &res), 0);
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	ck_assert_int_eq(connect(fd, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	return fd;
}

/* Reads one HTTP answer from fd (up to its Content-Length, else to the
 * end of the connection) and closes fd. Returns the status; *body gets the
 * body (malloc'd, de-chunked), *head (when head is not NULL) the header
 * lines (malloc'd). */
static int raw_read_answer(int fd, char **body, char **head)
{
	char *in = NULL, *hend = NULL, *out, *q, *cl;
	size_t len = 0, cap = 0, olen = 0;
	int status;

	for (;;) {
		ssize_t got;

		if (len + 4096 + 1 > cap) {
			char *d = realloc(in, cap += 65536);
			ck_assert_ptr_nonnull(d);
			in = d;
		}
		got = recv(fd, in + len, cap - len - 1, 0);
		if (got <= 0)
			break;
		len += (size_t)got;
		in[len] = '\0';
		if (hend == NULL)
			hend = strstr(in, "\r\n\r\n");
		cl = hend ? strcasestr(in, "\r\ncontent-length:") : NULL;
		if (cl != NULL && cl < hend &&
		    len >= (size_t)(hend + 4 - in) + strtoul(cl + 17, NULL, 10))
			break;
	}
	close(fd);
	ck_assert_msg(in != NULL && len > 12, "no answer");
	in[len] = '\0';
	status = atoi(in + 9);
	hend = strstr(in, "\r\n\r\n");
	ck_assert_ptr_nonnull(hend);
	*hend = '\0';
	q = hend + 4;
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	if (strcasestr(in, "\r\ntransfer-encoding: chunked") != NULL) {
		for (;;) {
			char *end;
			unsigned long k = strtoul(q, &end, 16);

			if (end == q || k == 0)
				break;
			q = strstr(end, "\r\n");
			ck_assert_ptr_nonnull(q);
			q += 2;
			memcpy(out + olen, q, k);
			olen += k;
			q += k + 2;
		}
	} else {
		olen = len - (size_t)(q - in);
		memcpy(out, q, olen);
	}
	out[olen] = '\0';
	if (head != NULL) {
		*head = strdup(in);
		ck_assert_ptr_nonnull(*head);
	}
	free(in);
	*body = out;
	return status;
}

/* Without Content-Length the size is only known once the body is read: the
 * exam's limit is enforced on the stored bytes. A raw HTTP/1.1 exchange
 * with a chunked body; returns the status, the body in *body (malloc'd). */
static int raw_chunked_upload(const char *path, const char *token, const char *type,
			      const unsigned char *data, size_t n, char **body)
{
	char host[128], head[8192];
	int fd = raw_connect(host, sizeof host);

	snprintf(head, sizeof head,
		 "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		 "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 path, host, token, type);
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	for (size_t off = 0; off < n; off += 700) {
		size_t k = n - off < 700 ? n - off : 700;
		char sz[32];

		snprintf(sz, sizeof sz, "%zx\r\n", k);
		if (send(fd, sz, strlen(sz), MSG_NOSIGNAL) < 0 ||
		    send(fd, data + off, k, MSG_NOSIGNAL) < 0 ||
		    send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
			break; /* nginx may answer early; read what it said */
	}
	(void)send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	return raw_read_answer(fd, body, NULL);
}

START_TEST(test_upload_chunked)
{
	world w;
	unsigned char *data = random_bytes(2048);
	char path[256], hex[65], *body = NULL;
	snapshot s;
	cJSON *j;
	int status;

	world_new(&w, EXAM_1KIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=chunked.pdf",
		 w.attempt_id);
	/* Within the limit. */
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 1000, &body);
	ck_assert_msg(status == 201, "chunked upload within the limit: %d %s", status, body);
	j = cJSON_Parse(body);
	sha256_hex(data, 1000, hex);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	expect_str(j, "sha256", hex);
	ck_assert_int_eq((long)jnum(j, "size_bytes"), 1000);
	expect_stored(jstr(j, "upload_id"), data, 1000);
	cJSON_Delete(j);
	free(body);
	/* Over it: refused after reading, nothing kept. */
	s = snap_take();
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 2048, &body);
	ck_assert_msg(status == 413, "chunked upload over the limit: %d %s", status, body);
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL && strstr(body, "\"payload_too_large\"") != NULL,
		      "chunked 413 body: %s", body);
	cJSON_Delete(j);
	free(body);
	snap_expect_same(&s, "chunked upload over the limit");
	/* Past nginx's upload location (an escaped action): refused before
	 * anything is stored. The streamed path itself is tested under Apache
	 * (tests/deploy/apache_test.sh). */
	snprintf(path, sizeof path, "/api/attempts/%s?action=%%75pload&filename=chunked.pdf",
		 w.attempt_id);
	status = raw_chunked_upload(path, w.student.token, "application/pdf", data, 2048, &body);
	ck_assert_msg(status == 400 && strstr(body, "\"invalid_query\"") != NULL,
		      "chunked upload with an escaped action: %d %s", status, body);
	free(body);
	snap_expect_same(&s, "chunked upload with an escaped action");
	snap_free(&s);
	free(data);
	world_free(&w);
}
END_TEST

/* ============================================================ checked before the body */

/* Issue 14: nginx asks a worker whether it takes an upload before it reads
 * the body (auth_request; API.md §3 "a refused upload never reaches the
 * disk"). */

#define MIB (1024LL * 1024)
#define BIG_UPLOAD (300 * MIB)
/* nginx/attempts.conf, @attempts_upload_body: limit_conn per caller. */
#define UPLOADS_PER_CALLER 6

/* The bytes in nginx's client-body temp directory now. */
static long long body_temp_bytes(void)
{
	DIR *d = opendir(g_body_temp_dir);
	struct dirent *e;
	long long total = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", g_body_temp_dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[8192];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", g_body_temp_dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (long long)st.st_size;
	}
	closedir(d);
	return total;
}

/* Opens a POST of path with Content-Length: total (token NULL: none) and
 * sends its head; returns the socket. */
static int raw_upload_open(const char *path, const char *token, const char *type, long long total)
{
	char host[128], auth[AUTH_MAX_TOKEN_LEN + 32], head[8192];
	int fd = raw_connect(host, sizeof host);

	auth[0] = '\0';
	if (token != NULL)
		snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
	snprintf(head, sizeof head,
		 "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s"
		 "X-Request-Id: e2e-stream\r\nContent-Type: %s\r\nContent-Length: %lld\r\n\r\n",
		 path, host, auth, type, total);
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	return fd;
}

/* POSTs total zero bytes to path, generated as they go (never held), for
 * as long as nginx takes them and it has not answered; samples the temp
 * directory once per MiB sent and at the end. Returns the status; *peak
 * gets the most bytes the temp directory held, *body and *head the
 * answer's body and header lines (malloc'd). */
static int stream_upload(const char *path, const char *token, const char *type, long long total,
			 long long *peak, char **body, char **head)
{
	static const char zeros[65536];
	int fd = raw_upload_open(path, token, type, total);
	long long sent = 0, most = body_temp_bytes(), now, next_sample = MIB;

	while (sent < total) {
		struct pollfd p = {fd, POLLIN | POLLOUT, 0};
		size_t k = total - sent < (long long)sizeof zeros ? (size_t)(total - sent)
								  : sizeof zeros;
		ssize_t n;

		if (poll(&p, 1, HTTP_CLIENT_TIMEOUT_S * 1000) <= 0)
			break; /* nginx neither reads nor answers: read what it says */
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			break; /* it answered before the body */
		n = send(fd, zeros, k, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (n < 0)
			break;
		sent += n;
		if (sent >= next_sample) {
			now = body_temp_bytes();
			most = now > most ? now : most;
			next_sample += MIB;
		}
	}
	now = body_temp_bytes();
	*peak = now > most ? now : most;
	return raw_read_answer(fd, body, head);
}

/* POSTs 300 MiB to w's attempt as token (NULL: none) with type: refused
 * with status before nginx takes the body, nothing stored. Returns the
 * answer's body (malloc'd). */
static char *refused_early(const world *w, const char *token, const char *type, int status,
			   const char *what)
{
	snapshot s;
	char path[256], *body, *head;
	long long peak;
	int got;

	ck_assert_msg(access(g_body_temp_dir, R_OK | X_OK) == 0, "cannot read %s: %s",
		      g_body_temp_dir, strerror(errno));
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=big.pdf",
		 w->attempt_id);
	s = snap_take();
	got = stream_upload(path, token, type, BIG_UPLOAD, &peak, &body, &head);
	ck_assert_msg(got == status, "%s: status %d, want %d; %s", what, got, status, body);
	ck_assert_msg(peak < MIB,
		      "%s: nginx's temp directory held %lld bytes of the body it refused", what,
		      peak);
	ck_assert_msg(strcasestr(head, "\r\nX-Request-Id: e2e-stream") != NULL,
		      "%s: no X-Request-Id in\n%s", what, head);
	ck_assert_msg(strcasestr(head, "\r\nContent-Type: application/json") != NULL,
		      "%s: not JSON:\n%s", what, head);
	if (status == 401)
		ck_assert_msg(strcasestr(head, "\r\nWWW-Authenticate: Bearer") != NULL,
			      "401 without WWW-Authenticate: Bearer:\n%s", head);
	free(head);
	snap_expect_same(&s, what);
	snap_free(&s);
	return body;
}

/* The body of what the worker answers to GET ?action=uploads of attempt_id
 * as u (NULL: no token), which nginx passes untouched; the caller frees it. */
static char *worker_refusal(const char *attempt_id, const user *u, int status, const char *code)
{
	char path[192], *body;
	resp r;

	snprintf(path, sizeof path, "/api/attempts/%s?action=uploads", attempt_id);
	send_req(&r, "GET", path, u, NULL, NULL);
	expect_error(&r, status, code);
	body = strdup(r.r.body);
	ck_assert_ptr_nonnull(body);
	resp_free(&r);
	return body;
}

/* 300 MiB without a token: 401 before the body, exactly the worker's 401. */
START_TEST(test_upload_no_token_refused_before_body)
{
	world w;
	char *body, *want;

	world_new(&w, EXAM_1MIB);
	body = refused_early(&w, NULL, "application/pdf", 401, "no token");
	want = worker_refusal(w.attempt_id, NULL, 401, "unauthorized");
	ck_assert_str_eq(body, want);
	free(want);
	free(body);
	world_free(&w);
}
END_TEST

/* 300 MiB into another student's attempt: 404 before the body, exactly as
 * the worker answers a missing attempt. */
START_TEST(test_upload_foreign_attempt_refused_before_body)
{
	world w;
	char *body, *want;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	body = refused_early(&w, w.other.token, "application/pdf", 404, "another's attempt");
	want = worker_refusal(w.attempt_id, &w.other, 404, "not_found");
	ck_assert_str_eq(body, want);
	free(want);
	free(body);
	world_free(&w);
}
END_TEST

/* 300 MiB over the exam's 1 MiB (by Content-Length), or of a type the exam
 * does not take: 413 and 415 before the body. */
START_TEST(test_upload_over_limit_refused_before_body)
{
	world w;
	char *body;
	cJSON *j;

	world_new(&w, EXAM_1MIB);
	body = refused_early(&w, w.student.token, "application/pdf", 413, "over the limit");
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	expect_str(jget(j, "error"), "code", "payload_too_large");
	ck_assert(jnum(jget(jget(j, "error"), "details"), "limit") == (double)MIB);
	cJSON_Delete(j);
	free(body);
	body = refused_early(&w, w.student.token, "image/gif", 415, "a type not allowed");
	ck_assert_msg(strstr(body, "\"unsupported_media_type\"") != NULL, "415 body %s", body);
	free(body);
	world_free(&w);
}
END_TEST

/* A permitted upload streamed the same way is stored and served. */
START_TEST(test_upload_streamed_within_limit)
{
	world w;
	char path[256], id[ID_LEN], *body, *head;
	unsigned char *zeros = calloc(1, MIB / 2);
	long long peak;
	int status;
	cJSON *j;
	resp r;

	ck_assert_ptr_nonnull(zeros);
	world_new(&w, EXAM_1MIB);
	snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=half.pdf",
		 w.attempt_id);
	status = stream_upload(path, w.student.token, "application/pdf", MIB / 2, &peak, &body,
			       &head);
	ck_assert_msg(status == 201, "a permitted upload: status %d, want 201; %s", status, body);
	j = cJSON_Parse(body);
	ck_assert_msg(j != NULL, "not JSON: %s", body);
	ck_assert(jnum(j, "size_bytes") == (double)(MIB / 2));
	memcpy(id, jstr(j, "upload_id"), ID_LEN);
	cJSON_Delete(j);
	expect_stored(id, zeros, MIB / 2);
	download(&r, &w.student, w.attempt_id, id);
	expect_download(&r, "application/pdf", zeros, MIB / 2);
	resp_free(&r);
	expect_no_body_temp("after a permitted upload");
	free(body);
	free(head);
	free(zeros);
	world_free(&w);
}
END_TEST

/* POSTs an upload to attempt_id (token NULL: none) whose chunked body is
 * malformed ("zz" for a chunk size); returns the status, *body the
 * answer's body (malloc'd). */
static int malformed_chunk_upload(const char *attempt_id, const char *token, const char *type,
				  char **body)
{
	char host[128], head[2048], auth[AUTH_MAX_TOKEN_LEN + 32];
	int fd = raw_connect(host, sizeof host);

	auth[0] = '\0';
	if (token != NULL)
		snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
	snprintf(head, sizeof head,
		 "POST /api/attempts/%s?action=upload&filename=a.pdf HTTP/1.1\r\n"
		 "Host: %s\r\nConnection: close\r\nContent-Type: %s\r\n%s"
		 "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
		 attempt_id, host, type, auth);
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	return raw_read_answer(fd, body, NULL);
}

/* Refused before its body, a chunked upload whose body turns out malformed
 * when nginx discards it answers 400 in JSON, as the same body accepted
 * does. */
START_TEST(test_upload_refused_malformed_chunk)
{
	world w;
	char *body;
	int status;

	world_new(&w, EXAM_1MIB);
	status = malformed_chunk_upload(w.attempt_id, NULL, "application/pdf", &body);
	ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
		      "malformed chunk, no token: %d %s", status, body);
	free(body);
	status = malformed_chunk_upload(w.attempt_id, w.student.token, "image/gif", &body);
	ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
		      "malformed chunk, a type not allowed: %d %s", status, body);
	free(body);
	world_free(&w);
}
END_TEST

/* At most UPLOADS_PER_CALLER uploads of one caller at once (keyed by the
 * token's sub, not the address, which an exam hall shares): the next one
 * answers 429 in JSON; another student from the same address still
 * uploads. */
START_TEST(test_upload_concurrency_per_caller)
{
	static const char part[65536];
	world w;
	int held[UPLOADS_PER_CALLER];
	size_t n = 0;
	char path[256];
	resp r;

	world_new(&w, EXAM_1MIB);
	world_add_other(&w);
	ck_assert_msg(access(g_body_temp_dir, R_OK | X_OK) == 0, "cannot read %s: %s",
		      g_body_temp_dir, strerror(errno));
	/* Bodies that stop half way hold their slots (and a temp file each,
	 * past nginx's body buffer). */
	for (int i = 0; i < UPLOADS_PER_CALLER; i++) {
		snprintf(path, sizeof path, "/api/attempts/%s?action=upload&filename=held%d.pdf",
			 w.attempt_id, i);
		held[i] = raw_upload_open(path, w.student.token, "application/pdf", MIB);
		ck_assert(send(held[i], part, sizeof part, MSG_NOSIGNAL) == (ssize_t)sizeof part);
	}
	for (int i = 0; i < 200; i++) {
		free(dir_listing(g_body_temp_dir, &n));
		if (n >= UPLOADS_PER_CALLER)
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(n == UPLOADS_PER_CALLER, "%zu of %d held uploads reached nginx's body files",
		      n, UPLOADS_PER_CALLER);
	upload(&r, &w.student, w.attempt_id, "one-more.pdf", "application/pdf", "%PDF-1.4", 8);
	expect_error(&r, 429, "too_many_requests");
	ck_assert_msg(http_client_header(&r.r, "Retry-After") != NULL, "429 without Retry-After");
	resp_free(&r);
	{
		/* One more whose body is malformed: the client's 400, in JSON. */
		char *body;
		int status = malformed_chunk_upload(w.attempt_id, w.student.token,
						    "application/pdf", &body);

		ck_assert_msg(status == 400 && strstr(body, "\"bad_request\"") != NULL,
			      "over the limit with a malformed chunk: %d %s", status, body);
		free(body);
	}
	upload_ok(&w.other, w.other_attempt_id, "other.pdf", "other.pdf", "application/pdf",
		  "%PDF-1.4", 8, NULL);
	for (int i = 0; i < UPLOADS_PER_CALLER; i++)
		close(held[i]);
	expect_no_body_temp("after the held uploads");
	/* The slots are free again. */
	upload_ok(&w.student, w.attempt_id, "after.pdf", "after.pdf", "application/pdf", "%PDF-1.4",
		  8, NULL);
	world_free(&w);
}
END_TEST

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
	unsigned char *data = random_bytes(20000);
	char id[ID_LEN], path[256];
	resp r;

	world_new(&w, EXAM_1MIB);
	upload_as(&r, w.student.token, w.attempt_id, "alias.pdf", "application/pdf", data, 20000,
		  1);
	expect_uploaded(&r, "alias.pdf", "application/pdf", data, 20000, id);
	resp_free(&r);
	expect_stored(id, data, 20000);
	ck_assert_int_eq(db_attempt_upload_rows(w.attempt_id), 1);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=upload&upload_id=%s",
		 w.attempt_id, id);
	send_typed(&r, "GET", path, w.student.token, NULL, NULL, 0, NULL);
	expect_download(&r, "application/pdf", data, 20000);
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

/* ============================================================ suite */

static Suite *uploads_suite(void)
{
	Suite *s = suite_create("uploads");
	TCase *tc;

	E2E_ADD_TESTS(s, "round_trip", 60, test_upload_binary_round_trip,
		      test_download_filename_encoding, test_upload_content_type_normalized,
		      test_upload_empty_file, test_upload_at_limits, test_upload_over_json_limit,
		      test_upload_action_percent_encoded);
	E2E_ADD_TESTS(s, "list", 60, test_uploads_list);
	E2E_ADD_TESTS(s, "refusals", 60, test_upload_type_not_allowed, test_upload_over_exam_limit,
		      test_upload_bad_filenames, test_upload_c1_control_filename,
		      test_upload_filename_percent_encodings,
		      test_upload_traversal_writes_nothing_outside, test_upload_submitted_attempt,
		      test_upload_past_deadline, test_upload_access, test_upload_wrong_methods,
		      test_download_errors, test_upload_count_limit, test_upload_count_limit_race,
		      test_upload_chunked);
	E2E_ADD_TESTS(s, "before_body", 120, test_upload_no_token_refused_before_body,
		      test_upload_foreign_attempt_refused_before_body,
		      test_upload_over_limit_refused_before_body, test_upload_streamed_within_limit,
		      test_upload_refused_malformed_chunk, test_upload_concurrency_per_caller);

	tc = tcase(s, "record_failure", 60);
	tcase_add_unchecked_fixture(tc, drop_block_constraint, drop_block_constraint);
	tcase_add_test(tc, test_record_failure_cleans_up);

	E2E_ADD_TESTS(s, "internal", 60, test_internal_locations_not_reachable,
		      test_internal_locations_404_shape);
	E2E_ADD_TESTS(s, "alias", 60, test_upload_route_ts_alias);
	E2E_ADD_TESTS(s, "read_your_writes", 60, test_upload_info_read_your_writes);
	return s;
}

int main(void)
{
	const char *dir;

	if (e2e_read_env("check_uploads", "ATTEMPTS_RUN_DIR") != 0)
		return 77;
	g_run_dir = getenv("ATTEMPTS_RUN_DIR");
	dir = getenv("ATTEMPTS_UPLOAD_DIR");
	if (dir != NULL && *dir != '\0')
		snprintf(g_upload_dir, sizeof g_upload_dir, "%s", dir);
	else
		snprintf(g_upload_dir, sizeof g_upload_dir, "%s/uploads", g_run_dir);
	snprintf(g_body_temp_dir, sizeof g_body_temp_dir, "%s/nginx/tmp/client_body", g_run_dir);
	if (access(g_upload_dir, R_OK | X_OK) != 0) {
		fprintf(stderr, "check_uploads: cannot read the upload store %s: %s\n",
			g_upload_dir, strerror(errno));
		return 99;
	}

	return e2e_run(uploads_suite(), CK_ENV);
}
