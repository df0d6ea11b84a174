/* host_metrics: the counters of every worker process of a host in one
 * POSIX shared-memory table, so that one scrape of any worker sums them
 * all (GET /metrics, Prometheus text). Each process claims a slot by pid
 * and counts into it with relaxed atomics (no lock on the request path); a
 * new process adopts the slot of a dead one and goes on from its
 * counts, so a counter summed over the slots never goes backwards. What a
 * process only knows as a snapshot (its cache's hits, its pool's
 * connections, its breaker's state) it publishes into its slot now and
 * then. Owns the table, the slots and the rendering of the metric
 * families; gathering the snapshot is metrics_ops' business, the syntax
 * prom's. */
#ifndef ATT_HOST_METRICS_H
#define ATT_HOST_METRICS_H

#include <stddef.h>

#include "att_err.h"
#include "buf.h"
#include "coalescer.h"

typedef struct host_metrics host_metrics;

/* Worker processes one table holds; a process finding none free (and no
 * dead one's) counts privately, outside the scrape. */
#define HOST_METRICS_SLOTS 64
/* Most operations (routes) counted, the row of unrouted requests included. */
#define HOST_METRICS_MAX_OPS 32

/* What a process publishes of its own state (host_metrics_publish). */
typedef struct host_metrics_sample {
	/* Counters since the process started. */
	unsigned long long cache_hits;
	unsigned long long cache_misses;
	unsigned long long breaker_opened;   /* closed -> open transitions */
	unsigned long long breaker_rejected; /* calls refused while open */
	unsigned long long listener_reconnects;
	unsigned long long pool_acquire_timeouts;
	unsigned long long pool_connect_failures;
	/* Coalesced statements per size class (coalescer.h), and the calls
	 * they carried: lane 0 writes, lane 1 reads. */
	unsigned long long batches[2][COALESCER_SIZE_CLASSES];
	unsigned long long batch_items[2];
	/* Gauges, now. */
	int pool_active;
	int pool_idle;
	int breaker_state;	/* 0 closed, 1 open, 2 half_open */
	int listener_connected; /* 1 or 0; -1: the process has no listener */
} host_metrics_sample;

/* Opens the table named name (a POSIX shared memory object "/...", created
 * zeroed with mode 0600 by the first process) and claims a slot for this
 * process; with name NULL, or when the object cannot be mapped or has
 * another layout, a private table (this process alone). ops names the n
 * operations counted (n < HOST_METRICS_MAX_OPS; the names must outlive
 * it); every process of a table must give the same list (the default
 * name hashes it). The caller frees it with host_metrics_close(). */
att_err host_metrics_open(const char *name, const char *const *ops, int n,
			  host_metrics **out) ATT_MUSTCHECK;

/* Unmaps the table; the slot's counts stay for a new process to adopt.
 * When no other live process holds a slot, the shared object is removed
 * (all workers stopped: the next start counts from zero). Accepts NULL. */
void host_metrics_close(host_metrics *hm);

/* The table of the workers behind one listening socket:
 * "/attempts-metrics-<uid>-<hash of the socket's address and the operation
 * names>". Returns 0, or -1 (out unset) when listen_fd is not a bound
 * socket: then the process should count privately. */
int host_metrics_default_name(int listen_fd, const char *const *ops, int n, char *out, size_t cap);

/* Counts one answered request of operation op (-1: no route) with its
 * HTTP status, latency and database round trips. Lock-free; NULL hm:
 * nothing. */
void host_metrics_record(host_metrics *hm, int op, int status, long long latency_us, int db_calls);

/* Publishes this process's snapshot into its slot: counters as the slot's
 * counts at adoption plus s's, gauges as they are. NULL hm: nothing. */
void host_metrics_publish(host_metrics *hm, const host_metrics_sample *s);

/* Appends the scrape: every family summed over the table's slots (the
 * gauges over live processes; breaker state and listener per pid). */
void host_metrics_render(host_metrics *hm, buf *out);

/* Is the table shared with other processes (1) or private (0)? */
int host_metrics_shared(const host_metrics *hm);

/* The slot this process holds (for tests), and whether it adopted it
 * from a dead process (1) or took a fresh one (0). */
int host_metrics_slot(const host_metrics *hm);
int host_metrics_adopted(const host_metrics *hm);

#endif
