/* write_stamps: a table in shared memory that the worker processes of one
 * host share, so that a cached answer never hides a write another worker
 * has acknowledged. Each attempt id hashes to a slot holding a counter of
 * acknowledged writes; a worker bumps it after the commit and before the
 * 2xx leaves. A cache fill reads the slot before its database call and
 * keeps the value; a cached entry whose slot moved since is a miss. (If
 * the bump came before the fill's read, the fill's read of the database
 * came after the commit and holds the write.) Colliding ids only cost
 * extra misses. Owns the mapping; what is cached is cache's business,
 * other hosts are told by LISTEN/NOTIFY (listener). */
#ifndef ATT_WRITE_STAMPS_H
#define ATT_WRITE_STAMPS_H

#include <stddef.h>

#include "att_err.h"

typedef struct write_stamps write_stamps;

/* Slots in the table: 4 bytes each, 4 MiB of shared memory, touched
 * lazily. With 30,000 attempts being written, an entry is hidden by a
 * colliding id's write about 3 % as often as by its own. */
#define WRITE_STAMPS_SLOTS (1u << 20)

/* Maps the table named name (a POSIX shared memory object, "/..."; created
 * zeroed, mode 0600, by the first process), or, with name NULL, a private
 * one (a single process). The caller frees it with write_stamps_close(). */
att_err write_stamps_open(const char *name, write_stamps **out) ATT_MUSTCHECK;

/* Unmaps the table (the shared object stays for the other processes).
 * Accepts NULL. */
void write_stamps_close(write_stamps *ws);

/* The host's table name for the current user: "/attempts-writes-<uid>".
 * Every worker of the user shares it; unrelated workers sharing it only
 * see extra misses. */
void write_stamps_default_name(char *out, size_t n);

/* The stamp of attempt_id's slot now. NULL ws: 0. */
unsigned write_stamps_read(const write_stamps *ws, const char *attempt_id);

/* A write of attempt_id is committed: moves its slot (and the total). NULL
 * ws: nothing. */
void write_stamps_bump(write_stamps *ws, const char *attempt_id);

/* Writes noted in the whole table so far (for fills whose ids are not
 * known before the call). NULL ws: 0. */
unsigned long long write_stamps_total(const write_stamps *ws);

/* Was the table opened shared (1), or is it private to this process (0)? */
int write_stamps_shared(const write_stamps *ws);

#endif
