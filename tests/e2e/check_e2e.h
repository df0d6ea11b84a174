/* check_e2e: what the files of the check_e2e suite share: the shorthands
 * of check_e2e.c beyond e2e_util, and one function per file that adds its
 * tests to the suite. */
#ifndef E2E_CHECK_E2E_H
#define E2E_CHECK_E2E_H

#include <check.h>
#include <cJSON.h>

#include "buf.h"
#include "e2e_util.h"

/* A few shorthands used by many tests. */
void start_body(char *out, size_t cap, const char *exam_id);

/* Asserts the stored row of a fresh attempt is untouched. */
void db_expect_untouched(const char *attempt_id);

/* POST /api/exams as a fresh proctor and expect a 422 naming field. */
void exam_create_expect_field(const char *body, const char *field);

/* save, then asserts the error answer and frees the answer. */
void save_refused(const user *u, const char *attempt_id, const char *body, const char *const *extra,
		  int status, const char *code);

/* get_action, then asserts the error answer and frees the answer. */
void get_action_refused(const user *u, const char *attempt_id, const char *action, int status,
			const char *code);

/* save, then asserts 422 validation_failed naming field and frees the answer. */
void save_field_refused(const user *u, const char *attempt_id, const char *body,
			const char *const *extra, const char *field);

/* Each file of the suite adds its tests to s. */
void e2e_exams_tests(Suite *s);
void e2e_attempts_tests(Suite *s);
void e2e_save_tests(Suite *s);
void e2e_routing_tests(Suite *s);
void e2e_more_tests(Suite *s);

#endif
