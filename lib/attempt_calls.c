/* attempt_calls: single statements, coalesced batches built from the same
 * fields (one lane for writes, one for reads), and the mapping of a
 * batch's outcome onto its items. */
#include "attempt_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "log.h"

/* Calls of one kind of statement that may share one. */
typedef struct lane {
	const db_env *env;
	const char *name;   /* "writes", "reads": for logs */
	db_stmt stmt;	    /* the coalesced statement */
	coalescer *batches; /* NULL: every call alone */
	json_span *spans;   /* a batch answer's elements (max_items) */
} lane;

struct attempt_calls {
	lane writes, reads;
};

static const char *const kind_names[] = {[CALL_SAVE] = "save",
					 [CALL_SUBMIT] = "submit",
					 [CALL_LOG] = "log",
					 [CALL_STATE] = "state",
					 [CALL_INFO] = "info"};

static int is_read(call_kind kind)
{
	return kind == CALL_STATE || kind == CALL_INFO;
}

/* --------------------------------------------------------------- alone */

/* Runs call alone: its own statement under its claims (a write: one commit). */
static void run_alone(const db_env *env, attempt_call *call)
{
	static const db_stmt stmts[] = {[CALL_SAVE] = DB_STMT_SAVE_ATTEMPT,
					[CALL_SUBMIT] = DB_STMT_SUBMIT_ATTEMPT,
					[CALL_LOG] = DB_STMT_LOG_ACTIVITY,
					[CALL_STATE] = DB_STMT_ATTEMPT_STATE,
					[CALL_INFO] = DB_STMT_ATTEMPT_INFO};
	char version[24], limit[24];
	const char *params[4];

	snprintf(version, sizeof version, "%ld", call->expected_version);
	snprintf(limit, sizeof limit, "%ld", call->max_answers_bytes);
	params[0] = call->attempt_id;
	params[1] = call->body;
	params[2] = call->expected_version >= 0 ? version : NULL;
	params[3] = limit;
	call->result = NULL;
	call->err = db_call(env, call->claims_json, stmts[call->kind], params, &call->result,
			    &call->why);
}

/* ------------------------------------------------------------- batches */

/* Appends call's item of a coalesced statement. */
static void item_json(const attempt_call *call, buf *out)
{
	buf_printf(out, "{\"kind\":\"%s\",\"claims\":%s,\"attempt_id\":\"%s\"",
		   kind_names[call->kind], call->claims_json, call->attempt_id);
	if (!is_read(call->kind)) {
		buf_puts(out, ",\"body\":");
		buf_puts(out, call->body != NULL ? call->body : "null");
		if (call->expected_version >= 0)
			buf_printf(out, ",\"expected_version\":%ld", call->expected_version);
		else
			buf_puts(out, ",\"expected_version\":null");
		buf_printf(out, ",\"max_answers_bytes\":%ld", call->max_answers_bytes);
	}
	buf_putc(out, '}');
}

/* The coalesced statement's argument for calls[0..n-1]; NULL without memory. */
static char *batch_json(attempt_call *const *calls, int n)
{
	buf b = BUF_INIT;

	buf_putc(&b, '[');
	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&b, ',');
		item_json(calls[i], &b);
	}
	buf_putc(&b, ']');
	return buf_take(&b);
}

/* Gives every call of a failed batch the batch's outcome. The round trips
 * count once, on the first. */
static void share_failure(attempt_call *const *calls, int n, att_err err, const db_failure *why)
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
static int split_answer(lane *l, attempt_call *const *calls, int n, const char *text,
			const db_failure *why)
{
	if (json_array_elements(text, strlen(text), l->spans, n) != n)
		return -1;
	for (int i = 0; i < n; i++) {
		calls[i]->err = ATT_OK;
		calls[i]->why = *why;
		calls[i]->why.tries = i == 0 ? why->tries : 0;
		calls[i]->result = strndup(text + l->spans[i].offset, (size_t)l->spans[i].length);
		if (calls[i]->result == NULL)
			calls[i]->err = ATT_ENOMEM;
	}
	return 0;
}

/* Runs calls[0..n-1] as one coalesced statement. */
static void run_batch(lane *l, attempt_call *const *calls, int n)
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
	err = db_call(l->env, NULL, l->stmt, params, &text, &why);
	free(items);
	if (err == ATT_EDB) {
		/* The statement failed as a whole, so nothing of it committed:
		 * each call runs alone and gets the answer it would have had. */
		log_warn("coalesced %s: a batch of %d failed (%s %s); running them one by one",
			 l->name, n, why.sqlstate, why.message);
		for (int i = 0; i < n; i++)
			run_alone(l->env, calls[i]);
	} else if (err != ATT_OK) {
		share_failure(calls, n, err, &why);
	} else if (text == NULL || split_answer(l, calls, n, text, &why) != 0) {
		log_error("coalesced %s: unexpected answer %.200s", l->name,
			  text ? text : "(null)");
		why.sqlstate[0] = '\0';
		snprintf(why.message, sizeof why.message, "unexpected coalesced %s answer",
			 l->name);
		share_failure(calls, n, ATT_EDB, &why);
	}
	free(text);
}

/* coalescer_exec_fn: one call goes alone (no batch overhead at low load). */
static void exec_lane(void *arg, void *const *items, int n)
{
	lane *l = arg;

	if (n == 1)
		run_alone(l->env, items[0]);
	else
		run_batch(l, (attempt_call *const *)items, n);
}

/* ---------------------------------------------------------------- setup */

static att_err lane_init(lane *l, const db_env *env, const char *name, db_stmt stmt, int coalesce,
			 const attempt_calls_options *opt)
{
	l->env = env;
	l->name = name;
	l->stmt = stmt;
	if (!coalesce || opt->max_items < 2)
		return ATT_OK;
	l->spans = calloc((size_t)opt->max_items, sizeof *l->spans);
	if (l->spans == NULL)
		return ATT_ENOMEM;
	return coalescer_create(opt->max_items, opt->wait_timeout_ms, exec_lane, l, &l->batches);
}

static void lane_free(lane *l)
{
	coalescer_free(l->batches);
	free(l->spans);
}

att_err attempt_calls_create(const db_env *env, const attempt_calls_options *opt,
			     attempt_calls **out)
{
	attempt_calls *c = calloc(1, sizeof *c);
	att_err err;

	*out = NULL;
	if (c == NULL)
		return ATT_ENOMEM;
	err = lane_init(&c->writes, env, "writes", DB_STMT_COALESCED_WRITES, opt->coalesce_writes,
			opt);
	if (err == ATT_OK)
		err = lane_init(&c->reads, env, "reads", DB_STMT_COALESCED_READS,
				opt->coalesce_reads, opt);
	if (err != ATT_OK) {
		attempt_calls_free(c);
		return err;
	}
	*out = c;
	return ATT_OK;
}

void attempt_calls_free(attempt_calls *c)
{
	if (c == NULL)
		return;
	lane_free(&c->writes);
	lane_free(&c->reads);
	free(c);
}

void attempt_calls_run(attempt_calls *c, attempt_call *call)
{
	lane *l = is_read(call->kind) ? &c->reads : &c->writes;

	if (l->batches == NULL) {
		run_alone(l->env, call);
	} else if (coalescer_run(l->batches, call) != ATT_OK) {
		/* The batch before it never came back in time: like a pool
		 * with no free connection, nothing was sent. */
		memset(&call->why, 0, sizeof call->why);
		snprintf(call->why.message, sizeof call->why.message,
			 "no database statement free for the call in time");
		call->err = ATT_ETIMEOUT;
		call->result = NULL;
	}
}

void attempt_calls_stats(attempt_calls *c, int reads, coalescer_stats *out)
{
	lane *l = reads ? &c->reads : &c->writes;

	if (l->batches != NULL)
		coalescer_get_stats(l->batches, out);
	else
		memset(out, 0, sizeof *out);
}
