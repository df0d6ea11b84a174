/* uploads: the file side of uploads - filename rules, moving a body that
 * nginx already wrote (or streaming one in) into upload_dir atomically
 * with its SHA-256, and removing it again. Owns the store's layout
 * (upload_dir/<upload_id>); the database side lives in attempt_ops. */
#ifndef ATT_UPLOADS_H
#define ATT_UPLOADS_H

#include <stddef.h>

#include "att_err.h"
#include "http.h"

#define UPLOADS_SHA256_HEX 65
#define UPLOADS_MAX_FILENAME 255

/* Are the len bytes at name an acceptable filename (API.md section 6):
 * 1..255 bytes of valid UTF-8, no path separator, no NUL or other control
 * character (C0, DEL, C1), no bidirectional or zero-width format
 * character (U+200B..U+200F, U+202A..U+202E, U+2066..U+2069, U+FEFF), no
 * leading dot? len counts every byte, a NUL the client percent-encoded
 * included; name may be NULL (no filename: not acceptable). */
int uploads_filename_valid(const char *name, size_t len);

/* Writes upload_dir/<upload_id> into out (size n). Returns 0, or -1 if it
 * does not fit. */
int uploads_path(const char *upload_dir, const char *upload_id, char *out, size_t n);

/* Moves the file at src (written by nginx; left in place for nginx to
 * clean) into the store under upload_id: a hard link when on the same
 * filesystem, else a copy to a temp name and rename; fsyncs file and
 * directory. Fills *size and sha256 (lowercase hex). ATT_ETOOBIG if the
 * file exceeds max_bytes (nothing stored); ATT_EIO on a file error. */
att_err uploads_store_file(const char *upload_dir, const char *src, const char *upload_id,
			   long long max_bytes, long long *size,
			   char sha256[UPLOADS_SHA256_HEX]) ATT_MUSTCHECK;

/* Streams the request body from read into the store under upload_id
 * (temp name, fsync, rename). ATT_ETOOBIG past max_bytes, ATT_EIO on a
 * read/write error; nothing stays behind on failure. */
att_err uploads_store_stream(const char *upload_dir, http_read_fn read, void *ctx,
			     const char *upload_id, long long max_bytes, long long *size,
			     char sha256[UPLOADS_SHA256_HEX]) ATT_MUSTCHECK;

/* Removes upload_dir/<upload_id>; missing is not an error. */
void uploads_remove(const char *upload_dir, const char *upload_id);

/* Writes a Content-Disposition value for an attachment named filename
 * (RFC 6266: an ASCII fallback and filename*=UTF-8''...) into out. */
void uploads_content_disposition(const char *filename, char *out, size_t n);

#endif
