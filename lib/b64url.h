/* b64url: base64url without padding (RFC 4648 section 5), as JOSE uses it,
 * canonical only: one encoding per byte string. Owns no state. */
#ifndef ATT_B64URL_H
#define ATT_B64URL_H

#include <stddef.h>

/* Decodes len characters. Returns bytes written to out, or -1 on a
 * character outside the alphabet, a length of 4k+1, non-zero leftover
 * bits, or if out (of size cap) is too small. */
long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Encodes n bytes; out needs 4 * ((n + 2) / 3) + 1 bytes. */
void b64url_encode(const unsigned char *in, size_t n, char *out);

#endif
