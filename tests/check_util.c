/* check_util: helpers every unit-test file shares (check_util.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check_util.h"

TCase *check_tcase(Suite *s, const char *name, SFun setup, SFun teardown, ...)
{
	TCase *tc = tcase_create(name);
	const TTest *test;
	va_list ap;

	tcase_set_timeout(tc, CHECK_TIMEOUT_S);
	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	va_start(ap, teardown);
	while ((test = va_arg(ap, const TTest *)) != NULL)
		tcase_add_test(tc, test);
	va_end(ap);
	suite_add_tcase(s, tc);
	return tc;
}

void check_add_suites(SRunner *sr, const check_suite_def *defs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		Suite *s = suite_create(defs[i].name);

		defs[i].add_cases(s);
		srunner_add_suite(sr, s);
	}
}

long long check_fake_clock(void *ctx)
{
	return *(const long long *)ctx;
}

long long check_atomic_clock(void *ctx)
{
	return atomic_load((atomic_llong *)ctx);
}

void check_note_max(atomic_int *max, int v)
{
	int cur = atomic_load(max);

	while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
		;
}

/* A thread of check_threads() and what it runs. */
typedef struct thread_job {
	check_thread t;
	int iters;
	void (*step)(check_thread *t, int i);
	pthread_t th;
} thread_job;

static void *run_steps(void *p)
{
	thread_job *job = p;

	for (int i = 0; i < job->iters; i++)
		job->step(&job->t, i);
	return NULL;
}

void check_threads(int nthreads, int iters, void (*step)(check_thread *t, int i), void *shared,
		   unsigned seed)
{
	thread_job jobs[CHECK_MAX_THREADS];

	ck_assert_int_le(nthreads, CHECK_MAX_THREADS);
	for (int k = 0; k < nthreads; k++) {
		jobs[k] = (thread_job){
			.t = {k, seed + (unsigned)k * 7919u, shared}, .iters = iters, .step = step};
		ck_assert_int_eq(pthread_create(&jobs[k].th, NULL, run_steps, &jobs[k]), 0);
	}
	for (int k = 0; k < nthreads; k++)
		ck_assert_int_eq(pthread_join(jobs[k].th, NULL), 0);
}

void check_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The field of have called name; fails the test when there is none. */
static long long field_value(const check_field *have, size_t nhave, const char *name)
{
	for (size_t i = 0; i < nhave; i++)
		if (strcmp(have[i].name, name) == 0)
			return have[i].value;
	ck_abort_msg("no field %s", name);
	return 0;
}

void check_fields(const check_field *have, size_t nhave, const char *names, const long long *want,
		  size_t nwant)
{
	char name[64];
	size_t i = 0;

	for (const char *p = names + strspn(names, " "); *p != '\0'; p += strspn(p, " ")) {
		size_t len = strcspn(p, " ");
		long long got;

		ck_assert_uint_lt(i, nwant);
		snprintf(name, sizeof name, "%.*s", (int)len, p);
		got = field_value(have, nhave, name);
		ck_assert_msg(got == want[i], "%s: %lld, expected %lld", name, got, want[i]);
		i++;
		p += len;
	}
	ck_assert_uint_eq(i, nwant);
}
