/* uuid: canonical-form checks and random (version 4) generation.
 * Owns the text form only: 36 lowercase chars, 8-4-4-4-12. */
#ifndef ATT_UUID_H
#define ATT_UUID_H

#include "att_err.h"

#define UUID_STR_LEN 36

/* Returns 1 if s is a UUID in canonical lowercase 8-4-4-4-12 form. */
int uuid_valid(const char *s);

/* Writes a random version-4 UUID and a NUL into out (37 bytes). */
att_err uuid_generate(char out[UUID_STR_LEN + 1]) ATT_MUSTCHECK;

/* Fills out with n random bytes from the OS. */
att_err uuid_random_bytes(unsigned char *out, unsigned n) ATT_MUSTCHECK;

#endif
