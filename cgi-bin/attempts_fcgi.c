/* attempts.fcgi: the worker process. Under a FastCGI server it runs
 * `threads` accepting threads over one shared app (pool, cache, breaker);
 * started as plain CGI it answers the one request it was started for.
 * Also: `token` (sign a JWT), `check-config`, `config-table`. */
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/app.h"
#include "../lib/auth.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/uuid.h"

/* ------------------------------------------------------------ FastCGI I/O */

static const char *fcgx_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static long fcgx_read(void *ctx, char *dst, size_t n)
{
	int max = n > (size_t)1 << 20 ? 1 << 20 : (int)n;
	int got = FCGX_GetStr(dst, max, ((FCGX_Request *)ctx)->in);

	if (got < max && FCGX_GetError(((FCGX_Request *)ctx)->in) != 0)
		return -1;
	return got;
}

static int fcgx_write(void *ctx, const char *data, size_t n)
{
	FCGX_Stream *out = ((FCGX_Request *)ctx)->out;

	return FCGX_PutStr(data, (int)n, out) == (int)n ? 0 : -1;
}

/* ---------------------------------------------------------------- CGI I/O */

static const char *cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static long cgi_read(void *ctx, char *dst, size_t n)
{
	size_t got = fread(dst, 1, n, stdin);

	(void)ctx;
	if (got == 0 && ferror(stdin))
		return -1;
	return (long)got;
}

/* Some servers (mod_cgid) drop the answer of a program that exits without
 * reading its whole request body: read what is left before answering. */
static void cgi_drain_stdin(void)
{
	static int drained;
	char sink[65536];

	if (drained)
		return;
	drained = 1;
	while (fread(sink, 1, sizeof sink, stdin) > 0)
		;
}

static int cgi_write(void *ctx, const char *data, size_t n)
{
	(void)ctx;
	cgi_drain_stdin();
	return fwrite(data, 1, n, stdout) == n ? 0 : -1;
}

/* ---------------------------------------------------------- accept loop */

typedef struct accept_thread {
	pthread_t tid;
	app *app;
	atomic_int idle; /* waiting for a request (in or near accept) */
	atomic_int done;
} accept_thread;

/* Reads what is left of the request body. libfcgi would otherwise meet it
 * on the kept-alive connection at the next accept, take it for a protocol
 * error and close the connection - losing the request nginx already sent
 * behind it. */
static void drain_body(FCGX_Request *req)
{
	char sink[8192];

	while (FCGX_GetStr(sink, sizeof sink, req->in) > 0)
		;
}

static void *accept_loop(void *arg)
{
	accept_thread *t = arg;
	FCGX_Request req;

	if (FCGX_InitRequest(&req, 0, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		atomic_store(&t->done, 1);
		return NULL;
	}
	for (;;) {
		int rc;

		atomic_store(&t->idle, 1);
		rc = FCGX_Accept_r(&req);
		atomic_store(&t->idle, 0);
		if (rc < 0)
			break;
		app_serve(t->app, fcgx_param, fcgx_read, &req, fcgx_write, &req);
		drain_body(&req);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	atomic_store(&t->done, 1);
	return NULL;
}

/* The signals that stop a worker. The accepting threads block them, and
 * libfcgi's own handler would only set a flag they never look at. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
}

/* SIGUSR2 only interrupts a blocked accept() (no SA_RESTART). */
static void on_wake(int sig)
{
	(void)sig;
}

/* After a stop signal: tells libfcgi to stop, then interrupts the threads
 * that wait in accept() until every thread has left its loop; threads busy
 * with a request finish it first and are interrupted once idle. */
static void stop_threads(accept_thread *threads, long n)
{
	struct timespec tick = {0, 20 * 1000000L};
	long left;

	FCGX_ShutdownPending();
	do {
		left = 0;
		for (long i = 0; i < n; i++) {
			if (atomic_load(&threads[i].done))
				continue;
			left++;
			if (atomic_load(&threads[i].idle))
				pthread_kill(threads[i].tid, SIGUSR2);
		}
		if (left > 0)
			nanosleep(&tick, NULL);
	} while (left > 0);
}

/* Runs nthreads accepting threads until a stop signal, lets the requests
 * in flight finish, and returns. */
static int serve_fastcgi(app *a, long nthreads)
{
	accept_thread *threads = calloc((size_t)nthreads, sizeof *threads);
	struct sigaction wake;
	long started = 0;
	sigset_t stops;
	int sig = 0;

	if (threads == NULL)
		return 1;
	memset(&wake, 0, sizeof wake);
	wake.sa_handler = on_wake;
	sigemptyset(&wake.sa_mask);
	sigaction(SIGUSR2, &wake, NULL);
	stop_signals(&stops);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	for (; started < nthreads; started++) {
		threads[started].app = a;
		if (pthread_create(&threads[started].tid, NULL, accept_loop, &threads[started]) != 0) {
			log_error("cannot start thread %ld: %s", started, strerror(errno));
			break;
		}
	}
	log_info("worker ready: %ld accepting threads", started);
	if (started > 0) {
		sigwait(&stops, &sig);
		log_info("signal %d: finishing the requests in flight, then exiting", sig);
		stop_threads(threads, started);
	}
	for (long i = 0; i < started; i++)
		pthread_join(threads[i].tid, NULL);
	free(threads);
	return started == nthreads ? 0 : 1;
}

/* ---------------------------------------------------------- subcommands */

static int cmd_token(const config *cfg, int argc, char **argv)
{
	const char *role_name = "student", *sub = NULL;
	char random_sub[UUID_STR_LEN + 1];
	long ttl = 3600;
	auth_role role;
	time_t now = time(NULL);
	char *token;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role_name = argv[++i];
		else if (strcmp(argv[i], "--sub") == 0 && i + 1 < argc)
			sub = argv[++i];
		else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc)
			ttl = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: attempts.fcgi token --role student|proctor|admin [--sub UUID] [--ttl SECONDS]\n");
			return 2;
		}
	}
	role = auth_role_parse(role_name);
	if (role == AUTH_ROLE_NONE || ttl <= 0) {
		fprintf(stderr, "token: bad --role or --ttl\n");
		return 2;
	}
	if (sub == NULL) {
		if (uuid_generate(random_sub) != ATT_OK)
			return 1;
		sub = random_sub;
	}
	if (!uuid_valid(sub)) {
		fprintf(stderr, "token: --sub must be a lowercase UUID\n");
		return 2;
	}
	token = auth_sign(sub, role, now, now + ttl, cfg->jwt_secret,
			  strlen(cfg->jwt_secret));
	if (token == NULL)
		return 1;
	puts(token);
	free(token);
	return 0;
}

int main(int argc, char **argv)
{
	config cfg;
	char *errmsg = NULL;
	app *a = NULL;
	int rc = 1;
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd != NULL && strcmp(cmd, "config-table") == 0) {
		config_write_table(stdout);
		return 0;
	}
	if (config_load(&cfg, &errmsg) != ATT_OK) {
		fprintf(stderr, "attempts.fcgi: %s\n", errmsg ? errmsg : "bad configuration");
		free(errmsg);
		config_free(&cfg);
		return 1;
	}
	log_set_level((log_level)log_level_parse(cfg.log_level));
	if (cmd != NULL) {
		if (strcmp(cmd, "check-config") == 0)
			rc = 0;
		else if (strcmp(cmd, "token") == 0)
			rc = cmd_token(&cfg, argc - 2, argv + 2);
		else {
			fprintf(stderr, "usage: attempts.fcgi [token ...|check-config|config-table]\n");
			rc = 2;
		}
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		goto out;
	}
	if (app_create(&cfg, FCGX_IsCGI() ? APP_ONESHOT : APP_PERSISTENT, &a) != ATT_OK) {
		log_error("cannot create the worker state");
		goto out;
	}
	if (FCGX_IsCGI())
		rc = app_serve(a, cgi_param, cgi_read, NULL, cgi_write, NULL) < 0;
	else
		rc = serve_fastcgi(a, cfg.threads);
out:
	app_free(a);
	config_free(&cfg);
	return rc;
}
