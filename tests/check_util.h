/* check_util: what the unit-test files share: one way to make a suite (a
 * runner's table of names and case-adding functions) and a test case (the
 * common timeout, an optional checked fixture), fake clocks, and threads
 * that hammer a module at once. The helpers of one module's tests stay in
 * that module's test files. */
#ifndef ATT_CHECK_UTIL_H
#define ATT_CHECK_UTIL_H

#include <check.h>
#include <stdatomic.h>
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

/* A suite of a test program: its name, and the function that adds its
 * test cases (check_tcase) to the Suite made for it. */
typedef struct check_suite_def {
	const char *name;
	void (*add_cases)(Suite *s);
} check_suite_def;

/* Makes the n suites of defs, in order, and adds each to sr. */
void check_add_suites(SRunner *sr, const check_suite_def *defs, size_t n);

/* A clock for the modules' clock hooks (clock_ms_fn): ctx points at the
 * long long the test sets. */
long long check_fake_clock(void *ctx);

/* The same for threads: ctx points at an atomic_llong they advance. */
long long check_atomic_clock(void *ctx);

/* Raises *max to v when v is larger, atomically. */
void check_note_max(atomic_int *max, int v);

/* The most threads check_threads() runs. */
#define CHECK_MAX_THREADS 16

/* One thread of check_threads(): which it is, its own seed for rand_r(),
 * and the state all of them share. */
typedef struct check_thread {
	int index;
	unsigned seed;
	void *shared;
} check_thread;

/* Runs nthreads threads at once (at most CHECK_MAX_THREADS), each calling
 * step(itself, i) for i from 0 to iters - 1; thread k's seed is seed + k *
 * 7919. Returns once all have ended; fails the test if one cannot be
 * started or joined. */
void check_threads(int nthreads, int iters, void (*step)(check_thread *t, int i), void *shared,
		   unsigned seed);

#endif
