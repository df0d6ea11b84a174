/* fuzz_jwks: libFuzzer harness for JSON Web Key Sets (jwks_parse,
 * jwks_find, jwks_verify) and for tokens checked with a key set
 * (auth_check through an auth_verifier with aud and iss).
 *
 * Input: byte 0 picks the mode (low 2 bits); the rest is:
 *   mode 0, 3  a JWKS text, parsed as is;
 *   mode 1     a compact JWT, checked at FUZZ_NOW by a verifier holding
 *              FUZZ_JWKS (RSA "r1", P-256 "e1", oct "h1"), the secret
 *              FUZZ_SECRET, audience FUZZ_AUD and issuer FUZZ_ISS;
 *   mode 2     byte 1 picks a key of FUZZ_JWKS, byte 2 the signature's
 *              length; then the signature and the signed data, for
 *              jwks_verify.
 *
 * Invariants: a parsed set has at most JWKS_MAX_KEYS keys, each with a
 * kid of 1..JWKS_MAX_KID bytes found again by jwks_find, one of the three
 * algorithms, no kid twice, and used + skipped = the entries of "keys"; a
 * refused set comes with a message and leaves the out-parameter alone; no
 * key verifies an all-zero signature; an accepted token's alg is the
 * algorithm of the key its kid names (HS256, the secret's, when it names
 * none), its claims are a canonical UUID sub and a known role, its aud
 * and iss the required ones; a refusal has a reason with a message. The
 * seed tokens (tests/fuzz/corpus/fuzz_jwks/tok_*) are signed with the
 * private halves of FUZZ_JWKS's keys, which are not kept. FUZZ_DEBUG=1
 * prints each verdict of modes 0 and 1. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "b64url.h"
#include "json.h"
#include "jwks.h"
#include "uuid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SECRET "fuzz-jwt-secret-0123456789abcdef-0123456789"
#define FUZZ_AUD "exam-api"
#define FUZZ_ISS "https://idp.example"
#define FUZZ_NOW ((time_t)1893456000) /* 2030-01-01T00:00:00Z */
/* oct "h1" is the bytes "fuzz-oct-key-0123456789abcdef-0123456789". */
#define FUZZ_JWKS                                                                                  \
	"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"alg\":\"RS256\",\"use\":\"sig\",\"e\":"      \
	"\"AQAB\","                                                                                \
	"\"n\":\"saCM1kTJrUVK5pvn25Zki6VyEMuxSXssIT0RFkDyg0xQR_-"                                  \
	"4FejuaEgbC1iE4l0MfDP1q65bphp7iAvPz6Mz3J3iLf7LhHLanqnb2CRYDh6HPsmvAMtYCqXugpoNZ0nyqjo-"    \
	"NXuYj6wBgdDQmz6jt4WKRL5bxLhFffi-Z0zPC5gE-8WIHTVHa-gLSrBR0-P_y4SNZvN_7Ws247hvmDbCmu-"      \
	"4oM0mLRxHQJMgj2PGt-7QsOF8FJvvaL8_"                                                        \
	"ZJrsEuovrrYRwiIU8jByg7xgJz3D2ATH2xipRwTwO8rJ4lRKX6h6hLomMM_DmyWM2HF6lF1tM3xCHInm8vnCohC_" \
	"9X0Dbw\"},"                                                                               \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\","                                        \
	"\"x\":\"zX5kUGoXvM8xfUTdaNSD7GavnUA24c717haj-7t3cbk\","                                   \
	"\"y\":\"0-jUaY5Cw45M1vsi4LArckRoiysC6ojz-DGYdldTR0U\"},"                                  \
	"{\"kty\":\"oct\",\"kid\":\"h1\",\"k\":"                                                   \
	"\"ZnV6ei1vY3Qta2V5LTAxMjM0NTY3ODlhYmNkZWYtMDEyMzQ1Njc4OQ\"}]}"

static auth_verifier *verifier;
static jwks_set *fixed;
static int debug;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] = FUZZ_JWKS;
	auth_options o = {.secret = FUZZ_SECRET,
			  .secret_len = sizeof FUZZ_SECRET - 1,
			  .audience = FUZZ_AUD,
			  .issuer = FUZZ_ISS};
	char path[64];
	char *why = NULL;
	int fd = memfd_create("fuzz_jwks", 0);

	(void)argc;
	(void)argv;
	debug = getenv("FUZZ_DEBUG") != NULL;
	if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1))
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	o.jwks_file = path;
	if (auth_verifier_create(&o, &verifier, &why) != ATT_OK) {
		fprintf(stderr, "fuzz_jwks: FUZZ_JWKS refused: %s\n", why ? why : "?");
		abort();
	}
	if (jwks_parse(text, sizeof text - 1, &fixed, NULL) != ATT_OK || jwks_count(fixed) != 3)
		abort();
	close(fd);
	return 0;
}

static void mode_parse(const char *text, size_t len)
{
	jwks_set *s = (jwks_set *)0x1;
	char *err = NULL;
	att_err rc = jwks_parse(text, len, &s, &err);
	static const unsigned char zeros[JWKS_MAX_SIG];

	if (debug)
		fprintf(stderr, "fuzz_jwks: set: %s (%zu keys, %zu skipped)\n",
			rc == ATT_OK ? "parsed" : err, rc == ATT_OK ? jwks_count(s) : 0,
			rc == ATT_OK ? jwks_skipped(s) : 0);

	if (rc != ATT_OK) {
		if (s != (jwks_set *)0x1 || err == NULL ||
		    (rc != ATT_ECONFIG && rc != ATT_ETOOBIG && rc != ATT_ENOMEM))
			abort();
		free(err);
		return;
	}
	if (err != NULL || jwks_count(s) > JWKS_MAX_KEYS)
		abort();
	{
		/* used + skipped = the entries of "keys" */
		cJSON *doc = json_parse(text, len);
		const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
		if (!cJSON_IsArray(keys) ||
		    (size_t)cJSON_GetArraySize(keys) != jwks_count(s) + jwks_skipped(s))
			abort();
		cJSON_Delete(doc);
	}
	for (size_t i = 0; i < jwks_count(s); i++) {
		const jwks_key *k = jwks_key_at(s, i);
		const char *kid = jwks_key_kid(k);
		size_t n = strlen(kid);

		if (n == 0 || n > JWKS_MAX_KID || jwks_find(s, kid, n) != k ||
		    jwks_alg_name(jwks_key_alg(k)) == NULL)
			abort();
		for (size_t sl = 0; sl <= 512; sl = sl ? sl * 2 : 32)
			if (jwks_verify(k, (const unsigned char *)"x", 1, zeros, sl))
				abort(); /* an all-zero signature verified */
	}
	jwks_free(s);
}

/* The base64url JSON segment of n bytes at seg, parsed strictly, or NULL. */
static cJSON *segment(const char *seg, size_t n)
{
	char raw[AUTH_MAX_TOKEN_LEN];
	long len = b64url_decode(seg, n, (unsigned char *)raw, sizeof raw);

	return len > 0 ? json_parse(raw, (size_t)len) : NULL;
}

static void check_accepted(const char *token, const auth_claims *c)
{
	const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	cJSON *h, *p;
	const cJSON *alg, *kid, *aud, *iss, *item;
	const jwks_key *key = NULL;
	int aud_ok = 0;

	if (dot2 == NULL || !uuid_valid(c->sub) || auth_role_name(c->role) == NULL)
		abort();
	h = segment(token, (size_t)(dot1 - token));
	p = segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!cJSON_IsObject(h) || !cJSON_IsObject(p))
		abort();
	alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
	if (!cJSON_IsString(alg))
		abort();
	if (cJSON_IsString(kid))
		key = jwks_find(fixed, kid->valuestring, strlen(kid->valuestring));
	if (key != NULL ? jwks_key_alg(key) != jwks_alg_parse(alg->valuestring)
			: strcmp(alg->valuestring, "HS256") != 0)
		abort(); /* the header chose the algorithm */
	iss = cJSON_GetObjectItemCaseSensitive(p, "iss");
	if (!cJSON_IsString(iss) || strcmp(iss->valuestring, FUZZ_ISS) != 0)
		abort();
	aud = cJSON_GetObjectItemCaseSensitive(p, "aud");
	if (cJSON_IsString(aud))
		aud_ok = strcmp(aud->valuestring, FUZZ_AUD) == 0;
	else if (cJSON_IsArray(aud))
		cJSON_ArrayForEach(item, aud) aud_ok |=
			cJSON_IsString(item) && strcmp(item->valuestring, FUZZ_AUD) == 0;
	if (!aud_ok)
		abort();
	cJSON_Delete(h);
	cJSON_Delete(p);
}

static void mode_token(const char *text)
{
	auth_claims c;
	auth_fail why = AUTH_FAIL_NONE;

	for (int round = 0; round < 2; round++) { /* the second from the memo */
		att_err rc = auth_check(verifier, text, FUZZ_NOW, &c, &why);

		if (debug && round == 0)
			fprintf(stderr, "fuzz_jwks: token: %s\n",
				rc == ATT_OK ? "accepted" : auth_fail_message(why));
		if (rc == ATT_OK) {
			if (why != AUTH_FAIL_NONE)
				abort();
			check_accepted(text, &c);
		} else if (why == AUTH_FAIL_NONE || auth_fail_message(why) == NULL ||
			   (why == AUTH_FAIL_MISSING && *text != '\0')) {
			abort();
		}
	}
}

static void mode_verify(const uint8_t *data, size_t size)
{
	size_t sig_len;
	const jwks_key *k;

	if (size < 2)
		return;
	k = jwks_key_at(fixed, data[0] % jwks_count(fixed));
	sig_len = data[1];
	data += 2;
	size -= 2;
	if (sig_len > size)
		sig_len = size;
	/* Exact-size copies: reading past either is a finding. */
	{
		unsigned char *sig = malloc(sig_len ? sig_len : 1);
		unsigned char *msg = malloc(size - sig_len ? size - sig_len : 1);
		if (sig == NULL || msg == NULL)
			abort();
		memcpy(sig, data, sig_len);
		memcpy(msg, data + sig_len, size - sig_len);
		(void)jwks_verify(k, msg, size - sig_len, sig, sig_len);
		free(sig);
		free(msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	char *text;

	if (size < 1 || size > 64 * 1024)
		return 0;
	mode = data[0] & 3;
	data++;
	size--;
	if (mode == 2) {
		mode_verify(data, size);
		return 0;
	}
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mode == 1)
		mode_token(text);
	else
		mode_parse(text, size);
	free(text);
	return 0;
}
