/* check_json_parse: strict parsing of request bodies (UTF-8, NUL,
 * trailing garbage, control characters, numbers, duplicate names, depth)
 * and the spans of top-level members and array elements. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_suites.h"
#include "json.h"

/* json_parse on a C string. */
static cJSON *parse_str(const char *s)
{
	return json_parse(s, strlen(s));
}

/* Writes s (len bytes, shortened) with non-printable bytes as \xNN. */
static void escape(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* Asserts that json_parse refuses the len bytes at s. */
static void refuse(const char *s, size_t len)
{
	cJSON *j = json_parse(s, len);
	char shown[128];

	int accepted = j != NULL;

	cJSON_Delete(j); /* before asserting: CK_FORK=no runs stay leak-free */
	escape(s, len, shown, sizeof shown);
	ck_assert_msg(!accepted, "json_parse accepted \"%s\"", shown);
}

static void accept_ok(const char *s)
{
	cJSON *j = parse_str(s);

	ck_assert_msg(j != NULL, "json_parse refused \"%s\"", s);
	cJSON_Delete(j);
}

START_TEST(test_json_parse_deep_nesting)
{
	buf b = BUF_INIT;

	for (int i = 0; i < 5000; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 5000; i++)
		buf_putc(&b, ']');
	ck_assert_int_eq(b.failed, 0);
	refuse(b.data, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(test_json_parse_accepts)
{
	accept_ok("{}");
	accept_ok("[]");
	accept_ok("0");
	accept_ok("\"s\"");
	accept_ok("null");
	accept_ok(" \t\r\n{\"a\":1} \t\r\n");
	accept_ok("{\"emoji\":\"\xf0\x9f\x98\x80\",\"e\":\"\xc3\xa9\",\"cjk\":\"\xe4\xb8\xad\"}");
	accept_ok("\"\\ud83d\\ude00\"");
	accept_ok("{\"a\":\"\xef\xbf\xbf\"}"); /* U+FFFF */
	accept_ok("\"\xf4\x8f\xbf\xbf\"");     /* U+10FFFF */
}
END_TEST

START_TEST(test_json_parse_exact_length)
{
	/* only len bytes are parsed: what follows is not looked at */
	static const char text[] = "{\"a\":1}GARBAGE";
	cJSON *j = json_parse(text, 7);

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "a")->valueint, 1);
	cJSON_Delete(j);
	refuse(text, 6);
}
END_TEST

START_TEST(test_json_parse_trailing_garbage)
{
	refuse("{} x", 4);
	refuse("{}{}", 4);
	refuse("[1] ,", 5);
	refuse("1 2", 3);
	refuse("{\"a\":1}}", 8);
}
END_TEST

START_TEST(test_json_parse_empty_and_malformed)
{
	refuse("", 0);
	refuse("   ", 3);
	refuse("{", 1);
	refuse("{\"a\":}", 6);
	refuse("[1,]", 4);
	refuse("{\"a\":1,}", 8);
	refuse("tru", 3);
	refuse("'a'", 3);
	refuse("{a:1}", 5);
	ck_assert_ptr_null(json_parse(NULL, 5));
}
END_TEST

START_TEST(test_json_parse_nul_bytes)
{
	refuse("{}\0", 3);
	refuse("\0{}", 3);
	refuse("{\"a\":\"x\0y\"}", 11);
}
END_TEST

START_TEST(test_json_parse_invalid_utf8)
{
	refuse("\"\xc0\xaf\"", 4);	       /* overlong '/' */
	refuse("\"\xc1\xbf\"", 4);	       /* overlong */
	refuse("\"\xe0\x80\xaf\"", 5);	       /* overlong 3-byte */
	refuse("\"\xf0\x80\x80\xaf\"", 6);     /* overlong 4-byte */
	refuse("\"\xed\xa0\x80\"", 5);	       /* U+D800 surrogate */
	refuse("\"\xed\xbf\xbf\"", 5);	       /* U+DFFF surrogate */
	refuse("\"\xf4\x90\x80\x80\"", 6);     /* above U+10FFFF */
	refuse("\"\xf8\x88\x80\x80\x80\"", 7); /* 5-byte form */
	refuse("\"\xff\"", 3);
	refuse("\"\x80\"", 3);	       /* lone continuation */
	refuse("\"\xc3\"", 3);	       /* truncated 2-byte */
	refuse("\"\xe4\xb8\"", 4);     /* truncated 3-byte */
	refuse("\"\xf0\x9f\x98\"", 5); /* truncated 4-byte */
	refuse("\"\xc3(\"", 4);	       /* bad continuation */
	refuse("\xc3", 1);	       /* truncated at the very end */
	refuse("\"\\ud800\"", 8);      /* escaped lone surrogate */
}
END_TEST

/* Bytes, their length, and whether they are valid UTF-8. */
static const struct utf8_rows_row {
	const char *text;
	size_t len;
	int valid;
} utf8_rows[] = {
	{"", 0, 1},
	{"abc", 3, 1},
	{"\xc2\x80", 2, 1},
	{"\xdf\xbf", 2, 1},
	{"\xe0\xa0\x80", 3, 1},
	{"\xf0\x90\x80\x80", 4, 1},
	{"\xc2\x80", 1, 0},
	{"a\0b", 3, 0},
	{"\xed\x9f\xbf", 3, 1}, /* U+D7FF */
	{"\xee\x80\x80", 3, 1}, /* U+E000 */
};

START_TEST(test_json_utf8_valid)
{
	const struct utf8_rows_row *r = &utf8_rows[_i];

	ck_assert_msg(json_utf8_valid(r->text, r->len) == r->valid, "row %d: not %d", _i, r->valid);
}
END_TEST

/* Bodies that are not JSON (RFC 8259) but that cJSON's lenient parser
 * takes. json_parse promises "valid ... one complete JSON value". */
START_TEST(test_json_parse_control_whitespace)
{
	refuse("\x01{}", 3); /* not JSON whitespace */
	refuse("\f{}", 3);
	refuse("{}\x0b", 3);
}
END_TEST

START_TEST(test_json_parse_raw_control_in_string)
{
	refuse("{\"a\":\"x\ty\"}", 11); /* raw TAB must be escaped */
	refuse("{\"a\":\"x\ny\"}", 11);
}
END_TEST

START_TEST(test_json_parse_bad_numbers)
{
	refuse("01", 2);
	refuse("1.", 2);
	refuse("{\"v\":-01}", 9);
}
END_TEST

/* cJSON decodes \u0000 to a NUL and silently cuts the string there, so
 * {"exam_id":"<uuid>\u0000junk"} validates as the bare uuid and answer keys
 * change. PostgreSQL's jsonb refuses \u0000 too. */
START_TEST(test_json_parse_escaped_nul)
{
	static const char text[] = "{\"a\":\"x\\u0000y\"}";
	cJSON *j = json_parse(text, sizeof text - 1);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "a");
	int ok = j == NULL || (cJSON_IsString(a) && strcmp(a->valuestring, "x") != 0);

	cJSON_Delete(j);
	ck_assert_msg(ok, "\\u0000 silently truncated the string to \"x\"");
}
END_TEST

/* A member name repeated in one object is refused (C reads the first,
 * jsonb keeps the last), at any depth; equal prefixes are not repeats. */
START_TEST(test_json_duplicate_names)
{
	static const char *const bad[] = {
		"{\"a\":1,\"a\":2}",
		"{\"answers\":{\"q\":1,\"r\":2,\"q\":3}}",
		"[{\"x\":1},{\"y\":1,\"y\":1}]",
		/* the same names written with escapes: jsonb decodes them */
		"{\"a\":1,\"\\u0061\":2}",
		"{\"\\u00e9\":1,\"\xc3\xa9\":2}",
		"{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
		"{\"q\\/1\":1,\"q/1\":2}",
	};
	char big[4096];
	size_t n = 0;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!json_valid(bad[i], strlen(bad[i])), "accepted %s", bad[i]);
	{
		static const char ok[] = "{\"a\":1,\"ab\":2,\"b\":{\"a\":1}}";
		static const char esc_ok[] = "{\"a\\\"b\":1,\"a\\\\b\":2,\"\\u0062\":3,\"a\":4}";
		ck_assert(json_valid(ok, strlen(ok)));
		ck_assert(json_valid(esc_ok, strlen(esc_ok)));
	}
	/* More names than the scanner keeps on its stack. */
	n += (size_t)snprintf(big + n, sizeof big - n, "{");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":%d", i ? "," : "", i, i);
	n += (size_t)snprintf(big + n, sizeof big - n, "}");
	ck_assert(json_valid(big, n));
	big[n - 1] = ',';
	n += (size_t)snprintf(big + n, sizeof big - n, "\"k17\":0}");
	ck_assert(!json_valid(big, n));
}
END_TEST

/* json_top_members finds top-level members only, skipping nested ones
 * with the same names. */
START_TEST(test_json_top_members)
{
	static const char text[] = "{\"answers\": {\"version\": 99, \"user_id\": \"x\"}, "
				   "\"user_id\": \"u\", \"version\": 7, \"list\": [1, {\"a\": 2}]}";
	static const char *const names[] = {"version", "user_id", "list", "absent"};
	json_span at[4];

	ck_assert_int_eq(json_top_members(text, strlen(text), names, 4, at), 3);
	ck_assert_int_eq(strncmp(text + at[0].offset, "7", (size_t)at[0].length), 0);
	ck_assert_int_eq(at[0].length, 1);
	ck_assert_int_eq(strncmp(text + at[1].offset, "\"u\"", 3), 0);
	ck_assert_int_eq(at[1].length, 3);
	ck_assert_int_eq(at[2].length, (int)strlen("[1, {\"a\": 2}]"));
	ck_assert_int_eq(at[3].offset, -1);
	ck_assert_int_eq(json_top_members("[1]", 3, names, 4, at), -1);
	ck_assert_int_eq(json_top_members("{\"a\" 1}", 7, names, 4, at), -1);
	ck_assert_int_eq(json_top_members("{}", 2, names, 4, at), 0);
}
END_TEST

/* Asserts that span at of text is exactly want. */
static void expect_span(const char *text, json_span at, const char *want)
{
	ck_assert_msg(at.offset >= 0 && (size_t)at.length == strlen(want) &&
			      memcmp(text + at.offset, want, strlen(want)) == 0,
		      "span %d+%d is %.*s, want %s", at.offset, at.length,
		      at.offset >= 0 ? at.length : 0, at.offset >= 0 ? text + at.offset : "", want);
}

/* json_array_elements splits an array into its top-level elements,
 * numbers kept as written, through nesting and strings that hold quotes,
 * brackets and commas. */
START_TEST(test_json_array_elements)
{
	static const char text[] =
		" [ {\"a\": [1, {\"b\": \"]\"}], \"s\": \"x\\\"},[\"}, 12345678901234567890123 ,"
		"\"q\\\\\", [[], {}, [1.10]], -0.0e+5, true,null ,\"\\u005d,\"\n]\t";
	static const char *const want[] = {
		"{\"a\": [1, {\"b\": \"]\"}], \"s\": \"x\\\"},[\"}",
		"12345678901234567890123",
		"\"q\\\\\"",
		"[[], {}, [1.10]]",
		"-0.0e+5",
		"true",
		"null",
		"\"\\u005d,\"",
	};
	json_span at[8], few[2];

	ck_assert_int_eq(json_array_elements(text, strlen(text), at, 8), 8);
	for (int i = 0; i < 8; i++)
		expect_span(text, at[i], want[i]);
	/* Fewer spans than elements: the count is still the whole. */
	ck_assert_int_eq(json_array_elements(text, strlen(text), few, 2), 8);
	expect_span(text, few[1], want[1]);
	ck_assert_int_eq(json_array_elements(text, strlen(text), NULL, 0), 8);
	/* Only len bytes are read. */
	ck_assert_int_eq(json_array_elements("[1,2]3", 5, at, 8), 2);
}
END_TEST

START_TEST(test_json_array_elements_empty)
{
	json_span at[1];

	ck_assert_int_eq(json_array_elements("[]", 2, at, 1), 0);
	ck_assert_int_eq(json_array_elements(" \n[ \t\r\n ]\n ", 11, at, 1), 0);
	ck_assert_int_eq(json_array_elements("[[]]", 4, at, 1), 1);
	expect_span("[[]]", at[0], "[]");
}
END_TEST

START_TEST(test_json_array_elements_malformed)
{
	static const char *const bad[] = {
		"",	   " ",		"{}",	       "{\"a\": [1]}", "1",
		"\"[1]\"", "[",		"]",	       "[1",	       "[1,]",
		"[,1]",	   "[1 2]",	"[1]]",	       "[1] [2]",      "[1],",
		"[\"abc]", "[\"a\\\"]", "[{\"a\": 1]", "[{\"a\" 1}]",  "[[1]",
		"[01]",	   "[1.]",	"[.5]",	       "[1e]",	       "[+1]",
		"[tru]",   "[nul]",	"[\"\\x\"]",   "[\"\\u12\"]",  "[{\"a\":1,\"a\":2}]",
		"[1]x",
	};
	json_span at[4];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(json_array_elements(bad[i], strlen(bad[i]), at, 4) == -1,
			      "accepted %s", bad[i]);
	/* A raw control byte in a string, and an array cut short by len. */
	ck_assert_int_eq(json_array_elements("[\"a\nb\"]", 6, at, 4), -1);
	ck_assert_int_eq(json_array_elements("[1,2]", 4, at, 4), -1);
}
END_TEST

/* An array as deep as the body checks allow inside one element: an
 * array of states holds answers as deep as a single state does. */
START_TEST(test_json_array_elements_depth)
{
	enum { DEPTH = 256 };
	char text[2 * DEPTH + 3];
	json_span at[1];
	size_t n = 0;

	text[n++] = '[';
	for (int i = 0; i < DEPTH; i++)
		text[n++] = '[';
	for (int i = 0; i < DEPTH; i++)
		text[n++] = ']';
	text[n++] = ']';
	ck_assert(json_valid(text + 1, n - 2));
	ck_assert_int_eq(json_array_elements(text, n, at, 1), 1);
	ck_assert_int_eq(at[0].length, 2 * DEPTH);
}
END_TEST

void json_parse_cases(Suite *s)
{
	TCase *tc;

	tc = check_tcase(s, "parse", NULL, NULL, test_json_parse_accepts,
			 test_json_parse_exact_length, test_json_parse_trailing_garbage,
			 test_json_parse_empty_and_malformed, test_json_parse_nul_bytes,
			 test_json_parse_invalid_utf8, NULL);
	tcase_add_loop_test(tc, test_json_utf8_valid, 0, CHECK_ROWS(utf8_rows));
	tcase_add_test(tc, test_json_parse_deep_nesting);

	check_tcase(s, "parse_strict", NULL, NULL, test_json_parse_control_whitespace,
		    test_json_parse_raw_control_in_string, test_json_parse_bad_numbers,
		    test_json_parse_escaped_nul, test_json_top_members, test_json_duplicate_names,
		    NULL);

	check_tcase(s, "array_elements", NULL, NULL, test_json_array_elements,
		    test_json_array_elements_empty, test_json_array_elements_malformed,
		    test_json_array_elements_depth, NULL);
}
