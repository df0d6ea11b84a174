/* check_buf: the growable buffer - appends, printf, take, and the sticky
 * failure flag. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_suites.h"

/* The fixture: the buffer b, empty as each test starts, freed after it. */
static buf b;

static void setup(void)
{
	buf_init(&b);
}

static void teardown(void)
{
	buf_free(&b);
}

/* Puts b into the failed state without allocating: an append whose size
 * cannot be represented. */
static void make_failed(void)
{
	buf_append(&b, "x", SIZE_MAX);
}

START_TEST(test_buf_init_empty)
{
	buf fresh = BUF_INIT;
	buf c;

	ck_assert_ptr_null(fresh.data);
	ck_assert_uint_eq(fresh.len, 0);
	ck_assert_int_eq(fresh.failed, 0);
	memset(&c, 0x5a, sizeof c);
	buf_init(&c);
	ck_assert_ptr_null(c.data);
	ck_assert_uint_eq(c.len, 0);
	ck_assert_uint_eq(c.cap, 0);
	ck_assert_int_eq(c.failed, 0);
}
END_TEST

START_TEST(test_buf_append_puts_putc)
{
	buf_append(&b, "ab", 2);
	buf_puts(&b, "cd");
	buf_putc(&b, 'e');
	buf_append(&b, "ignored", 0);
	ck_assert_int_eq(b.failed, 0);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_str_eq(b.data, "abcde");
}
END_TEST

START_TEST(test_buf_append_binary)
{
	static const char bytes[4] = {'a', '\0', 'b', '\0'};

	buf_append(&b, bytes, sizeof bytes);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, bytes, 4);
	ck_assert_int_eq(b.data[4], '\0');
}
END_TEST

START_TEST(test_buf_grows)
{
	char expect[10001];

	for (int i = 0; i < 10000; i++) {
		buf_putc(&b, (char)('a' + i % 26));
		expect[i] = (char)('a' + i % 26);
	}
	expect[10000] = '\0';
	ck_assert_int_eq(b.failed, 0);
	ck_assert_uint_eq(b.len, 10000);
	ck_assert_uint_ge(b.cap, 10001);
	ck_assert_str_eq(b.data, expect);
}
END_TEST

START_TEST(test_buf_printf)
{
	char big[300];

	buf_printf(&b, "%d-%s", 42, "x");
	buf_printf(&b, "|%05.1f", 2.5);
	ck_assert_str_eq(b.data, "42-x|002.5");
	ck_assert_uint_eq(b.len, strlen("42-x|002.5"));
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	buf_printf(&b, "%s", big);
	ck_assert_uint_eq(b.len, 10 + 299);
	ck_assert_int_eq(b.data[b.len], '\0');
	ck_assert_int_eq(b.data[10], 'z');
}
END_TEST

START_TEST(test_buf_reset_keeps_memory)
{
	char *mem;

	buf_puts(&b, "hello");
	mem = b.data;
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_str_eq(b.data, "");
	buf_puts(&b, "x");
	ck_assert_str_eq(b.data, "x");
}
END_TEST

START_TEST(test_buf_take)
{
	char *s;

	buf_puts(&b, "taken");
	s = buf_take(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "taken");
	/* b is empty and reusable, and no longer owns s */
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	buf_puts(&b, "again");
	ck_assert_str_eq(b.data, "again");
	free(s);
}
END_TEST

START_TEST(test_buf_take_empty)
{
	char *s = buf_take(&b);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_buf_failed_sticky)
{
	buf_puts(&b, "ok");
	make_failed();
	ck_assert_int_eq(b.failed, 1);
	ck_assert_uint_eq(b.len, 2);
	buf_puts(&b, "more");
	buf_putc(&b, 'c');
	buf_printf(&b, "%d", 7);
	buf_append(&b, "x", 1);
	ck_assert_int_eq(b.failed, 1);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_str_eq(b.data, "ok");
	buf_free(&b);
	ck_assert_int_eq(b.failed, 0);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_take_failed)
{
	char *s;

	buf_puts(&b, "partial");
	make_failed();
	s = buf_take(&b);
	ck_assert_ptr_null(s);
	/* the buffer's memory was released and b is usable again */
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(b.failed, 0);
}
END_TEST

START_TEST(test_buf_free_null)
{
	buf_free(NULL);
	buf_free(&b); /* never allocated */
	buf_free(&b); /* twice */
	ck_assert_ptr_null(b.data);
}
END_TEST

void buf_cases(Suite *s)
{
	check_tcase(s, "append", setup, teardown, test_buf_init_empty, test_buf_append_puts_putc,
		    test_buf_append_binary, test_buf_grows, test_buf_reset_keeps_memory, NULL);

	check_tcase(s, "printf", setup, teardown, test_buf_printf, NULL);

	check_tcase(s, "take", setup, teardown, test_buf_take, test_buf_take_empty,
		    test_buf_take_failed, NULL);

	check_tcase(s, "failed", setup, teardown, test_buf_failed_sticky, test_buf_free_null, NULL);
}
