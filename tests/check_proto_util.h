/* check_proto_util: what the protocol-side test files (config, router,
 * cors, http) share (check_proto_util.c): CGI parameter tables, the text
 * a writer prints into a stream, and checks of it. */
#ifndef ATT_CHECK_PROTO_UTIL_H
#define ATT_CHECK_PROTO_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Appends name and value to params, a NULL-terminated table of name,
 * value pairs with room for cap entries (asserted), when value is not
 * NULL; params stays NULL-terminated. */
void proto_param_add(const char **params, int cap, const char *name, const char *value);

/* A stream into memory: open it, write to it, close it for the text. */
typedef struct proto_text {
	FILE *f;
	char *text;
	size_t len;
} proto_text;

/* Opens t's stream (asserting it opened) and returns it. */
FILE *proto_text_open(proto_text *t);
/* Closes t's stream (asserting it closed) and returns what was written,
 * NUL-terminated; the caller frees it with free(). */
char *proto_text_close(proto_text *t);
/* Asserts that text holds each of the NULL-terminated needles. */
void proto_expect_contains(const char *text, const char *const *needles);
/* Asserts that what write prints holds each of the needles. */
void proto_expect_written(void (*write)(FILE *f), const char *const *needles);

#endif
