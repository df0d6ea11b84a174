/* hostile: what the files of the hostile program share (see hostile.c for
 * what it does): the limits, the seeded randomness, a
 * request and its answer, the kinds of traffic and of failures, the
 * statistics, the world set up on the stack (globals defined in hostile.c
 * and hostile_stats.c) and the functions each file offers the others. */
#ifndef E2E_HOSTILE_H
#define E2E_HOSTILE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "buf.h"
#include "uuid.h"

#define TIMEOUT_MS 10000
#define ID_LEN (UUID_STR_LEN + 1)
#define NSTUDENTS 4
#define TWO_MIB (2 * 1024 * 1024)

/* splitmix64: every request index has its own stream, so a run is the
 * same whatever the thread interleaving, and -1 INDEX replays one. */
typedef struct rng {
	uint64_t s;
} rng;

#define PICK(r, arr) ((arr)[below((r), (unsigned)(sizeof(arr) / sizeof((arr)[0])))])

typedef struct hostile_user {
	char sub[ID_LEN];
	auth_role role;
	char *token;
	char attempt[ID_LEN]; /* students: their attempt */
} hostile_user;

/* How a request is sent and what may come back. */
typedef struct request {
	int kind;
	buf raw;	     /* the whole request, or its head when slow */
	buf slow_body;	     /* sent 1 byte per 100 ms after raw */
	int slow_give_up;    /* close after the slow bytes, read nothing */
	int half_close;	     /* shutdown(SHUT_WR) after sending */
	int may_succeed;     /* a 2xx is acceptable */
	int answer_optional; /* closing without an answer is acceptable */
	int explained_5xx;   /* 501/505 is the explained answer */
	int head;	     /* HEAD: no body in the answer */
	char line[200];	     /* the request line, printable, for reports */
} request;

typedef struct answer {
	int status; /* 0: none */
	int got_any;
	int timed_out;
	char ctype[128];
	int has_request_id;
	buf body;
	char error[128];
} answer;

enum {
	K_GARBAGE,
	K_HUGE_HEADERS,
	K_DEEP_JSON,
	K_BAD_UTF8,
	K_NUL,
	K_SLOW,
	K_RANDOM_METHOD,
	K_RANDOM_PATH,
	K_OVERSIZED,
	K_BAD_LENGTH,
	K_VALID_RANDOM,
	K_NKINDS
};

enum {
	F_HANG,
	F_NO_ANSWER,
	F_BAD_2XX,
	F_LEAK,
	F_NGINX_PAGE,
	F_BAD_SHAPE,
	F_5XX,
	F_OTHER_STATUS,
	F_NFAILS
};

typedef struct stats {
	long per_status[600];
	long nonjson[600];	 /* bodies that are not JSON, per status */
	long nonjson_nginx[600]; /* ... written by nginx */
	long no_request_id[600]; /* answers without X-Request-Id */
	long kind_count[K_NKINDS];
	long kind_status[K_NKINDS][6]; /* per class: none,1xx..5xx */
	long fails[F_NFAILS];
	long explained_5xx;
	long slow_abandoned;
	long closed_allowed;
	long valid_2xx, health_2xx;
	char fail_sample[F_NFAILS][600];
	char nonjson_sample[600][300];
} stats;

/* ------------------------------------------------ the world (hostile.c) */

extern char g_host[64];
extern int g_port;
extern const char *g_foreign; /* may be NULL */
extern const char *g_marker;  /* text in the foreign attempt: never answered */
extern FILE *g_log;	      /* HOSTILE_LOG: one line per exchange */
extern hostile_user g_students[NSTUDENTS], g_proctor, g_admin;
extern char g_exam[ID_LEN];
extern char *g_bad_tokens[3]; /* expired, wrong secret, unknown role */

/* ------------------------------------------------ hostile_io.c */

/* Appends n bytes c to b (lib/buf: appends, buf_free releases). */
void b_fill(buf *b, char c, size_t n);
/* Exits with "hostile: out of memory" if an append to b failed. */
void b_must(const buf *b);
/* splitmix64; below(n) in [0, n); chance(percent); a random v4 UUID. */
uint64_t rnd(rng *r);
unsigned below(rng *r, unsigned n);
int chance(rng *r, unsigned percent);
void rand_uuid(rng *r, char out[ID_LEN]);
/* The monotonic clock in ms. */
long long now_ms(void);
/* A TCP connection to g_host:g_port with a send timeout, or -1. */
int connect_local(void);
/* Sends req on fd (or on a new connection: perform) and reads the answer
 * into a, within TIMEOUT_MS of the last byte sent. */
void perform_on(int fd, const request *req, answer *a);
void perform(const request *req, answer *a);
/* The body is exactly the API.md section 3 error shape (why says what is
 * wrong); the body is JSON; nginx wrote the answer. */
int error_shape_ok(const buf *body, char *why, size_t cap);
int is_json(const buf *body);
int by_nginx(const answer *a);

/* ------------------------------------------------ hostile_stats.c */

extern const char *const kind_names[K_NKINDS];
extern const char *const fail_names[F_NFAILS];
extern stats g_stats;
extern pthread_mutex_t g_stats_lock;
/* p's n bytes as printable text into out. */
void printable(char *out, size_t cap, const char *p, size_t n);
/* Classifies one exchange into s. */
void account(stats *s, long index, const request *q, const answer *a);

/* ------------------------------------------------ hostile_gen.c */

/* A random identity (*valid: the service accepts the token; *student: the
 * student index or -1), a target attempt, a plausible body for action, a
 * request head, and the end of a request (Content-Type, length, body). */
const char *pick_token(rng *r, int *valid, int *student);
void pick_attempt(rng *r, int student, char out[ID_LEN + 40]);
/* Random JSON, nested up to a depth. */
void rand_json(rng *r, buf *b, int depth);
void plausible_body(rng *r, const char *action, int student, buf *b);
void head(buf *raw, const char *method, const char *target, const char *token);
void finish(buf *raw, const char *ctype, const char *body, size_t len);

/* ------------------------------------------------ hostile_build.c */

/* Request index of the run seeded with seed; the slow variant of one;
 * what a request holds, freed. */
void build(long index, uint64_t seed, request *q);
void slow_request(long index, request *q);
void request_free(request *q);

/* ------------------------------------------------ hostile_fcgi.c */

/* The keep-alive checks on the workers' FastCGI socket sock; returns how
 * many failed. */
long fcgi_checks(const char *sock);

#endif
