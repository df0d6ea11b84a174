/* check_uploads: the upload filename rule of API.md section 6, on the raw
 * bytes and on the same bytes as they arrive in a query string, however
 * they are percent-encoded: the decision must be the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "fake_cgi.h"
#include "http.h"
#include "uploads.h"

/* One filename: its bytes (len counts an embedded NUL) and whether
 * section 6 accepts it. */
typedef struct name_case {
	const char *bytes;
	size_t len;
	int valid;
} name_case;

#define NC(s, v)                                                                                   \
	{                                                                                          \
		s, sizeof s - 1, v                                                                 \
	}

static const name_case cases[] = {
	NC("essay.pdf", 1),
	NC("essay final (2).pdf", 1),
	NC("caf\xc3\xa9.pdf", 1),      /* U+00E9 */
	NC("\xe2\x82\xac.pdf", 1),     /* U+20AC, E2 82 .. */
	NC("a\xe2\x80\x8a.pdf", 1),    /* U+200A HAIR SPACE: not in the list */
	NC("a\xe2\x80\x90.pdf", 1),    /* U+2010 HYPHEN */
	NC("a\xe2\x80\xa9.pdf", 1),    /* U+2029: outside U+202A..U+202E */
	NC("a\xe2\x80\xaf.pdf", 1),    /* U+202F */
	NC("a\xe2\x81\xa5.pdf", 1),    /* U+2065 */
	NC("a\xe2\x81\xaa.pdf", 1),    /* U+206A */
	NC("a\xef\xbb\xbe.pdf", 1),    /* U+FEFE */
	NC("a\xc2\xa0.pdf", 1),	       /* U+00A0: no control */
	NC("\xf0\x9f\x98\x80.png", 1), /* U+1F600 */
	NC("a.b.c", 1),
	NC("x\0.pdf", 0), /* NUL */
	NC("\0", 0),
	NC("x.pdf\0", 0),
	NC("a/b.pdf", 0),
	NC("a\\b.pdf", 0),
	NC("../etc/passwd", 0),
	NC(".hidden", 0),
	NC(".", 0),
	NC("a\x01.pdf", 0),
	NC("a\n.pdf", 0),
	NC("a\x7f.pdf", 0),
	NC("a\xc2\x85.pdf", 0), /* U+0085, C1 */
	NC("a\xc2\x80.pdf", 0),
	NC("a\xc2\x9f.pdf", 0),
	NC("a\xe2\x80\x8b.pdf", 0), /* U+200B ZERO WIDTH SPACE */
	NC("a\xe2\x80\x8c.pdf", 0), /* U+200C */
	NC("a\xe2\x80\x8d.pdf", 0), /* U+200D */
	NC("a\xe2\x80\x8e.pdf", 0), /* U+200E LRM */
	NC("a\xe2\x80\x8f.pdf", 0), /* U+200F RLM */
	NC("a\xe2\x80\xaa.pdf", 0), /* U+202A */
	NC("invoice\xe2\x80\xae"
	   "fdp.exe",
	   0),			    /* U+202E RLO */
	NC("a\xe2\x81\xa6.pdf", 0), /* U+2066 */
	NC("a\xe2\x81\xa9.pdf", 0), /* U+2069 */
	NC("\xef\xbb\xbf"
	   "a.pdf",
	   0),			    /* U+FEFF BOM */
	NC("a\xc0\xaf.pdf", 0),	    /* over-long '/' */
	NC("a\xe0\x80\xaf.pdf", 0), /* over-long '/', three bytes */
	NC("a\xff.pdf", 0),
	NC("a\xe2\x80.pdf", 0),		/* truncated */
	NC("a\xe2\x80", 0),		/* truncated at the end */
	NC("a\xed\xa0\x80.pdf", 0),	/* surrogate */
	NC("a\xf4\x90\x80\x80.pdf", 0), /* beyond U+10FFFF */
	NC("", 0),
};

/* The decision for bytes as a query's filename parameter, spelled by
 * escaping the bytes that mask selects (mask(i) != 0: "%XX"). */
static int decided_in_query(const char *bytes, size_t len, int (*mask)(unsigned char, size_t))
{
	static const char hexd[] = "0123456789ABCDEF";
	char *query = malloc(len * 3 + 32);
	size_t n;
	const char *p[] = {"DOCUMENT_URI", "/x", "QUERY_STRING", query, NULL};
	http_request req;
	fake_cgi_io io;
	const char *v;
	size_t vlen = 0;
	int ok;

	ck_assert_ptr_nonnull(query);
	n = (size_t)sprintf(query, "action=upload&filename=");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)bytes[i];
		/* these must be escaped to stay in the value */
		if (mask(c, i) || c == 0 || c == '%' || c == '&' || c == '+' || c == '=' ||
		    c == '#') {
			query[n++] = '%';
			query[n++] = hexd[c >> 4];
			query[n++] = hexd[c & 15];
		} else {
			query[n++] = (char)c;
		}
	}
	query[n] = '\0';
	fake_cgi_init(&io, p, NULL, 0);
	ck_assert_int_eq(http_request_init(&req, fake_cgi_param, fake_cgi_read, &io), ATT_OK);
	v = http_query(&req, "filename", &vlen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(vlen, len);
	ck_assert(memcmp(v, bytes, len) == 0);
	ok = uploads_filename_valid(v, vlen);
	http_request_free(&req);
	free(query);
	return ok;
}

static int escape_none(unsigned char c, size_t i)
{
	(void)c;
	(void)i;
	return 0;
}

static int escape_all(unsigned char c, size_t i)
{
	(void)c;
	(void)i;
	return 1;
}

static int escape_odd(unsigned char c, size_t i)
{
	(void)c;
	return (int)(i & 1);
}

static int escape_non_ascii(unsigned char c, size_t i)
{
	(void)i;
	return c >= 0x80 || c < 0x20 || c == '.' || c == '/' || c == '\\';
}

START_TEST(test_uploads_filename_raw)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(uploads_filename_valid(cases[i].bytes, cases[i].len) ==
				      cases[i].valid,
			      "case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
	ck_assert_int_eq(uploads_filename_valid(NULL, 0), 0);
	ck_assert_int_eq(uploads_filename_valid(NULL, 3), 0);
}
END_TEST

/* "however it is percent-encoded": raw, every byte escaped, every other
 * byte escaped, only the non-ASCII and special bytes escaped. */
START_TEST(test_uploads_filename_encoded)
{
	int (*const masks[])(unsigned char, size_t) = {escape_none, escape_all, escape_odd,
						       escape_non_ascii};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++)
			ck_assert_msg(decided_in_query(cases[i].bytes, cases[i].len, masks[m]) ==
					      cases[i].valid,
				      "case %zu, spelling %zu: expected %s", i, m,
				      cases[i].valid ? "valid" : "invalid");
}
END_TEST

/* 255 bytes of UTF-8 is the limit, whichever way they are spelled. */
START_TEST(test_uploads_filename_length)
{
	char name[300];

	memset(name, 'a', sizeof name);
	ck_assert_int_eq(uploads_filename_valid(name, 255), 1);
	ck_assert_int_eq(uploads_filename_valid(name, 256), 0);
	ck_assert_int_eq(decided_in_query(name, 255, escape_all), 1);
	ck_assert_int_eq(decided_in_query(name, 256, escape_odd), 0);
	/* 127 x U+00E9 (254 bytes) + 'a' fits; one more byte does not */
	for (int i = 0; i < 127; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[254] = 'a';
	ck_assert_int_eq(uploads_filename_valid(name, 255), 1);
	ck_assert_int_eq(decided_in_query(name, 255, escape_non_ascii), 1);
	memcpy(name + 254, "\xc3\xa9", 2);
	ck_assert_int_eq(uploads_filename_valid(name, 256), 0);
	ck_assert_int_eq(decided_in_query(name, 256, escape_non_ascii), 0);
}
END_TEST

void uploads_cases(Suite *s)
{
	check_tcase(s, "filename", NULL, NULL, test_uploads_filename_raw,
		    test_uploads_filename_encoded, test_uploads_filename_length, NULL);
}
