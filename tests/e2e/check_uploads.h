/* check_uploads: what the files of the check_uploads suite share: the
 * stack's upload store and nginx's body temp directory, the byte, store and
 * snapshot helpers, the upload and download requests with their checks, and
 * one function per file that adds its tests to the suite
 * (check_uploads_<topic>.c). */
#ifndef E2E_CHECK_UPLOADS_H
#define E2E_CHECK_UPLOADS_H

#include <check.h>
#include <cJSON.h>
#include <stddef.h>

#include "e2e_util.h"

/* The constraint test_record_failure_cleans_up adds to make the record step
 * fail; the tcase's unchecked teardown drops it whatever happened. */
#define BLOCK_CONSTRAINT "check_uploads_test_block"
#define BLOCK_FILENAME "fail-me.pdf"

#define MAX_UPLOADS 20

#define EXAM_1MIB "{\"title\":\"u\",\"upload\":{\"max_bytes\":1048576}}"
#define EXAM_1KIB "{\"title\":\"u-small\",\"upload\":{\"max_bytes\":1024}}"

extern const char *g_run_dir;	   /* ATTEMPTS_RUN_DIR */
extern char g_upload_dir[4096];	   /* the store */
extern char g_body_temp_dir[4096]; /* nginx's client_body_temp_path under ./dev up */

/* What a refused request must not change: the store's files and the rows. */
typedef struct snapshot {
	char *files;
	long rows;
} snapshot;

/* Bytes: sha256_hex; random_bytes (malloc'd); random_tag (2 * n hex
 * characters, n <= 16); read_file (the whole file, malloc'd, or NULL);
 * store_path (the stored file of an upload). Database: the rows of
 * attempt_uploads, all or one attempt's. The store: dir_listing (the sorted
 * names of dir, one a line, malloc'd; *count how many); expect_no_body_temp
 * (waits up to 2 s for nginx's client_body temp directory to be empty);
 * snap_take / snap_expect_same / snap_free (the store and the rows
 * unchanged, no temp file left). */
void sha256_hex(const void *data, size_t n, char hex[65]);
unsigned char *random_bytes(size_t n);
void random_tag(char *out, size_t n);
unsigned char *read_file(const char *path, size_t *n);
void store_path(char *out, size_t cap, const char *upload_id);
long db_upload_rows(void);
long db_attempt_upload_rows(const char *attempt_id);
char *dir_listing(const char *dir, size_t *count);
void expect_no_body_temp(const char *what);
snapshot snap_take(void);
void snap_expect_same(snapshot *before, const char *what);
void snap_free(snapshot *s);

/* Requests: upload_as (POST .../{id}[/route.ts]?action=upload[&filename=fq]
 * with the raw body; fq as given, NULL leaves it out), upload (as u),
 * upload_refused (asserts the error and frees), expect_uploaded (a 201
 * answer for the bytes; copies the id), upload_ok (upload expecting 201),
 * expect_stored (the stored file holds exactly data), download_path,
 * download, download_refused, download_ok, expect_download (a 200 of exactly data with
 * the stored type, nosniff, no X-Accel-Redirect), expect_disposition
 * (attachment; filename*=UTF-8''<want_ext> last; a printable fallback). */
void upload_as(resp *r, const char *token, const char *attempt_id, const char *fq,
	       const char *content_type, const void *data, size_t n, int alias);
void upload(resp *r, const user *u, const char *attempt_id, const char *fq,
	    const char *content_type, const void *data, size_t n);
void upload_refused(const user *u, const char *attempt_id, const char *fq, const char *content_type,
		    const void *data, size_t n, int status, const char *code);
const cJSON *expect_uploaded(const resp *r, const char *filename, const char *type,
			     const void *data, size_t n, char upload_id[ID_LEN]);
void upload_ok(const user *u, const char *attempt_id, const char *fq, const char *filename,
	       const char *type, const void *data, size_t n, char upload_id[ID_LEN]);
void expect_stored(const char *upload_id, const void *data, size_t n);
void download_path(char *out, size_t cap, const char *attempt_id, const char *upload_id);
void download(resp *r, const user *u, const char *attempt_id, const char *upload_id);
void download_refused(const user *u, const char *attempt_id, const char *upload_id, int status,
		      const char *code);
void download_ok(const user *u, const char *attempt_id, const char *upload_id, const char *type,
		 const void *data, size_t n);
void expect_download(const resp *r, const char *type, const void *data, size_t n);
void expect_disposition(const resp *r, const char *want_ext);

/* Each file of the suite adds its tests to s, in this order. */
void uploads_round_trip_tests(Suite *s);
void uploads_refusal_tests(Suite *s);
void uploads_stream_tests(Suite *s);
void uploads_store_tests(Suite *s);

#endif
