/* fuzz_filename: libFuzzer harness for the upload filename rules
 * (uploads_filename_valid) and the Content-Disposition value built from a
 * stored filename (uploads_content_disposition).
 *
 * Input: byte 0 and 1 pick the output buffer size (1..1200; the service
 * uses 1024), the rest is the filename (cut at the first NUL, as a query
 * parameter would be).
 *
 * Invariants:
 *  - uploads_filename_valid agrees with a reference implementation of
 *    API.md sections 6 and 11: 1..255 bytes of UTF-8, no '/', '\\', no
 *    control character (C0 < 0x20, DEL, C1 U+0080..U+009F), no leading '.';
 *  - the disposition never overruns its buffer (exact-size heap buffer),
 *    is NUL-terminated, and holds only printable ASCII (no CR/LF header
 *    injection, no raw UTF-8);
 *  - when it fits, the quoted fallback has no '"' or '\\' inside, and the
 *    filename*= part percent-decodes back to the filename. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "uploads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int reference_valid(const char *name)
{
	size_t len = strlen(name);

	if (len < 1 || len > 255 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return 0;
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (c == 0xc2 && i + 1 < len && (unsigned char)name[i + 1] >= 0x80 &&
		    (unsigned char)name[i + 1] <= 0x9f)
			return 0;
	}
	return json_utf8_valid(name, len);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks a complete (not truncated) disposition for name. */
static void check_full(const char *out, const char *name)
{
	static const char head[] = "attachment; filename=\"";
	static const char mid[] = "\"; filename*=UTF-8''";
	const char *q, *star;
	size_t nlen = strlen(name), k = 0;

	if (strncmp(out, head, sizeof head - 1) != 0)
		abort();
	q = out + sizeof head - 1;
	star = strstr(q, mid);
	if (star == NULL)
		abort();
	/* The fallback holds one byte per filename byte, none of them '"' or '\\'. */
	if ((size_t)(star - q) != nlen)
		abort();
	for (const char *p = q; p < star; p++)
		if (*p == '"' || *p == '\\')
			abort();
	/* The RFC 5987 part decodes back to the name. */
	for (const char *p = star + sizeof mid - 1; *p; p++) {
		int c = (unsigned char)*p;
		if (*p == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
			if (lo < 0)
				abort();
			c = hi * 16 + lo;
			p += 2;
		}
		if (k >= nlen || (unsigned char)name[k] != c)
			abort();
		k++;
	}
	if (k != nlen)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap, flen;
	char *name, *out;

	if (size < 2)
		return 0;
	cap = 1 + ((size_t)data[0] | (size_t)data[1] << 8) % 1200;
	data += 2;
	size -= 2;
	flen = strnlen((const char *)data, size);
	name = malloc(flen + 1);
	out = malloc(cap);
	if (name == NULL || out == NULL) {
		free(name);
		free(out);
		return 0;
	}
	memcpy(name, data, flen);
	name[flen] = '\0';

	if (uploads_filename_valid(name) != reference_valid(name))
		abort();
	if (uploads_filename_valid(name)) {
		if (strchr(name, '/') || strchr(name, '\\') || name[0] == '.' || flen > 255 ||
		    strstr(name, "\xc2\x85") != NULL)
			abort();
	}

	/* Any size: no overrun, terminated when the head fit, printable ASCII. */
	memset(out, 'Z', cap);
	uploads_content_disposition(name, out, cap);
	if (cap > 22) { /* strlen("attachment; filename=\"") == 22 */
		size_t len = strnlen(out, cap);
		if (len == cap)
			abort(); /* not terminated */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
				abort();
	}
	/* The service's size, for a name the upload path accepted. */
	if (uploads_filename_valid(name)) {
		char full[1024];
		uploads_content_disposition(name, full, sizeof full);
		if (strlen(full) >= sizeof full)
			abort();
		/* 22 + n + 20 + up to 3n bytes: fits for any valid name up to 245 bytes. */
		if (22 + flen + 20 + 3 * flen < sizeof full)
			check_full(full, name);
	}
	free(name);
	free(out);
	return 0;
}
