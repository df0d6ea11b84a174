/* attempts.fcgi: the worker process. On a FastCGI listening socket (fd 0:
 * spawn-fcgi, mod_fcgid) it runs the event-loop FastCGI server with
 * `threads` serving threads over one shared app (pool, cache, breaker);
 * started as plain CGI (libfcgi tells which) it answers the one request it
 * was started for.
 * Also: `token` (sign a JWT), `check-config`, `config-table`, `routes`
 * (the route table: method, path, action, token or public), `cors-map`
 * (the nginx map entries of cors_origins), `--help`, `--version`. */
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
#include "../lib/cors.h"
#include "../lib/fcgi_server.h"
#include "../lib/log.h"
#include "../lib/router.h"
#include "../lib/uuid.h"

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

/* ----------------------------------------------------- FastCGI server */

static int serve_request(void *arg, http_param_fn param, http_read_fn read, void *io_ctx,
			 http_write_fn write, void *write_ctx)
{
	return app_serve(arg, param, read, io_ctx, write, write_ctx);
}

static int shed_request(void *arg, http_param_fn param, http_read_fn read, void *io_ctx,
			http_write_fn write, void *write_ctx)
{
	return app_shed(arg, param, read, io_ctx, write, write_ctx, fcgi_server_waited_ms(io_ctx));
}

/* Serves the FastCGI listening socket on fd 0 until a stop signal (TERM,
 * INT, QUIT, USR1), lets the requests already received finish, and
 * returns. HUP and USR2 re-read the JWKS file instead (multiwatch takes
 * HUP for itself as "shut down" but passes USR2 on to every worker). */
static int serve_fastcgi(app *a, const config *cfg)
{
	fcgi_server_options opt = {
		.listen_fd = 0,
		.threads = (int)cfg->threads,
		/* A body up to the JSON limit arrives whole; longer ones (uploads
		 * under mod_fcgid) stream to the handler. */
		.body_cap = (size_t)cfg->max_body_bytes + 1,
		.queue_timeout_ms = cfg->queue_timeout_ms,
		.drain_ms = cfg->stop_drain_ms,
		.serve = serve_request,
		.shed = shed_request,
		.arg = a,
	};
	fcgi_server *server = NULL;
	sigset_t stops;
	int sig = 0;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGHUP);
	sigaddset(&stops, SIGQUIT);
	sigaddset(&stops, SIGUSR1);
	sigaddset(&stops, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &stops, NULL); /* the threads inherit it */
	if (fcgi_server_start(&opt, &server) != ATT_OK) {
		log_error("cannot start the FastCGI server on fd 0: %s", strerror(errno));
		return 1;
	}
	log_info("worker ready: %d serving threads, one event loop", opt.threads);
	while (sigwait(&stops, &sig) == 0 && (sig == SIGHUP || sig == SIGUSR2)) {
		log_info("signal %d: re-reading the token keys", sig);
		if (app_reload_keys(a) != ATT_OK)
			log_warn("reload failed; serving with the keys loaded before");
	}
	log_info("signal %d: finishing the requests received, then exiting", sig);
	fcgi_server_stop(server);
	return 0;
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
			fprintf(stderr, "usage: attempts.fcgi token --role student|proctor|admin "
					"[--sub UUID] [--ttl SECONDS]\n");
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
	token = auth_sign_for(sub, role, now, now + ttl, cfg->jwt_audience, cfg->jwt_issuer,
			      cfg->jwt_secret, strlen(cfg->jwt_secret));
	if (token == NULL)
		return 1;
	puts(token);
	free(token);
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: attempts.fcgi                  serve (FastCGI on fd 0, or one CGI request)\n"
	      "       attempts.fcgi token --role student|proctor|admin [--sub UUID] [--ttl "
	      "SECONDS]\n"
	      "                                      print a signed JWT (HS256, jwt_secret)\n"
	      "       attempts.fcgi check-config     load the configuration; exit 0 if it is "
	      "valid\n"
	      "       attempts.fcgi config-table     the keys as a Markdown table\n"
	      "       attempts.fcgi routes           the route table (method, path, action, token "
	      "or public)\n"
	      "       attempts.fcgi cors-map         nginx map entries of cors_origins\n"
	      "       attempts.fcgi --help | --version\n"
	      "\n"
	      "Signals (FastCGI): TERM, INT, QUIT, USR1 stop; HUP, USR2 reload jwt_jwks_file.\n"
	      "Configuration: defaults, then the key = value file named by ATTEMPTS_CONFIG,\n"
	      "then ATTEMPTS_<KEY> variables. Keys (default, variable):\n",
	      out);
	config_write_keys(out);
	fputs("See attempts.fcgi(8), README.md and docs/DEPLOYING.md.\n", out);
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
	if (cmd != NULL && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (cmd != NULL && strcmp(cmd, "--version") == 0) {
		printf("attempts.fcgi %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (cmd != NULL && strcmp(cmd, "routes") == 0) {
		router_write_table(stdout);
		return 0;
	}
	if (config_load(&cfg, &errmsg) != ATT_OK) {
		fprintf(stderr, "attempts.fcgi: %s\n", errmsg ? errmsg : "bad configuration");
		free(errmsg);
		config_free(&cfg);
		return 1;
	}
	log_set_level((log_level)log_level_parse(cfg.log_level));
	log_set_format((log_format)log_format_parse(cfg.log_format));
	if (cmd != NULL) {
		if (strcmp(cmd, "check-config") == 0)
			rc = 0;
		else if (strcmp(cmd, "cors-map") == 0) {
			cors_write_nginx_map(cfg.cors_origins, stdout);
			rc = 0;
		} else if (strcmp(cmd, "token") == 0)
			rc = cmd_token(&cfg, argc - 2, argv + 2);
		else {
			usage(stderr);
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
		rc = serve_fastcgi(a, &cfg);
out:
	app_free(a);
	config_free(&cfg);
	return rc;
}
