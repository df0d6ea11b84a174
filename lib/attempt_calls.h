/* attempt_calls: the single-attempt calls that concurrent requests may
 * share on their way to the database - the three writes (save, submit,
 * activity) and the two reads (state, info). Each runs alone, one
 * statement under its caller's claims, or, with coalescing on, gathered
 * with the concurrent calls of other requests of its lane: writes into one
 * coalesced_writes statement (one round trip, one commit), reads into one
 * coalesced_reads statement (coalescer.h decides who rides together).
 * Either way a call's outcome is exactly what its own statement would have
 * answered, and a write's is known only after the commit. Owns the
 * statements' parameters, the batch item format, the split of a batch's
 * answer, and what a failed batch means for its items: a statement error
 * (nothing committed) runs each item alone; a lost connection is an
 * unknown outcome for every write (never retried behind the caller's
 * back); a call that waited too long for the batch before its own answers
 * as if no connection was free. */
#ifndef ATT_ATTEMPT_CALLS_H
#define ATT_ATTEMPT_CALLS_H

#include "att_err.h"
#include "coalescer.h"
#include "db.h"

typedef enum call_kind {
	CALL_SAVE = 0, /* writes */
	CALL_SUBMIT,
	CALL_LOG,
	CALL_STATE, /* reads */
	CALL_INFO
} call_kind;

/* One call: what the handler knows, and its outcome. */
typedef struct attempt_call {
	call_kind kind;
	const char *claims_json; /* the caller's claims as db_call takes them */
	const char *attempt_id;	 /* a canonical UUID */
	const char *body;	 /* writes: the request body (valid JSON), NULL = none */
	long expected_version;	 /* save, submit: -1 = none */
	long max_answers_bytes;	 /* save, submit */
	/* outcome, as db_call's */
	att_err err;
	db_failure why;
	char *result; /* the statement's JSON answer; caller frees */
} attempt_call;

typedef struct attempt_calls_options {
	int coalesce_writes;
	int coalesce_reads;
	int max_items;	      /* most calls in one coalesced statement */
	long wait_timeout_ms; /* longest wait for the batch before one's own */
} attempt_calls_options;

typedef struct attempt_calls attempt_calls;

/* Calls through env (which must outlive it). Free with attempt_calls_free(). */
att_err attempt_calls_create(const db_env *env, const attempt_calls_options *opt,
			     attempt_calls **out) ATT_MUSTCHECK;

void attempt_calls_free(attempt_calls *c);

/* Runs call and fills its outcome. Thread-safe. */
void attempt_calls_run(attempt_calls *c, attempt_call *call);

/* Batch figures of the write lane (reads = 0) or the read lane (1); all
 * zero when that lane does not coalesce. */
void attempt_calls_stats(attempt_calls *c, int reads, coalescer_stats *out);

#endif
