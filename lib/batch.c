/* batch: a batch answer under construction, merged in input order. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int batch_init(batch *b, int n)
{
	b->n = n;
	b->slots = calloc((size_t)(n > 0 ? n : 1), sizeof *b->slots);
	return b->slots ? 0 : -1;
}

void batch_free(batch *b)
{
	for (int i = 0; i < b->n; i++) {
		cJSON_Delete(b->slots[i].item);
		free(b->slots[i].owned);
	}
	free(b->slots);
}

int batch_slot_empty(const batch_slot *s)
{
	return s->item == NULL && s->text == NULL;
}

void batch_error(batch *b, int i, const char *attempt_id, const char *code, const char *message,
		 const char *field)
{
	cJSON *item = cJSON_CreateObject();
	cJSON *err;

	if (attempt_id != NULL)
		cJSON_AddStringToObject(item, "attempt_id", attempt_id);
	else
		cJSON_AddNullToObject(item, "attempt_id");
	err = cJSON_AddObjectToObject(item, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", message);
	if (field != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(err, "details"), "field", field);
	b->slots[i].item = item;
}

int batch_merge(batch *b, const char *text, const int *positions, int count)
{
	json_span *spans = calloc((size_t)count + 1, sizeof *spans);
	int ok;

	if (spans == NULL)
		return -1;
	ok = json_array_elements(text, strlen(text), spans, count) == count;
	for (int k = 0; ok && k < count; k++) {
		b->slots[positions[k]].text = text + spans[k].offset;
		b->slots[positions[k]].len = (size_t)spans[k].length;
	}
	free(spans);
	return ok ? 0 : -1;
}

int batch_merge_empty(batch *b, const char *text)
{
	int *positions = calloc((size_t)b->n + 1, sizeof *positions);
	int count = 0, rc;

	if (positions == NULL)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (batch_slot_empty(&b->slots[i]))
			positions[count++] = i;
	rc = batch_merge(b, text, positions, count);
	free(positions);
	return rc;
}

/* Appends the slot's JSON text to out. */
static void slot_write(buf *out, const batch_slot *s)
{
	char *printed;

	if (s->text != NULL) {
		buf_append(out, s->text, s->len);
		return;
	}
	printed = json_print(s->item);
	if (printed == NULL) {
		out->failed = 1;
		return;
	}
	buf_puts(out, printed);
	cJSON_free(printed);
}

void batch_reply(http_response *resp, const batch *b)
{
	buf *body = &resp->body;

	http_json_text(resp, 200, "{\"results\":[", 12);
	for (int i = 0; i < b->n; i++) {
		if (i > 0)
			buf_putc(body, ',');
		slot_write(body, &b->slots[i]);
	}
	buf_puts(body, "]}");
}

/* An item's key and position, sorted by key, then position. */
typedef struct keyed {
	const char *key;
	int index;
} keyed;

static int keyed_cmp(const void *x, const void *y)
{
	const keyed *a = x, *b = y;
	int c = strcmp(a->key, b->key);

	return c != 0 ? c : (a->index > b->index) - (a->index < b->index);
}

int batch_mark_repeats(batch *b, const char *const *keys, const char *const *ids)
{
	keyed *k = calloc((size_t)b->n + 1, sizeof *k);
	int n = 0, marked = 0;

	if (k == NULL)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (keys[i] != NULL)
			k[n++] = (keyed){keys[i], i};
	qsort(k, (size_t)n, sizeof *k, keyed_cmp);
	for (int j = 1, first = 0; j < n; j++) {
		char message[64];
		json_path p;

		if (strcmp(k[j].key, k[first].key) != 0) {
			first = j;
			continue;
		}
		snprintf(message, sizeof message, "repeats data[%d], which is answered once",
			 k[first].index);
		json_path_index(&p, "data", k[j].index, NULL);
		batch_error(b, k[j].index, ids[k[j].index], "duplicate_item", message, p.text);
		marked++;
	}
	free(k);
	return marked;
}
