/* check_consistency: read-your-writes across workers under stress (API.md
 * section 7). One writer saves an attempt as fast as it can; 16 readers
 * read its state through nginx, spread over every worker, while other
 * processes keep both CPUs busy (so that a worker's LISTEN socket is read
 * late, as on a loaded exam-day box). A read sent after a save was
 * acknowledged must show that version or a later one, cached or not.
 *
 * Environment: as check_api (ATTEMPTS_TEST_URL, ATTEMPTS_JWT_SECRET,
 * ATTEMPTS_TEST_DB); CONSISTENCY_READS overrides the number of reads
 * (default 100000). Exits 77 (automake SKIP) when one is missing. */
#include <check.h>
#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"

#define READERS 16
#define BURNERS 2
/* The size of the first stale read's and the first error's text. */
#define FIRST_LEN 256

typedef struct stress {
	char attempt_path[128];
	char attempt_id[UUID_STR_LEN + 1];
	char auth[AUTH_MAX_TOKEN_LEN + 32];
	long reads_wanted;
	atomic_long acked; /* the last version a save was acknowledged with */
	atomic_long reads;
	atomic_long stale;
	atomic_long hits;
	atomic_long errors;
	atomic_long saves;
	atomic_int stop;
	char first_stale[FIRST_LEN];
	char first_error[FIRST_LEN];
	pthread_mutex_t lock;
} stress;

/* The integer after "version": in body, or -1. */
static long body_version(const char *body)
{
	const char *p = strstr(body, "\"version\":");

	return p ? strtol(p + 10, NULL, 10) : -1;
}

/* Counts one event in *count and keeps the first one's text in first
 * (first_stale or first_error). */
static void note(stress *s, atomic_long *count, char first[FIRST_LEN], const char *what)
{
	pthread_mutex_lock(&s->lock);
	if (first[0] == '\0')
		snprintf(first, FIRST_LEN, "%s", what);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(count, 1);
}

/* The read paths that may answer from (or fill) the cache: GET state,
 * batch query (from the cache where it can), batch multiple_states (from
 * the database, filling the cache). Reader i uses path i % 3. */
typedef struct read_path {
	const char *method;
	int batch;
	const char *body_head, *body_tail; /* around the attempt id */
} read_path;

static const read_path read_paths[] = {
	{"GET", 0, NULL, NULL},
	{"POST", 1, "{\"operation\":\"query\",\"data\":[{\"type\":\"state\",\"attempt_id\":\"",
	 "\"}]}"},
	{"POST", 1, "{\"operation\":\"multiple_states\",\"data\":[\"", "\"]}"},
};

/* Batch readers read as proctors of their own (a proctor may read any
 * attempt): one caller may have only batch_concurrency_per_caller batch
 * requests in flight per worker. */
typedef struct reader_arg {
	stress *s;
	int path;
	user proctor;
	char auth[AUTH_MAX_TOKEN_LEN + 32];
} reader_arg;

static void *reader(void *arg)
{
	reader_arg *ra = arg;
	stress *s = ra->s;
	const read_path *rp = &read_paths[ra->path];
	const char *headers[] = {rp->batch ? ra->auth : s->auth, "Content-Type: application/json",
				 NULL};
	char body[256] = "";
	int body_len = rp->batch ? snprintf(body, sizeof body, "%s%s%s", rp->body_head,
					    s->attempt_id, rp->body_tail)
				 : 0;

	while (!atomic_load(&s->stop) && atomic_fetch_add(&s->reads, 1) < s->reads_wanted) {
		/* Read before the request leaves: any later ack may or may not
		 * be seen, this one must be. */
		long want = atomic_load(&s->acked);
		http_client_response r;
		const char *etag, *xc;
		long got_body, got_etag;
		char what[240];

		if (http_client_request(
			    g_url, rp->method,
			    rp->batch ? "/api/attempts/any-id?action=batch" : s->attempt_path,
			    headers, rp->batch ? body : NULL, (size_t)body_len, &r) != 0 ||
		    r.status != 200) {
			snprintf(what, sizeof what, "%s: status %d %.100s %.60s", rp->method,
				 r.status, r.body ? r.body : "", r.status ? "" : r.error);
			note(s, &s->errors, s->first_error, what);
			http_client_response_free(&r);
			continue;
		}
		etag = http_client_header(&r, "ETag");
		xc = http_client_header(&r, "X-Cache");
		got_body = body_version(r.body);
		/* A batch answer has no ETag of its own. */
		got_etag = rp->batch ? got_body
			   : etag    ? strtol(etag + (etag[0] == '"'), NULL, 10)
				     : -1;
		if (xc != NULL && strcmp(xc, "HIT") == 0)
			atomic_fetch_add(&s->hits, 1);
		if (got_body < want || got_etag < want) {
			snprintf(what, sizeof what,
				 "%s %s: ETag %s, body version %ld (X-Cache %s) after save %ld was "
				 "acknowledged",
				 rp->method, rp->batch ? rp->body_head : "state",
				 etag ? etag : "none", got_body, xc ? xc : "none", want);
			note(s, &s->stale, s->first_stale, what);
		}
		http_client_response_free(&r);
	}
	return NULL;
}

static void *writer(void *arg)
{
	stress *s = arg;
	const char *headers[] = {s->auth, "Content-Type: application/json", NULL};
	char save_path[160], body[128];
	long version = atomic_load(&s->acked);
	unsigned n = 0;

	snprintf(save_path, sizeof save_path, "%.*ssave", (int)(strlen(s->attempt_path) - 5),
		 s->attempt_path);
	while (!atomic_load(&s->stop)) {
		http_client_response r;
		int len = snprintf(body, sizeof body,
				   "{\"answers\":{\"q%u\":%u},\"expected_version\":%ld}", n % 20, n,
				   version);

		n++;
		if (http_client_request(g_url, "PATCH", save_path, headers, body, (size_t)len,
					&r) == 0 &&
		    r.status == 200) {
			version = body_version(r.body);
			atomic_store(&s->acked, version);
			atomic_fetch_add(&s->saves, 1);
		} else {
			char what[240];

			snprintf(what, sizeof what, "save: status %d %.100s %.60s", r.status,
				 r.body ? r.body : "", r.status ? "" : r.error);
			note(s, &s->errors, s->first_error, what);
		}
		http_client_response_free(&r);
	}
	return NULL;
}

/* Processes that keep a CPU busy until killed. */
static pid_t burn(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		volatile unsigned long x = 0;
		for (;;)
			x++;
	}
	return pid;
}

static void start_attempt(stress *s, const user *proctor, const user *student)
{
	char exam_id[ID_LEN];

	exam_create(proctor, "{\"title\":\"consistency\",\"time_limit_s\":3600}", exam_id);
	attempt_start(student, exam_id, s->attempt_id);
	atomic_store(&s->acked, db_version(s->attempt_id));
	attempt_path(s->attempt_path, sizeof s->attempt_path, s->attempt_id, "state");
	snprintf(s->auth, sizeof s->auth, "Authorization: Bearer %s", student->token);
}

START_TEST(test_read_your_writes_under_load)
{
	static stress s;
	user proctor = user_new(AUTH_ROLE_PROCTOR), student = user_new(AUTH_ROLE_STUDENT);
	const char *env = getenv("CONSISTENCY_READS");
	pthread_t readers[READERS], writer_thread;
	reader_arg args[READERS];
	pid_t burners[BURNERS];
	struct timespec t0, t1;
	double secs;

	memset(&s, 0, sizeof s);
	pthread_mutex_init(&s.lock, NULL);
	s.reads_wanted = env && atol(env) > 0 ? atol(env) : 100000;
	start_attempt(&s, &proctor, &student);
	for (int i = 0; i < BURNERS; i++)
		ck_assert_int_gt(burners[i] = burn(), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pthread_create(&writer_thread, NULL, writer, &s), 0);
	for (int i = 0; i < READERS; i++) {
		args[i].s = &s;
		args[i].path = i % 3;
		args[i].proctor = user_new(AUTH_ROLE_PROCTOR);
		snprintf(args[i].auth, sizeof args[i].auth, "Authorization: Bearer %s",
			 args[i].proctor.token);
		ck_assert_int_eq(pthread_create(&readers[i], NULL, reader, &args[i]), 0);
	}
	for (int i = 0; i < READERS; i++)
		pthread_join(readers[i], NULL);
	atomic_store(&s.stop, 1);
	pthread_join(writer_thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 0; i < BURNERS; i++) {
		kill(burners[i], SIGKILL);
		waitpid(burners[i], NULL, 0);
	}
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr,
		"# read-your-writes: %ld reads (%ld cache hits) during %ld saves in %.1f s "
		"with %d CPU burners: %ld stale, %ld errors\n",
		s.reads_wanted, atomic_load(&s.hits), atomic_load(&s.saves), secs, BURNERS,
		atomic_load(&s.stale), atomic_load(&s.errors));
	user_free(&proctor);
	user_free(&student);
	for (int i = 0; i < READERS; i++)
		user_free(&args[i].proctor);
	ck_assert_msg(atomic_load(&s.stale) == 0, "%ld stale reads; first: %s",
		      atomic_load(&s.stale), s.first_stale);
	ck_assert_msg(atomic_load(&s.errors) == 0, "%ld requests failed; first: %s",
		      atomic_load(&s.errors), s.first_error);
	/* The test means something only if the cache answered often. */
	ck_assert_msg(atomic_load(&s.hits) * 10 >= s.reads_wanted,
		      "only %ld of %ld reads were cache hits", atomic_load(&s.hits),
		      s.reads_wanted);
	ck_assert_msg(atomic_load(&s.saves) >= 100, "only %ld saves", atomic_load(&s.saves));
}
END_TEST

int main(void)
{
	Suite *s;

	if (e2e_read_env("check_consistency", NULL) != 0)
		return 77;
	s = suite_create("consistency");
	tcase_add_test(tcase(s, "read_your_writes", 900), test_read_your_writes_under_load);
	return e2e_run(s, CK_ENV);
}
