/* check_reply: which SQL answers are errors; their codes -> HTTP statuses, held
 * against the sources: every code an sql/ file raises (err('code', ...),
 * invalid(...) for validation_failed) gets the status docs/API.md names
 * for it ("`409 version_conflict`"), and no documented code gets another
 * status than the document's. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_suites.h"
#include "reply.h"

#define MAX_CODES 64

typedef struct code_status {
	char code[40];
	int status;
} code_status;

/* The whole file at ATT_TOP_SRCDIR/rel, NUL-terminated; fails the test
 * when it cannot be read. */
static char *source_text(const char *rel)
{
	char path[4096];
	buf b = BUF_INIT;
	char chunk[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", ATT_TOP_SRCDIR, rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	ck_assert(!b.failed);
	return buf_take(&b);
}

/* Adds code (len bytes) to set unless it is there. */
static void note_code(code_status *set, int *n, const char *code, size_t len, int status)
{
	for (int i = 0; i < *n; i++)
		if (strlen(set[i].code) == len && strncmp(set[i].code, code, len) == 0)
			return;
	ck_assert_int_lt(*n, MAX_CODES);
	ck_assert_uint_lt(len, sizeof set[0].code);
	memcpy(set[*n].code, code, len);
	set[*n].code[len] = '\0';
	set[*n].status = status;
	(*n)++;
}

static size_t code_length(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyz_");
}

/* The codes of every "`NNN code`" in docs/API.md (a line break may stand
 * for the space), with their statuses. */
static void documented_codes(code_status *set, int *n)
{
	char *text = source_text("docs/API.md");

	for (const char *p = strchr(text, '`'); p != NULL; p = strchr(p + 1, '`')) {
		const char *code = p + 4 + strspn(p + 4, " \n"); /* a wrapped line too */
		size_t len = code_length(code);

		if (strspn(p + 1, "0123456789") == 3 && code > p + 4 && len > 0 && code[len] == '`')
			note_code(set, n, code, len, atoi(p + 1));
	}
	free(text);
}

/* The codes the files of sql/ raise. */
static void raised_codes(code_status *set, int *n)
{
	DIR *d;
	struct dirent *e;
	char rel[300];

	snprintf(rel, sizeof rel, "%s/sql", ATT_TOP_SRCDIR);
	d = opendir(rel);
	ck_assert_msg(d != NULL, "cannot list %s", rel);
	while ((e = readdir(d)) != NULL) {
		char *text;
		size_t name_len = strlen(e->d_name);

		if (name_len < 5 || strcmp(e->d_name + name_len - 4, ".sql") != 0)
			continue;
		snprintf(rel, sizeof rel, "sql/%s", e->d_name);
		text = source_text(rel);
		for (const char *p = strstr(text, "err('"); p != NULL; p = strstr(p + 1, "err('"))
			note_code(set, n, p + 5, code_length(p + 5), 0);
		if (strstr(text, "invalid(") != NULL)
			note_code(set, n, "validation_failed", strlen("validation_failed"), 0);
		free(text);
	}
	closedir(d);
}

static int status_in(const code_status *set, int n, const char *code)
{
	for (int i = 0; i < n; i++)
		if (strcmp(set[i].code, code) == 0)
			return set[i].status;
	return 0;
}

START_TEST(test_status_of_raised_codes)
{
	code_status docs[MAX_CODES], raised[MAX_CODES];
	int ndocs = 0, nraised = 0;

	documented_codes(docs, &ndocs);
	raised_codes(raised, &nraised);
	ck_assert_int_ge(ndocs, 20);
	ck_assert_int_ge(nraised, 10);
	for (int i = 0; i < nraised; i++) {
		int want = status_in(docs, ndocs, raised[i].code);

		ck_assert_msg(want != 0, "sql raises %s, which docs/API.md does not name",
			      raised[i].code);
		ck_assert_msg(reply_status_for_code(raised[i].code) == want,
			      "%s -> %d, docs/API.md: %d", raised[i].code,
			      reply_status_for_code(raised[i].code), want);
	}
}
END_TEST

/* A documented code the service maps has the document's status; the rest
 * (nginx's, the router's own) and unknown codes are a 500 from SQL. */
START_TEST(test_status_of_documented_codes)
{
	code_status docs[MAX_CODES];
	int ndocs = 0;

	documented_codes(docs, &ndocs);
	for (int i = 0; i < ndocs; i++) {
		int got = reply_status_for_code(docs[i].code);

		ck_assert_msg(got == docs[i].status || got == 500, "%s -> %d, docs/API.md: %d",
			      docs[i].code, got, docs[i].status);
	}
	ck_assert_int_eq(reply_status_for_code("no_such_code"), 500);
	ck_assert_int_eq(reply_status_for_code(""), 500);
	ck_assert_int_eq(reply_status_for_code("NOT_FOUND"), 500);
}
END_TEST

START_TEST(test_error_text)
{
	static const struct {
		const char *text;
		int is_error;
	} rows[] = {
		{"{\"error\": {\"code\": \"not_found\", \"message\": \"x\"}}", 1},
		{"{\"error\":{\"code\":\"not_found\"}}", 1},
		{" \n{ \"error\" :\t{ \"code\": \"x\"}}", 1},
		{"{\"errors\": {\"code\": \"x\"}}", 0},
		{"{\"error\": \"x\"}", 0},
		{"{\"attempt_id\": \"a\", \"error\": {\"code\": \"x\"}}", 0},
		{"[{\"attempt_id\": null, \"error\": {\"code\": \"x\"}}]", 0},
		{"{\"version\": 2, \"answers\": {\"error\": {}}}", 0},
		{"{\"error", 0},
		{"", 0},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		ck_assert_msg(reply_is_error_text(rows[i].text) == rows[i].is_error, "%s: %d",
			      rows[i].text, reply_is_error_text(rows[i].text));
}
END_TEST

void reply_cases(Suite *s)
{
	check_tcase(s, "status", NULL, NULL, test_status_of_raised_codes,
		    test_status_of_documented_codes, test_error_text, NULL);
}
