/* config: table-driven settings; every key's default, bounds and meaning
 * live in one table so the README's table is generated from the code. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum { CFG_STR, CFG_LONG } cfg_type;

typedef struct cfg_key {
	const char *name;
	cfg_type type;
	size_t offset;
	const char *def; /* default as text; NULL = unset */
	long min;
	long max;
	const char *help;
} cfg_key;

#define KEY_STR(n, d, h)                                                                           \
	{                                                                                          \
#n, CFG_STR, offsetof(config, n), d, 0, 0, h                                       \
	}
#define KEY_LONG(n, d, lo, hi, h)                                                                  \
	{                                                                                          \
#n, CFG_LONG, offsetof(config, n), d, lo, hi, h                                    \
	}

static const cfg_key cfg_keys[] = {
	KEY_STR(db, "dbname=attempts", "libpq connection string"),
	KEY_STR(db_listen, NULL,
		"libpq connection string of the LISTEN connection, straight to PostgreSQL when db "
		"goes through PgBouncer (unset: db)"),
	KEY_LONG(db_prepared_statements, "1", 0, 1,
		 "1: each connection prepares its statements once; 0: unnamed statements, for "
		 "PgBouncer's transaction mode before 1.21"),
	KEY_STR(jwt_secret, NULL, "HS256 secret, at least 32 bytes (required)"),
	KEY_STR(jwt_jwks_file, NULL,
		"JWKS file of RS256, ES256 and HS256 keys, chosen by the token's kid; re-read on "
		"SIGHUP"),
	KEY_STR(jwt_audience, NULL, "when set, a token's aud (a string or a list) must hold it"),
	KEY_STR(jwt_issuer, NULL, "when set, a token's iss must be it"),
	KEY_STR(upload_dir, "/var/lib/attempts/uploads", "directory where uploads are stored"),
	KEY_STR(log_level, "info", "debug, info, warn or error"),
	KEY_STR(log_format, "text",
		"text or json (one object per line: ts, level, pid, request_id, msg)"),
	KEY_STR(cors_origins, NULL,
		"origins whose web pages may call the API (CORS), as browsers send them "
		"(https://exam.example.edu, lowercase, no path), separated by commas or spaces; "
		"none: same origin only"),
	KEY_LONG(threads, "4", 1, 256,
		 "requests served at once per worker process; a write waiting for its coalesced "
		 "commit gives its turn up"),
	KEY_LONG(pool_min, "1", 0, 256, "connections opened at start, per process"),
	KEY_LONG(pool_max, "0", 0, 256, "most connections per process (0 = threads)"),
	KEY_LONG(pool_acquire_timeout_ms, "2000", 1, 600000,
		 "wait for a free connection, then 503"),
	KEY_LONG(pool_idle_timeout_ms, "300000", 1000, 86400000,
		 "close connections idle this long (above pool_min)"),
	KEY_LONG(pool_health_check_after_ms, "30000", 0, 86400000,
		 "an idle connection older than this is pinged before use (0 = never)"),
	KEY_LONG(db_statement_timeout_ms, "5000", 0, 3600000,
		 "server-side statement_timeout (0 = none)"),
	KEY_LONG(db_call_timeout_ms, "6000", 100, 3600000,
		 "client-side deadline of one database call; then the connection is dropped and "
		 "the request answers 503"),
	KEY_LONG(cache_ttl_attempt_state_ms, "30000", 0, 86400000, "TTL of cached attempt states"),
	KEY_LONG(cache_ttl_attempt_info_ms, "300000", 0, 86400000, "TTL of cached attempt infos"),
	KEY_LONG(cache_ttl_attempt_stats_ms, "120000", 0, 86400000, "TTL of cached statistics"),
	KEY_LONG(cache_ttl_batch_operations_ms, "60000", 0, 86400000,
		 "TTL of states fetched by batch reads"),
	KEY_LONG(cache_max_entries, "10000", 0, 10000000, "most cache entries per process"),
	KEY_LONG(cache_max_bytes, "16777216", 0, 4294967295L, "most cached bytes per process"),
	KEY_LONG(breaker_failure_threshold, "5", 1, 1000,
		 "consecutive failures that open the breaker"),
	KEY_LONG(breaker_timeout_ms, "60000", 1, 86400000,
		 "longest wait between two probes of an open breaker"),
	KEY_LONG(retry_attempts, "3", 1, 20, "tries of a safely repeatable database call"),
	KEY_LONG(retry_base_delay_ms, "50", 1, 60000, "first backoff delay cap"),
	KEY_LONG(retry_max_delay_ms, "2000", 1, 600000, "largest backoff delay"),
	KEY_LONG(max_body_bytes, "1048576", 1024, 1073741824, "largest JSON request body"),
	KEY_LONG(max_answers_bytes, "524288", 1024, 1073741824,
		 "largest stored answers (JSON text)"),
	KEY_LONG(max_event_payload_bytes, "16384", 16, 1048576,
		 "largest payload of one activity event"),
	KEY_LONG(max_batch_items, "100", 1, 10000, "most items in one batch request"),
	KEY_LONG(max_events, "500", 1, 100000, "most events in one activity request"),
	KEY_LONG(max_response_bytes, "4194304", 65536, 1073741824,
		 "largest answer of a batch read; a batch that would exceed it answers 413 before "
		 "the work"),
	KEY_LONG(batch_concurrency_per_caller, "1", 1, 1000,
		 "batch requests one caller (token sub) may have in flight per worker process; "
		 "more answer 429"),
	KEY_LONG(queue_timeout_ms, "2000", 0, 600000,
		 "a request that waited longer for a thread answers 503 overloaded (0 = never)"),
	KEY_LONG(stop_drain_ms, "5000", 0, 600000,
		 "on a stop signal a worker stops accepting and serves the connections it has this "
		 "long, until nginx closes them, before it exits"),
	KEY_LONG(coalesce_writes, "1", 0, 1,
		 "1: concurrent saves, activity posts and submits of this process share one "
		 "statement and commit"),
	KEY_LONG(coalesce_reads, "1", 0, 1,
		 "1: concurrent uncached state and info reads of this process share one statement"),
	KEY_LONG(coalesce_max_items, "64", 2, 1000, "most calls in one coalesced statement"),
	KEY_LONG(sweep_interval_ms, "5000", 0, 86400000,
		 "how often a worker closes attempts past deadline + grace (0 = never)"),
	KEY_STR(live_publish_socket, NULL,
		"nginx's unix socket with the nchan publisher of the proctors' live view "
		"(nginx/attempts-live.conf); unset = no live feed"),
};

#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

static const cfg_key *find_key(const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

/* Parses a decimal integer within [min, max]; returns 0 on success. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static att_err set_value(config *cfg, const cfg_key *k, const char *value, const char *origin,
			 char **errmsg)
{
	char *field = (char *)cfg + k->offset;

	if (k->type == CFG_STR) {
		char *copy = strdup(value);
		if (copy == NULL)
			return ATT_ENOMEM;
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return ATT_OK;
	}
	if (parse_long(value, k->min, k->max, (long *)(void *)field) != 0) {
		att_errmsg_set(errmsg, "%s: bad value for %s: expected an integer in %ld..%ld",
			       origin, k->name, k->min, k->max);
		return ATT_ECONFIG;
	}
	return ATT_OK;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static att_err load_file(config *cfg, const char *path, char **errmsg)
{
	char line[4096];
	char origin[64];
	att_err err = ATT_OK;
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		att_errmsg_set(errmsg, "cannot open config file %s: %s", path, strerror(errno));
		return ATT_ECONFIG;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *key, *value, *eq;
		const cfg_key *k;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			att_errmsg_set(errmsg, "%s line %u: longer than %zu bytes", path, lineno,
				       sizeof line - 2);
			err = ATT_ECONFIG;
			goto out;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL) {
			att_errmsg_set(errmsg, "%s line %u: expected key = value", path, lineno);
			err = ATT_ECONFIG;
			goto out;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		k = find_key(key);
		if (k == NULL) {
			att_errmsg_set(errmsg, "unknown config key %s in %s", key, path);
			err = ATT_ECONFIG;
			goto out;
		}
		snprintf(origin, sizeof origin, "config line %u", lineno);
		err = set_value(cfg, k, value, origin, errmsg);
		if (err != ATT_OK)
			goto out;
	}
	if (ferror(f)) {
		att_errmsg_set(errmsg, "cannot read config file %s: %s", path, strerror(errno));
		err = ATT_ECONFIG;
	}
out:
	fclose(f);
	return err;
}

static att_err load_env(config *cfg, const char *(*getenv_fn)(const char *), char **errmsg)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		char var[96] = "ATTEMPTS_";
		size_t n = strlen(var);
		const char *value;
		att_err err;

		for (const char *p = cfg_keys[i].name; *p && n < sizeof var - 1; p++)
			var[n++] = (char)toupper((unsigned char)*p);
		var[n] = '\0';
		value = getenv_fn(var);
		if (value == NULL)
			continue;
		err = set_value(cfg, &cfg_keys[i], value, var, errmsg);
		if (err != ATT_OK)
			return err;
	}
	return ATT_OK;
}

/* Is [s, s + len) an origin as a browser serialises it: http or https,
 * "://", a lowercase host name, IPv4 address or bracketed IPv6 address,
 * an optional port, nothing after (no path, no trailing slash)? */
static int origin_valid(const char *s, size_t len)
{
	const char *end = s + len, *p;

	if (len > 7 && memcmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (len > 8 && memcmp(s, "https://", 8) == 0)
		p = s + 8;
	else
		return 0;
	if (*p == '[') {
		for (p++; p < end && (isxdigit((unsigned char)*p) || *p == ':' || *p == '.'); p++)
			if (isupper((unsigned char)*p))
				return 0;
		if (p >= end || *p != ']')
			return 0;
		p++;
	} else {
		const char *host = p;
		for (; p < end && (islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
				   *p == '-' || *p == '.');
		     p++)
			;
		if (p == host)
			return 0;
	}
	if (p < end && *p == ':') {
		const char *port = ++p;
		for (; p < end && isdigit((unsigned char)*p); p++)
			;
		if (p == port || p - port > 5)
			return 0;
	}
	return p == end;
}

/* cors_origins: a list of origins (origin_valid) separated by commas or
 * blanks. "*" and "null" are refused: list the origins. */
static att_err check_origins(const char *list, char **errmsg)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len > 0 && !origin_valid(p, len)) {
			att_errmsg_set(errmsg,
				       "cors_origins: bad origin %.*s (expected http:// or"
				       " https://, a lowercase host, an optional port, no path;"
				       " * and null are not accepted)",
				       (int)(len > 200 ? 200 : len), p);
			return ATT_ECONFIG;
		}
		p += len;
	}
	return ATT_OK;
}

/* Cross-key rules that no single key's bounds can express. */
static att_err check_config(config *cfg, char **errmsg)
{
	if (cfg->jwt_secret == NULL || strlen(cfg->jwt_secret) < 32) {
		att_errmsg_set(errmsg, "jwt_secret: required, at least 32 bytes"
				       " (set ATTEMPTS_JWT_SECRET)");
		return ATT_ECONFIG;
	}
	if (log_level_parse(cfg->log_level) < 0) {
		att_errmsg_set(errmsg,
			       "log_level: bad value %s"
			       " (expected debug, info, warn or error)",
			       cfg->log_level);
		return ATT_ECONFIG;
	}
	if (log_format_parse(cfg->log_format) < 0) {
		att_errmsg_set(errmsg, "log_format: bad value %s (expected text or json)",
			       cfg->log_format);
		return ATT_ECONFIG;
	}
	if (check_origins(cfg->cors_origins, errmsg) != ATT_OK)
		return ATT_ECONFIG;
	if (cfg->pool_max == 0)
		cfg->pool_max = cfg->threads;
	if (cfg->pool_min > cfg->pool_max) {
		att_errmsg_set(errmsg, "pool_min: must not exceed pool_max");
		return ATT_ECONFIG;
	}
	if (cfg->retry_base_delay_ms > cfg->retry_max_delay_ms) {
		att_errmsg_set(errmsg, "retry_base_delay_ms: must not exceed retry_max_delay_ms");
		return ATT_ECONFIG;
	}
	return ATT_OK;
}

att_err config_load_from(config *cfg, const char *path, const char *(*getenv_fn)(const char *),
			 char **errmsg)
{
	att_err err;

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		if (cfg_keys[i].def == NULL)
			continue;
		err = set_value(cfg, &cfg_keys[i], cfg_keys[i].def, "default", errmsg);
		if (err != ATT_OK)
			return err;
	}
	if (path != NULL && *path != '\0') {
		err = load_file(cfg, path, errmsg);
		if (err != ATT_OK)
			return err;
	}
	if (getenv_fn != NULL) {
		err = load_env(cfg, getenv_fn, errmsg);
		if (err != ATT_OK)
			return err;
	}
	return check_config(cfg, errmsg);
}

static const char *process_getenv(const char *name)
{
	return getenv(name);
}

att_err config_load(config *cfg, char **errmsg)
{
	return config_load_from(cfg, getenv("ATTEMPTS_CONFIG"), process_getenv, errmsg);
}

void config_free(config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		if (cfg_keys[i].type == CFG_STR) {
			char **p = (char **)(void *)((char *)cfg + cfg_keys[i].offset);
			free(*p);
			*p = NULL;
		}
	}
}

/* The environment variable of key k: ATTEMPTS_ and the name in capitals. */
static void write_env_name(FILE *out, const cfg_key *k)
{
	fputs("ATTEMPTS_", out);
	for (const char *p = k->name; *p; p++)
		fputc(toupper((unsigned char)*p), out);
}

void config_write_table(FILE *out)
{
	fputs("| key | environment | default | meaning |\n|---|---|---|---|\n", out);
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const cfg_key *k = &cfg_keys[i];
		fputs("| `", out);
		fputs(k->name, out);
		fputs("` | `", out);
		write_env_name(out, k);
		fprintf(out, "` | %s | %s |\n", k->def ? k->def : "(none)", k->help);
	}
}

void config_write_keys(FILE *out)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const cfg_key *k = &cfg_keys[i];
		fprintf(out, "  %s = %s  (", k->name, k->def ? k->def : "(none)");
		write_env_name(out, k);
		fprintf(out, ")\n      %s\n", k->help);
	}
}

const char *config_listen_conninfo(const config *cfg)
{
	return cfg->db_listen != NULL && cfg->db_listen[0] != '\0' ? cfg->db_listen : cfg->db;
}
