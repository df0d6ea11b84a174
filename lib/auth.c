/* auth: JWT verification (HS256 with the secret; RS256, ES256, HS256 with
 * JWKS keys), the verifier's key set and its reload, the memo, signing. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cJSON.h>
#include <limits.h>
#include <math.h>
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
#include "token_memo.h"

long auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	return b64url_decode(in, len, out, cap);
}

void auth_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	b64url_encode(in, n, out);
}

const char *auth_role_name(auth_role role)
{
	switch (role) {
	case AUTH_ROLE_STUDENT:
		return "student";
	case AUTH_ROLE_PROCTOR:
		return "proctor";
	case AUTH_ROLE_ADMIN:
		return "admin";
	case AUTH_ROLE_NONE:
		break;
	}
	return NULL;
}

auth_role auth_role_parse(const char *name)
{
	for (int r = AUTH_ROLE_STUDENT; r <= AUTH_ROLE_ADMIN; r++)
		if (strcmp(name, auth_role_name((auth_role)r)) == 0)
			return (auth_role)r;
	return AUTH_ROLE_NONE;
}

/* Decodes one base64url JSON segment into a cJSON tree (caller deletes),
 * or NULL. The JSON goes through json_parse, the rules of request bodies:
 * valid UTF-8, no NUL byte and no \u0000, no member name repeated within
 * an object (compared decoded), nothing after the value. So no string or
 * name in the tree holds a NUL, and strcmp on a claim compares it in full:
 * "admin\u0000x" is refused here, never read as "admin". */
static cJSON *decode_json_segment(const char *seg, size_t len)
{
	char raw[AUTH_MAX_TOKEN_LEN];
	long n = b64url_decode(seg, len, (unsigned char *)raw, sizeof raw);

	if (n <= 0)
		return NULL;
	return json_parse(raw, (size_t)n);
}

const char *auth_fail_message(auth_fail why)
{
	switch (why) {
	case AUTH_FAIL_NONE:
		break;
	case AUTH_FAIL_MISSING:
		return "a bearer token is required";
	case AUTH_FAIL_MALFORMED:
		return "the token is malformed";
	case AUTH_FAIL_ALG:
		return "the token's alg is not the algorithm of its key";
	case AUTH_FAIL_UNKNOWN_KEY:
		return "the token's kid names no known key";
	case AUTH_FAIL_SIGNATURE:
		return "the token's signature is invalid";
	case AUTH_FAIL_CLAIMS:
		return "the token has no valid sub or role";
	case AUTH_FAIL_EXPIRED:
		return "the token has expired";
	case AUTH_FAIL_NOT_YET_VALID:
		return "the token is not valid yet (nbf)";
	case AUTH_FAIL_ISSUED_FUTURE:
		return "the token is issued in the future (iat)";
	case AUTH_FAIL_AUDIENCE:
		return "the token is not for this audience (aud)";
	case AUTH_FAIL_ISSUER:
		return "the token's issuer is not accepted (iss)";
	}
	return "a valid bearer token is required";
}

/* Largest NumericDate taken (about the year 33658). */
#define AUTH_MAX_NUMERIC_DATE 1e15

/* A NumericDate claim: 0 = absent, 1 = present in *v, -1 = malformed. It
 * must be a JSON number whose value is a whole number of seconds within
 * 0..AUTH_MAX_NUMERIC_DATE; the spelling is the JSON text's (1.7e9 and
 * 1700000000.0 are 1700000000), a fraction is refused, not truncated. */
static int numeric_claim(const cJSON *payload, const char *name, long long *v)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(payload, name);
	double d;

	if (item == NULL)
		return 0;
	if (!cJSON_IsNumber(item))
		return -1;
	d = item->valuedouble;
	if (!isfinite(d) || d < 0 || d > AUTH_MAX_NUMERIC_DATE || d != floor(d))
		return -1;
	*v = (long long)d;
	return 1;
}

/* What the verification is made with: the secret, the key set (NULL:
 * none), the claims required, and the memo tag that names all of them. */
typedef struct verify_ctx {
	const char *secret;
	size_t secret_len;
	const jwks_set *set;
	const char *audience; /* NULL: not checked */
	const char *issuer;   /* NULL: not checked */
	const unsigned char *tag;
	token_memo *memo; /* NULL: none */
} verify_ctx;

/* The header's checks: strict JSON object, alg one of ours (*alg), typ
 * JWT when present, no crit, kid a string when present (*kid, *kid_len;
 * NULL if absent). Returns AUTH_FAIL_NONE or why not. */
static auth_fail check_header(const char *seg, size_t len, jwks_alg *alg, char *kid,
			      size_t *kid_len)
{
	cJSON *header = decode_json_segment(seg, len);
	const cJSON *a, *typ, *k;
	auth_fail why = AUTH_FAIL_MALFORMED;

	if (!cJSON_IsObject(header))
		goto out;
	a = cJSON_GetObjectItemCaseSensitive(header, "alg");
	typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
	k = cJSON_GetObjectItemCaseSensitive(header, "kid");
	if (!cJSON_IsString(a))
		goto out;
	if (typ != NULL && !(cJSON_IsString(typ) && (strcmp(typ->valuestring, "JWT") == 0 ||
						     strcmp(typ->valuestring, "jwt") == 0)))
		goto out;
	/* Critical extensions we do not understand must be refused. */
	if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL)
		goto out;
	if (k != NULL && !cJSON_IsString(k))
		goto out;
	*kid_len = 0;
	if (k != NULL) {
		/* Longer than any kid of a set: it names no key (kid_len says so). */
		size_t n = strlen(k->valuestring);
		*kid_len = n <= JWKS_MAX_KID ? n : JWKS_MAX_KID + 1;
		memcpy(kid, k->valuestring, n <= JWKS_MAX_KID ? n : 0);
	}
	/* "none", HS512 and the like are no key's algorithm. */
	*alg = jwks_alg_parse(a->valuestring);
	why = *alg == JWKS_ALG_NONE ? AUTH_FAIL_ALG : AUTH_FAIL_NONE;
	if (k == NULL)
		*kid_len = (size_t)-1;
out:
	cJSON_Delete(header);
	return why;
}

/* The signature's check, with the key the header chose. */
static auth_fail check_signature(const verify_ctx *vc, jwks_alg alg, const char *kid,
				 size_t kid_len, const char *token, size_t signed_len,
				 const char *sig, size_t sig_len)
{
	unsigned char given[JWKS_MAX_SIG];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	const jwks_key *key = NULL;
	long n;

	if (kid_len != (size_t)-1 && kid_len <= JWKS_MAX_KID)
		key = jwks_find(vc->set, kid, kid_len);
	if (key == NULL && alg != JWKS_ALG_HS256)
		return AUTH_FAIL_UNKNOWN_KEY;
	/* The key's algorithm, never the header's: an HS256 token naming an
	 * RSA key is not checked as an HMAC keyed with the public key. */
	if (key != NULL && jwks_key_alg(key) != alg)
		return AUTH_FAIL_ALG;
	n = b64url_decode(sig, sig_len, given, sizeof given);
	if (n < 0)
		return AUTH_FAIL_MALFORMED;
	if (key != NULL)
		return jwks_verify(key, (const unsigned char *)token, signed_len, given, (size_t)n)
			       ? AUTH_FAIL_NONE
			       : AUTH_FAIL_SIGNATURE;
	if (vc->secret == NULL || n != 32 ||
	    HMAC(EVP_sha256(), vc->secret, (int)vc->secret_len, (const unsigned char *)token,
		 signed_len, mac, &mac_len) == NULL ||
	    mac_len != 32 || CRYPTO_memcmp(mac, given, 32) != 0)
		return AUTH_FAIL_SIGNATURE;
	return AUTH_FAIL_NONE;
}

/* The time rules: exp (required), nbf and iat (LLONG_MIN when absent). */
static auth_fail check_times(long long exp, long long nbf, long long iat, time_t now)
{
	if ((long long)now > exp + AUTH_LEEWAY_S)
		return AUTH_FAIL_EXPIRED;
	if (nbf != LLONG_MIN && nbf > (long long)now + AUTH_LEEWAY_S)
		return AUTH_FAIL_NOT_YET_VALID;
	if (iat != LLONG_MIN && iat > (long long)now + AUTH_LEEWAY_S)
		return AUTH_FAIL_ISSUED_FUTURE;
	return AUTH_FAIL_NONE;
}

/* aud against the audience required: a string equal to it, or an array of
 * strings holding it. */
static auth_fail check_audience(const cJSON *payload, const char *audience)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud"), *item;
	int found = 0;

	if (aud == NULL)
		return AUTH_FAIL_AUDIENCE;
	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, audience) == 0 ? AUTH_FAIL_NONE
							       : AUTH_FAIL_AUDIENCE;
	if (!cJSON_IsArray(aud))
		return AUTH_FAIL_MALFORMED;
	cJSON_ArrayForEach(item, aud)
	{
		if (!cJSON_IsString(item))
			return AUTH_FAIL_MALFORMED;
		if (strcmp(item->valuestring, audience) == 0)
			found = 1;
	}
	return found ? AUTH_FAIL_NONE : AUTH_FAIL_AUDIENCE;
}

static auth_fail check_payload(const verify_ctx *vc, const char *seg, size_t len, time_t now,
			       auth_claims *out, long long *nbf_out, long long *iat_out)
{
	cJSON *payload = decode_json_segment(seg, len);
	const cJSON *sub, *role, *iss;
	long long exp = 0, nbf = LLONG_MIN, iat = LLONG_MIN;
	auth_claims c;
	auth_fail why = AUTH_FAIL_MALFORMED;

	if (!cJSON_IsObject(payload))
		goto out;
	if (numeric_claim(payload, "exp", &exp) != 1 || numeric_claim(payload, "nbf", &nbf) < 0 ||
	    numeric_claim(payload, "iat", &iat) < 0)
		goto out;
	why = AUTH_FAIL_CLAIMS;
	sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
	role = cJSON_GetObjectItemCaseSensitive(payload, "role");
	if (!cJSON_IsString(sub) || !uuid_valid(sub->valuestring) || !cJSON_IsString(role))
		goto out;
	memset(&c, 0, sizeof c);
	c.role = auth_role_parse(role->valuestring);
	if (c.role == AUTH_ROLE_NONE)
		goto out;
	if (vc->issuer != NULL) {
		iss = cJSON_GetObjectItemCaseSensitive(payload, "iss");
		why = iss != NULL && !cJSON_IsString(iss) ? AUTH_FAIL_MALFORMED : AUTH_FAIL_ISSUER;
		if (!cJSON_IsString(iss) || strcmp(iss->valuestring, vc->issuer) != 0)
			goto out;
	}
	if (vc->audience != NULL && (why = check_audience(payload, vc->audience)) != AUTH_FAIL_NONE)
		goto out;
	why = check_times(exp, nbf, iat, now);
	if (why != AUTH_FAIL_NONE)
		goto out;
	memcpy(c.sub, sub->valuestring, UUID_STR_LEN + 1);
	c.exp = exp;
	snprintf(c.json, sizeof c.json, "{\"sub\":\"%s\",\"role\":\"%s\"}", c.sub,
		 auth_role_name(c.role));
	*out = c;
	*nbf_out = nbf;
	*iat_out = iat;
out:
	cJSON_Delete(payload);
	return why;
}

/* What the memo keeps of a token that passed every check: its claims and
 * the time claims to check again at each use (exp is in the claims). The
 * memo's tag is the verify_ctx's: for a verifier, the SHA-256 of its
 * secret, audience, issuer and the key set's generation, so only a
 * byte-identical token under the same keys and rules hits; a reload clears
 * the memo and changes the tag, so a verification still running under the
 * old set stores an entry nobody looks up. Only tokens that passed every
 * check are stored, so a hit never answers for a token verification would
 * refuse. */
typedef struct memo_value {
	auth_claims claims;
	long long nbf, iat; /* LLONG_MIN when absent */
} memo_value;

_Static_assert(sizeof(memo_value) <= TOKEN_MEMO_MAX_VALUE, "a memo value fits");

/* Entries of a verifier's memo: a worker serves thousands of students. */
#define AUTH_MEMO_SLOTS 2048

/* Verifies token under vc at now: AUTH_FAIL_NONE and *out, or why not. */
static auth_fail verify_token(const verify_ctx *vc, const char *token, time_t now, auth_claims *out)
{
	const char *dot1, *dot2;
	char kid[JWKS_MAX_KID];
	size_t kid_len = 0;
	jwks_alg alg = JWKS_ALG_NONE;
	memo_value mv;
	long long nbf, iat;
	size_t len;
	auth_fail why = AUTH_FAIL_MALFORMED;

	if (token == NULL)
		return AUTH_FAIL_MISSING;
	len = strlen(token);
	if (len == 0)
		return AUTH_FAIL_MISSING;
	if (len > AUTH_MAX_TOKEN_LEN)
		return AUTH_FAIL_MALFORMED;
	dot1 = strchr(token, '.');
	if (dot1 == NULL)
		return AUTH_FAIL_MALFORMED;
	dot2 = strchr(dot1 + 1, '.');
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return AUTH_FAIL_MALFORMED;
	if (token_memo_find(vc->memo, token, len, vc->tag, &mv)) {
		/* its header, signature and payload passed; the times may not now */
		why = check_times(mv.claims.exp, mv.nbf, mv.iat, now);
		if (why == AUTH_FAIL_NONE)
			*out = mv.claims;
		return why;
	}
	why = check_header(token, (size_t)(dot1 - token), &alg, kid, &kid_len);
	if (why == AUTH_FAIL_NONE)
		why = check_signature(vc, alg, kid, kid_len, token, (size_t)(dot2 - token),
				      dot2 + 1, strlen(dot2 + 1));
	if (why == AUTH_FAIL_NONE)
		why = check_payload(vc, dot1 + 1, (size_t)(dot2 - dot1 - 1), now, out, &nbf, &iat);
	if (why == AUTH_FAIL_NONE) {
		mv.claims = *out;
		mv.nbf = nbf;
		mv.iat = iat;
		token_memo_store(vc->memo, token, len, vc->tag, &mv);
	}
	return why;
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
	verify_ctx vc = {.secret = secret, .secret_len = secret_len}; /* no memo */

	if (token == NULL || secret == NULL)
		return ATT_EAUTH;
	return verify_token(&vc, token, now, out) == AUTH_FAIL_NONE ? ATT_OK : ATT_EAUTH;
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
	err = token_memo_create(AUTH_MEMO_SLOTS, sizeof(memo_value), &v->memo);
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
	verify_ctx vc = {
		.secret = v->secret,
		.secret_len = v->secret_len,
		.set = k->set,
		.audience = v->audience,
		.issuer = v->issuer,
		.tag = k->tag,
		.memo = v->memo,
	};
	auth_fail f = verify_token(&vc, token, now, out);

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
