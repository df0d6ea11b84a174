/* check_proto_util: CGI parameter tables, the text a writer prints into a
 * memory stream, and checks of it (check_proto_util.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_proto_util.h"

void proto_param_add(const char **params, int cap, const char *name, const char *value)
{
	int n = 0;

	if (value == NULL)
		return;
	while (params[n] != NULL)
		n++;
	ck_assert_int_lt(n + 2, cap);
	params[n] = name;
	params[n + 1] = value;
	params[n + 2] = NULL;
}

FILE *proto_text_open(proto_text *t)
{
	t->text = NULL;
	t->len = 0;
	t->f = open_memstream(&t->text, &t->len);
	ck_assert_ptr_nonnull(t->f);
	return t->f;
}

char *proto_text_close(proto_text *t)
{
	ck_assert_int_eq(fclose(t->f), 0);
	t->f = NULL;
	ck_assert_ptr_nonnull(t->text);
	return t->text;
}

void proto_expect_contains(const char *text, const char *const *needles)
{
	for (int i = 0; needles[i] != NULL; i++)
		ck_assert_msg(strstr(text, needles[i]) != NULL, "\"%s\" not in the text",
			      needles[i]);
}

void proto_expect_written(void (*write)(FILE *f), const char *const *needles)
{
	proto_text t;
	char *text;

	write(proto_text_open(&t));
	text = proto_text_close(&t);
	proto_expect_contains(text, needles);
	free(text);
}
