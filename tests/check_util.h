/* check_util: what the unit-test files share: one way to make a test case
 * (the common timeout, an optional checked fixture, added to its suite).
 * The helpers of one module's tests stay in that module's test files. */
#ifndef ATT_CHECK_UTIL_H
#define ATT_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>

/* Generous per-test timeout (seconds) for every TCase. */
#define CHECK_TIMEOUT_S 10

/* The number of rows of a static table, for tcase_add_loop_test(). */
#define CHECK_ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* A row of a table of texts and the verdict expected on each. */
typedef struct check_text_row {
	const char *text;
	int want;
} check_text_row;

/* A named value read from a stats struct, for check_fields(). */
typedef struct check_field {
	const char *name;
	long long value;
} check_field;

/* Asserts that the fields named in names (space-separated), looked up in
 * have (nhave of them), hold the nwant values of want, in that order. */
void check_fields(const check_field *have, size_t nhave, const char *names, const long long *want,
		  size_t nwant);

/* The values listed, as check_fields() takes them: an array and its length. */
#define CHECK_WANT(...)                                                                            \
	(const long long[]){__VA_ARGS__},                                                          \
		sizeof((const long long[]){__VA_ARGS__}) / sizeof(long long)

/* Sleeps ms milliseconds, whatever signals come. */
void check_sleep_ms(long ms);

/* A new test case named name, added to s (which owns it), with the
 * timeout CHECK_TIMEOUT_S and, when setup or teardown is not NULL, them
 * as its checked fixture (run around each test, in its process); its
 * tests follow (each a START_TEST name, in order) up to a NULL. */
TCase *check_tcase(Suite *s, const char *name, SFun setup, SFun teardown, ...)
	__attribute__((sentinel));

#endif
