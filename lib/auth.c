/* auth: roles, the 401 messages, the verifier's key set and its reload,
 * its memo, and signing; one token's checks are auth_token's. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64url.h"
#include "buf.h"
#include "json.h"
#include "jwks.h"
#include "auth_token.h"
#include "token_memo.h"

long auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	return b64url_decode(in, len, out, cap);
}

void auth_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	b64url_encode(in, n, out);
}

/* The token of an Authorization header value, or NULL if there is none. */
static const char *bearer_token(const char *authorization)
{
	const char *p = authorization;

	if (p == NULL || strncasecmp(p, "Bearer ", 7) != 0)
		return NULL;
	p += 7;
	while (*p == ' ')
		p++;
	return *p != '\0' ? p : NULL;
}

att_err auth_verify(const char *token, const char *secret, size_t secret_len, time_t now,
		    auth_claims *out)
{
	auth_token_ctx vc = {.secret = secret, .secret_len = secret_len}; /* no memo */

	if (token == NULL || secret == NULL)
		return ATT_EAUTH;
	return auth_token_verify(&vc, token, now, out) == AUTH_FAIL_NONE ? ATT_OK : ATT_EAUTH;
}

att_err auth_verify_header(const char *authorization, const char *secret, size_t secret_len,
			   time_t now, auth_claims *out)
{
	const char *token = bearer_token(authorization);

	if (token == NULL)
		return ATT_EAUTH;
	return auth_verify(token, secret, secret_len, now, out);
}

/* ------------------------------------------------------------ verifier */

/* Entries of a verifier's memo: a worker serves thousands of students. */
#define AUTH_MEMO_SLOTS 2048

/* One key set as verifications see it: immutable once published, freed
 * by whoever drops the last reference (the verifier holds one while the
 * set is current, each running verification one). */
typedef struct auth_keys {
	atomic_int refs;
	jwks_set *set; /* NULL without a JWKS file */
	unsigned char tag[TOKEN_MEMO_TAG_LEN];
} auth_keys;

struct auth_verifier {
	char *secret;
	size_t secret_len;
	char *jwks_file;      /* NULL: none */
	char *audience;	      /* NULL: not checked */
	char *issuer;	      /* NULL: not checked */
	pthread_mutex_t lock; /* guards current (the pointer, not the set) */
	auth_keys *current;
	token_memo *memo; /* tokens verified by this verifier */
};

/* Sets number one another; never reused in a process, so a memo entry
 * stored under an old set's tag is never found again. */
static atomic_ullong auth_keys_generation;

static void keys_release(auth_keys *k)
{
	if (k != NULL && atomic_fetch_sub(&k->refs, 1) == 1) {
		jwks_free(k->set);
		free(k);
	}
}

/* Wraps set (taken over, even on failure) for v, with its memo tag. */
static auth_keys *keys_new(const auth_verifier *v, jwks_set *set)
{
	auth_keys *k = calloc(1, sizeof *k);
	unsigned long long gen = atomic_fetch_add(&auth_keys_generation, 1) + 1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const char *parts[3] = {v->secret, v->audience, v->issuer};
	int ok = k != NULL && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, "attempts-verifier", 18) == 1 &&
		 EVP_DigestUpdate(md, &gen, sizeof gen) == 1;

	/* Each part with its presence and length, so that no two option sets
	 * share a tag. */
	for (int i = 0; ok && i < 3; i++) {
		const char *p = parts[i];
		unsigned char present = p != NULL;
		size_t n = p == NULL ? 0 : i == 0 ? v->secret_len : strlen(p);

		ok = EVP_DigestUpdate(md, &present, 1) == 1 &&
		     EVP_DigestUpdate(md, &n, sizeof n) == 1 &&
		     (n == 0 || EVP_DigestUpdate(md, p, n) == 1);
	}
	ok = ok && EVP_DigestFinal_ex(md, k->tag, NULL) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		jwks_free(set);
		free(k);
		return NULL;
	}
	atomic_init(&k->refs, 1);
	k->set = set;
	return k;
}

/* The current key set, with a reference the caller drops with keys_release. */
static auth_keys *keys_acquire(auth_verifier *v)
{
	auth_keys *k;

	pthread_mutex_lock(&v->lock);
	k = v->current;
	atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&v->lock);
	return k;
}

/* A copy of s, or NULL for NULL or "" (*failed set if the copy failed). */
static char *opt_dup(const char *s, int *failed)
{
	char *copy;

	if (s == NULL || *s == '\0')
		return NULL;
	copy = strdup(s);
	if (copy == NULL)
		*failed = 1;
	return copy;
}

att_err auth_verifier_create(const auth_options *opt, auth_verifier **out, char **errmsg)
{
	auth_verifier *v = calloc(1, sizeof *v);
	jwks_set *set = NULL;
	int failed = 0;
	att_err err = ATT_ENOMEM;

	if (v == NULL)
		return ATT_ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	if (opt->secret != NULL) {
		v->secret = malloc(opt->secret_len + 1);
		if (v->secret == NULL)
			goto out;
		memcpy(v->secret, opt->secret, opt->secret_len);
		v->secret[opt->secret_len] = '\0';
		v->secret_len = opt->secret_len;
	}
	v->jwks_file = opt_dup(opt->jwks_file, &failed);
	v->audience = opt_dup(opt->audience, &failed);
	v->issuer = opt_dup(opt->issuer, &failed);
	if (failed)
		goto out;
	if (v->jwks_file != NULL) {
		err = jwks_load_file(v->jwks_file, &set, errmsg);
		if (err != ATT_OK)
			goto out;
	}
	err = token_memo_create(AUTH_MEMO_SLOTS, auth_token_memo_value_size(), &v->memo);
	if (err != ATT_OK)
		goto out;
	err = ATT_ENOMEM;
	v->current = keys_new(v, set);
	if (v->current == NULL)
		goto out;
	*out = v;
	v = NULL;
	err = ATT_OK;
out:
	auth_verifier_free(v);
	return err;
}

att_err auth_verifier_reload(auth_verifier *v, char **errmsg)
{
	jwks_set *set = NULL;
	auth_keys *fresh, *old;
	att_err err;

	if (v->jwks_file == NULL)
		return ATT_OK;
	err = jwks_load_file(v->jwks_file, &set, errmsg);
	if (err != ATT_OK)
		return err;
	fresh = keys_new(v, set);
	if (fresh == NULL)
		return ATT_ENOMEM;
	pthread_mutex_lock(&v->lock);
	old = v->current;
	v->current = fresh;
	pthread_mutex_unlock(&v->lock);
	/* Verifications that took the old set finish with it; their tokens are
	 * remembered under its tag, which no lookup uses any more. */
	keys_release(old);
	token_memo_clear(v->memo);
	return ATT_OK;
}

size_t auth_verifier_key_count(auth_verifier *v)
{
	auth_keys *k = keys_acquire(v);
	size_t n = jwks_count(k->set);

	keys_release(k);
	return n;
}

void auth_verifier_free(auth_verifier *v)
{
	if (v == NULL)
		return;
	keys_release(v->current);
	token_memo_free(v->memo);
	pthread_mutex_destroy(&v->lock);
	if (v->secret != NULL)
		OPENSSL_cleanse(v->secret, v->secret_len);
	free(v->secret);
	free(v->jwks_file);
	free(v->audience);
	free(v->issuer);
	free(v);
}

att_err auth_check(auth_verifier *v, const char *token, time_t now, auth_claims *out,
		   auth_fail *why)
{
	auth_keys *k = keys_acquire(v);
	auth_token_ctx vc = {
		.secret = v->secret,
		.secret_len = v->secret_len,
		.set = k->set,
		.audience = v->audience,
		.issuer = v->issuer,
		.tag = k->tag,
		.memo = v->memo,
	};
	auth_fail f = auth_token_verify(&vc, token, now, out);

	keys_release(k);
	if (why != NULL)
		*why = f;
	return f == AUTH_FAIL_NONE ? ATT_OK : ATT_EAUTH;
}

att_err auth_check_header(auth_verifier *v, const char *authorization, time_t now, auth_claims *out,
			  auth_fail *why)
{
	const char *token = bearer_token(authorization);

	if (token == NULL) {
		if (why != NULL)
			*why = AUTH_FAIL_MISSING;
		return ATT_EAUTH;
	}
	return auth_check(v, token, now, out, why);
}

/* Appends the base64url form of s to b. */
static void append_b64url(buf *b, const unsigned char *s, size_t n)
{
	char *enc = malloc(4 * ((n + 2) / 3) + 1);

	if (enc == NULL) {
		b->failed = 1;
		return;
	}
	auth_b64url_encode(s, n, enc);
	buf_puts(b, enc);
	free(enc);
}

/* Appends ,"name":<value as a JSON string> to payload. */
static void add_string_claim(buf *payload, const char *name, const char *value)
{
	cJSON *s = cJSON_CreateString(value);
	char *text = s != NULL ? cJSON_PrintUnformatted(s) : NULL;

	if (text == NULL)
		payload->failed = 1;
	else
		buf_printf(payload, ",\"%s\":%s", name, text);
	free(text);
	cJSON_Delete(s);
}

char *auth_sign(const char *sub, auth_role role, time_t iat, time_t exp, const char *secret,
		size_t secret_len)
{
	return auth_sign_for(sub, role, iat, exp, NULL, NULL, secret, secret_len);
}

char *auth_sign_for(const char *sub, auth_role role, time_t iat, time_t exp, const char *audience,
		    const char *issuer, const char *secret, size_t secret_len)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	buf payload = BUF_INIT, tok = BUF_INIT;
	const char *role_name = auth_role_name(role);

	if (role_name == NULL || sub == NULL)
		return NULL;
	buf_printf(&payload, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld", sub,
		   role_name, (long long)iat, (long long)exp);
	if (audience != NULL && audience[0] != '\0')
		add_string_claim(&payload, "aud", audience);
	if (issuer != NULL && issuer[0] != '\0')
		add_string_claim(&payload, "iss", issuer);
	buf_putc(&payload, '}');
	append_b64url(&tok, (const unsigned char *)header, sizeof header - 1);
	buf_putc(&tok, '.');
	if (!payload.failed)
		append_b64url(&tok, (const unsigned char *)payload.data, payload.len);
	buf_free(&payload);
	if (tok.failed || HMAC(EVP_sha256(), secret, (int)secret_len,
			       (const unsigned char *)tok.data, tok.len, mac, &mac_len) == NULL) {
		buf_free(&tok);
		return NULL;
	}
	buf_putc(&tok, '.');
	append_b64url(&tok, mac, mac_len);
	return buf_take(&tok);
}

void auth_verifier_memo_stats(const auth_verifier *v, unsigned long long *hits,
			      unsigned long long *misses)
{
	token_memo_stats(v->memo, hits, misses);
}
