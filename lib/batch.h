/* batch: one batch answer under construction - a slot per input item,
 * filled by C (an error item) or by the next element of an SQL result
 * array (as text, never parsed: numbers in answers never pass through a C
 * double, API.md section 3) - and {"results": [...]} in input order. Owns
 * the slots and the error items; SQL texts stay the caller's. */
#ifndef ATT_BATCH_H
#define ATT_BATCH_H

#include <cJSON.h>
#include <stddef.h>

#include "http.h"

/* One result item: an error item built in C, or JSON text - a span of an
 * SQL result (the caller keeps that text alive until the reply) or a
 * rendered cache entry (owned, freed by batch_free). */
typedef struct batch_slot {
	cJSON *item;
	const char *text;
	size_t len;
	char *owned;
} batch_slot;

typedef struct batch {
	int n;
	batch_slot *slots;
} batch;

/* Makes n empty slots. Returns 0, or -1 without memory. The caller frees
 * them with batch_free(). */
int batch_init(batch *b, int n);
void batch_free(batch *b);

/* Is the slot still waiting for its SQL element? */
int batch_slot_empty(const batch_slot *s);

/* An error item {"attempt_id": id|null, "error": {code, message,
 * details.field unless NULL}} in slot i. */
void batch_error(batch *b, int i, const char *attempt_id, const char *code, const char *message,
		 const char *field);

/* Points the slots at positions[0..count) at the elements of the SQL
 * result array text, which must outlive the reply. Returns 0, or -1 if
 * text is not an array of exactly count elements. */
int batch_merge(batch *b, const char *text, const int *positions, int count);

/* batch_merge into the slots C left empty, in order. */
int batch_merge_empty(batch *b, const char *text);

/* Item k repeats the key of an earlier item: marks it with an error item
 * naming the first (duplicate_item, with ids[k] as its attempt_id), so
 * that a repeated id costs nothing (API.md section 3: an id repeated
 * within one batch is answered once). keys[k] is item k's key or NULL
 * (not a candidate). Returns the number marked, or -1 without memory. */
int batch_mark_repeats(batch *b, const char *const *keys, const char *const *ids);

/* Answers 200 {"results": [...]} from the slots. */
void batch_reply(http_response *resp, const batch *b);

#endif
