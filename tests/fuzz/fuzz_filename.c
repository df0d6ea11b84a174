/* fuzz_filename: libFuzzer harness for the upload filename rules
 * (uploads_filename_valid) and the Content-Disposition value built from a
 * stored filename (uploads_content_disposition).
 *
 * Input: byte 0 and 1 pick the output buffer size (1..1200; the service
 * uses 1024), byte 2 how the filename is percent-encoded in a query, the
 * rest is the filename's bytes (NULs included: a client can send %00).
 *
 * Invariants:
 *  - uploads_filename_valid agrees with a reference implementation of
 *    API.md sections 6 and 11: 1..255 bytes of UTF-8, no '/', '\\', no
 *    control character (C0 < 0x20 and NUL, DEL, C1 U+0080..U+009F), no
 *    bidirectional or zero-width format character (U+200B..U+200F,
 *    U+202A..U+202E, U+2066..U+2069, U+FEFF), no leading '.';
 *  - "however it is percent-encoded": the decision for the filename as
 *    the service receives it in a query string (some bytes escaped, as
 *    byte 2 says) equals the decision for the raw bytes;
 *  - the disposition never overruns its buffer (exact-size heap buffer),
 *    is NUL-terminated, and holds only printable ASCII (no CR/LF header
 *    injection, no raw UTF-8);
 *  - when it fits, the quoted fallback has no '"' or '\\' inside, and the
 *    filename*= part percent-decodes back to the filename. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "uploads.h"
#include "buf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes the UTF-8 character at s[i..len) into *cp; returns its length,
 * or 0 if it is not well-formed (over-long, surrogate, beyond U+10FFFF,
 * truncated, a stray continuation byte). */
static size_t ref_decode(const unsigned char *s, size_t i, size_t len, unsigned long *cp)
{
	static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n;
	unsigned long c = s[i];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc0 && c < 0xe0)
		n = 2, c &= 0x1f;
	else if (c >= 0xe0 && c < 0xf0)
		n = 3, c &= 0x0f;
	else if (c >= 0xf0 && c < 0xf8)
		n = 4, c &= 0x07;
	else
		return 0;
	if (i + n > len)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i + k] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static int reference_valid(const unsigned char *name, size_t len)
{
	if (len < 1 || len > 255 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned long c;
		size_t n = ref_decode(name, i, len, &c);
		if (n == 0)
			return 0;
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || (c >= 0x80 && c <= 0x9f))
			return 0;
		if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069) || c == 0xfeff)
			return 0;
		i += n;
	}
	return 1;
}

/* Is byte c at index i of a filename escaped in the query spelled by
 * spelling (see decided_in_query)? */
static int spelled_escaped(unsigned char c, size_t i, unsigned spelling)
{
	if (c == 0 || c == '%' || c == '&' || c == '+' || c == '=')
		return 1; /* these must be escaped to stay in the value */
	switch (spelling & 3) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return c >= 0x80 || c < 0x20;
	default:
		return ((spelling >> 2) >> (i % 5)) & 1;
	}
}

/* The decision for name as the filename parameter of a query string in
 * which the bytes picked by spelling (and every byte that must be) are
 * percent-escaped, in upper or lower case hex; -1 when out of memory. */
static int decided_in_query(const unsigned char *name, size_t len, unsigned spelling)
{
	static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
	const char *hexd = spelling & 0x80 ? lower : upper;
	buf query = BUF_INIT;
	fuzz_cgi cgi = {{[FUZZ_CGI_METHOD] = "POST", [FUZZ_CGI_DOCUMENT_URI] = "/api/attempts/x"}};
	const char *v;
	size_t vlen = 0;
	http_request req;
	int ok;

	buf_puts(&query, "action=upload&filename=");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = name[i];
		if (spelled_escaped(c, i, spelling))
			buf_printf(&query, "%%%c%c", hexd[c >> 4], hexd[c & 15]);
		else
			buf_putc(&query, (char)c);
	}
	if (query.failed) {
		buf_free(&query);
		return -1;
	}
	cgi.value[FUZZ_CGI_QUERY] = query.data;
	if (http_request_init(&req, fuzz_cgi_param, NULL, &cgi) != ATT_OK)
		abort(); /* every escape is well formed */
	v = http_query(&req, "filename", &vlen);
	if (v == NULL || vlen != len || memcmp(v, name, len) != 0)
		abort(); /* decoding gives back the bytes */
	ok = uploads_filename_valid(v, vlen);
	http_request_free(&req);
	buf_free(&query);
	return ok;
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
	size_t cap, flen, len;
	unsigned spelling;
	char *name, *out;
	int valid;

	if (size < 3)
		return 0;
	cap = 1 + ((size_t)data[0] | (size_t)data[1] << 8) % 1200;
	spelling = data[2];
	data += 3;
	size -= 3;
	len = size;
	name = malloc(len + 1);
	out = malloc(cap);
	if (name == NULL || out == NULL) {
		free(name);
		free(out);
		return 0;
	}
	memcpy(name, data, len);
	name[len] = '\0';

	valid = uploads_filename_valid(name, len);
	if (valid != reference_valid(data, len))
		abort();
	if (valid) {
		if (memchr(name, '\0', len) || strchr(name, '/') || strchr(name, '\\') ||
		    name[0] == '.' || len > 255 || strstr(name, "\xc2\x85") != NULL ||
		    strstr(name, "\xe2\x80\xae") != NULL || strstr(name, "\xef\xbb\xbf") != NULL)
			abort();
	}
	{
		int in_query = decided_in_query(data, len, spelling);
		if (in_query >= 0 && in_query != valid)
			abort();
	}

	/* The disposition is built from stored names: C strings. */
	flen = strlen(name);
	valid = uploads_filename_valid(name, flen);

	/* Any size: no overrun, terminated when the head fit, printable ASCII. */
	memset(out, 'Z', cap);
	uploads_content_disposition(name, out, cap);
	if (cap > 22) { /* strlen("attachment; filename=\"") == 22 */
		size_t olen = strnlen(out, cap);
		if (olen == cap)
			abort(); /* not terminated */
		for (size_t i = 0; i < olen; i++)
			if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
				abort();
	}
	/* The service's size, for a name the upload path accepted. */
	if (valid) {
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
