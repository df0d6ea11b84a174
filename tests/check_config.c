/* check_config: defaults (API.md section 10), the key = value file, the
 * ATTEMPTS_* environment over it, and every way a value can be refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check_proto_util.h"
#include "check_suites.h"
/* Spelled with its directory: a bare "config.h" finds autoconf's config.h
 * in the top build directory first (-I. comes before -Ilib). */
#include "../lib/config.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"

/* The fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	for (const char *const *p = fake_env; p != NULL && p[0] != NULL; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

static const char *const env_secret_only[] = {"ATTEMPTS_JWT_SECRET", SECRET32, NULL};

/* Writes text to a fresh temporary file; returns its path (static storage,
 * one at a time) which the caller unlinks. */
static const char *temp_config(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "/tmp/check_config_XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Loads from a file with text (NULL = no file) and env; returns the result
 * and leaves any message in *msg. */
static att_err load(config *cfg, const char *text, const char *const *env, char **msg)
{
	const char *path = text ? temp_config(text) : NULL;
	att_err err;

	fake_env = env;
	*msg = NULL;
	err = config_load_from(cfg, path, env ? fake_getenv : NULL, msg);
	if (path != NULL)
		unlink(path);
	return err;
}

/* Asserts that loading fails with ATT_ECONFIG and a message containing
 * every word in needle (a key name, typically). */
static void expect_error(const char *text, const char *const *env, const char *needle)
{
	config cfg;
	char *msg = NULL;
	att_err err = load(&cfg, text, env, &msg);

	ck_assert_int_eq(err, ATT_ECONFIG);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" does not name \"%s\"", msg,
		      needle);
	free(msg);
	config_free(&cfg);
}

/* The LISTEN connection uses db unless db_listen is given (and not empty);
 * statements are prepared unless db_prepared_statements = 0. */
START_TEST(test_config_listen_and_statements)
{
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg, "db = host=/a dbname=x\n", env_secret_only, &msg), ATT_OK);
	ck_assert_ptr_null(cfg.db_listen);
	ck_assert_str_eq(config_listen_conninfo(&cfg), "host=/a dbname=x");
	ck_assert_int_eq(cfg.db_prepared_statements, 1);
	config_free(&cfg);
	ck_assert_int_eq(load(&cfg,
			      "db = host=/bouncer dbname=x\ndb_listen = host=/pg dbname=x\n"
			      "db_prepared_statements = 0\n",
			      env_secret_only, &msg),
			 ATT_OK);
	ck_assert_str_eq(config_listen_conninfo(&cfg), "host=/pg dbname=x");
	ck_assert_int_eq(cfg.db_prepared_statements, 0);
	config_free(&cfg);
	expect_error("db_prepared_statements = 2\n", env_secret_only, "db_prepared_statements");
}
END_TEST

START_TEST(test_config_defaults)
{
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg, NULL, env_secret_only, &msg), ATT_OK);
	ck_assert_ptr_null(msg);
	ck_assert_str_eq(cfg.jwt_secret, SECRET32);
	ck_assert_ptr_nonnull(cfg.db);
	ck_assert_ptr_nonnull(cfg.upload_dir);
	ck_assert_str_eq(cfg.log_level, "info");
	ck_assert_int_eq(cfg.threads, 4);
	ck_assert_int_eq(cfg.pool_min, 1);
	ck_assert_int_eq(cfg.pool_max, 4); /* = threads */
	ck_assert_int_eq(cfg.pool_acquire_timeout_ms, 2000);
	ck_assert_int_eq(cfg.cache_ttl_attempt_state_ms, 30000);
	ck_assert_int_eq(cfg.cache_ttl_attempt_info_ms, 300000);
	ck_assert_int_eq(cfg.cache_ttl_attempt_stats_ms, 120000);
	ck_assert_int_eq(cfg.cache_ttl_batch_operations_ms, 60000);
	ck_assert_int_eq(cfg.cache_max_entries, 10000);
	ck_assert_int_eq(cfg.cache_max_bytes, 16L * 1024 * 1024);
	ck_assert_int_eq(cfg.breaker_failure_threshold, 5);
	ck_assert_int_eq(cfg.breaker_timeout_ms, 60000);
	ck_assert_int_eq(cfg.retry_attempts, 3);
	ck_assert_int_eq(cfg.retry_base_delay_ms, 50);
	ck_assert_int_eq(cfg.retry_max_delay_ms, 2000);
	ck_assert_int_eq(cfg.max_body_bytes, 1024L * 1024);
	/* section 3 limits */
	ck_assert_int_eq(cfg.max_answers_bytes, 512L * 1024);
	ck_assert_int_eq(cfg.max_event_payload_bytes, 16L * 1024);
	ck_assert_int_eq(cfg.max_batch_items, 100);
	ck_assert_int_eq(cfg.max_events, 500);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_pool_max_follows_threads)
{
	static const char *const env[] = {"ATTEMPTS_JWT_SECRET", SECRET32, "ATTEMPTS_THREADS", "8",
					  NULL};
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg, "pool_max = 0\n", env, &msg), ATT_OK);
	ck_assert_int_eq(cfg.threads, 8);
	ck_assert_int_eq(cfg.pool_max, 8);
	config_free(&cfg);

	ck_assert_int_eq(load(&cfg, "threads = 6\npool_max = 3\n", env_secret_only, &msg), ATT_OK);
	ck_assert_int_eq(cfg.threads, 6);
	ck_assert_int_eq(cfg.pool_max, 3);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_file_overrides)
{
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg,
			      "db = host=/tmp dbname=t\n"
			      "jwt_secret = " SECRET32 "zz\n"
			      "threads=2\n"
			      "  pool_min   =   2  \n"
			      "cache_max_bytes = 4096\n"
			      "log_level = debug\n"
			      "upload_dir = /srv/up\n",
			      NULL, &msg),
			 ATT_OK);
	ck_assert_str_eq(cfg.db, "host=/tmp dbname=t"); /* '=' in a value kept */
	ck_assert_str_eq(cfg.jwt_secret, SECRET32 "zz");
	ck_assert_int_eq(cfg.threads, 2);
	ck_assert_int_eq(cfg.pool_min, 2);
	ck_assert_int_eq(cfg.pool_max, 2);
	ck_assert_int_eq(cfg.cache_max_bytes, 4096);
	ck_assert_str_eq(cfg.log_level, "debug");
	ck_assert_str_eq(cfg.upload_dir, "/srv/up");
	/* untouched keys keep their defaults */
	ck_assert_int_eq(cfg.retry_attempts, 3);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_env_beats_file)
{
	static const char *const env[] = {"ATTEMPTS_JWT_SECRET",
					  SECRET32 "-from-env",
					  "ATTEMPTS_BREAKER_TIMEOUT_MS",
					  "1234",
					  "ATTEMPTS_DB",
					  "dbname=fromenv",
					  "attempts_threads",
					  "9", /* wrong case: not ours */
					  NULL};
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg,
			      "jwt_secret = " SECRET32 "-from-file\n"
			      "breaker_timeout_ms = 999\n"
			      "db = dbname=fromfile\n"
			      "threads = 3\n",
			      env, &msg),
			 ATT_OK);
	ck_assert_str_eq(cfg.jwt_secret, SECRET32 "-from-env");
	ck_assert_int_eq(cfg.breaker_timeout_ms, 1234);
	ck_assert_str_eq(cfg.db, "dbname=fromenv");
	ck_assert_int_eq(cfg.threads, 3);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_comments_blank_lines)
{
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg,
			      "# a comment\n"
			      "\n"
			      "   \t\n"
			      "   # indented comment = with equals\n"
			      "retry_attempts = 7\n"
			      "\n",
			      env_secret_only, &msg),
			 ATT_OK);
	ck_assert_ptr_null(msg);
	ck_assert_int_eq(cfg.retry_attempts, 7);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_crlf_and_duplicates)
{
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg,
			      "threads = 2\r\n"
			      "upload_dir = /a\r\n"
			      "threads = 5\r\n"
			      "upload_dir = /b\r\n",
			      env_secret_only, &msg),
			 ATT_OK);
	ck_assert_int_eq(cfg.threads, 5);
	ck_assert_str_eq(cfg.upload_dir, "/b");
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_env_strings)
{
	static const char *const env[] = {"ATTEMPTS_JWT_SECRET",
					  SECRET32,
					  "ATTEMPTS_UPLOAD_DIR",
					  "/env/uploads",
					  "ATTEMPTS_LOG_LEVEL",
					  "warn",
					  "ATTEMPTS_POOL_MAX",
					  "0",
					  "ATTEMPTS_THREADS",
					  "3",
					  NULL};
	static const char *const bad_level[] = {"ATTEMPTS_JWT_SECRET", SECRET32,
						"ATTEMPTS_LOG_LEVEL", "chatty", NULL};
	config cfg;
	char *msg;

	ck_assert_int_eq(load(&cfg, "pool_max = 2\n", env, &msg), ATT_OK);
	ck_assert_str_eq(cfg.upload_dir, "/env/uploads");
	ck_assert_str_eq(cfg.log_level, "warn");
	ck_assert_int_eq(cfg.pool_max, 3); /* env 0 beats file 2, then = threads */
	config_free(&cfg);
	expect_error(NULL, bad_level, "log_level");
}
END_TEST

/* A line longer than the reader's line buffer must be taken whole or
 * refused, never split into two settings. */
START_TEST(test_config_long_line)
{
	buf text = BUF_INIT;
	config cfg;
	char *msg = NULL;
	char *t;
	att_err err;
	size_t dir_len = 0, want;
	long threads = 0;

	/* 4095 bytes before "threads": exactly what one fgets into a 4096-byte
	 * buffer takes */
	buf_puts(&text, "upload_dir = /");
	for (int i = 0; i < 4095 - 14; i++)
		buf_putc(&text, 'd');
	buf_puts(&text, "threads = 200\n");
	t = buf_take(&text);
	ck_assert_ptr_nonnull(t);
	err = load(&cfg, t, env_secret_only, &msg);
	if (err == ATT_OK) {
		dir_len = strlen(cfg.upload_dir);
		threads = cfg.threads;
	}
	want = strlen(t) - 14 - 1;
	free(msg);
	free(t);
	config_free(&cfg); /* before asserting: CK_FORK=no runs stay leak-free */
	if (err == ATT_OK) {
		ck_assert_msg(dir_len == want && threads == 4,
			      "upload_dir cut to %zu of %zu bytes, threads = %ld", dir_len, want,
			      threads);
	} else {
		ck_assert_int_eq(err, ATT_ECONFIG);
	}
}
END_TEST

static const char *const env_bad_threads[] = {"ATTEMPTS_JWT_SECRET", SECRET32, "ATTEMPTS_THREADS",
					      "lots", NULL};
static const char *const env_no_retries[] = {"ATTEMPTS_JWT_SECRET", SECRET32,
					     "ATTEMPTS_RETRY_ATTEMPTS", "0", NULL};
static const char *const env_short_secret[] = {"ATTEMPTS_JWT_SECRET",
					       "0123456789abcdef0123456789abcde", NULL};

/* A file (NULL: none) and an environment that loading refuses, and what
 * the message must name. */
static const struct refusal_row {
	const char *text;
	const char *const *env;
	const char *needle;
} refusals[] = {
	/* unknown key, key case */
	{"threads = 2\nno_such_key = 1\n", env_secret_only, "no_such_key"},
	{"THREADS = 2\n", env_secret_only, "THREADS"},
	{" = 2\n", env_secret_only, "unknown"},
	/* missing equals */
	{"threads 2\n", env_secret_only, "line 1"},
	/* bad integer in the file, in the environment */
	{"threads = four\n", env_secret_only, "threads"},
	{"threads = 4x\n", env_secret_only, "threads"},
	{"threads =\n", env_secret_only, "threads"},
	{"pool_acquire_timeout_ms = 99999999999999999999999\n", env_secret_only,
	 "pool_acquire_timeout_ms"},
	{NULL, env_bad_threads, "threads"},
	/* out of range */
	{"threads = 0\n", env_secret_only, "threads"},
	{"threads = -1\n", env_secret_only, "threads"},
	{"threads = 257\n", env_secret_only, "threads"},
	{"max_body_bytes = 10\n", env_secret_only, "max_body_bytes"},
	{NULL, env_no_retries, "retry_attempts"},
	/* jwt_secret required: none, none with a file, 31 bytes */
	{NULL, NULL, "jwt_secret"},
	{"threads = 2\n", NULL, "jwt_secret"},
	{NULL, env_short_secret, "jwt_secret"},
	/* pool_min over pool_max, which defaults to threads (4) */
	{"pool_min = 5\npool_max = 4\n", env_secret_only, "pool_min"},
	{"pool_min = 5\n", env_secret_only, "pool_min"},
	/* log level, retry delays */
	{"log_level = loud\n", env_secret_only, "log_level"},
	{"retry_base_delay_ms = 3000\nretry_max_delay_ms = 2000\n", env_secret_only,
	 "retry_base_delay_ms"},
};

START_TEST(test_config_refused)
{
	expect_error(refusals[_i].text, refusals[_i].env, refusals[_i].needle);
}
END_TEST

START_TEST(test_config_missing_file)
{
	config cfg;
	char *msg = NULL;

	fake_env = env_secret_only;
	ck_assert_int_eq(config_load_from(&cfg, "/nonexistent/attempts.conf", fake_getenv, &msg),
			 ATT_ECONFIG);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(strstr(msg, "/nonexistent/attempts.conf"));
	free(msg);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_null_errmsg)
{
	config cfg;

	fake_env = NULL;
	ck_assert_int_eq(config_load_from(&cfg, NULL, NULL, NULL), ATT_ECONFIG);
	config_free(&cfg);
}
END_TEST

START_TEST(test_config_free_null)
{
	config cfg;
	char *msg;

	config_free(NULL);
	ck_assert_int_eq(load(&cfg, NULL, env_secret_only, &msg), ATT_OK);
	config_free(&cfg);
	ck_assert_ptr_null(cfg.db);
	ck_assert_ptr_null(cfg.jwt_secret);
	config_free(&cfg); /* twice is harmless */
}
END_TEST

START_TEST(test_config_write_table)
{
	static const char *const rows[] = {"`breaker_timeout_ms` | `ATTEMPTS_BREAKER_TIMEOUT_MS`",
					   "`jwt_secret`", "`max_body_bytes`", NULL};

	proto_expect_written(config_write_table, rows);
}
END_TEST

void config_cases(Suite *s)
{
	TCase *tc;

	check_tcase(s, "defaults", NULL, NULL, test_config_defaults,
		    test_config_listen_and_statements, test_config_pool_max_follows_threads, NULL);

	check_tcase(s, "file", NULL, NULL, test_config_file_overrides,
		    test_config_comments_blank_lines, test_config_missing_file,
		    test_config_crlf_and_duplicates, test_config_long_line, NULL);

	check_tcase(s, "environment", NULL, NULL, test_config_env_beats_file,
		    test_config_env_strings, NULL);

	tc = check_tcase(s, "refusals", NULL, NULL, test_config_null_errmsg, NULL);
	tcase_add_loop_test(tc, test_config_refused, 0, CHECK_ROWS(refusals));

	check_tcase(s, "free", NULL, NULL, test_config_free_null, test_config_write_table, NULL);
}
