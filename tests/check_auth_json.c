/* check_auth_json: a token's header and payload follow the strict JSON
 * rules of request bodies, with tokens crafted by hand (check_auth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_auth.h"
#include "check_suites.h"

/* ------------------------------------------------------------ strict JSON */

/* The token's header and payload follow the rules of request bodies
 * (lib/json.c's json_parse: UTF-8, no NUL however written, no repeated
 * member name compared after decoding escapes, nothing after the value,
 * at most 256 levels), and claims are compared in full. */

#define P_SUB "\"sub\":\"" SUB "\""
#define P_EXP "\"exp\":1700000100"

/* A token with the standard header and the payload {body}. */
static char *payload(const char *body)
{
	return tok_craft(HDR, body, SECRET);
}

/* Asserts that token is accepted at NOW with role and sub SUB; frees it. */
static void expect_role(char *token, auth_role role, const char *why)
{
	auth_claims c;

	ck_assert_msg(tok_verify(token, NOW, &c) == ATT_OK, "refused: %s", why);
	ck_assert_str_eq(c.sub, SUB);
	ck_assert_int_eq(c.role, role);
	free(token);
}

#define RAW_ROLE_NUL "{" P_SUB ",\"role\":\"admin\0\"," P_EXP "}"
#define RAW_SUB_NUL "{\"sub\":\"" SUB "\0junk\",\"role\":\"admin\"," P_EXP "}"
#define RAW_KEY_NUL "{" P_SUB ",\"role\0\":\"admin\"," P_EXP "}"

/* Payloads refused however well signed (len bytes of text; 0: all of it,
 * up to its NUL), and why. */
static const struct refused_row {
	const char *text;
	size_t len;
	const char *why;
} refused[] = {
	/* NUL written as an escape is no end of a claim */
	{"{" P_SUB ",\"role\":\"admin\\u0000\"," P_EXP "}", 0, "role admin\\u0000"},
	{"{" P_SUB ",\"role\":\"admin\\u0000student\"," P_EXP "}", 0, "role admin\\u0000student"},
	{"{\"sub\":\"" SUB "\\u0000junk\",\"role\":\"student\"," P_EXP "}", 0,
	 "sub uuid\\u0000junk"},
	{"{\"sub\":\"" SUB "\\u0000\",\"role\":\"student\"," P_EXP "}", 0, "sub uuid\\u0000"},
	/* a name holding NUL is not the claim's name either */
	{"{\"role\\u0000x\":\"admin\"," P_SUB ",\"role\":\"student\"," P_EXP "}", 0,
	 "name role\\u0000x before role"},
	{"{" P_SUB ",\"role\\u0000\":\"admin\"," P_EXP "}", 0, "name role\\u0000 alone"},
	/* and NUL bytes written raw */
	{RAW_ROLE_NUL, sizeof RAW_ROLE_NUL - 1, "role admin + raw NUL"},
	{RAW_SUB_NUL, sizeof RAW_SUB_NUL - 1, "sub uuid + raw NUL + junk"},
	{RAW_KEY_NUL, sizeof RAW_KEY_NUL - 1, "name role + raw NUL"},
	/* a claim twice, however its name is spelt */
	{"{" P_SUB ",\"role\":\"admin\",\"role\":\"student\"," P_EXP "}", 0,
	 "role admin, role student"},
	{"{" P_SUB ",\"role\":\"student\",\"role\":\"admin\"," P_EXP "}", 0,
	 "role student, role admin"},
	{"{" P_SUB ",\"role\":\"student\",\"r\\u006fle\":\"admin\"," P_EXP "}", 0,
	 "role, then r\\u006fle"},
	{"{" P_SUB ",\"r\\u006fle\":\"admin\",\"role\":\"student\"," P_EXP "}", 0,
	 "r\\u006fle, then role"},
	{"{" P_SUB "," P_SUB ",\"role\":\"student\"," P_EXP "}", 0, "sub twice, same value"},
	{"{" P_SUB
	 ",\"\\u0073ub\":\"0a1b2c3d-4e5f-4a6b-8c7d-000000000000\",\"role\":\"student\"," P_EXP "}",
	 0, "sub and \\u0073ub"},
	{"{" P_SUB ",\"role\":\"student\"," P_EXP ",\"exp\":1600000000}", 0, "exp twice"},
	{"{" P_SUB ",\"role\":\"student\"," P_EXP ",\"nbf\":1,\"nbf\":1800000000}", 0, "nbf twice"},
	/* everywhere in the document, as in bodies */
	{"{" P_SUB ",\"role\":\"student\"," P_EXP ",\"ext\":{\"a\":1,\"a\":2}}", 0,
	 "name repeated in a nested object"},
	/* what escapes decode to is the claim (test_auth_escaped_claims) */
	{"{\"sub\":\"0\\u0041"
	 "1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\",\"role\":\"student\"," P_EXP "}",
	 0, "sub escape decodes to upper case"},
	{"{\"sub\":\"" SUB "\\n\",\"role\":\"student\"," P_EXP "}", 0,
	 "sub with an escaped newline after"},
	{"{\"sub\":\"" SUB " \",\"role\":\"student\"," P_EXP "}", 0, "sub with a space after"},
	{"{" P_SUB ",\"role\":\"admin \"," P_EXP "}", 0, "role with a space after"},
	{"{" P_SUB ",\"role\":\"\\u0041dmin\"," P_EXP "}", 0, "role escape decodes to Admin"},
};

START_TEST(test_auth_refused_payload)
{
	const struct refused_row *r = &refused[_i];

	tok_expect_refused(r->len != 0 ? tok_craftn(HDR, strlen(HDR), r->text, r->len, SECRET)
				       : payload(r->text),
			   r->why);
}
END_TEST

START_TEST(test_auth_trailing)
{
	static const char nul_after[] = "{" P_SUB ",\"role\":\"admin\"," P_EXP "}\0";
	static const char hdr_nul[] = HDR "\0";
	static const char *const after[] = {" x",   "x", "{}",	 "{\"role\":\"admin\"}",
					    "]",    "}", ",",	 "null",
					    "\"\"", "0", "\x1b", NULL};
	char text[256];

	for (int i = 0; after[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP "}%s",
			 after[i]);
		tok_expect_refused(payload(text), text);
		snprintf(text, sizeof text, "%s%s", HDR, after[i]);
		tok_expect_refused(
			tok_craft(text, "{" P_SUB ",\"role\":\"student\"," P_EXP "}", SECRET),
			text);
	}
	tok_expect_refused(tok_craftn(HDR, strlen(HDR), nul_after, sizeof nul_after - 1, SECRET),
			   "payload, then a NUL byte");
	tok_expect_refused(tok_craftn(hdr_nul, sizeof hdr_nul - 1,
				      "{" P_SUB ",\"role\":\"student\"," P_EXP "}",
				      strlen("{" P_SUB ",\"role\":\"student\"," P_EXP "}"), SECRET),
			   "header, then a NUL byte");
	tok_expect_refused(payload("\xef\xbb\xbf{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
			   "byte order mark before the payload");
	/* JSON whitespace around the value is fine, as in bodies */
	expect_role(tok_craft(" " HDR "\r\n",
			      " \t{ " P_SUB " , \"role\" : \"proctor\" , " P_EXP " }\n", SECRET),
		    AUTH_ROLE_PROCTOR, "whitespace around");
}
END_TEST

START_TEST(test_auth_header_strict)
{
	static const char *const headers[] = {"{\"alg\":\"HS256\\u0000x\"}",
					      "{\"alg\":\"HS256\\u0000\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000x\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000\"}",
					      "{\"alg\\u0000\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"alg\":\"none\"}",
					      "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"\\u0061lg\":\"HS512\"}",
					      "{\"\\u0061lg\":\"none\",\"alg\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWS\"}",
					      "{\"alg\":\"HS256\",\"kid\":\"\xff\"}",
					      "{\"alg\":\"HS256\",\"kid\":\"\xc0\xaf\"}",
					      "{\"alg\":\"HS256\",\"x\":{\"a\":1,\"a\":1}}",
					      "{\"alg\":\"HS256\",\"x\":\"\x01\"}",
					      "{\"alg\":\"HS256\",}",
					      "42",
					      "true",
					      "null",
					      NULL};

	for (int i = 0; headers[i] != NULL; i++)
		tok_expect_refused(
			tok_craftf(headers[i], "{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
			headers[i]);
	/* escapes are spelling: a name or value that decodes right is right */
	expect_role(tok_craftf("{\"\\u0061lg\":\"HS\\u0032\\u0035\\u0036\",\"typ\":\"\\u004aWT\"}",
			       "{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
		    AUTH_ROLE_STUDENT, "escaped header");
}
END_TEST

START_TEST(test_auth_claim_utf8)
{
	static const char *const bad[] = {"\xff",
					  "\xc3\x28",
					  "\xc0\xaf",
					  "\xe0\x80\xaf",
					  "\xed\xa0\x80",
					  "\xf4\x90\x80\x80",
					  "\xe2\x82",
					  "\xf8\x88\x80\x80\x80",
					  NULL};
	char text[256];

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof text,
			 "{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"a%sb\"}", bad[i]);
		tok_expect_refused(payload(text), "invalid UTF-8 in a claim string");
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"n%s\":1}",
			 bad[i]);
		tok_expect_refused(payload(text), "invalid UTF-8 in a claim name");
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"admin%s\"," P_EXP "}", bad[i]);
		tok_expect_refused(payload(text), "invalid UTF-8 after the role");
	}
	tok_expect_refused(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"\\ud800\"}"),
			   "lone surrogate escape");
	tok_expect_refused(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"a\tb\"}"),
			   "raw control character");
	expect_role(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP
			    ",\"name\":\"Zo\xc3\xab \xf0\x9f\x98\x80 \\ud83d\\ude00\"}"),
		    AUTH_ROLE_ADMIN, "valid UTF-8 and a surrogate pair");
}
END_TEST

/* NumericDate claims (exp, nbf, iat): a JSON number whose value is a whole
 * number of seconds in 0..1e15; the spelling does not matter (1.7e9 and
 * 1700000000.0 are 1700000000), a fraction, a sign below zero or any
 * other type does. */
START_TEST(test_auth_numeric_dates)
{
	static const char *const bad[] = {"\"exp\":1700000100.5",
					  "\"exp\":1700000100.000001",
					  "\"exp\":17000001005e-1",
					  "\"exp\":-1",
					  "\"exp\":-1700000100",
					  "\"exp\":1e300",
					  "\"exp\":1e16",
					  "\"exp\":1000000000000001",
					  "\"exp\":\"1700000100\"",
					  "\"exp\":true",
					  "\"exp\":null",
					  "\"exp\":{}",
					  "\"exp\":[1700000100]",
					  P_EXP ",\"nbf\":1.5",
					  P_EXP ",\"nbf\":-1",
					  P_EXP ",\"nbf\":true",
					  P_EXP ",\"nbf\":null",
					  P_EXP ",\"nbf\":\"0\"",
					  P_EXP ",\"iat\":1699999999.9",
					  P_EXP ",\"iat\":-1",
					  P_EXP ",\"iat\":false",
					  P_EXP ",\"iat\":1e400",
					  NULL};
	static const char *const good[] = {
		"\"exp\":1.7000001e9",	      "\"exp\":17000001E2",
		"\"exp\":1700000100.0",	      "\"exp\":1700000100e0",
		"\"exp\":1000000000000000",   "\"exp\":1e15",
		P_EXP ",\"nbf\":0,\"iat\":0", P_EXP ",\"nbf\":1e3,\"iat\":1.6e9",
		P_EXP ",\"nbf\":-0",	      NULL};
	char text[256];
	auth_claims c;
	char *tok;

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\",%s}", bad[i]);
		tok_expect_refused(payload(text), text);
	}
	for (int i = 0; good[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\",%s}", good[i]);
		expect_role(payload(text), AUTH_ROLE_STUDENT, text);
	}
	tok = payload("{" P_SUB ",\"role\":\"student\",\"exp\":1.7000001e9}");
	ck_assert_int_eq(tok_verify(tok, NOW, &c), ATT_OK);
	ck_assert_int_eq(c.exp, NOW + 100);
	free(tok);
}
END_TEST

START_TEST(test_auth_not_object)
{
	static const char *const values[] = {"\"x\"", "42",   "true",	"false", "null",
					     "[]",    "[{}]", "\"{}\"", NULL};

	for (int i = 0; values[i] != NULL; i++) {
		tok_expect_refused(payload(values[i]), values[i]);
		tok_expect_refused(
			tok_craft(values[i], "{" P_SUB ",\"role\":\"student\"," P_EXP "}", SECRET),
			values[i]);
	}
}
END_TEST

START_TEST(test_auth_depth)
{
	char deep[1024], text[1200];
	int n;

	/* 256 levels in all are fine (the payload object is the first) */
	n = 255;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP ",\"x\":%s}", deep);
	expect_role(payload(text), AUTH_ROLE_STUDENT, "256 levels");
	n = 256;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP ",\"x\":%s}", deep);
	tok_expect_refused(payload(text), "257 levels");
}
END_TEST

/* A sub is the canonical UUID text once JSON escapes are decoded: escapes
 * are the JSON text's spelling, as they are in bodies (where names and
 * values are compared decoded too); what the escapes decode to must be
 * lowercase 8-4-4-4-12, exactly 36 bytes (the refusals: rows of
 * refused[]). */
START_TEST(test_auth_escaped_claims)
{
	expect_role(payload("{\"sub\":\"\\u0030a1b2c3d\\u002d4e5f-4a6b-8c7d-9e0f1a2b3c4d\","
			    "\"role\":\"\\u0061dmin\"," P_EXP "}"),
		    AUTH_ROLE_ADMIN, "escaped sub and role");
	expect_role(payload("{\"\\u0073ub\":\"" SUB "\",\"r\\u006fle\":\"proctor\","
			    "\"\\u0065xp\":1700000100}"),
		    AUTH_ROLE_PROCTOR, "escaped names");
}
END_TEST

void auth_json_cases(Suite *s)
{
	TCase *tc =
		check_tcase(s, "strict_json", NULL, NULL, test_auth_trailing,
			    test_auth_header_strict, test_auth_claim_utf8, test_auth_numeric_dates,
			    test_auth_not_object, test_auth_depth, test_auth_escaped_claims, NULL);

	tcase_add_loop_test(tc, test_auth_refused_payload, 0, CHECK_ROWS(refused));
}
