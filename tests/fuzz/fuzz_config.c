/* fuzz_config: libFuzzer harness for the key = value configuration file
 * parser (config_load_from) and config_free.
 *
 * Input: the file's bytes. If they contain the line "--env--", what
 * follows it is an environment of NAME=value lines handed to
 * config_load_from as its getenv function; otherwise getenv is NULL. The
 * file is written to a memfd and read through /proc/self/fd/N, so no
 * directory is touched.
 *
 * Invariants: success leaves every key within its documented bounds
 * (jwt_secret >= 32 bytes, pool_min <= pool_max, retry base <= max, ...);
 * failure comes with a message naming what is wrong; config_free after
 * either leaves nothing behind (LeakSanitizer) and may run twice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char memfd_path[64];

/* The environment of the current input: "NAME=value\n" lines. */
static const char *env_text;
static size_t env_len;
static char env_value[4096];

static const char *fuzz_getenv(const char *name)
{
	size_t nlen = strlen(name);
	const char *p = env_text, *end = env_text + env_len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		size_t len = (size_t)(line_end - p);
		if (len > nlen && p[nlen] == '=' && memcmp(p, name, nlen) == 0) {
			size_t vlen = len - nlen - 1;
			if (vlen >= sizeof env_value || memchr(p + nlen + 1, '\0', vlen) != NULL)
				return NULL;
			memcpy(env_value, p + nlen + 1, vlen);
			env_value[vlen] = '\0';
			return env_value;
		}
		p = line_end + 1;
	}
	return NULL;
}

static void check_loaded(const config *c)
{
	if (c->jwt_secret == NULL || strlen(c->jwt_secret) < 32)
		abort();
	if (c->db == NULL || c->upload_dir == NULL || c->log_level == NULL ||
	    log_level_parse(c->log_level) < 0)
		abort();
	if (c->threads < 1 || c->threads > 256 || c->pool_max < 1 || c->pool_max > 256 ||
	    c->pool_min < 0 || c->pool_min > c->pool_max)
		abort();
	if (c->retry_attempts < 1 || c->retry_attempts > 20 ||
	    c->retry_base_delay_ms > c->retry_max_delay_ms)
		abort();
	if (c->max_body_bytes < 1024 || c->max_batch_items < 1 || c->max_events < 1 ||
	    c->max_event_payload_bytes < 16 || c->pool_acquire_timeout_ms < 1 ||
	    c->breaker_failure_threshold < 1 || c->cache_max_entries < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char marker[] = "\n--env--\n";
	const uint8_t *m;
	size_t file_len = size;
	config cfg;
	char *errmsg = NULL;
	att_err err;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_config", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
		snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
		log_set_level((log_level)(LOG_LVL_ERROR + 1));
	}
	env_text = NULL;
	env_len = 0;
	m = memmem(data, size, marker, sizeof marker - 1);
	if (m != NULL) {
		file_len = (size_t)(m - data) + 1;
		env_text = (const char *)m + sizeof marker - 1;
		env_len = size - file_len - (sizeof marker - 2);
	}
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, file_len, 0) != (ssize_t)file_len)
		abort();

	err = config_load_from(&cfg, memfd_path, env_text ? fuzz_getenv : NULL, &errmsg);
	if (err == ATT_OK) {
		check_loaded(&cfg);
		if (errmsg != NULL)
			abort(); /* a message without a failure */
	} else if (err != ATT_ECONFIG && err != ATT_ENOMEM) {
		abort();
	} else if (err == ATT_ECONFIG && errmsg == NULL) {
		abort(); /* a refused configuration must say what is wrong */
	}
	free(errmsg);
	config_free(&cfg);
	config_free(&cfg); /* idempotent: pointers were reset */
	config_free(NULL);
	return 0;
}
