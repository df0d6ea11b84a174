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
 * stack while they run (e2e_test.sh runs the suites one after another).
 * This file holds the runner and the helpers of check_uploads.h; the tests
 * are in check_uploads_<topic>.c. */
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

const char *g_run_dir;
char g_upload_dir[4096];
char g_body_temp_dir[4096];

/* ------------------------------------------------------------ bytes */

void sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)data, n, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* n random bytes (malloc'd). */
unsigned char *random_bytes(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(RAND_bytes(p, (int)n), 1);
	return p;
}

/* A random lowercase hex tag of 2 * n characters (n <= 16). */
void random_tag(char *out, size_t n)
{
	unsigned char b[16];

	ck_assert(n <= sizeof b);
	ck_assert_int_eq(RAND_bytes(b, (int)n), 1);
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The whole content of a file (malloc'd, *n its size), or NULL. */
unsigned char *read_file(const char *path, size_t *n)
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

void store_path(char *out, size_t cap, const char *upload_id)
{
	snprintf(out, cap, "%s/%s", g_upload_dir, upload_id);
}

/* ------------------------------------------------------------ database */

long db_upload_rows(void)
{
	return db_long("SELECT count(*) FROM attempts.attempt_uploads", NULL);
}

long db_attempt_upload_rows(const char *attempt_id)
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
char *dir_listing(const char *dir, size_t *count)
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
void expect_no_body_temp(const char *what)
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

snapshot snap_take(void)
{
	snapshot s;

	s.files = dir_listing(g_upload_dir, NULL);
	s.rows = db_upload_rows();
	return s;
}

void snap_expect_same(snapshot *before, const char *what)
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

void snap_free(snapshot *s)
{
	free(s->files);
	s->files = NULL;
}

/* ------------------------------------------------------------ fixtures */
/* ------------------------------------------------------------ uploads */

/* POST /api/attempts/{id}[/route.ts]?action=upload[&filename=fq] with the
 * raw body; fq is put in the query as given (already percent-encoded),
 * NULL leaves the parameter out. */
void upload_as(resp *r, const char *token, const char *attempt_id, const char *fq,
	       const char *content_type, const void *data, size_t n, int alias)
{
	char path[1024];

	snprintf(path, sizeof path, "/api/attempts/%s%s?action=upload%s%.900s", attempt_id,
		 alias ? "/route.ts" : "", fq ? "&filename=" : "", fq ? fq : "");
	send_typed(r, "POST", path, token, content_type, data, n, NULL);
}

void upload(resp *r, const user *u, const char *attempt_id, const char *fq,
	    const char *content_type, const void *data, size_t n)
{
	upload_as(r, u ? u->token : NULL, attempt_id, fq, content_type, data, n, 0);
}

/* upload, then asserts the error answer and frees the answer. */
void upload_refused(const user *u, const char *attempt_id, const char *fq, const char *content_type,
		    const void *data, size_t n, int status, const char *code)
{
	resp r;

	upload(&r, u, attempt_id, fq, content_type, data, n);
	expect_error_free(&r, status, code);
}

/* Asserts a 201 upload answer for the given bytes; copies the upload id. */
const cJSON *expect_uploaded(const resp *r, const char *filename, const char *type,
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
void upload_ok(const user *u, const char *attempt_id, const char *fq, const char *filename,
	       const char *type, const void *data, size_t n, char upload_id[ID_LEN])
{
	resp r;

	upload(&r, u, attempt_id, fq, type, data, n);
	expect_uploaded(&r, filename, type, data, n, upload_id);
	resp_free(&r);
}

/* The stored file holds exactly data. */
void expect_stored(const char *upload_id, const void *data, size_t n)
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

void download_path(char *out, size_t cap, const char *attempt_id, const char *upload_id)
{
	snprintf(out, cap, "/api/attempts/%s?action=upload&upload_id=%.100s", attempt_id,
		 upload_id);
}

void download(resp *r, const user *u, const char *attempt_id, const char *upload_id)
{
	char path[256];

	download_path(path, sizeof path, attempt_id, upload_id);
	send_typed(r, "GET", path, u ? u->token : NULL, NULL, NULL, 0, NULL);
}

/* download, then asserts the error answer and frees the answer. */
void download_refused(const user *u, const char *attempt_id, const char *upload_id, int status,
		      const char *code)
{
	resp r;

	download(&r, u, attempt_id, upload_id);
	expect_error_free(&r, status, code);
}

/* Downloads as u, expecting exactly data with type (expect_download). */
void download_ok(const user *u, const char *attempt_id, const char *upload_id, const char *type,
		 const void *data, size_t n)
{
	resp r;

	download(&r, u, attempt_id, upload_id);
	expect_download(&r, type, data, n);
	resp_free(&r);
}

/* Asserts a 200 download of exactly data with the stored type. */
void expect_download(const resp *r, const char *type, const void *data, size_t n)
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
void expect_disposition(const resp *r, const char *want_ext)
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

/* ============================================================ suite */

static const e2e_adder uploads_adders[] = {
	uploads_round_trip_tests,
	uploads_refusal_tests,
	uploads_stream_tests,
	uploads_store_tests,
};

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

	return e2e_run(e2e_suite("uploads", NULL, 0, uploads_adders,
				 sizeof uploads_adders / sizeof uploads_adders[0]),
		       CK_ENV);
}
