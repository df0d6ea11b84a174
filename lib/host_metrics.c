/* host_metrics: per-process slots of counters in a POSIX shared memory
 * object, claimed by pid, summed by whoever renders the scrape. */
#include "host_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "prom.h"

#define HM_MAGIC 0x61744d31u /* "atM1" */

/* Statuses counted by name; anything else is counted as "other". */
static const int hm_statuses[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409,
				  412, 413, 415, 416, 422, 429, 500, 502, 503, 504};
#define HM_NSTATUS ((int)(sizeof hm_statuses / sizeof hm_statuses[0]) + 1)

/* Request duration buckets: upper bounds in microseconds and seconds. */
static const long long hm_lat_us[] = {100,     250,	500,	 1000,	  2500,	  5000,
				      10000,   25000,	50000,	 100000,  250000, 500000,
				      1000000, 2500000, 5000000, 10000000};
static const double hm_lat_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				  0.05,	  0.1,	   0.25,   0.5,	  1,	  2.5,	 5,    10};
#define HM_NLAT ((int)(sizeof hm_lat_us / sizeof hm_lat_us[0]))

/* Upper bounds of the coalescer's size classes but the last. */
static const double hm_batch_bounds[COALESCER_SIZE_CLASSES - 1] = {1, 2, 4, 8, 16, 32, 64, 128};

/* Published counters (host_metrics_sample), by index. */
enum {
	PUB_CACHE_HITS = 0,
	PUB_CACHE_MISSES,
	PUB_BREAKER_OPENED,
	PUB_BREAKER_REJECTED,
	PUB_LISTENER_RECONNECTS,
	PUB_POOL_TIMEOUTS,
	PUB_POOL_CONNECT_FAILURES,
	PUB_BATCHES,
	PUB_BATCH_ITEMS = PUB_BATCHES + 2 * COALESCER_SIZE_CLASSES,
	PUB_N = PUB_BATCH_ITEMS + 2
};

/* Published gauges. G_PUBLISHED: 1 once the process has published. */
enum { G_POOL_ACTIVE = 0, G_POOL_IDLE, G_BREAKER, G_LISTENER, G_PUBLISHED, G_N };

typedef struct hm_slot {
	atomic_ullong requests[HOST_METRICS_MAX_OPS][HM_NSTATUS];
	atomic_ullong latency[HOST_METRICS_MAX_OPS][HM_NLAT + 1];
	atomic_ullong latency_sum_us[HOST_METRICS_MAX_OPS];
	atomic_ullong db_calls;
	atomic_ullong pub[PUB_N];
	atomic_int gauges[G_N];
} hm_slot;

/* The shared layout. pids[i] != 0: slot i is (or was) that process's. */
typedef struct hm_table {
	atomic_uint magic;
	atomic_uint size;
	atomic_int pids[HOST_METRICS_SLOTS];
	hm_slot slots[HOST_METRICS_SLOTS];
} hm_table;

struct host_metrics {
	char *name; /* the shared object's, NULL if private */
	hm_table *table;
	int shared;
	int slot;
	int adopted;
	hm_slot *mine;
	const char *const *ops;
	int nops;
	unsigned long long base[PUB_N]; /* the slot's published counts at adoption */
};

/* Maps the named object, sized and stamped by whoever comes first; NULL
 * if it cannot, or if it is not our layout. */
static hm_table *map_shared(const char *name)
{
	int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	struct stat st;
	hm_table *t = NULL;
	void *p = MAP_FAILED;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (st.st_size == (off_t)sizeof(hm_table) ||
				    (st.st_size == 0 && ftruncate(fd, sizeof(hm_table)) == 0)))
		p = mmap(NULL, sizeof(hm_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	t = p;
	/* Every opener stamps the same values; the magic goes last. */
	if (atomic_load(&t->magic) == 0) {
		atomic_store(&t->size, (unsigned)sizeof(hm_table));
		atomic_store(&t->magic, HM_MAGIC);
	}
	if (atomic_load(&t->magic) != HM_MAGIC || atomic_load(&t->size) != sizeof(hm_table)) {
		munmap(p, sizeof(hm_table));
		return NULL;
	}
	return t;
}

static hm_table *map_private(void)
{
	void *p = mmap(NULL, sizeof(hm_table), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Claims a slot for this process: its own (a reopen, or its pid reused),
 * else a dead process's, else a fresh one; -1 if all are taken. */
static int claim_slot(hm_table *t, int *adopted)
{
	int me = (int)getpid();

	for (int i = 0; i < HOST_METRICS_SLOTS; i++)
		if (atomic_load(&t->pids[i]) == me) {
			*adopted = 1;
			return i;
		}
	for (int i = 0; i < HOST_METRICS_SLOTS; i++) {
		int p = atomic_load(&t->pids[i]);
		if (p != 0 && (p < 0 || !pid_alive(p)) &&
		    atomic_compare_exchange_strong(&t->pids[i], &p, me)) {
			*adopted = 1;
			return i;
		}
	}
	for (int i = 0; i < HOST_METRICS_SLOTS; i++) {
		int p = 0;
		if (atomic_compare_exchange_strong(&t->pids[i], &p, me)) {
			*adopted = 0;
			return i;
		}
	}
	return -1;
}

att_err host_metrics_open(const char *name, const char *const *ops, int n, host_metrics **out)
{
	host_metrics *hm;

	if (n < 0 || n + 1 > HOST_METRICS_MAX_OPS)
		return ATT_EINVAL;
	hm = calloc(1, sizeof *hm);
	if (hm == NULL)
		return ATT_ENOMEM;
	hm->ops = ops;
	hm->nops = n;
	if (name != NULL && (hm->table = map_shared(name)) != NULL) {
		hm->shared = 1;
		hm->name = strdup(name);
		hm->slot = claim_slot(hm->table, &hm->adopted);
		if (hm->slot < 0) {
			munmap(hm->table, sizeof(hm_table));
			hm->table = NULL;
			hm->shared = 0;
			free(hm->name);
			hm->name = NULL;
		}
	}
	if (hm->table == NULL) {
		hm->table = map_private();
		if (hm->table == NULL) {
			free(hm);
			return ATT_ENOMEM;
		}
		hm->slot = 0;
		hm->adopted = 0;
		atomic_store(&hm->table->pids[0], (int)getpid());
	}
	hm->mine = &hm->table->slots[hm->slot];
	/* A dead owner's gauges are not this process's. */
	atomic_store(&hm->mine->gauges[G_PUBLISHED], 0);
	for (int i = 0; i < PUB_N; i++)
		hm->base[i] = atomic_load(&hm->mine->pub[i]);
	*out = hm;
	return ATT_OK;
}

void host_metrics_close(host_metrics *hm)
{
	int others = 0, me = (int)getpid();

	if (hm == NULL)
		return;
	/* The last worker to stop removes the object (a restart of them all
	 * starts from zero, as any exporter's restart does); a worker that
	 * dies without closing leaves it for its successor to adopt. */
	/* -pid: closed, free to adopt. Two workers closing at once: each
	 * marks its own slot before looking (sequentially consistent), so
	 * the later one sees the other's mark. */
	if (hm->shared) {
		int mine = me;
		atomic_compare_exchange_strong(&hm->table->pids[hm->slot], &mine, -me);
	}
	for (int i = 0; hm->shared && i < HOST_METRICS_SLOTS; i++) {
		int pid = atomic_load(&hm->table->pids[i]);
		if (pid > 0 && pid != me && pid_alive(pid))
			others = 1;
	}
	if (hm->shared && !others && hm->name != NULL)
		shm_unlink(hm->name);
	munmap(hm->table, sizeof(hm_table));
	free(hm->name);
	free(hm);
}

/* FNV-1a, continued from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int host_metrics_default_name(int listen_fd, const char *const *ops, int n, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char id[sizeof(struct sockaddr_un) + 64], addr[INET6_ADDRSTRLEN];
	uint64_t h = 1469598103934665603ull;
	unsigned size = (unsigned)sizeof(hm_table);

	memset(&ss, 0, sizeof ss);
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		if (len <= offsetof(struct sockaddr_un, sun_path) || un->sun_path[0] == '\0')
			return -1;
		snprintf(id, sizeof id, "unix:%.*s", (int)sizeof un->sun_path, un->sun_path);
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		snprintf(id, sizeof id, "inet:%s:%u", addr, (unsigned)ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		snprintf(id, sizeof id, "inet6:[%s]:%u", addr, (unsigned)ntohs(in6->sin6_port));
	} else {
		return -1;
	}
	h = fnv(h, id, strlen(id) + 1);
	for (int i = 0; i < n; i++)
		h = fnv(h, ops[i], strlen(ops[i]) + 1);
	h = fnv(h, &size, sizeof size);
	snprintf(out, cap, "/attempts-metrics-%lu-%016llx", (unsigned long)geteuid(),
		 (unsigned long long)h);
	return 0;
}

static int status_index(int status)
{
	for (int i = 0; i < HM_NSTATUS - 1; i++)
		if (hm_statuses[i] == status)
			return i;
	return HM_NSTATUS - 1;
}

void host_metrics_record(host_metrics *hm, int op, int status, long long latency_us, int db_calls)
{
	hm_slot *s;
	int row, b = 0;

	if (hm == NULL)
		return;
	s = hm->mine;
	row = op >= 0 && op < hm->nops ? op : hm->nops;
	if (latency_us < 0)
		latency_us = 0;
	while (b < HM_NLAT && latency_us > hm_lat_us[b])
		b++;
	atomic_fetch_add_explicit(&s->requests[row][status_index(status)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->latency[row][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->latency_sum_us[row], (unsigned long long)latency_us,
				  memory_order_relaxed);
	if (db_calls > 0)
		atomic_fetch_add_explicit(&s->db_calls, (unsigned long long)db_calls,
					  memory_order_relaxed);
}

void host_metrics_publish(host_metrics *hm, const host_metrics_sample *smp)
{
	unsigned long long v[PUB_N];
	hm_slot *s;

	if (hm == NULL)
		return;
	s = hm->mine;
	v[PUB_CACHE_HITS] = smp->cache_hits;
	v[PUB_CACHE_MISSES] = smp->cache_misses;
	v[PUB_BREAKER_OPENED] = smp->breaker_opened;
	v[PUB_BREAKER_REJECTED] = smp->breaker_rejected;
	v[PUB_LISTENER_RECONNECTS] = smp->listener_reconnects;
	v[PUB_POOL_TIMEOUTS] = smp->pool_acquire_timeouts;
	v[PUB_POOL_CONNECT_FAILURES] = smp->pool_connect_failures;
	for (int lane = 0; lane < 2; lane++) {
		for (int k = 0; k < COALESCER_SIZE_CLASSES; k++)
			v[PUB_BATCHES + lane * COALESCER_SIZE_CLASSES + k] = smp->batches[lane][k];
		v[PUB_BATCH_ITEMS + lane] = smp->batch_items[lane];
	}
	for (int i = 0; i < PUB_N; i++)
		atomic_store_explicit(&s->pub[i], hm->base[i] + v[i], memory_order_relaxed);
	atomic_store_explicit(&s->gauges[G_POOL_ACTIVE], smp->pool_active, memory_order_relaxed);
	atomic_store_explicit(&s->gauges[G_POOL_IDLE], smp->pool_idle, memory_order_relaxed);
	atomic_store_explicit(&s->gauges[G_BREAKER], smp->breaker_state, memory_order_relaxed);
	atomic_store_explicit(&s->gauges[G_LISTENER], smp->listener_connected,
			      memory_order_relaxed);
	atomic_store_explicit(&s->gauges[G_PUBLISHED], 1, memory_order_release);
}

int host_metrics_shared(const host_metrics *hm)
{
	return hm != NULL && hm->shared;
}

int host_metrics_slot(const host_metrics *hm)
{
	return hm->slot;
}

int host_metrics_adopted(const host_metrics *hm)
{
	return hm->adopted;
}

/* ------------------------------------------------------------ rendering */

/* The slots to read: used (ever claimed; -pid once closed) and live
 * (claimed by a running process that has published its gauges). */
typedef struct hm_view {
	int used[HOST_METRICS_SLOTS];
	int live[HOST_METRICS_SLOTS];
	int pids[HOST_METRICS_SLOTS];
	int n;
} hm_view;

static void take_view(const host_metrics *hm, hm_view *v)
{
	v->n = 0;
	for (int i = 0; i < HOST_METRICS_SLOTS; i++) {
		int pid = atomic_load(&hm->table->pids[i]);
		if (pid == 0)
			continue;
		v->used[v->n] = i;
		v->pids[v->n] = pid;
		v->live[v->n] = pid > 0 && (hm->shared ? pid_alive(pid) : pid == (int)getpid()) &&
				atomic_load_explicit(&hm->table->slots[i].gauges[G_PUBLISHED],
						     memory_order_acquire);
		v->n++;
	}
}

static unsigned long long sum_pub(const host_metrics *hm, const hm_view *v, int idx)
{
	unsigned long long total = 0;

	for (int j = 0; j < v->n; j++)
		total += atomic_load_explicit(&hm->table->slots[v->used[j]].pub[idx],
					      memory_order_relaxed);
	return total;
}

static long long sum_gauge(const host_metrics *hm, const hm_view *v, int idx)
{
	long long total = 0;

	for (int j = 0; j < v->n; j++)
		if (v->live[j])
			total += atomic_load_explicit(&hm->table->slots[v->used[j]].gauges[idx],
						      memory_order_relaxed);
	return total;
}

static const char *op_name(const host_metrics *hm, int row)
{
	return row < hm->nops ? hm->ops[row] : "none";
}

static void render_requests(const host_metrics *hm, const hm_view *v, buf *out)
{
	char code[16];

	prom_family(out, "attempts_http_requests_total", "counter",
		    "HTTP requests answered by the workers, by action (route; none: no route "
		    "matched, or shed before routing) and status");
	for (int row = 0; row <= hm->nops; row++)
		for (int st = 0; st < HM_NSTATUS; st++) {
			unsigned long long total = 0;
			for (int j = 0; j < v->n; j++)
				total += atomic_load_explicit(
					&hm->table->slots[v->used[j]].requests[row][st],
					memory_order_relaxed);
			if (total == 0)
				continue;
			if (st < HM_NSTATUS - 1)
				snprintf(code, sizeof code, "%d", hm_statuses[st]);
			else
				snprintf(code, sizeof code, "other");
			prom_sample_u64(out, "attempts_http_requests_total",
					(const char *const[]){"action", op_name(hm, row), "status",
							      code, NULL},
					total);
		}
	prom_family(out, "attempts_http_request_duration_seconds", "histogram",
		    "Time from a request's parameters being read to its answer written, by action");
	for (int row = 0; row <= hm->nops; row++) {
		unsigned long long counts[HM_NLAT + 1], total = 0, sum_us = 0;
		for (int b = 0; b <= HM_NLAT; b++) {
			counts[b] = 0;
			for (int j = 0; j < v->n; j++)
				counts[b] += atomic_load_explicit(
					&hm->table->slots[v->used[j]].latency[row][b],
					memory_order_relaxed);
			total += counts[b];
		}
		if (total == 0)
			continue;
		for (int j = 0; j < v->n; j++)
			sum_us += atomic_load_explicit(
				&hm->table->slots[v->used[j]].latency_sum_us[row],
				memory_order_relaxed);
		prom_histogram(out, "attempts_http_request_duration_seconds",
			       (const char *const[]){"action", op_name(hm, row), NULL}, hm_lat_s,
			       HM_NLAT, counts, (double)sum_us / 1e6);
	}
}

/* One published counter family without labels. */
static void render_counter(const host_metrics *hm, const hm_view *v, buf *out, const char *name,
			   const char *help, int idx)
{
	prom_family(out, name, "counter", help);
	prom_sample_u64(out, name, NULL, sum_pub(hm, v, idx));
}

static void render_db(const host_metrics *hm, const hm_view *v, buf *out)
{
	unsigned long long calls = 0;

	for (int j = 0; j < v->n; j++)
		calls += atomic_load_explicit(&hm->table->slots[v->used[j]].db_calls,
					      memory_order_relaxed);
	prom_family(out, "attempts_db_calls_total", "counter",
		    "Database round trips made for requests (retries included)");
	prom_sample_u64(out, "attempts_db_calls_total", NULL, calls);
	prom_family(out, "attempts_db_pool_connections", "gauge",
		    "Open pooled connections of the live workers, in use (active) or idle");
	prom_sample(out, "attempts_db_pool_connections",
		    (const char *const[]){"state", "active", NULL},
		    (double)sum_gauge(hm, v, G_POOL_ACTIVE));
	prom_sample(out, "attempts_db_pool_connections",
		    (const char *const[]){"state", "idle", NULL},
		    (double)sum_gauge(hm, v, G_POOL_IDLE));
	render_counter(
		hm, v, out, "attempts_db_pool_acquire_timeouts_total",
		"Requests that found no free pooled connection within pool_acquire_timeout_ms",
		PUB_POOL_TIMEOUTS);
	render_counter(hm, v, out, "attempts_db_pool_connect_failures_total",
		       "Connections the pools could not open", PUB_POOL_CONNECT_FAILURES);
}

/* A gauge per live worker, labelled with its pid. */
static void render_per_pid(const host_metrics *hm, const hm_view *v, buf *out, const char *name,
			   const char *help, int idx)
{
	char pid[16];

	prom_family(out, name, "gauge", help);
	for (int j = 0; j < v->n; j++) {
		int value;
		if (!v->live[j])
			continue;
		value = atomic_load_explicit(&hm->table->slots[v->used[j]].gauges[idx],
					     memory_order_relaxed);
		if (value < 0)
			continue;
		snprintf(pid, sizeof pid, "%d", v->pids[j]);
		prom_sample(out, name, (const char *const[]){"pid", pid, NULL}, (double)value);
	}
}

static void render_batches(const host_metrics *hm, const hm_view *v, buf *out)
{
	static const char *const lanes[2] = {"writes", "reads"};

	prom_family(out, "attempts_coalesced_batch_size", "histogram",
		    "Calls per coalesced statement (a call that went alone counts as 1), by lane");
	for (int lane = 0; lane < 2; lane++) {
		unsigned long long counts[COALESCER_SIZE_CLASSES];
		for (int k = 0; k < COALESCER_SIZE_CLASSES; k++)
			counts[k] = sum_pub(hm, v, PUB_BATCHES + lane * COALESCER_SIZE_CLASSES + k);
		prom_histogram(out, "attempts_coalesced_batch_size",
			       (const char *const[]){"lane", lanes[lane], NULL}, hm_batch_bounds,
			       COALESCER_SIZE_CLASSES - 1, counts,
			       (double)sum_pub(hm, v, PUB_BATCH_ITEMS + lane));
	}
}

/* The families of one number each, in scrape order: a counter summed
 * over every worker (pub[idx]), or a gauge per live worker (gauges[idx]). */
static const struct hm_simple_family {
	const char *name, *help;
	int idx;
	int per_pid;
} hm_simple[] = {
	{"attempts_cache_hits_total", "Cache lookups that found an entry", PUB_CACHE_HITS, 0},
	{"attempts_cache_misses_total", "Cache lookups that found none (or a stale one)",
	 PUB_CACHE_MISSES, 0},
	{"attempts_breaker_state",
	 "Circuit breaker of each live worker: 0 closed, 1 open, 2 half_open", G_BREAKER, 1},
	{"attempts_breaker_opened_total", "Circuit breaker transitions from closed to open",
	 PUB_BREAKER_OPENED, 0},
	{"attempts_breaker_rejected_total", "Database calls refused by an open circuit breaker",
	 PUB_BREAKER_REJECTED, 0},
	{"attempts_listener_connected",
	 "LISTEN connection of each live worker: 1 connected, 0 not (cache bypassed)", G_LISTENER,
	 1},
	{"attempts_listener_reconnects_total", "LISTEN connections re-established after a loss",
	 PUB_LISTENER_RECONNECTS, 0},
};

void host_metrics_render(host_metrics *hm, buf *out)
{
	hm_view v;
	int live = 0;

	take_view(hm, &v);
	for (int j = 0; j < v.n; j++)
		live += v.live[j];
	prom_family(out, "attempts_workers", "gauge",
		    "Live worker processes counted in this scrape (sharing one table)");
	prom_sample(out, "attempts_workers", NULL, (double)live);
	render_requests(hm, &v, out);
	render_db(hm, &v, out);
	for (size_t i = 0; i < sizeof hm_simple / sizeof hm_simple[0]; i++)
		(hm_simple[i].per_pid ? render_per_pid : render_counter)(
			hm, &v, out, hm_simple[i].name, hm_simple[i].help, hm_simple[i].idx);
	render_batches(hm, &v, out);
}
