/* check_auth_claims: every refusal of a token's claims (time, identity)
 * and of its shape and the Authorization header's, with tokens crafted by
 * hand (check_auth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_auth.h"
#include "check_suites.h"

/* ------------------------------------------------------------ time claims */

/* A student token whose claim name is at (or, when raw is not NULL, holds
 * the JSON text raw; no name: no exp at all), with exp an hour ahead when
 * name is another claim, and whether it is accepted at NOW. */
static const struct time_row {
	const char *name;
	long long at;
	const char *raw;
	int ok;
	const char *why;
} time_rows[] = {
	{"exp", NOW - AUTH_LEEWAY_S - 1, NULL, 0, "exp beyond leeway"},
	{"exp", NOW - 3600, NULL, 0, "exp an hour ago"},
	{"exp", NOW - AUTH_LEEWAY_S, NULL, 1, "exp at leeway edge"},
	{"exp", NOW - 1, NULL, 1, "exp within leeway"},
	{"exp", NOW, NULL, 1, "exp now"},
	{NULL, 0, NULL, 0, "exp missing"},
	{"exp", 0, "\"1700000100\"", 0, "exp a string"},
	{"exp", 0, "null", 0, "exp null"},
	{"exp", 0, "true", 0, "exp true"},
	{"exp", 0, "-5", 0, "exp negative"},
	{"exp", 0, "1e300", 0, "exp huge"},
	{"nbf", NOW + AUTH_LEEWAY_S + 1, NULL, 0, "nbf beyond leeway"},
	{"nbf", NOW + AUTH_LEEWAY_S, NULL, 1, "nbf at leeway edge"},
	{"nbf", NOW - 100, NULL, 1, "nbf past"},
	{"nbf", 0, "\"soon\"", 0, "nbf a string"},
	{"iat", NOW + AUTH_LEEWAY_S + 1, NULL, 0, "iat beyond leeway"},
	{"iat", NOW + 86400, NULL, 0, "iat tomorrow"},
	{"iat", NOW + AUTH_LEEWAY_S, NULL, 1, "iat at leeway edge"},
	{"iat", 0, "[1]", 0, "iat an array"},
};

START_TEST(test_auth_time_claims)
{
	const struct time_row *r = &time_rows[_i];
	char exp[64] = "", claim[64] = "";
	char *token;

	if (r->name != NULL && strcmp(r->name, "exp") != 0)
		snprintf(exp, sizeof exp, ",\"exp\":%lld", NOW + 3600);
	if (r->name != NULL && r->raw != NULL)
		snprintf(claim, sizeof claim, ",\"%s\":%s", r->name, r->raw);
	else if (r->name != NULL)
		snprintf(claim, sizeof claim, ",\"%s\":%lld", r->name, r->at);
	token = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\"%s%s}", SUB, exp, claim);
	if (r->ok)
		tok_expect_accepted(token, r->why);
	else
		tok_expect_refused(token, r->why);
}
END_TEST

/* ------------------------------------------------------------ identity */

START_TEST(test_auth_sub)
{
	static const char fmt[] = "{%s\"role\":\"student\",\"exp\":%lld}";

	tok_expect_refused(tok_craftf(HDR, fmt, "", NOW + 100), "sub missing");
	tok_expect_refused(tok_craftf(HDR, fmt, "\"sub\":\"user-1\",", NOW + 100),
			   "sub not a uuid");
	tok_expect_refused(tok_craftf(HDR, fmt, "\"sub\":\"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\",",
				      NOW + 100),
			   "sub uppercase");
	tok_expect_refused(tok_craftf(HDR, fmt, "\"sub\":\"{" SUB "}\",", NOW + 100), "sub braced");
	tok_expect_refused(tok_craftf(HDR, fmt, "\"sub\":42,", NOW + 100), "sub a number");
	tok_expect_refused(tok_craftf(HDR, fmt, "\"sub\":null,", NOW + 100), "sub null");
}
END_TEST

START_TEST(test_auth_role)
{
	static const char fmt[] = "{\"sub\":\"%s\",%s\"exp\":%lld}";

	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "", NOW + 100), "role missing");
	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "\"role\":\"superuser\",", NOW + 100),
			   "role unknown");
	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "\"role\":\"Admin\",", NOW + 100),
			   "role wrong case");
	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "\"role\":\"\",", NOW + 100), "role empty");
	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "\"role\":3,", NOW + 100), "role a number");
	tok_expect_refused(tok_craftf(HDR, fmt, SUB, "\"role\":[\"admin\"],", NOW + 100),
			   "role an array");
}
END_TEST

START_TEST(test_auth_payload_not_object)
{
	tok_expect_refused(tok_craft(HDR, "[]", SECRET), "payload array");
	tok_expect_refused(tok_craft(HDR, "null", SECRET), "payload null");
	tok_expect_refused(tok_craft(HDR, "{", SECRET), "payload broken");
	tok_expect_refused(tok_craft(HDR, "", SECRET), "payload empty");
}
END_TEST

/* ------------------------------------------------------------ shape */

START_TEST(test_auth_token_shape)
{
	char *good = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB,
				NOW + 100);
	auth_claims c;
	buf b = BUF_INIT;

	ck_assert_int_eq(tok_verify(good, NOW, &c), ATT_OK);
	ck_assert_int_eq(tok_verify("", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(tok_verify("abc", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(tok_verify("a.b", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(tok_verify("..", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(tok_verify("...", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(tok_verify(NULL, NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(auth_verify(good, NULL, 0, (time_t)NOW, &c), ATT_EAUTH);
	buf_puts(&b, good);
	buf_puts(&b, ".x");
	tok_expect_refused(buf_take(&b), "extra segment");
	buf_puts(&b, good);
	buf_puts(&b, ".");
	tok_expect_refused(buf_take(&b), "trailing dot");
	buf_puts(&b, " ");
	buf_puts(&b, good);
	tok_expect_refused(buf_take(&b), "leading space");
	/* two dots missing: header and payload only */
	*strrchr(good, '.') = '\0';
	ck_assert_int_eq(tok_verify(good, NOW, &c), ATT_EAUTH);
	free(good);
}
END_TEST

START_TEST(test_auth_token_length)
{
	char pad[4000];
	char *tok;
	auth_claims c;

	/* just under the limit: accepted */
	memset(pad, 'p', 2900);
	pad[2900] = '\0';
	tok = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"pad\":\"%s\"}",
			 SUB, NOW + 100, pad);
	ck_assert_uint_le(strlen(tok), AUTH_MAX_TOKEN_LEN);
	ck_assert_int_eq(tok_verify(tok, NOW, &c), ATT_OK);
	free(tok);
	/* over the limit, correctly signed: refused */
	memset(pad, 'p', 3100);
	pad[3100] = '\0';
	tok = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"pad\":\"%s\"}",
			 SUB, NOW + 100, pad);
	ck_assert_uint_gt(strlen(tok), AUTH_MAX_TOKEN_LEN);
	tok_expect_refused(tok, "token over 4096 chars");
}
END_TEST

/* ------------------------------------------------------------ header */

START_TEST(test_auth_bearer_prefix)
{
	char *tok = auth_sign(SUB, AUTH_ROLE_PROCTOR, (time_t)NOW, (time_t)(NOW + 600), SECRET,
			      strlen(SECRET));
	static const char *const ok_prefix[] = {"Bearer ", "bearer ",	"BEARER ",
						"bEaReR ", "Bearer   ", NULL};
	static const char *const bad_prefix[] = {"",	     "Bearer",	 "Basic ",
						 "Token ",   "Bearer:",	 " Bearer ",
						 "Bearer\t", "Bearerx ", NULL};
	char header[1024];
	auth_claims c;

	ck_assert_ptr_nonnull(tok);
	for (int i = 0; ok_prefix[i] != NULL; i++) {
		snprintf(header, sizeof header, "%s%s", ok_prefix[i], tok);
		memset(&c, 0, sizeof c);
		ck_assert_msg(auth_verify_header(header, SECRET, strlen(SECRET), (time_t)NOW, &c) ==
				      ATT_OK,
			      "prefix \"%s\" refused", ok_prefix[i]);
		ck_assert_int_eq(c.role, AUTH_ROLE_PROCTOR);
	}
	for (int i = 0; bad_prefix[i] != NULL; i++) {
		snprintf(header, sizeof header, "%s%s", bad_prefix[i], tok);
		ck_assert_msg(auth_verify_header(header, SECRET, strlen(SECRET), (time_t)NOW, &c) ==
				      ATT_EAUTH,
			      "prefix \"%s\" accepted", bad_prefix[i]);
	}
	ck_assert_int_eq(auth_verify_header(NULL, SECRET, strlen(SECRET), (time_t)NOW, &c),
			 ATT_EAUTH);
	ck_assert_int_eq(auth_verify_header("Bearer ", SECRET, strlen(SECRET), (time_t)NOW, &c),
			 ATT_EAUTH);
	free(tok);
}
END_TEST

void auth_claims_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "time_claims", NULL, NULL, NULL);

	tcase_add_loop_test(tc, test_auth_time_claims, 0, CHECK_ROWS(time_rows));

	check_tcase(s, "identity_claims", NULL, NULL, test_auth_sub, test_auth_role,
		    test_auth_payload_not_object, NULL);

	check_tcase(s, "token_shape", NULL, NULL, test_auth_token_shape, test_auth_token_length,
		    test_auth_bearer_prefix, NULL);
}
