/* uploads: filename checks and the atomic store (link or copy+rename,
 * fsync) with SHA-256 computed on the way. */
#include "uploads.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

/* Is the character starting at p (inside valid UTF-8) a control
 * character beyond ASCII's or a format character that reorders or hides
 * text (API.md section 6)? */
static int invisible_or_control(const unsigned char *p)
{
	/* C1 controls U+0080..U+009F: C2 80..C2 9F. */
	if (p[0] == 0xc2)
		return p[1] <= 0x9f;
	/* U+200B..U+200F: E2 80 8B..8F; U+202A..U+202E: E2 80 AA..AE. */
	if (p[0] == 0xe2 && p[1] == 0x80)
		return (p[2] >= 0x8b && p[2] <= 0x8f) || (p[2] >= 0xaa && p[2] <= 0xae);
	/* U+2066..U+2069: E2 81 A6..A9. */
	if (p[0] == 0xe2 && p[1] == 0x81)
		return p[2] >= 0xa6 && p[2] <= 0xa9;
	/* U+FEFF: EF BB BF. */
	return p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf;
}

int uploads_filename_valid(const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name;

	if (name == NULL || len == 0 || len > UPLOADS_MAX_FILENAME || name[0] == '.')
		return 0;
	/* Valid UTF-8 (and no NUL) first: the checks below may then read a
	 * multi-byte character whole. */
	if (!json_utf8_valid(name, len))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/' || p[i] == '\\')
			return 0;
		if (p[i] >= 0xc0 && invisible_or_control(p + i))
			return 0;
	}
	return 1;
}

int uploads_path(const char *upload_dir, const char *upload_id, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/%s", upload_dir, upload_id);

	return w > 0 && (size_t)w < n ? 0 : -1;
}

static void hex(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* fsyncs the directory so a new name survives a crash. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies (when out_fd >= 0) and hashes everything read from a source.
 * src_fd >= 0 reads a file; else read/ctx read the request body. */
static att_err pump(int src_fd, http_read_fn read_fn, void *ctx, int out_fd, long long max_bytes,
		    long long *size, char sha256[UPLOADS_SHA256_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	char chunk[65536];
	long long total = 0;
	att_err err = ATT_OK;

	if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		err = ATT_ENOMEM;
		goto out;
	}
	for (;;) {
		long n = src_fd >= 0 ? (long)read(src_fd, chunk, sizeof chunk)
				     : read_fn(ctx, chunk, sizeof chunk);
		if (n < 0 && src_fd >= 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = ATT_EIO;
			goto out;
		}
		if (n == 0)
			break;
		total += n;
		if (total > max_bytes) {
			err = ATT_ETOOBIG;
			goto out;
		}
		if (EVP_DigestUpdate(h, chunk, (size_t)n) != 1 ||
		    (out_fd >= 0 && write_all(out_fd, chunk, (size_t)n) != 0)) {
			err = ATT_EIO;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(h, md, &mdlen) != 1) {
		err = ATT_EIO;
		goto out;
	}
	hex(md, mdlen, sha256);
	*size = total;
out:
	EVP_MD_CTX_free(h);
	return err;
}

/* Writes from a source into upload_dir/.tmp-<id>, fsyncs, renames to
 * upload_dir/<id>. Nothing stays behind on failure. */
static att_err store_via_temp(const char *upload_dir, int src_fd, http_read_fn read_fn, void *ctx,
			      const char *upload_id, long long max_bytes, long long *size,
			      char sha256[UPLOADS_SHA256_HEX])
{
	char tmp[4096], final[4096], name[64];
	att_err err;
	int fd;

	snprintf(name, sizeof name, ".tmp-%s", upload_id);
	if (uploads_path(upload_dir, name, tmp, sizeof tmp) != 0 ||
	    uploads_path(upload_dir, upload_id, final, sizeof final) != 0)
		return ATT_EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("uploads: cannot create %s: %s", tmp, strerror(errno));
		return ATT_EIO;
	}
	err = pump(src_fd, read_fn, ctx, fd, max_bytes, size, sha256);
	if (err == ATT_OK && fsync(fd) != 0)
		err = ATT_EIO;
	if (close(fd) != 0 && err == ATT_OK)
		err = ATT_EIO;
	if (err == ATT_OK && rename(tmp, final) != 0)
		err = ATT_EIO;
	if (err == ATT_OK && sync_dir(upload_dir) != 0)
		err = ATT_EIO;
	if (err != ATT_OK) {
		unlink(tmp);
		unlink(final);
	}
	return err;
}

att_err uploads_store_file(const char *upload_dir, const char *src, const char *upload_id,
			   long long max_bytes, long long *size, char sha256[UPLOADS_SHA256_HEX])
{
	char final[4096];
	att_err err;
	int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_error("uploads: cannot open the body file %s: %s", src, strerror(errno));
		return ATT_EIO;
	}
	if (uploads_path(upload_dir, upload_id, final, sizeof final) != 0) {
		close(fd);
		return ATT_EIO;
	}
	if (link(src, final) != 0) {
		if (errno != EXDEV && errno != EPERM) {
			log_error("uploads: cannot link %s to %s: %s", src, final, strerror(errno));
			close(fd);
			return ATT_EIO;
		}
		/* Another filesystem: copy through a temp name instead. */
		err = store_via_temp(upload_dir, fd, NULL, NULL, upload_id, max_bytes, size,
				     sha256);
		close(fd);
		return err;
	}
	err = pump(fd, NULL, NULL, -1, max_bytes, size, sha256);
	if (err == ATT_OK && (fsync(fd) != 0 || sync_dir(upload_dir) != 0))
		err = ATT_EIO;
	close(fd);
	if (err != ATT_OK)
		unlink(final);
	return err;
}

att_err uploads_store_stream(const char *upload_dir, http_read_fn read, void *ctx,
			     const char *upload_id, long long max_bytes, long long *size,
			     char sha256[UPLOADS_SHA256_HEX])
{
	return store_via_temp(upload_dir, -1, read, ctx, upload_id, max_bytes, size, sha256);
}

void uploads_remove(const char *upload_dir, const char *upload_id)
{
	char path[4096];

	if (uploads_path(upload_dir, upload_id, path, sizeof path) == 0 && unlink(path) != 0 &&
	    errno != ENOENT)
		log_warn("uploads: cannot remove %s: %s", path, strerror(errno));
}

void uploads_content_disposition(const char *filename, char *out, size_t n)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789!#$&+-.^_`|~";
	size_t used;
	int w = snprintf(out, n, "attachment; filename=\"");

	if (w < 0 || (size_t)w >= n)
		return;
	used = (size_t)w;
	/* ASCII fallback: printable ASCII except quote and backslash. */
	for (const unsigned char *p = (const unsigned char *)filename; *p && used + 2 < n; p++)
		out[used++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? (char)*p : '_';
	w = snprintf(out + used, n - used, "\"; filename*=UTF-8''");
	if (w < 0 || (size_t)w >= n - used)
		return;
	used += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)filename; *p && used + 4 < n; p++) {
		if (strchr(keep, *p) != NULL)
			out[used++] = (char)*p;
		else
			used += (size_t)snprintf(out + used, n - used, "%%%02X", *p);
	}
	out[used] = '\0';
}
