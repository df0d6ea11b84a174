/* config: the service's settings, from defaults, then a key = value file
 * (path in ATTEMPTS_CONFIG), then ATTEMPTS_<KEY> environment variables.
 * Owns parsing and validation; knows nothing of what the values drive. */
#ifndef ATT_CONFIG_H
#define ATT_CONFIG_H

#include <stdio.h>

#include "att_err.h"

typedef struct config {
	char *db;	     /* libpq connection string */
	char *db_listen;     /* the LISTEN connection's; NULL: db */
	char *jwt_secret;    /* HS256 key, >= 32 bytes */
	char *jwt_jwks_file; /* JWKS of RS256/ES256/HS256 keys by kid; NULL = none */
	char *jwt_audience;  /* required aud; NULL = not checked */
	char *jwt_issuer;    /* required iss; NULL = not checked */
	char *upload_dir;    /* where uploads are stored */
	char *log_level;     /* debug, info, warn, error */
	char *log_format;    /* text, json */
	char *cors_origins;  /* origins allowed by CORS; NULL = none */
	long threads;	     /* accepting threads per process */
	long pool_min;
	long pool_max; /* 0 in the table means "= threads" */
	long pool_acquire_timeout_ms;
	long pool_idle_timeout_ms;
	long pool_health_check_after_ms;
	long db_prepared_statements; /* 0: unnamed statements (PgBouncer) */
	long stop_drain_ms;	     /* on a stop signal, serve open connections this long */
	long db_statement_timeout_ms;
	long db_call_timeout_ms; /* client-side deadline of one call */
	long cache_ttl_attempt_state_ms;
	long cache_ttl_attempt_info_ms;
	long cache_ttl_attempt_stats_ms;
	long cache_ttl_batch_operations_ms;
	long cache_max_entries;
	long cache_max_bytes;
	long breaker_failure_threshold;
	long breaker_timeout_ms;
	long retry_attempts;
	long retry_base_delay_ms;
	long retry_max_delay_ms;
	long max_body_bytes;
	long max_answers_bytes;
	long max_event_payload_bytes;
	long max_batch_items;
	long max_events;
	long max_response_bytes; /* budget of a batch read's answer */
	long batch_concurrency_per_caller;
	long queue_timeout_ms; /* longer in the queue: 503 overloaded */
	long coalesce_writes;  /* 1: single writes share statements */
	long coalesce_reads;   /* 1: single reads share statements */
	long coalesce_max_items;
	long sweep_interval_ms;	   /* deadline sweep period, 0 = off */
	char *live_publish_socket; /* nchan publisher socket, NULL = no live feed */
} config;

/* Fills cfg from defaults, the file named by $ATTEMPTS_CONFIG (if set) and
 * the environment. On failure returns ATT_ECONFIG (or ATT_ENOMEM) and, if
 * errmsg is not NULL, a message naming the key that the caller frees with
 * free(). cfg must be released with config_free() either way. */
att_err config_load(config *cfg, char **errmsg) ATT_MUSTCHECK;

/* Same, with the file path and an environment lookup given explicitly
 * (getenv_fn may be NULL for none); used by config_load and by tests. */
att_err config_load_from(config *cfg, const char *path, const char *(*getenv_fn)(const char *name),
			 char **errmsg) ATT_MUSTCHECK;

/* Frees the strings in cfg. Accepts NULL. */
void config_free(config *cfg);

/* Writes the table of keys, defaults and meanings as Markdown. */
void config_write_table(FILE *out);
/* Writes every key as "  key = default  (ATTEMPTS_KEY)\n      meaning\n", for --help. */
void config_write_keys(FILE *out);

/* The LISTEN connection's connection string: db_listen, else db. */
const char *config_listen_conninfo(const config *cfg);

#endif
