/* attempt_writes: single statements, coalesced_writes batches built from
 * the same fields, and the mapping of a batch's outcome onto its items. */
#include "attempt_writes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

struct attempt_writes {
	const db_env *env;
	coalescer *batches;  /* NULL: every write alone */
	json_span *spans;    /* a batch answer's elements (max_items) */
	int max_items;
};

static const char *const kind_names[] = {
	[WRITE_SAVE] = "save", [WRITE_SUBMIT] = "submit", [WRITE_LOG] = "log"};

/* --------------------------------------------------------------- alone */

/* Runs call alone: its own statement, its claims, one commit. */
static void run_alone(const db_env *env, write_call *call)
{
	char version[24], limit[24];
	const char *params[4];
	db_stmt stmt;

	snprintf(version, sizeof version, "%ld", call->expected_version);
	snprintf(limit, sizeof limit, "%ld", call->max_answers_bytes);
	params[0] = call->attempt_id;
	params[1] = call->body;
	params[2] = call->expected_version >= 0 ? version : NULL;
	params[3] = limit;
	switch (call->kind) {
	case WRITE_SAVE: stmt = DB_STMT_SAVE_ATTEMPT; break;
	case WRITE_SUBMIT: stmt = DB_STMT_SUBMIT_ATTEMPT; break;
	default: stmt = DB_STMT_LOG_ACTIVITY; break;
	}
	call->result = NULL;
	call->err = db_call(env, call->claims_json, stmt, params, &call->result, &call->why);
}

/* ------------------------------------------------------------- batches */

void attempt_writes_item_json(const write_call *call, buf *out)
{
	buf_printf(out, "{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\",\"body\":",
		   kind_names[call->kind], call->claims_json, call->attempt_id);
	buf_puts(out, call->body != NULL ? call->body : "null");
	if (call->expected_version >= 0)
		buf_printf(out, ",\"expected_version\":%ld", call->expected_version);
	else
		buf_puts(out, ",\"expected_version\":null");
	buf_printf(out, ",\"max_answers_bytes\":%ld}", call->max_answers_bytes);
}

/* The coalesced_writes argument for calls[0..n-1]; NULL without memory. */
static char *batch_json(write_call *const *calls, int n)
{
	buf b = BUF_INIT;

	buf_putc(&b, '[');
	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&b, ',');
		attempt_writes_item_json(calls[i], &b);
	}
	buf_putc(&b, ']');
	return buf_take(&b);
}

/* Gives every call of a failed batch the batch's outcome. The round trips
 * count once, on the first. */
static void share_failure(write_call *const *calls, int n, att_err err, const db_failure *why)
{
	for (int i = 0; i < n; i++) {
		calls[i]->err = err;
		calls[i]->why = *why;
		calls[i]->why.tries = i == 0 ? why->tries : 0;
		calls[i]->result = NULL;
	}
}

/* Hands each call its element of the batch answer text; -1 if text is not
 * an array of n elements. */
static int split_answer(attempt_writes *w, write_call *const *calls, int n, const char *text,
			const db_failure *why)
{
	if (json_array_elements(text, strlen(text), w->spans, n) != n)
		return -1;
	for (int i = 0; i < n; i++) {
		calls[i]->err = ATT_OK;
		calls[i]->why = *why;
		calls[i]->why.tries = i == 0 ? why->tries : 0;
		calls[i]->result = strndup(text + w->spans[i].offset, (size_t)w->spans[i].length);
		if (calls[i]->result == NULL)
			calls[i]->err = ATT_ENOMEM;
	}
	return 0;
}

/* Runs calls[0..n-1] as one coalesced_writes statement. */
static void run_batch(attempt_writes *w, write_call *const *calls, int n)
{
	db_failure why;
	char *text = NULL, *items = batch_json(calls, n);
	const char *params[1] = {items};
	att_err err;

	if (items == NULL) {
		memset(&why, 0, sizeof why);
		share_failure(calls, n, ATT_ENOMEM, &why);
		return;
	}
	err = db_call(w->env, NULL, DB_STMT_COALESCED_WRITES, params, &text, &why);
	free(items);
	if (err == ATT_EDB) {
		/* The statement failed as a whole, so nothing of it committed:
		 * each write runs alone and gets the answer it would have had. */
		log_warn("coalesced writes: a batch of %d failed (%s %s); running them one by one",
			 n, why.sqlstate, why.message);
		for (int i = 0; i < n; i++)
			run_alone(w->env, calls[i]);
	} else if (err != ATT_OK) {
		share_failure(calls, n, err, &why);
	} else if (text == NULL || split_answer(w, calls, n, text, &why) != 0) {
		log_error("coalesced writes: unexpected answer %.200s", text ? text : "(null)");
		why.sqlstate[0] = '\0';
		snprintf(why.message, sizeof why.message, "unexpected coalesced_writes answer");
		share_failure(calls, n, ATT_EDB, &why);
	}
	free(text);
}

/* coalescer_exec_fn: one write goes alone (no batch overhead at low load). */
static void exec_writes(void *arg, void *const *items, int n)
{
	attempt_writes *w = arg;

	if (n == 1)
		run_alone(w->env, items[0]);
	else
		run_batch(w, (write_call *const *)items, n);
}

/* ---------------------------------------------------------------- setup */

att_err attempt_writes_create(const db_env *env, int coalesce, int max_items,
			      long wait_timeout_ms, attempt_writes **out)
{
	attempt_writes *w = calloc(1, sizeof *w);
	att_err err = ATT_OK;

	*out = NULL;
	if (w == NULL)
		return ATT_ENOMEM;
	w->env = env;
	w->max_items = max_items;
	if (coalesce && max_items > 1) {
		w->spans = calloc((size_t)max_items, sizeof *w->spans);
		err = w->spans == NULL ? ATT_ENOMEM
				       : coalescer_create(max_items, wait_timeout_ms, exec_writes, w,
							  &w->batches);
	}
	if (err != ATT_OK) {
		attempt_writes_free(w);
		return err;
	}
	*out = w;
	return ATT_OK;
}

void attempt_writes_free(attempt_writes *w)
{
	if (w == NULL)
		return;
	coalescer_free(w->batches);
	free(w->spans);
	free(w);
}

void attempt_writes_run(attempt_writes *w, write_call *call)
{
	if (w->batches == NULL) {
		run_alone(w->env, call);
	} else if (coalescer_run(w->batches, call) != ATT_OK) {
		/* The batch before it never came back in time: like a pool
		 * with no free connection, nothing was sent. */
		memset(&call->why, 0, sizeof call->why);
		snprintf(call->why.message, sizeof call->why.message,
			 "no database statement free for the write in time");
		call->err = ATT_ETIMEOUT;
		call->result = NULL;
	}
}

void attempt_writes_stats(attempt_writes *w, coalescer_stats *out)
{
	if (w->batches != NULL)
		coalescer_get_stats(w->batches, out);
	else
		memset(out, 0, sizeof *out);
}
