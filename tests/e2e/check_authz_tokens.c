/* check_authz_tokens: the forged and defective tokens of the matrix's
 * token columns (check_authz.h: authz_token_case_header). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "check_authz.h"

/* The claims of u as JSON, with the given role name and time claims. */
static void claims_json(char *out, size_t cap, const user *u, const char *role, long long iat,
			long long nbf, long long exp)
{
	if (nbf != 0)
		snprintf(out, cap,
			 "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
			 u->sub, role, iat, nbf, exp);
	else
		snprintf(out, cap, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
			 u->sub, role, iat, exp);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

char *authz_token_case_header(kase k, const user *u, int route)
{
	const char *role = auth_role_name(u->role);
	long long now = (long long)time(NULL);
	char claims[256], line[AUTH_MAX_TOKEN_LEN + 64];
	char *tok = NULL;

	switch (k) {
	case K_NO_TOKEN:
		return NULL;
	case K_MALFORMED:
		switch (route % 6) {
		case 0:
			snprintf(line, sizeof line, "Authorization: Bearer not.a.jwt");
			break;
		case 1:
			snprintf(line, sizeof line, "Authorization: Bearer");
			break;
		case 2: /* a valid token under another scheme */
			snprintf(line, sizeof line, "Authorization: Basic %s", u->token);
			break;
		case 3: /* four segments */
			snprintf(line, sizeof line, "Authorization: Bearer %s.%s", u->token,
				 "AAAA");
			break;
		case 4: { /* two segments: the signature cut off */
			const char *dot = strrchr(u->token, '.');
			snprintf(line, sizeof line, "Authorization: Bearer %.*s",
				 (int)(dot - u->token), u->token);
			break;
		}
		default: /* validly signed, but the payload is not JSON */
			tok = sign_raw(HS256, "not json at all", EVP_sha256(), g_secret);
			ck_assert_ptr_nonnull(tok);
			bearer_line(line, sizeof line, tok);
			break;
		}
		free(tok);
		return strdup(line);
	case K_BAD_SIGNATURE:
		claims_json(claims, sizeof claims, u, role, now, 0, now + 3600);
		tok = sign_raw(HS256, claims, EVP_sha256(),
			       "this is not the stack's secret, 0123456789abcdef");
		break;
	case K_EXPIRED:
		claims_json(claims, sizeof claims, u, role, now - 4200, 0, now - 600);
		tok = sign_raw(HS256, claims, EVP_sha256(), g_secret);
		break;
	case K_NBF_FUTURE:
		claims_json(claims, sizeof claims, u, role, now, now + 600, now + 3600);
		tok = sign_raw(HS256, claims, EVP_sha256(), g_secret);
		break;
	case K_ALG_NONE:
		claims_json(claims, sizeof claims, u, role, now, 0, now + 3600);
		tok = sign_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, NULL);
		break;
	case K_ALG_HS512:
		claims_json(claims, sizeof claims, u, role, now, 0, now + 3600);
		tok = sign_raw("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, EVP_sha512(),
			       g_secret);
		break;
	case K_UNKNOWN_ROLE:
		claims_json(claims, sizeof claims, u, "superadmin", now, 0, now + 3600);
		tok = sign_raw(HS256, claims, EVP_sha256(), g_secret);
		break;
	default:
		ck_abort_msg("not a token case: %d", (int)k);
	}
	ck_assert_ptr_nonnull(tok);
	bearer_line(line, sizeof line, tok);
	free(tok);
	return strdup(line);
}
