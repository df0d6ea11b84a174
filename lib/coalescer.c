/* coalescer: a FIFO of waiting items, one running batch, and the hand-over
 * of the batch-running role to the oldest waiter when the runner's own
 * item is done. */
#include "coalescer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "blocking.h"

/* One thread waiting in coalescer_run, on its own stack. */
typedef struct waiter {
	void *item;
	struct waiter *next;
	pthread_cond_t wake;
	int done;  /* its batch has run */
	int leads; /* it runs the next batch */
	int taken; /* in the running batch: its outcome is coming */
} waiter;

struct coalescer {
	pthread_mutex_t mu;
	waiter *head, *tail; /* waiting for a batch, oldest first */
	int running;	     /* a thread holds the batch-running role */
	int max_items;
	coalescer_exec_fn exec;
	void *arg;
	waiter **batch;		   /* the running batch (max_items) */
	void **items;		   /* its items, as exec gets them */
	unsigned long long *sizes; /* sizes[n]: batches of n items */
	unsigned long long batches, total, timeouts;
	int waiting;	      /* on the queue */
	long wait_timeout_ms; /* longest wait on the queue (0: none) */
};

att_err coalescer_create(int max_items, long wait_timeout_ms, coalescer_exec_fn exec, void *arg,
			 coalescer **out)
{
	coalescer *c;

	*out = NULL;
	if (max_items < 1 || exec == NULL)
		return ATT_EINVAL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return ATT_ENOMEM;
	c->batch = calloc((size_t)max_items, sizeof *c->batch);
	c->items = calloc((size_t)max_items, sizeof *c->items);
	c->sizes = calloc((size_t)max_items + 1, sizeof *c->sizes);
	if (c->batch == NULL || c->items == NULL || c->sizes == NULL ||
	    pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c->batch);
		free(c->items);
		free(c->sizes);
		free(c);
		return ATT_ENOMEM;
	}
	c->max_items = max_items;
	c->wait_timeout_ms = wait_timeout_ms;
	c->exec = exec;
	c->arg = arg;
	*out = c;
	return ATT_OK;
}

void coalescer_free(coalescer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->batch);
	free(c->items);
	free(c->sizes);
	free(c);
}

/* Takes up to max_items waiters off the queue into c->batch; returns how
 * many. Called with the lock held. */
static int take_batch(coalescer *c)
{
	int n = 0;

	while (c->head != NULL && n < c->max_items) {
		waiter *w = c->head;

		c->head = w->next;
		if (c->head == NULL)
			c->tail = NULL;
		w->taken = 1;
		c->batch[n] = w;
		c->items[n] = w->item;
		n++;
		c->waiting--;
	}
	return n;
}

/* Marks the batch done and wakes its waiters (the runner excepted, which
 * is awake). Called with the lock held: a woken waiter cannot return, and
 * free its condition variable, before the lock is let go. */
static void finish_batch(coalescer *c, int n, const waiter *runner)
{
	c->sizes[n]++;
	c->batches++;
	c->total += (unsigned long long)n;
	for (int i = 0; i < n; i++) {
		c->batch[i]->done = 1;
		if (c->batch[i] != runner)
			pthread_cond_signal(&c->batch[i]->wake);
	}
}

/* Runs batches until the runner's own item has run, then hands the role
 * to the oldest waiter, if any. Called with the lock held. */
static void run_batches(coalescer *c, waiter *self)
{
	while (!self->done) {
		int n = take_batch(c);

		pthread_mutex_unlock(&c->mu);
		c->exec(c->arg, c->items, n);
		pthread_mutex_lock(&c->mu);
		finish_batch(c, n, self);
	}
	if (c->head != NULL) {
		c->head->leads = 1;
		pthread_cond_signal(&c->head->wake);
	} else {
		c->running = 0;
	}
}

/* Takes w off the queue (it gave up waiting). Called with the lock held. */
static void unlink_waiter(coalescer *c, waiter *w)
{
	waiter *prev = NULL;

	for (waiter *it = c->head; it != NULL; prev = it, it = it->next) {
		if (it != w)
			continue;
		if (prev != NULL)
			prev->next = w->next;
		else
			c->head = w->next;
		if (c->tail == w)
			c->tail = prev;
		c->waiting--;
		c->timeouts++;
		return;
	}
}

/* Waits, with the lock held, until self's batch has run or self is to run
 * the next one, or until deadline; then returns 0, or -1 if self gave up
 * while still on the queue. Waiting for others' batch is not running: the
 * scheduler may give this thread's turn to another request meanwhile. */
static int wait_turn(coalescer *c, waiter *self, const struct timespec *deadline)
{
	int gave_up = 0;

	pthread_mutex_unlock(&c->mu);
	blocking_begin();
	pthread_mutex_lock(&c->mu);
	while (!self->done && !self->leads && !gave_up) {
		if (deadline == NULL)
			pthread_cond_wait(&self->wake, &c->mu);
		else if (pthread_cond_timedwait(&self->wake, &c->mu, deadline) == ETIMEDOUT &&
			 !self->done && !self->leads && !self->taken) {
			unlink_waiter(c, self);
			gave_up = 1;
		}
	}
	pthread_mutex_unlock(&c->mu);
	blocking_end();
	pthread_mutex_lock(&c->mu);
	return gave_up ? -1 : 0;
}

att_err coalescer_run(coalescer *c, void *item)
{
	waiter self = {.item = item};
	pthread_condattr_t attr;
	struct timespec deadline;
	int gave_up = 0;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&self.wake, &attr);
	pthread_condattr_destroy(&attr);
	if (c->wait_timeout_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += c->wait_timeout_ms / 1000;
		deadline.tv_nsec += (c->wait_timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = &self;
	else
		c->head = &self;
	c->tail = &self;
	c->waiting++;
	if (!c->running) {
		c->running = 1;
		self.leads = 1;
	}
	if (!self.leads)
		gave_up = wait_turn(c, &self, c->wait_timeout_ms > 0 ? &deadline : NULL);
	if (self.leads)
		run_batches(c, &self);
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&self.wake);
	return gave_up ? ATT_ETIMEOUT : ATT_OK;
}

/* The batch size below which a fraction q of the batches lie. */
static int size_quantile(const coalescer *c, double q)
{
	unsigned long long want, seen = 0;

	if (c->batches == 0)
		return 0;
	want = (unsigned long long)ceil(q * (double)c->batches);
	for (int n = 1; n <= c->max_items; n++) {
		seen += c->sizes[n];
		if (seen >= want)
			return n;
	}
	return c->max_items;
}

void coalescer_get_stats(coalescer *c, coalescer_stats *out)
{
	pthread_mutex_lock(&c->mu);
	out->batches = c->batches;
	out->items = c->total;
	out->items_p50 = size_quantile(c, 0.50);
	out->items_p99 = size_quantile(c, 0.99);
	out->waiting = c->waiting;
	out->timeouts = c->timeouts;
	out->largest = 0;
	for (int k = 0; k < COALESCER_SIZE_CLASSES; k++)
		out->by_size[k] = 0;
	for (int n = 1, k = 0; n <= c->max_items; n++) {
		while (k < COALESCER_SIZE_CLASSES - 1 && n > (1 << k))
			k++;
		out->by_size[k] += c->sizes[n];
	}
	for (int n = c->max_items; n >= 1; n--)
		if (c->sizes[n] != 0) {
			out->largest = n;
			break;
		}
	pthread_mutex_unlock(&c->mu);
}
