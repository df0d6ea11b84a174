/* examday_run: one phase of the run: its students' first intended
 * times, the loop (timers, dispatch, epoll), the progress lines, the
 * drain at the end, and the CPU time of PostgreSQL, nginx, the workers
 * and the generator around it. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "examday.h"

/* ------------------------------------------------------------ CPU */

/* CPU seconds (user + system) of pid and its direct children. */
static double tree_cpu(int pid)
{
	char path[64];
	double ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	DIR *d;
	struct dirent *de;

	if (pid <= 0)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		int p = atoi(de->d_name), ppid;
		unsigned long ut, st;
		char *rp;
		FILE *f;

		if (p <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", p);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		char stat[1024];
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = 0;
		if ((rp = strrchr(stat, ')')) == NULL)
			continue;
		/* after ") ": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut,
			   &st) != 3)
			continue;
		if (p == pid || ppid == pid)
			ticks += (double)(ut + st);
	}
	closedir(d);
	return ticks / (double)hz;
}

static void cpu_now(cpu_sample *c)
{
	struct rusage ru;

	c->pg = tree_cpu(pid_pg);
	c->nginx = tree_cpu(pid_nginx);
	c->workers = tree_cpu(pid_workers);
	getrusage(RUSAGE_SELF, &ru);
	c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------ running */

static void progress(const phase *ph, double now)
{
	unsigned long long errs = 0;

	for (int k = 0; k < NK; k++)
		errs += ph->err[k];
	printf("[%s] %5.0f s  students %d  sent %llu  answered %llu  waiting %d  in flight %d  "
	       "p99 ms: start %.1f save %.1f activity %.1f state %.1f",
	       ph->name, (now - ph->t0) / 1000.0, ph->n, ph->sent, ph->answered, ready_len,
	       inflight, hist_q(&ph->h[K_START], 0.99), hist_q(&ph->h[K_SAVE], 0.99),
	       hist_q(&ph->h[K_ACTIVITY], 0.99), hist_q(&ph->h[K_STATE], 0.99));
	if (ph->deadline)
		printf(" submit %.1f late %.1f", hist_q(&ph->h[K_SUBMIT], 0.99),
		       hist_q(&ph->h[K_LATE], 0.99));
	printf("  errors %llu\n", errs);
	fflush(stdout);
}

void run_phase(phase *ph, double progress_ms)
{
	struct epoll_event evs[256];
	double next_prog, stop_at;
	int i;

	ph->t0 = now_ms() + 500.0;
	ph->end_ms = ph->t0 + ph->window_ms + ph->hold_ms;
	if (ph->deadline)
		ph->end_ms =
			ph->t0 + ph->window_ms + (double)(g_limit_s + g_grace_s) * 1000.0 + 4000.0;
	{
		double saves = (ph->end_ms - ph->t0) / SAVE_MS + 1;
		ph->value_bytes = ANSWERS_BYTES / saves - 24;
		if (ph->value_bytes < 16)
			ph->value_bytes = 16;
	}
	for (i = 0; i < ph->n; i++) {
		int sid = ph->first + i;
		student *s = &S[sid];
		double frac = (double)i / ph->n, st = ph->t0 + ph->window_ms * frac;

		for (int k = 0; k < NK; k++)
			s->due[k] = INFINITY;
		s->due[K_START] = st;
		s->due[K_SAVE] = clip(ph, next_after(ph->t0 + SAVE_MS * frac, SAVE_MS, st));
		s->due[K_ACTIVITY] =
			clip(ph, next_after(ph->t0 + ACTIVITY_MS * frac, ACTIVITY_MS, st));
		s->due[K_STATE] = clip(ph, next_after(ph->t0 + STATE_MS * frac, STATE_MS, st));
		heap_push(st, sid);
	}
	cpu_now(&ph->cpu0);
	printf("==> %s: %d students, starts within %.0f s, until %.0f s\n", ph->name, ph->n,
	       ph->window_ms / 1000.0, (ph->end_ms - ph->t0) / 1000.0);
	fflush(stdout);
	next_prog = ph->t0 + progress_ms;
	stop_at = ph->end_ms + DRAIN_MS;
	for (;;) {
		double now = now_ms();
		int timeout, n;

		while (heap_len > 0 && heap[0].t <= now) {
			hent h = heap_pop();
			student_schedule(h.sid, now);
		}
		dispatch();
		if (now >= next_prog) {
			progress(ph, now);
			check_timeouts(now);
			next_prog += progress_ms;
		}
		if (now >= ph->end_ms && heap_len == 0 && ready_len == 0 && inflight == 0)
			break;
		if (now >= stop_at) {
			fprintf(stderr,
				"examday: %s: %d requests still waiting, %d in flight after %.0f s "
				"of drain: counted as errors\n",
				ph->name, ready_len, inflight, DRAIN_MS / 1000.0);
			while (ready_len > 0) {
				int sid = ready[ready_head];
				ready_head = (ready_head + 1) % ready_cap;
				ready_len--;
				complete(sid, 0, NULL, now);
			}
			for (i = 0; i < n_conns; i++) {
				if (C[i].state == 3) {
					int sid = C[i].sid;
					conn_done(i, 0);
					complete(sid, 0, NULL, now);
				}
			}
			heap_len = 0;
			break;
		}
		timeout = heap_len > 0 ? (int)ceil(heap[0].t - now) : 100;
		if (timeout > 100)
			timeout = 100;
		if (timeout < 0)
			timeout = 0;
		n = epoll_wait(ep, evs, 256, timeout);
		now = now_ms();
		for (i = 0; i < n; i++)
			conn_event((int)evs[i].data.u32, evs[i].events, now);
	}
	ph->elapsed_ms = now_ms() - ph->t0;
	cpu_now(&ph->cpu1);
	progress(ph, now_ms());
}
