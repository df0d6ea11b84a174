/* uuid: canonical-form UUID checks and random generation. */
#include "uuid.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

int uuid_valid(const char *s)
{
	for (int i = 0; i < UUID_STR_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return s[UUID_STR_LEN] == '\0';
}

att_err uuid_random_bytes(unsigned char *out, unsigned n)
{
	unsigned got = 0;

	while (got < n) {
		ssize_t r = getrandom(out + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ATT_EIO;
		}
		got += (unsigned)r;
	}
	return ATT_OK;
}

att_err uuid_generate(char out[UUID_STR_LEN + 1])
{
	unsigned char b[16];
	att_err err = uuid_random_bytes(b, sizeof b);

	if (err != ATT_OK)
		return err;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, UUID_STR_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return ATT_OK;
}
