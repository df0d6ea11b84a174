/* coalescer: lets concurrent threads share one execution of their work
 * (group commit). A thread that hands in an item while no batch is running
 * runs a batch at once - alone, with no added wait; items handed in while a
 * batch runs queue up, and the next batch takes up to max_items of them,
 * oldest first, the moment the previous one returns. One batch runs at a
 * time; the thread that runs it is one of those waiting (leader/follower),
 * so no thread of its own is needed. Owns the queue, the hand-over of the
 * batch-running role and the batch-size statistics; what a batch does is
 * exec's business. */
#ifndef ATT_COALESCER_H
#define ATT_COALESCER_H

#include "att_err.h"

/* Runs items[0..n-1] (n >= 1, in arrival order) and leaves each one's
 * outcome in the item itself. Called without the coalescer's lock, by one
 * thread at a time. */
typedef void (*coalescer_exec_fn)(void *arg, void *const *items, int n);

typedef struct coalescer coalescer;

/* Batch sizes by class for histograms: class 0 holds batches of 1 item,
 * class i (1..7) batches of 2^(i-1)+1 .. 2^i items, class 8 larger ones. */
#define COALESCER_SIZE_CLASSES 9

typedef struct coalescer_stats {
	unsigned long long batches;
	unsigned long long items;
	int items_p50; /* items per batch at the median batch; 0 with none */
	int items_p99;
	int largest;
	int waiting;		     /* items queued for the next batch now */
	unsigned long long timeouts; /* items that gave up waiting */
	unsigned long long by_size[COALESCER_SIZE_CLASSES]; /* batches per size class */
} coalescer_stats;

/* Creates a coalescer of batches of at most max_items (>= 1) whose items
 * wait on the queue at most wait_timeout_ms (0: no limit). The caller
 * frees it with coalescer_free() once no thread is in coalescer_run(). */
att_err coalescer_create(int max_items, long wait_timeout_ms, coalescer_exec_fn exec, void *arg,
			 coalescer **out) ATT_MUSTCHECK;

/* Frees c. Accepts NULL. */
void coalescer_free(coalescer *c);

/* Hands item in and returns ATT_OK once a batch holding it has run (exec
 * has filled its outcome), or ATT_ETIMEOUT if no batch took it within
 * wait_timeout_ms (the batch before it is stuck): then it never runs.
 * Thread-safe. */
att_err coalescer_run(coalescer *c, void *item) ATT_MUSTCHECK;

void coalescer_get_stats(coalescer *c, coalescer_stats *out);

#endif
