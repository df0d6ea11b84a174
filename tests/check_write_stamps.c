/* check_write_stamps: the shared table of write stamps - private and
 * shared mappings, across processes, and what a foreign object gets. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_suites.h"
#include "write_stamps.h"

#define ID_A "00000000-0000-4000-8000-00000000000a"
#define ID_B "00000000-0000-4000-8000-00000000000b"

/* A name of this test run's own. */
static void test_name(char *out, size_t n, const char *what)
{
	snprintf(out, n, "/attempts-check-%s-%ld", what, (long)getpid());
	shm_unlink(out);
}

START_TEST(test_write_stamps_private)
{
	write_stamps *ws = NULL;

	ck_assert_int_eq(write_stamps_open(NULL, &ws), ATT_OK);
	ck_assert_int_eq(write_stamps_shared(ws), 0);
	ck_assert_uint_eq(write_stamps_read(ws, ID_A), 0);
	ck_assert_uint_eq(write_stamps_total(ws), 0);
	write_stamps_bump(ws, ID_A);
	write_stamps_bump(ws, ID_A);
	ck_assert_uint_eq(write_stamps_read(ws, ID_A), 2);
	/* These two ids do not collide: B's slot did not move. */
	ck_assert_uint_eq(write_stamps_read(ws, ID_B), 0);
	ck_assert_uint_eq(write_stamps_total(ws), 2);
	write_stamps_close(ws);
}
END_TEST

/* NULL tables read 0 and ignore bumps (plain CGI has none). */
START_TEST(test_write_stamps_null)
{
	write_stamps_bump(NULL, ID_A);
	ck_assert_uint_eq(write_stamps_read(NULL, ID_A), 0);
	ck_assert_uint_eq(write_stamps_total(NULL), 0);
	ck_assert_int_eq(write_stamps_shared(NULL), 0);
	write_stamps_close(NULL);
}
END_TEST

/* A bump by another process (a worker) is seen by this one at once. */
START_TEST(test_write_stamps_shared_across_processes)
{
	char name[64];
	write_stamps *ws = NULL;
	pid_t child;
	int status = 0;

	test_name(name, sizeof name, "fork");
	ck_assert_int_eq(write_stamps_open(name, &ws), ATT_OK);
	ck_assert_int_eq(write_stamps_shared(ws), 1);
	ck_assert_uint_eq(write_stamps_read(ws, ID_A), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		write_stamps *mine = NULL;

		/* Its own mapping of the same object, as a worker has. */
		if (write_stamps_open(name, &mine) != ATT_OK)
			_exit(2);
		for (int i = 0; i < 1000; i++)
			write_stamps_bump(mine, ID_A);
		write_stamps_close(mine);
		_exit(0);
	}
	for (int i = 0; i < 1000; i++)
		write_stamps_bump(ws, ID_A);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_uint_eq(write_stamps_read(ws, ID_A), 2000);
	ck_assert_uint_eq(write_stamps_total(ws), 2000);
	write_stamps_close(ws);
	shm_unlink(name);
}
END_TEST

/* An object of another size under the name is not ours: refused. */
START_TEST(test_write_stamps_foreign_object)
{
	char name[64];
	write_stamps *ws = NULL;
	int fd;

	test_name(name, sizeof name, "foreign");
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	close(fd);
	ck_assert_int_eq(write_stamps_open(name, &ws), ATT_EIO);
	ck_assert_ptr_null(ws);
	shm_unlink(name);
}
END_TEST

START_TEST(test_write_stamps_default_name)
{
	char name[64], want[64];

	write_stamps_default_name(name, sizeof name);
	snprintf(want, sizeof want, "/attempts-writes-%lu", (unsigned long)geteuid());
	ck_assert_str_eq(name, want);
}
END_TEST

void write_stamps_cases(Suite *s)
{
	check_tcase(s, "table", NULL, NULL, test_write_stamps_private, test_write_stamps_null,
		    test_write_stamps_shared_across_processes, test_write_stamps_foreign_object,
		    test_write_stamps_default_name, NULL);
}
