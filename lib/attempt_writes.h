/* attempt_writes: the three single writes of an attempt - save, submit and
 * activity - on their way to the database: alone, one statement each, or,
 * with write coalescing on, gathered with the concurrent writes of other
 * requests into one coalesced_writes statement (one round trip, one
 * commit; coalescer.h decides who rides together). Either way a write's
 * outcome is exactly what its own statement would have answered, and it
 * is known only after the commit. Owns the statements' parameters, the
 * batch item format, the split of a batch's answer, and what a failed
 * batch means for its items: a statement error (nothing committed) runs
 * each item alone; a lost connection is an unknown outcome for every item
 * (never retried behind the caller's back). */
#ifndef ATT_ATTEMPT_WRITES_H
#define ATT_ATTEMPT_WRITES_H

#include "att_err.h"
#include "buf.h"
#include "coalescer.h"
#include "db.h"

typedef enum write_kind { WRITE_SAVE = 0, WRITE_SUBMIT, WRITE_LOG } write_kind;

/* One write: what the handler knows, and its outcome. */
typedef struct write_call {
	write_kind kind;
	const char *claims_json;   /* the caller's claims as db_call takes them */
	const char *attempt_id;    /* a canonical UUID */
	const char *body;          /* the request body (valid JSON), NULL = none */
	long expected_version;     /* -1 = none */
	long max_answers_bytes;
	/* outcome, as db_call's */
	att_err err;
	db_failure why;
	char *result;              /* the statement's JSON answer; caller frees */
} write_call;

typedef struct attempt_writes attempt_writes;

/* Writes through env (which must outlive it); coalesced into batches of at
 * most max_items when coalesce is set, a write waiting for the batch before
 * its own at most wait_timeout_ms (then ATT_ETIMEOUT, nothing sent, as
 * when the pool has no free connection in time). Free with
 * attempt_writes_free(). */
att_err attempt_writes_create(const db_env *env, int coalesce, int max_items,
			      long wait_timeout_ms, attempt_writes **out) ATT_MUSTCHECK;

void attempt_writes_free(attempt_writes *w);

/* Runs call and fills its outcome. Thread-safe. */
void attempt_writes_run(attempt_writes *w, write_call *call);

/* Batch figures; all zero when coalescing is off. */
void attempt_writes_stats(attempt_writes *w, coalescer_stats *out);

/* Appends call's coalesced_writes item (exposed for tests). */
void attempt_writes_item_json(const write_call *call, buf *out);

#endif
