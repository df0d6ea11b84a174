/* auth_token: the checks of one compact JWT (see auth_token.h). */
#include "auth_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "b64url.h"
#include "json.h"

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
static auth_fail check_signature(const auth_token_ctx *vc, jwks_alg alg, const char *kid,
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

static auth_fail check_payload(const auth_token_ctx *vc, const char *seg, size_t len, time_t now,
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
 * memo's tag is the auth_token_ctx's: for a verifier, the SHA-256 of its
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

auth_fail auth_token_verify(const auth_token_ctx *vc, const char *token, time_t now,
			    auth_claims *out)
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

size_t auth_token_memo_value_size(void)
{
	return sizeof(memo_value);
}
