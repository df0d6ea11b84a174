/* check_api_optimize: the optimize action (clear_cache, preload, analyze)
 * and its refusals, seen through the workers' caches. Part of check_api
 * (see check_api.c). */
#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "e2e_util.h"
#include "http_client.h"
#include "json.h"
#include "uuid.h"
#include "check_api.h"

/* Records worker pid with its cache size (the largest seen) in
 * pids/sizes (*npids entries, at most 16). */
static void note_sample(long pid, double size, long *pids, double *sizes, int *npids)
{
	int k;

	for (k = 0; k < *npids && pids[k] != pid; k++)
		;
	if (k == *npids && k < 16) {
		pids[k] = pid;
		sizes[k] = size;
		(*npids)++;
	} else if (k < *npids && size > sizes[k]) {
		sizes[k] = size;
	}
}

/* Reaches several workers: n children at once each read state_path (when
 * not NULL: fills that worker's cache) and then the optimization stats,
 * and report "pid size". nginx's kept-alive connections may all lead to
 * one worker; concurrent requests make it open new ones, which a worker
 * with a free thread accepts. Records what was seen as sample_workers. */
static void sample_in_parallel(const user *reader, const char *state_path, const user *admin, int n,
			       long *pids, double *sizes, int *npids)
{
	char rauth[AUTH_MAX_TOKEN_LEN + 32], aauth[AUTH_MAX_TOKEN_LEN + 32];
	int fds[16][2];
	pid_t kids[16];

	ck_assert(n <= 16);
	snprintf(rauth, sizeof rauth, "Authorization: Bearer %s", reader->token);
	snprintf(aauth, sizeof aauth, "Authorization: Bearer %s", admin->token);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		kids[i] = fork();
		ck_assert(kids[i] >= 0);
		if (kids[i] == 0) {
			const char *rh[] = {rauth, NULL}, *ah[] = {aauth, NULL};
			http_client_response hr;
			char line[64];
			cJSON *o;
			int len;

			if (state_path != NULL) {
				if (http_client_request(g_url, "GET", state_path, rh, NULL, 0,
							&hr) != 0)
					_exit(1);
				http_client_response_free(&hr);
			}
			if (http_client_request(g_url, "GET",
						"/api/attempts/00000000-0000-4000-8000-000000000000"
						"?action=stats&type=optimization",
						ah, NULL, 0, &hr) != 0 ||
			    hr.status != 200)
				_exit(1);
			o = cJSON_Parse(hr.body);
			len = snprintf(line, sizeof line, "%ld %g",
				       (long)cJSON_GetNumberValue(cJSON_GetObjectItem(
					       cJSON_GetObjectItem(o, "process"), "pid")),
				       cJSON_GetNumberValue(cJSON_GetObjectItem(
					       cJSON_GetObjectItem(o, "cache"), "size")));
			_exit(write(fds[i][1], line, (size_t)len) == len ? 0 : 1);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < n; i++) {
		char line[64] = "";
		long pid = 0;
		double size = 0;
		int status = 0;

		waitpid(kids[i], &status, 0);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "a sampling request failed");
		ck_assert_int_gt(read(fds[i][0], line, sizeof line - 1), 0);
		close(fds[i][0]);
		ck_assert_int_eq(sscanf(line, "%ld %lg", &pid, &size), 2);
		note_sample(pid, size, pids, sizes, npids);
	}
}

/* Asks for the optimization stats n times; records each worker's pid and
 * its cache size (the largest seen) in pids/sizes (*npids entries). */
static void sample_workers(const user *admin, int n, long *pids, double *sizes, int *npids)
{
	for (int i = 0; i < n; i++) {
		resp r;
		const cJSON *o;
		long pid;
		double size;

		optimization(&r, admin);
		o = expect_ok(&r, 200);
		pid = (long)jnum(jget(o, "process"), "pid");
		size = jnum(jget(o, "cache"), "size");
		note_sample(pid, size, pids, sizes, npids);
		resp_free(&r);
	}
}

START_TEST(test_optimize_clear_cache)
{
	world w;
	char state[160];
	resp r;
	const cJSON *o;
	long pids[16];
	double sizes[16];
	int npids = 0, hits = 0;
	const char *xc;

	world_new(&w, TIMED_EXAM);
	attempt_path(state, sizeof state, w.attempt_id, "state");
	/* Fill the caches: the usual worker, then others, reached by
	 * concurrent reads. */
	for (int i = 0; i < 4; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		expect_ok(&r, 200);
		xc = http_client_header(&r.r, "X-Cache");
		hits += xc != NULL && strcmp(xc, "HIT") == 0;
		resp_free(&r);
	}
	sample_workers(&w.admin, 1, pids, sizes, &npids);
	for (int round = 0; round < 5 && npids < 2; round++)
		sample_in_parallel(&w.student, state, &w.admin, 12, pids, sizes, &npids);
	printf("# clear_cache: before, %d worker(s) seen, %d state HIT(s) in 4 reads;", npids,
	       hits);
	for (int k = 0; k < npids; k++)
		printf(" pid %ld holds %g", pids[k], sizes[k]);
	printf("\n");

	optimize(&r, &w.admin, "{\"operation\":\"clear_cache\"}");
	o = expect_ok(&r, 200);
	ck_assert_msg(nkeys(o) == 1 && jnum(o, "cleared") >= 1,
		      "clear_cache answered %s, want {\"cleared\": n >= 1}", r.r.body);
	resp_free(&r);

	/* Every worker we can reach holds nothing now, or soon: the others
	 * hear the broadcast by NOTIFY (within 100 ms on a quiet machine;
	 * waited for here, up to 10 s, so that a loaded one is no failure). */
	for (int wait = 0; wait < 20; wait++) {
		int nonempty = 0;

		usleep(wait == 0 ? 100 * 1000 : 500 * 1000);
		npids = 0;
		sample_workers(&w.admin, 3, pids, sizes, &npids);
		for (int round = 0; round < 5 && npids < 2; round++)
			sample_in_parallel(&w.admin, NULL, &w.admin, 12, pids, sizes, &npids);
		for (int k = 0; k < npids; k++)
			nonempty += sizes[k] != 0;
		if (nonempty == 0)
			break;
	}
	printf("# clear_cache: after, %d worker(s) seen:", npids);
	for (int k = 0; k < npids; k++)
		printf(" pid %ld holds %g", pids[k], sizes[k]);
	printf("\n");
	fflush(stdout);
	for (int k = 0; k < npids; k++)
		ck_assert_msg(sizes[k] == 0,
			      "worker %ld still holds %g cache entries after clear_cache", pids[k],
			      sizes[k]);

	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	expect_ok(&r, 200);
	xc = http_client_header(&r.r, "X-Cache");
	ck_assert_msg(xc != NULL && strcmp(xc, "MISS") == 0,
		      "first state read after clear_cache: X-Cache %s, want MISS",
		      xc ? xc : "(none)");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_optimize_preload)
{
	stats_world a;
	world b;
	resp r;
	char body[256], empty[ID_LEN];

	stats_world_new(&a);	     /* 2 in progress, 1 submitted */
	world_new(&b, UNTIMED_EXAM); /* 1 in progress */
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\",\"%s\"]}",
		 a.exam_id, b.exam_id);
	optimize(&r, &a.admin, body);
	expect_num(expect_ok(&r, 200), "preloaded", 3);
	ck_assert_int_eq(nkeys(r.json), 1);
	resp_free(&r);
	exam_create(&b.proctor, UNTIMED_EXAM, empty);
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\"]}", empty);
	optimize(&r, &a.admin, body);
	expect_num(expect_ok(&r, 200), "preloaded", 0);
	resp_free(&r);
	stats_world_free(&a);
	world_free(&b);
}
END_TEST

START_TEST(test_optimize_preload_bad)
{
	user admin = user_new(AUTH_ROLE_ADMIN);
	char id[ID_LEN], body[256];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\",\"bad\"]}",
		 id);
	optimize_field_refused(&admin, body, "exam_ids[1]");
	optimize_field_refused(&admin, "{\"operation\":\"preload\"}", "exam_ids");
	optimize_field_refused(&admin, "{\"operation\":\"preload\",\"exam_ids\":\"x\"}",
			       "exam_ids");
	user_free(&admin);
}
END_TEST

START_TEST(test_optimize_analyze)
{
	user admin = user_new(AUTH_ROLE_ADMIN);
	resp r;
	const cJSON *o, *it;

	optimize(&r, &admin, "{\"operation\":\"analyze\"}");
	o = expect_ok(&r, 200);
	ck_assert(cJSON_IsArray(jget(o, "recommendations")));
	cJSON_ArrayForEach(it, jget(o, "recommendations")) ck_assert(cJSON_IsString(it));
	ck_assert(cJSON_IsObject(jget(o, "observations")));
	resp_free(&r);
	user_free(&admin);
}
END_TEST

START_TEST(test_optimize_errors)
{
	user admin = user_new(AUTH_ROLE_ADMIN), p = user_new(AUTH_ROLE_PROCTOR),
	     s = user_new(AUTH_ROLE_STUDENT);

	optimize_field_refused(&admin, "{\"operation\":\"defragment\"}", "operation");
	optimize_field_refused(&admin, "{}", "operation");
	optimize_refused(&admin, "{\"operation\":", 400, "invalid_json");
	optimize_refused(&p, "{\"operation\":\"clear_cache\"}", 403, "forbidden");
	optimize_refused(&s, "{\"operation\":\"analyze\"}", 403, "forbidden");
	optimize_refused(NULL, "{\"operation\":\"analyze\"}", 401, "unauthorized");
	user_free(&admin);
	user_free(&p);
	user_free(&s);
}
END_TEST

void api_optimize_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "optimize", 60, test_optimize_clear_cache, test_optimize_preload,
		      test_optimize_preload_bad, test_optimize_analyze, test_optimize_errors);
}
