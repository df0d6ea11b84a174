/* write_stamps: counters in a POSIX shared memory object. */
#include "write_stamps.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The shared layout: a total, then the slots. */
typedef struct stamps_table {
	atomic_ullong total;
	atomic_uint slots[WRITE_STAMPS_SLOTS];
} stamps_table;

struct write_stamps {
	stamps_table *table;
	int shared;
};

static stamps_table *map_shared(const char *name)
{
	int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	struct stat st;
	void *p = MAP_FAILED;

	if (fd < 0)
		return NULL;
	/* Grow it once; a shorter object is one we did not make: refuse. */
	if (fstat(fd, &st) == 0 && (st.st_size == (off_t)sizeof(stamps_table) ||
				    (st.st_size == 0 && ftruncate(fd, sizeof(stamps_table)) == 0)))
		p = mmap(NULL, sizeof(stamps_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

att_err write_stamps_open(const char *name, write_stamps **out)
{
	write_stamps *ws = calloc(1, sizeof *ws);

	if (ws == NULL)
		return ATT_ENOMEM;
	if (name != NULL) {
		ws->table = map_shared(name);
		ws->shared = ws->table != NULL;
		if (ws->table == NULL) {
			free(ws);
			return ATT_EIO;
		}
	} else {
		void *p = mmap(NULL, sizeof(stamps_table), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			free(ws);
			return ATT_ENOMEM;
		}
		ws->table = p;
	}
	*out = ws;
	return ATT_OK;
}

void write_stamps_close(write_stamps *ws)
{
	if (ws == NULL)
		return;
	munmap(ws->table, sizeof(stamps_table));
	free(ws);
}

void write_stamps_default_name(char *out, size_t n)
{
	snprintf(out, n, "/attempts-writes-%lu", (unsigned long)geteuid());
}

/* FNV-1a over the id's text. */
static size_t slot_of(const char *attempt_id)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)attempt_id; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h ^ (h >> 32)) & (WRITE_STAMPS_SLOTS - 1);
}

unsigned write_stamps_read(const write_stamps *ws, const char *attempt_id)
{
	if (ws == NULL)
		return 0;
	return atomic_load(&ws->table->slots[slot_of(attempt_id)]);
}

void write_stamps_bump(write_stamps *ws, const char *attempt_id)
{
	if (ws == NULL)
		return;
	atomic_fetch_add(&ws->table->slots[slot_of(attempt_id)], 1);
	atomic_fetch_add(&ws->table->total, 1);
}

unsigned long long write_stamps_total(const write_stamps *ws)
{
	return ws == NULL ? 0 : atomic_load(&ws->table->total);
}

int write_stamps_shared(const write_stamps *ws)
{
	return ws != NULL && ws->shared;
}
