/* buf: a growable byte buffer with a sticky failure flag.
 * Writers append freely and check buf.failed once at the end (pgbouncer's
 * PktBuf habit). Owns its memory; not thread-safe. */
#ifndef ATT_BUF_H
#define ATT_BUF_H

#include <stddef.h>

#include "att_err.h"

typedef struct buf {
	char *data; /* always NUL-terminated when len > 0 and !failed */
	size_t len;
	size_t cap;
	int failed; /* set on the first allocation failure; appends then no-op */
} buf;

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void buf_init(buf *b);
/* Frees the memory and re-initialises b. Accepts NULL. */
void buf_free(buf *b);
/* Empties b, keeping its memory. */
void buf_reset(buf *b);
void buf_append(buf *b, const void *data, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) ATT_PRINTF(2, 3);
/* Returns the contents as a NUL-terminated string and empties b, or NULL
 * if b failed. The caller frees the result with free(). */
char *buf_take(buf *b) ATT_MUSTCHECK;

#endif
