/* examday: an open-loop exam-day load generator (issue 15, `./dev examday`).
 * Synthetic students start an attempt, then save every 15 s (answers
 * growing to about 2 KB, each save with the version its last acknowledged
 * save returned), log one activity event every 10 s and read their state
 * every 30 s. Every request has an intended send time from that schedule
 * (the students' phases spread evenly) and its latency is measured from
 * it, not from when it was sent: when the generator or the service falls
 * behind, the lateness counts (no coordinated omission). Requests go over
 * a fixed set of HTTP/1.1 keep-alive connections (one epoll loop, one
 * thread); a due request waits for a free connection, and that wait counts.
 *
 * Phases: steps of increasing students (each on an exam of its own, its
 * students starting evenly within the start window: the start storm, then
 * held for the hold time), then optionally a deadline storm (an exam whose
 * deadlines fall during the run: saves every 2 s in the last 10 s, half the
 * students submit 1 s before their deadline, the other half save 1 s after
 * deadline + grace and expect 409). Afterwards every attempt is checked in
 * the database: version = 1 + acknowledged saves (+1 when submitted), and
 * the stored answers hold the last acknowledged save's data.
 *
 * Usage: examday -u http://127.0.0.1:PORT -d CONNINFO [-c CONNS]
 *          [-s 5000,10000] [-w START_WINDOW_S] [-H HOLD_S]
 *          [-D DEADLINE_STUDENTS] [-L DEADLINE_LIMIT_S] [-W DEADLINE_WINDOW_S]
 *          [-r REPORT.md] [-P pg:PID,nginx:PID,workers:PID]
 * ATTEMPTS_JWT_SECRET signs the tokens. Exit 0 when measured and nothing
 * acknowledged is missing; 1 when an acknowledged save is missing; 2 when
 * it could not measure (bad usage, set-up failure). Timing never fails.
 *
 * This file: the command line, the set-up (phases, students and their
 * tokens, an exam per phase, the connections) and the run, phase after
 * phase. The schedule and the students are examday_student.c, the
 * connections examday_conn.c, a phase's loop examday_run.c, the database
 * check examday_db.c, the report examday_report.c (examday.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "examday.h"

struct sockaddr_in g_addr;
const char *g_url, *g_conninfo, *g_secret;
student *S;
int n_students;
phase P[MAX_PHASES];
int n_phases;
int pid_pg, pid_nginx, pid_workers;
long g_limit_s = 30, g_grace_s = 2;

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "examday: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void *xmalloc(size_t n)
{
	void *p = calloc(1, n);

	if (p == NULL)
		die("out of memory");
	return p;
}

static char *sign(const char *sub, auth_role role)
{
	time_t now = time(NULL);
	char *t = auth_sign(sub, role, now, now + 6 * 3600, g_secret, strlen(g_secret));

	if (t == NULL)
		die("cannot sign a token");
	return t;
}

/* Creates an exam; time_limit_s 0 means the default of the steps (3 h). */
static void create_exam(phase *ph, const char *admin, long limit_s, long grace_s)
{
	char body[256];
	cJSON *j;
	int st;

	snprintf(body, sizeof body,
		 "{\"title\":\"examday "
		 "%s\",\"time_limit_s\":%ld,\"grace_s\":%ld,\"max_attempts\":1}",
		 ph->name, limit_s, grace_s);
	st = blocking("POST", "/api/exams", admin, body, &j);
	if (st != 201 || !j || !cJSON_GetStringValue(cJSON_GetObjectItem(j, "exam_id")))
		die("POST /api/exams answered %d", st);
	snprintf(ph->exam_id, sizeof ph->exam_id, "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(j, "exam_id")));
	cJSON_Delete(j);
}

/* ------------------------------------------------------------ main */

/* What the command line sets besides the globals. */
typedef struct options {
	const char *steps, *report_path;
	double window_s, hold_s, dl_window_s, progress_s;
	int conns, dl_students;
} options;

/* The pids of -P pg:PID,nginx:PID,workers:PID. */
static void parse_pids(const char *arg)
{
	char *spec = strdup(arg), *tok, *save = NULL;

	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "pg:", 3) == 0)
			pid_pg = atoi(tok + 3);
		else if (strncmp(tok, "nginx:", 6) == 0)
			pid_nginx = atoi(tok + 6);
		else if (strncmp(tok, "workers:", 8) == 0)
			pid_workers = atoi(tok + 8);
	}
	free(spec);
}

/* The command line into o and the globals; dies on bad usage. */
static void parse_args(int argc, char **argv, options *o)
{
	int opt, port;

	while ((opt = getopt(argc, argv, "u:d:c:s:w:H:D:L:G:W:r:P:p:")) != -1) {
		switch (opt) {
		case 'u':
			g_url = optarg;
			break;
		case 'd':
			g_conninfo = optarg;
			break;
		case 'c':
			o->conns = atoi(optarg);
			break;
		case 's':
			o->steps = optarg;
			break;
		case 'w':
			o->window_s = atof(optarg);
			break;
		case 'H':
			o->hold_s = atof(optarg);
			break;
		case 'D':
			o->dl_students = atoi(optarg);
			break;
		case 'L':
			g_limit_s = atol(optarg);
			break;
		case 'G':
			g_grace_s = atol(optarg);
			break;
		case 'W':
			o->dl_window_s = atof(optarg);
			break;
		case 'r':
			o->report_path = optarg;
			break;
		case 'p':
			o->progress_s = atof(optarg);
			break;
		case 'P':
			parse_pids(optarg);
			break;
		default:
			die("bad usage (see the comment at the top of tests/bench/examday.c)");
		}
	}
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	if (!g_url || !g_conninfo || !g_secret || o->conns < 1 || o->conns > MAX_CONNS ||
	    o->window_s < 0 || o->hold_s < 0 || o->progress_s <= 0 || g_limit_s < 12 ||
	    g_grace_s < 0)
		die("usage: examday -u URL -d CONNINFO [-c CONNS] [-s STEPS] [-w S] [-H S] [-D N] "
		    "[-L S] [-G S] [-W S] [-r FILE] [-P pg:PID,nginx:PID,workers:PID] "
		    "(ATTEMPTS_JWT_SECRET set; -L at least 12)");
	if (sscanf(g_url, "http://127.0.0.1:%d", &port) != 1 || port < 1 || port > 65535)
		die("-u must be http://127.0.0.1:PORT");
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((unsigned short)port);
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* The phases: one per step, then the deadline storm; and how many
 * students in all. */
static void plan_phases(const options *o)
{
	char *list = strdup(o->steps), *tok, *save = NULL;

	for (tok = strtok_r(list, ",", &save); tok && n_phases < MAX_PHASES - 1;
	     tok = strtok_r(NULL, ",", &save)) {
		phase *ph = &P[n_phases++];
		ph->n = atoi(tok);
		if (ph->n < 1)
			die("bad step '%s'", tok);
		snprintf(ph->name, sizeof ph->name, "step %d", n_phases);
		ph->window_ms = o->window_s * 1000.0;
		ph->hold_ms = o->hold_s * 1000.0;
	}
	free(list);
	if (o->dl_students > 0) {
		phase *ph = &P[n_phases++];
		ph->n = o->dl_students;
		ph->deadline = 1;
		snprintf(ph->name, sizeof ph->name, "deadline storm");
		ph->window_ms = o->dl_window_s * 1000.0;
	}
	for (int p = 0; p < n_phases; p++) {
		P[p].first = n_students;
		n_students += P[p].n;
	}
}

/* An exam per phase and its students with their tokens. */
static void enrol_students(void)
{
	char *admin, admin_sub[UUID_STR_LEN + 1];

	S = xmalloc((size_t)n_students * sizeof *S);
	if (uuid_generate(admin_sub) != ATT_OK)
		die("no randomness");
	admin = sign(admin_sub, AUTH_ROLE_ADMIN);
	for (int p = 0; p < n_phases; p++) {
		if (P[p].deadline)
			create_exam(&P[p], admin, g_limit_s, g_grace_s);
		else
			create_exam(&P[p], admin, 10800, 0);
		for (int i = 0; i < P[p].n; i++) {
			student *s = &S[P[p].first + i];
			s->phase = p;
			s->submitter = (i % 2) == 0;
			if (uuid_generate(s->sub) != ATT_OK)
				die("no randomness");
			s->token = sign(s->sub, AUTH_ROLE_STUDENT);
			for (int k = 0; k < NK; k++)
				s->due[k] = INFINITY;
		}
	}
	free(admin);
}

/* The epoll set and conns connections opening. */
static void open_connections(int conns)
{
	struct rlimit rl;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	n_conns = conns;
	C = xmalloc((size_t)n_conns * sizeof *C);
	freec = xmalloc((size_t)n_conns * sizeof *freec);
	for (int i = 0; i < n_conns; i++) {
		C[i].in = xmalloc(INBUF);
		C[i].sid = -1;
		buf_init(&C[i].out);
		conn_open(i);
	}
}

int main(int argc, char **argv)
{
	options o = {.steps = "5000,10000,15000,20000,30000",
		     .window_s = 60,
		     .hold_s = 30,
		     .dl_window_s = 20,
		     .progress_s = 5,
		     .conns = 256};
	long missing = 0;

	parse_args(argc, argv, &o);
	db_open();
	plan_phases(&o);
	if (n_phases == 0)
		die("no phase to run");
	enrol_students();
	open_connections(o.conns);
	printf("==> examday: %d phases, %d students, %d connections to %s\n", n_phases, n_students,
	       n_conns, g_url);
	for (int p = 0; p < n_phases; p++) {
		run_phase(&P[p], o.progress_s * 1000.0);
		if (P[p].deadline)
			wait_sweep(&P[p]);
		verify_phase(&P[p]);
		missing += P[p].missing;
	}
	report(stdout);
	if (o.report_path) {
		FILE *f = fopen(o.report_path, "w");
		if (f == NULL)
			die("cannot write %s: %s", o.report_path, strerror(errno));
		report(f);
		if (fclose(f) != 0)
			die("cannot write %s", o.report_path);
	}
	db_close();
	if (missing) {
		printf("examday: FAIL: %ld attempts lack an acknowledged save or have a wrong "
		       "version\n",
		       missing);
		return 1;
	}
	printf("examday: every acknowledged save is in the database\n");
	return 0;
}
