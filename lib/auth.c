/* auth: HS256 JWT verification and signing with OpenSSL's HMAC. */
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

#include "buf.h"
#include "json.h"

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long auth_b64url_decode(const char *in, size_t len, unsigned char *out,
			size_t cap)
{
	unsigned long acc = 0;
	size_t n = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	/* Leftover bits must be zero: one encoding per byte string. */
	if (acc != 0)
		return -1;
	return (long)n;
}

void auth_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 2 < n; i += 3) {
		unsigned long v = ((unsigned long)in[i] << 16) |
				  ((unsigned long)in[i + 1] << 8) | in[i + 2];
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)in[i] << 16;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned long v = ((unsigned long)in[i] << 16) |
				  ((unsigned long)in[i + 1] << 8);
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
}

const char *auth_role_name(auth_role role)
{
	switch (role) {
	case AUTH_ROLE_STUDENT: return "student";
	case AUTH_ROLE_PROCTOR: return "proctor";
	case AUTH_ROLE_ADMIN: return "admin";
	case AUTH_ROLE_NONE: break;
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
	long n = auth_b64url_decode(seg, len, (unsigned char *)raw, sizeof raw);

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

static int check_header(const char *seg, size_t len)
{
	cJSON *header = decode_json_segment(seg, len);
	const cJSON *alg, *typ;
	int ok = 0;

	if (!cJSON_IsObject(header))
		goto out;
	alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
		goto out;
	if (typ != NULL && !(cJSON_IsString(typ) &&
			     (strcmp(typ->valuestring, "JWT") == 0 ||
			      strcmp(typ->valuestring, "jwt") == 0)))
		goto out;
	/* Critical extensions we do not understand must be refused. */
	if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL)
		goto out;
	ok = 1;
out:
	cJSON_Delete(header);
	return ok;
}

static int check_signature(const char *token, size_t signed_len,
			   const char *sig, size_t sig_len, const char *secret,
			   size_t secret_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned char given[64];
	unsigned int mac_len = 0;
	long n;

	n = auth_b64url_decode(sig, sig_len, given, sizeof given);
	if (n != 32)
		return 0;
	if (HMAC(EVP_sha256(), secret, (int)secret_len,
		 (const unsigned char *)token, signed_len, mac, &mac_len) == NULL ||
	    mac_len != 32)
		return 0;
	return CRYPTO_memcmp(mac, given, 32) == 0;
}

static att_err check_payload(const char *seg, size_t len, time_t now,
			     auth_claims *out, long long *nbf_out, long long *iat_out)
{
	cJSON *payload = decode_json_segment(seg, len);
	const cJSON *sub, *role;
	long long exp = 0, nbf = 0, iat = 0;
	auth_claims c;
	att_err err = ATT_EAUTH;

	if (!cJSON_IsObject(payload))
		goto out;
	sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
	role = cJSON_GetObjectItemCaseSensitive(payload, "role");
	if (!cJSON_IsString(sub) || !uuid_valid(sub->valuestring))
		goto out;
	if (!cJSON_IsString(role))
		goto out;
	memset(&c, 0, sizeof c);
	c.role = auth_role_parse(role->valuestring);
	if (c.role == AUTH_ROLE_NONE)
		goto out;
	if (numeric_claim(payload, "exp", &exp) != 1)
		goto out;
	if ((long long)now > exp + AUTH_LEEWAY_S)
		goto out;
	*nbf_out = *iat_out = LLONG_MIN;
	switch (numeric_claim(payload, "nbf", &nbf)) {
	case -1: goto out;
	case 1:
		if (nbf > (long long)now + AUTH_LEEWAY_S)
			goto out;
		*nbf_out = nbf;
		break;
	default: break;
	}
	switch (numeric_claim(payload, "iat", &iat)) {
	case -1: goto out;
	case 1:
		if (iat > (long long)now + AUTH_LEEWAY_S)
			goto out;
		*iat_out = iat;
		break;
	default: break;
	}
	memcpy(c.sub, sub->valuestring, UUID_STR_LEN + 1);
	c.exp = exp;
	snprintf(c.json, sizeof c.json, "{\"sub\":\"%s\",\"role\":\"%s\"}", c.sub,
		 auth_role_name(c.role));
	*out = c;
	err = ATT_OK;
out:
	cJSON_Delete(payload);
	return err;
}

/* The process's memo of tokens whose signature and claims were checked:
 * clients send the same token on every request, and verifying one (two
 * base64 decodes, two JSON parses, an HMAC) costs far more than comparing
 * it. Shared by every thread (a worker serves thousands of students, and
 * any thread may take any of their requests): AUTH_MEMO_SLOTS entries in
 * sets of two picked by a hash of the token (a token evicts the less
 * recently used of its set), each set behind one of AUTH_MEMO_LOCKS
 * mutexes. An entry holds the whole token and the SHA-256 of the secret
 * it was checked with, so only a byte-identical token under the same
 * secret hits (a 64-bit hash of the secret would let two secrets that
 * collide share entries); the time-dependent claims (exp, nbf, iat) are
 * checked again on every hit. Only tokens that passed every check are
 * stored, so a hit never answers for a token verification would refuse. */
#define AUTH_MEMO_SLOTS 2048
#define AUTH_MEMO_WAYS 2
#define AUTH_MEMO_SETS (AUTH_MEMO_SLOTS / AUTH_MEMO_WAYS)
#define AUTH_MEMO_LOCKS 64
#define AUTH_MEMO_MAX_TOKEN 480
#define AUTH_MEMO_TAG_LEN 32 /* SHA-256 */

typedef struct auth_memo {
	char token[AUTH_MEMO_MAX_TOKEN];
	size_t len; /* 0: empty */
	unsigned char secret_tag[AUTH_MEMO_TAG_LEN];
	long long nbf, iat; /* LLONG_MIN when absent */
	auth_claims claims;
} auth_memo;

static auth_memo auth_memos[AUTH_MEMO_SETS][AUTH_MEMO_WAYS];
static unsigned char auth_memo_mru[AUTH_MEMO_SETS]; /* way used last */
static pthread_mutex_t auth_memo_locks[AUTH_MEMO_LOCKS] = {
	[0 ... AUTH_MEMO_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};
static atomic_ullong auth_memo_hit_count, auth_memo_miss_count;

static unsigned long long fnv1a(const char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The time rules of check_payload for remembered claims. */
static int memo_still_valid(const auth_memo *m, time_t now)
{
	if ((long long)now > m->claims.exp + AUTH_LEEWAY_S)
		return 0;
	if (m->nbf != LLONG_MIN && m->nbf > (long long)now + AUTH_LEEWAY_S)
		return 0;
	if (m->iat != LLONG_MIN && m->iat > (long long)now + AUTH_LEEWAY_S)
		return 0;
	return 1;
}

/* Looks token up in its set: 1 and *out set if remembered and still
 * valid at now, 0 if remembered but no longer valid, -1 if not there. */
static int memo_lookup(const char *token, size_t len, const unsigned char *tag,
		       unsigned long long hash, time_t now, auth_claims *out)
{
	size_t set = hash % AUTH_MEMO_SETS;
	pthread_mutex_t *lock = &auth_memo_locks[set % AUTH_MEMO_LOCKS];
	int found = -1;

	pthread_mutex_lock(lock);
	for (int way = 0; way < AUTH_MEMO_WAYS && found < 0; way++) {
		const auth_memo *m = &auth_memos[set][way];

		if (m->len == len && memcmp(m->secret_tag, tag, AUTH_MEMO_TAG_LEN) == 0 &&
		    memcmp(m->token, token, len) == 0) {
			found = memo_still_valid(m, now);
			if (found)
				*out = m->claims;
			auth_memo_mru[set] = (unsigned char)way;
		}
	}
	pthread_mutex_unlock(lock);
	atomic_fetch_add(found < 0 ? &auth_memo_miss_count : &auth_memo_hit_count, 1);
	return found;
}

static void memo_store(const char *token, size_t len, const unsigned char *tag,
		       unsigned long long hash, const auth_claims *c, long long nbf,
		       long long iat)
{
	size_t set = hash % AUTH_MEMO_SETS;
	pthread_mutex_t *lock = &auth_memo_locks[set % AUTH_MEMO_LOCKS];
	auth_memo *m;
	int way;

	if (len >= AUTH_MEMO_MAX_TOKEN)
		return;
	pthread_mutex_lock(lock);
	way = auth_memo_mru[set] == 0 ? 1 : 0; /* the less recently used */
	m = &auth_memos[set][way];
	memcpy(m->token, token, len);
	m->len = len;
	memcpy(m->secret_tag, tag, AUTH_MEMO_TAG_LEN);
	m->claims = *c;
	m->nbf = nbf;
	m->iat = iat;
	auth_memo_mru[set] = (unsigned char)way;
	pthread_mutex_unlock(lock);
}

void auth_memo_stats(unsigned long long *hits, unsigned long long *misses)
{
	*hits = atomic_load(&auth_memo_hit_count);
	*misses = atomic_load(&auth_memo_miss_count);
}

att_err auth_verify(const char *token, const char *secret, size_t secret_len,
		    time_t now, auth_claims *out)
{
	const char *dot1, *dot2;
	unsigned char tag[AUTH_MEMO_TAG_LEN];
	unsigned long long hash;
	long long nbf, iat;
	size_t len;
	att_err err;

	if (token == NULL || secret == NULL)
		return ATT_EAUTH;
	len = strlen(token);
	if (len == 0 || len > AUTH_MAX_TOKEN_LEN)
		return ATT_EAUTH;
	dot1 = strchr(token, '.');
	if (dot1 == NULL)
		return ATT_EAUTH;
	dot2 = strchr(dot1 + 1, '.');
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return ATT_EAUTH;
	if (EVP_Digest(secret, secret_len, tag, NULL, EVP_sha256(), NULL) != 1)
		return ATT_EAUTH;
	hash = fnv1a(token, len);
	switch (memo_lookup(token, len, tag, hash, now, out)) {
	case 1: return ATT_OK; /* its header, signature and payload passed */
	case 0: return ATT_EAUTH;
	default: break;
	}
	if (!check_header(token, (size_t)(dot1 - token)))
		return ATT_EAUTH;
	if (!check_signature(token, (size_t)(dot2 - token), dot2 + 1,
			     strlen(dot2 + 1), secret, secret_len))
		return ATT_EAUTH;
	err = check_payload(dot1 + 1, (size_t)(dot2 - dot1 - 1), now, out, &nbf, &iat);
	if (err == ATT_OK)
		memo_store(token, len, tag, hash, out, nbf, iat);
	return err;
}

att_err auth_verify_header(const char *authorization, const char *secret,
			   size_t secret_len, time_t now, auth_claims *out)
{
	const char *p = authorization;

	if (p == NULL || strncasecmp(p, "Bearer ", 7) != 0)
		return ATT_EAUTH;
	p += 7;
	while (*p == ' ')
		p++;
	return auth_verify(p, secret, secret_len, now, out);
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

char *auth_sign(const char *sub, auth_role role, time_t iat, time_t exp,
		const char *secret, size_t secret_len)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	buf payload = BUF_INIT, tok = BUF_INIT;
	const char *role_name = auth_role_name(role);

	if (role_name == NULL || sub == NULL)
		return NULL;
	buf_printf(&payload, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
		   sub, role_name, (long long)iat, (long long)exp);
	append_b64url(&tok, (const unsigned char *)header, sizeof header - 1);
	buf_putc(&tok, '.');
	if (!payload.failed)
		append_b64url(&tok, (const unsigned char *)payload.data, payload.len);
	buf_free(&payload);
	if (tok.failed ||
	    HMAC(EVP_sha256(), secret, (int)secret_len,
		 (const unsigned char *)tok.data, tok.len, mac, &mac_len) == NULL) {
		buf_free(&tok);
		return NULL;
	}
	buf_putc(&tok, '.');
	append_b64url(&tok, mac, mac_len);
	return buf_take(&tok);
}
