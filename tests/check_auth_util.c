/* check_auth_util: hand-crafted tokens and verdict checks for the auth
 * tests (check_auth.h). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_auth.h"

void tok_append_b64(buf *b, const void *data, size_t n)
{
	char *enc = malloc(4 * ((n + 2) / 3) + 1);

	ck_assert_ptr_nonnull(enc);
	auth_b64url_encode(data, n, enc);
	buf_puts(b, enc);
	free(enc);
}

/* header.payload (hlen and plen bytes, NUL bytes allowed) signed with secret by
 * OpenSSL directly. The caller frees the token with free(). */
char *tok_craftn(const char *header, size_t hlen, const char *payload, size_t plen,
		 const char *secret)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	buf b = BUF_INIT;
	char *tok;

	tok_append_b64(&b, header, hlen);
	buf_putc(&b, '.');
	tok_append_b64(&b, payload, plen);
	ck_assert_int_eq(b.failed, 0);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
				   (const unsigned char *)b.data, b.len, mac, &mac_len));
	ck_assert_uint_eq(mac_len, 32);
	buf_putc(&b, '.');
	tok_append_b64(&b, mac, mac_len);
	tok = buf_take(&b);
	ck_assert_ptr_nonnull(tok);
	return tok;
}

/* header.payload signed with secret; the caller frees the token. */
char *tok_craft(const char *header, const char *payload, const char *secret)
{
	return tok_craftn(header, strlen(header), payload, strlen(payload), secret);
}

/* tok_craft() with a printf-formatted payload and the test secret. */
char *tok_craftf(const char *header, const char *fmt, ...)
{
	char payload[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(payload, sizeof payload, fmt, ap);
	va_end(ap);
	return tok_craft(header, payload, SECRET);
}

/* A verifier of secret (no key set), made once per process: verifiers
 * are thread-safe, and its memo is what the memo tests watch. */
auth_verifier *tok_verifier_of(const char *secret)
{
	static auth_verifier *made[2];
	static const char *secrets[2];
	auth_options opt = {.secret = secret, .secret_len = strlen(secret)};
	int i = 0;

	while (i < 2 && secrets[i] != NULL && strcmp(secrets[i], secret) != 0)
		i++;
	ck_assert_int_lt(i, 2);
	if (made[i] == NULL) {
		ck_assert_int_eq(auth_verifier_create(&opt, &made[i], NULL), ATT_OK);
		secrets[i] = secret;
	}
	return made[i];
}

att_err tok_verify(const char *token, long long now, auth_claims *out)
{
	return auth_check(tok_verifier_of(SECRET), token, (time_t)now, out, NULL);
}

void tok_memo_stats(unsigned long long *hits, unsigned long long *misses)
{
	auth_verifier_memo_stats(tok_verifier_of(SECRET), hits, misses);
}

/* Asserts that token is refused at NOW, twice, that *out stays untouched
 * and that the memo of verified tokens never answered for it (a refused
 * token is not remembered); frees token. */
void tok_expect_refused(char *token, const char *why)
{
	auth_claims c, before;
	unsigned long long hits0, misses0, hits1, misses1;

	memset(&c, 0x5a, sizeof c);
	before = c;
	tok_memo_stats(&hits0, &misses0);
	for (int round = 0; round < 2; round++) {
		ck_assert_msg(tok_verify(token, NOW, &c) == ATT_EAUTH, "accepted: %s (round %d)",
			      why, round);
		ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "out written: %s", why);
	}
	tok_memo_stats(&hits1, &misses1);
	ck_assert_msg(hits1 == hits0, "answered from the memo: %s", why);
	free(token);
}

void tok_expect_accepted(char *token, const char *why)
{
	auth_claims c;

	ck_assert_msg(tok_verify(token, NOW, &c) == ATT_OK, "refused: %s", why);
	ck_assert_str_eq(c.sub, SUB);
	free(token);
}
