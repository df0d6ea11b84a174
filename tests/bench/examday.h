/* examday: what the files of the exam-day load generator share (see
 * examday.c for what it does and how it is run): the schedule's
 * constants, a student, a phase, a connection, the globals each file
 * owns and the functions each offers the others. */
#ifndef BENCH_EXAMDAY_H
#define BENCH_EXAMDAY_H

#include <netinet/in.h>
#include <cJSON.h>
#include <stdio.h>

#include "auth.h"
#include "buf.h"
#include "uuid.h"

#define SAVE_MS 15000.0
#define ACTIVITY_MS 10000.0
#define STATE_MS 30000.0
#define ANSWERS_BYTES 2048
#define REQ_TIMEOUT_MS 30000.0
#define DRAIN_MS 30000.0
#define HOLD_P99_MS 50.0
#define MAX_PHASES 16
#define MAX_CONNS 4096
#define INBUF 65536

enum kind { K_START, K_SAVE, K_ACTIVITY, K_STATE, K_SUBMIT, K_LATE, NK };

/* Latency histogram: buckets 1 % wide from 10 µs up. */
#define H_BUCKETS 2048
typedef struct hist {
	unsigned n[H_BUCKETS];
	unsigned long long count;
	double max, sum;
} hist;

typedef struct student {
	char sub[UUID_STR_LEN + 1];
	char attempt_id[UUID_STR_LEN + 1];
	char *token;
	int phase;
	int version;	    /* the last acknowledged version */
	int acked_saves;    /* saves answered 2xx */
	int unknown_saves;  /* saves whose outcome is unknown (5xx, no answer) */
	int last_acked_seq; /* the seq of the last acknowledged save */
	int next_seq;
	int events;
	int busy; /* queued for a connection or in flight */
	int dead; /* its start failed: nothing more to send */
	int submitted;
	int cur_kind;
	double cur_intended;
	double due[NK];	    /* intended times (ms, monotonic); INFINITY = none */
	double deadline_ms; /* deadline + grace, monotonic (deadline storm) */
	int submitter;	    /* deadline storm: submits 1 s before (else saves after) */
} student;

typedef struct cpu_sample {
	double pg, nginx, workers, self;
} cpu_sample;

typedef struct phase {
	char name[48];
	int deadline; /* the deadline storm */
	int n, first;
	double t0, window_ms, end_ms, hold_ms;
	char exam_id[UUID_STR_LEN + 1];
	hist h[NK];
	unsigned long long ok[NK], err[NK];
	unsigned status[600];
	unsigned long long sent, answered, stale_reads;
	unsigned long long resent; /* resent once after a kept-alive close, see conn_resend */
	double elapsed_ms;
	cpu_sample cpu0, cpu1;
	double value_bytes; /* bytes per answer written by one save */
	/* deadline storm */
	double last_deadline_ms;
	double sweep_s; /* time from the last deadline + grace until no attempt in progress */
	long left_in_progress;
	unsigned long long late_closed, late_submitted; /* the late saves' 409 codes */
	/* verification */
	long checked, missing, ver_bad, data_bad, not_found;
} phase;

typedef struct conn {
	int fd;
	int state; /* 0 closed, 1 connecting, 2 idle, 3 busy */
	int sid;
	buf out;
	size_t out_off;
	char *in;
	size_t in_len;
	double sent_at;
	double idle_since; /* when it last became free */
	unsigned requests;
	int resend; /* connecting to send c->out again (conn_resend) */
	int resent; /* the request in flight was sent a second time */
} conn;

/* A student's next intended send time, in the timer heap. */
typedef struct hent {
	double t;
	int sid;
} hent;

/* ------------------------------------------------ examday.c: command line, set-up */

extern struct sockaddr_in g_addr;
extern const char *g_url, *g_conninfo, *g_secret;
extern student *S;
extern int n_students;
extern phase P[MAX_PHASES];
extern int n_phases;
extern int pid_pg, pid_nginx, pid_workers;
extern long g_limit_s, g_grace_s; /* the deadline storm's exam */

/* Prints "examday: " and the message to stderr and exits 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The monotonic clock in ms. */
double now_ms(void);
/* calloc that dies when out of memory. */
void *xmalloc(size_t n);

/* ------------------------------------------------ examday_student.c */

extern int *ready, ready_head, ready_len, ready_cap; /* students due, FIFO */
extern hent *heap;				     /* students waiting, by time */
extern int heap_len, heap_cap;

/* The timer heap of students waiting for their next intended time. */
void heap_push(double t, int sid);
hent heap_pop(void);
/* The first time off + k * period (k >= 0) after t. */
double next_after(double off, double period, double t);
/* t, or INFINITY when it falls after the end of phase ph. */
double clip(const phase *ph, double t);
/* An idle student: queue its earliest due request, or arm its timer. */
void student_schedule(int sid, double now);
/* The filler of save seq of student sid: n bytes of "s<sid>.<seq>." repeated. */
void filler(buf *b, int sid, int seq, int n);
/* The HTTP request of student sid's current request, into c->out. */
void build_request(conn *c, int sid);
/* Handles the answer (status 0: none) to the student's current request. */
void complete(int sid, int status, const char *body, double now);

/* ------------------------------------------------ examday_conn.c */

extern conn *C;
extern int n_conns;
extern int ep;		   /* the epoll set of the connections */
extern int *freec, n_free; /* idle connections */
extern int inflight;

void conn_open(int i);
/* Sends queued requests on free connections. */
void dispatch(void);
/* Frees connection i after its request ended (answered or failed). */
void conn_done(int i, int keep);
/* What epoll reported for connection i. */
void conn_event(int i, unsigned events, double now);
/* Fails requests in flight longer than REQ_TIMEOUT_MS. */
void check_timeouts(double now);
/* One blocking request on a connection of its own (set-up). Returns the
 * status and the parsed body (the caller deletes it). */
int blocking(const char *method, const char *path, const char *token, const char *body,
	     cJSON **out);

/* ------------------------------------------------ examday_run.c */

/* Runs one phase to its end and the drain of what is still in flight. */
void run_phase(phase *ph, double progress_ms);

/* ------------------------------------------------ examday_db.c */

/* Connects to the database at g_conninfo (dies if it cannot); closes. */
void db_open(void);
void db_close(void);
/* Checks every attempt of the phase against what was acknowledged. */
void verify_phase(phase *ph);
/* Deadline storm: waits until no attempt of the exam is in progress. */
void wait_sweep(phase *ph);

/* ------------------------------------------------ examday_report.c */

/* Latency histogram: buckets 1 % wide from 10 µs up. */
void hist_add(hist *h, double ms);
/* The q-quantile in ms (the bucket's upper edge, capped at the max). */
double hist_q(const hist *h, double q);
/* The Markdown tables of every phase. */
void report(FILE *f);

#endif
