/* check_router_errors: requests through app_serve (check_router.h) that
 * must each meet an error answer - routing, authentication, bodies and each
 * action's own checks - in one table, run one row per test. */
#include "check_router.h"

/* A save whose expected_version is refused, an upload (of "data") whose
 * filename is. */
#define BAD_VERSION(body)                                                                          \
	{                                                                                          \
		"PATCH", ATTEMPT, "action=save", RT_STUDENT, body, 422, "validation_failed",       \
			"expected_version"                                                         \
	}
#define BAD_UPLOAD(query)                                                                          \
	{                                                                                          \
		"POST", ATTEMPT, query, RT_STUDENT, "data", 400, "invalid_filename", NULL          \
	}

static const rt_case errors[] = {
	/* unknown path */
	{"GET", "/", NULL, RT_NOBODY, NULL, 404, "not_found", NULL},
	{"GET", "/api/attempts/", "action=state", RT_STUDENT, NULL, 404, "not_found", NULL},
	{"GET", "/api/exams/", NULL, RT_STUDENT, NULL, 404, "not_found", NULL},
	{"GET", ATTEMPT "/route.tsx", "action=state", RT_STUDENT, NULL, 404, "not_found", NULL},
	{"GET", ATTEMPT "/extra", "action=state", RT_NOBODY, NULL, 404, "not_found", NULL},
	{"DELETE", "/api/nope", NULL, RT_NOBODY, NULL, 404, "not_found", NULL},
	/* missing action */
	{"GET", ATTEMPT, NULL, RT_STUDENT, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "", RT_NOBODY, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "action=", RT_STUDENT, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "type=stats", RT_STUDENT, NULL, 400, "unknown_action", NULL},
	/* malformed query unknown path */
	{"GET", "/api/nope", "x=%zz", RT_NOBODY, NULL, 404, "not_found", NULL},
	{"GET", "/api/attempts", "action=state&x=%", RT_STUDENT, NULL, 404, "not_found", NULL},
	{"GET", "/api/nope",
	 "p1&p2&p3&p4&p5&p6&p7&p8&p9&p10&p11&p12&p13&p14&p15&p16&"
	 "p17&p18&p19&p20&p21&p22&p23&p24&p25&p26&p27&p28&p29&p30&p31&p32&p33",
	 RT_NOBODY, NULL, 404, "not_found", NULL},
	{"GET", ATTEMPT, "action=state&x=%zz", RT_NOBODY, NULL, 400, "invalid_query", NULL},
	{"GET", "/api/health", "x=%zz", RT_NOBODY, NULL, 400, "invalid_query", NULL},
	/* encoded nul */
	{"GET", ATTEMPT, "action=st%00ate", RT_STUDENT, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "action=state%00", RT_STUDENT, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "action=state%00x", RT_NOBODY, NULL, 400, "unknown_action", NULL},
	{"GET", ATTEMPT, "action=%00", RT_STUDENT, NULL, 400, "unknown_action", NULL},
	{"POST", ATTEMPT, "action=upload%00&filename=a.pdf", RT_STUDENT, "data", 400,
	 "unknown_action", NULL},
	{"GET", ATTEMPT, "action=upload&upload_id=" UUID_A "%00", RT_STUDENT, NULL, 400,
	 "invalid_uuid", NULL},
	{"GET", ATTEMPT, "action=upload&upload_id=%00", RT_STUDENT, NULL, 400, "invalid_uuid",
	 NULL},
	{"GET", ATTEMPT, "action=stats&type=active&exam_id=" UUID_A "%00", RT_PROCTOR, NULL, 400,
	 "invalid_uuid", NULL},
	{"GET", ATTEMPT, "action=stats&exam_id=%00", RT_PROCTOR, NULL, 400, "invalid_uuid", NULL},
	/* encoded action */
	{"GET", ATTEMPT, "action=st%61te", RT_NOBODY, NULL, 401, "unauthorized", NULL},
	{"GET", ATTEMPT, "x=1&action=state", RT_NOBODY, NULL, 401, "unauthorized", NULL},
	{"GET", ATTEMPT, "action=state+", RT_NOBODY, NULL, 400, "unknown_action", NULL},
	/* no token */
	{"GET", "/api/exams/" UUID_A, NULL, RT_NOBODY, NULL, 401, "unauthorized", NULL},
	{"POST", "/api/exams", NULL, RT_NOBODY, "{\"title\":\"t\"}", 401, "unauthorized", NULL},
	{"POST", "/api/attempts/new", "action=start", RT_NOBODY, "{\"exam_id\":\"" UUID_A "\"}",
	 401, "unauthorized", NULL},
	/* invalid uuid */
	{"GET", "/api/attempts/not-a-uuid", "action=state", RT_STUDENT, NULL, 400, "invalid_uuid",
	 NULL},
	{"GET", "/api/attempts/0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", "action=info", RT_STUDENT,
	 NULL, 400, "invalid_uuid", NULL},
	{"GET", ATTEMPT "0", "action=state", RT_STUDENT, NULL, 400, "invalid_uuid", NULL},
	{"GET", ATTEMPT "/route.ts", "action=state", RT_NOBODY, NULL, 401, "unauthorized", NULL},
	{"GET", "/api/attempts/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4/route.ts", "action=state",
	 RT_STUDENT, NULL, 400, "invalid_uuid", NULL},
	{"PATCH", "/api/attempts/new", "action=save", RT_STUDENT, "{\"answers\":{}}", 400,
	 "invalid_uuid", NULL},
	{"GET", "/api/exams/abc", NULL, RT_STUDENT, NULL, 400, "invalid_uuid", NULL},
	/* invalid json */
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":", 400, "invalid_json", NULL},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "", 400, "invalid_json", NULL},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":{}} x", 400, "invalid_json",
	 NULL},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":{\"q\":\"\xc3\x28\"}}", 400,
	 "invalid_json", NULL},
	{"POST", "/api/attempts/new", "action=start", RT_STUDENT, "nope", 400, "invalid_json",
	 NULL},
	{"POST", "/api/exams", NULL, RT_STUDENT, "{'title':1}", 400, "invalid_json", NULL},
	/* body not object */
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "[{\"answers\":{}}]", 422,
	 "validation_failed", "body"},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "\"answers\"", 422, "validation_failed",
	 "body"},
	{"POST", "/api/attempts/new", "action=start", RT_STUDENT, "null", 422, "validation_failed",
	 "body"},
	/* save fields */
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":[1]}", 422, "validation_failed",
	 "answers"},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":\"a\"}", 422,
	 "validation_failed", "answers"},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":{},\"auto_save_data\":5}", 422,
	 "validation_failed", "auto_save_data"},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{}", 422, "validation_failed", "answers"},
	{"PATCH", ATTEMPT, "action=save", RT_STUDENT, "{\"answers\":null,\"expected_version\":1}",
	 422, "validation_failed", "answers"},
	/* save expected_version */
	BAD_VERSION("{\"answers\":{},\"expected_version\":-1}"),
	BAD_VERSION("{\"answers\":{},\"expected_version\":1.5}"),
	BAD_VERSION("{\"answers\":{},\"expected_version\":\"3\"}"),
	BAD_VERSION("{\"answers\":{},\"expected_version\":2147483648}"),
	BAD_VERSION("{\"answers\":{},\"expected_version\":true}"),
	BAD_VERSION("{\"auto_save_data\":{},\"expected_version\":[3]}"),
	/* exam create: title, body */
	{"POST", "/api/exams", NULL, RT_STUDENT, "{\"time_limit_s\":60}", 422, "validation_failed",
	 "title"},
	{"POST", "/api/exams", NULL, RT_STUDENT, "{\"title\":7}", 422, "validation_failed",
	 "title"},
	{"POST", "/api/exams", NULL, RT_STUDENT, "[\"title\"]", 422, "validation_failed", "body"},
	{"POST", "/api/exams", NULL, RT_STUDENT, "", 400, "invalid_json", NULL},
	/* start exam id */
	{"POST", "/api/attempts/new", "action=start", RT_STUDENT, "{\"exam_id\":\"nope\"}", 422,
	 "validation_failed", "exam_id"},
	{"POST", "/api/attempts/any-id", "action=start", RT_STUDENT,
	 "{\"exam_id\":\"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\"}", 422, "validation_failed",
	 "exam_id"},
	{"POST", "/api/attempts/new", "action=start", RT_STUDENT, "{\"exam_id\":42}", 422,
	 "validation_failed", "exam_id"},
	{"POST", "/api/attempts/new", "action=start", RT_STUDENT, "{}", 422, "validation_failed",
	 "exam_id"},
	/* stats checks */
	{"GET", ATTEMPT, "action=stats&type=bogus", RT_PROCTOR, NULL, 400, "invalid_query", NULL},
	{"GET", ATTEMPT, "action=stats&type=stats", RT_STUDENT, NULL, 403, "forbidden", NULL},
	{"GET", ATTEMPT, "action=stats", RT_STUDENT, NULL, 403, "forbidden", NULL},
	{"GET", ATTEMPT, "action=stats&type=active&exam_id=nope", RT_PROCTOR, NULL, 400,
	 "invalid_uuid", NULL},
	{"GET", ATTEMPT, "action=stats&type=optimization", RT_STUDENT, NULL, 403, "forbidden",
	 NULL},
	{"GET", ATTEMPT, "action=stats&type=optimization", RT_PROCTOR, NULL, 403, "forbidden",
	 NULL},
	{"GET", "/api/attempts/nope", "action=stats&type=stats", RT_PROCTOR, NULL, 400,
	 "invalid_uuid", NULL},
	/* limits: max_events 3 in this app (the shape of events is SQL's:
	 * check_router_actions.c) */
	{"POST", ATTEMPT, "action=activity", RT_STUDENT,
	 "{\"events\":[{\"event_type\":\"a\"},{\"event_type\":\"b\"},"
	 "{\"event_type\":\"c\"},{\"event_type\":\"d\"}]}",
	 413, "batch_too_large", NULL},
	/* upload checks: the filename (encodings: check_router_actions.c) */
	BAD_UPLOAD("action=upload"),
	BAD_UPLOAD("action=upload&filename="),
	/* submit checks */
	{"POST", ATTEMPT, "action=submit", RT_STUDENT, "{\"answers\":[]}", 422, "validation_failed",
	 "answers"},
	{"POST", ATTEMPT, "action=submit", RT_STUDENT, "{\"expected_version\":-3}", 422,
	 "validation_failed", "expected_version"},
	{"POST", ATTEMPT, "action=submit", RT_STUDENT, "[]", 422, "validation_failed", "body"},
	{"POST", ATTEMPT, "action=submit", RT_STUDENT, "{", 400, "invalid_json", NULL},
	/* download checks */
	{"GET", ATTEMPT, "action=upload", RT_STUDENT, NULL, 400, "invalid_uuid", NULL},
	{"GET", ATTEMPT, "action=upload&upload_id=x", RT_STUDENT, NULL, 400, "invalid_uuid", NULL},
	{"GET", ATTEMPT, "action=upload&upload_id=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", RT_STUDENT,
	 NULL, 400, "invalid_uuid", NULL},
	{"DELETE", ATTEMPT, "action=upload", RT_STUDENT, NULL, 405, "method_not_allowed", NULL},
	/* batch checks */
	{"POST", "/api/attempts/any-id", "action=batch", RT_STUDENT, "{\"data\":[]}", 422,
	 "validation_failed", "operation"},
	{"POST", "/api/attempts/any-id", "action=batch", RT_STUDENT, "{\"operation\":\"query\"}",
	 422, "validation_failed", "data"},
	{"POST", "/api/attempts/any-id", "action=batch", RT_STUDENT,
	 "{\"operation\":\"query\",\"data\":{}}", 422, "validation_failed", "data"},
	{"POST", "/api/attempts/any-id", "action=batch", RT_STUDENT,
	 "{\"operation\":\"drop_all\",\"data\":[]}", 422, "validation_failed", "operation"},
	{"POST", "/api/attempts/any-id", "action=batch", RT_STUDENT,
	 "{\"operation\":\"multiple_states\",\"data\":[\"" UUID_A "\",\"" UUID_A "\",\"" UUID_A
	 "\",\"" UUID_A "\"]}",
	 413, "batch_too_large", NULL},
	{"POST", "/api/attempts/new", "action=batch", RT_NOBODY,
	 "{\"operation\":\"query\",\"data\":[]}", 401, "unauthorized", NULL},
	/* optimize checks */
	{"PATCH", ATTEMPT, "action=optimize", RT_ADMIN, "{}", 422, "validation_failed",
	 "operation"},
	{"PATCH", ATTEMPT, "action=optimize", RT_STUDENT, "{\"operation\":\"clear_cache\"}", 403,
	 "forbidden", NULL},
	{"PATCH", ATTEMPT, "action=optimize", RT_PROCTOR, "{\"operation\":\"analyze\"}", 403,
	 "forbidden", NULL},
	{"PATCH", ATTEMPT, "action=optimize", RT_ADMIN, "{\"operation\":\"vacuum\"}", 422,
	 "validation_failed", "operation"},
	{"PATCH", ATTEMPT, "action=optimize", RT_ADMIN, "{\"operation\":\"preload\"}", 422,
	 "validation_failed", "exam_ids"},
	{"PATCH", ATTEMPT, "action=optimize", RT_ADMIN,
	 "{\"operation\":\"preload\",\"exam_ids\":[\"" UUID_A "\",\"nope\"]}", 422,
	 "validation_failed", "exam_ids[1]"},
	{"PATCH", ATTEMPT, "action=optimize", RT_ADMIN,
	 "{\"operation\":\"preload\",\"exam_ids\":[\"" UUID_A "\",\"" UUID_A "\",\"" UUID_A
	 "\",\"" UUID_A "\"]}",
	 413, "batch_too_large", NULL},
};

START_TEST(test_app_errors)
{
	rt_expect_all(&errors[_i], 1);
}
END_TEST

void router_errors_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "errors", router_setup, router_teardown, NULL);

	tcase_add_loop_test(tc, test_app_errors, 0, CHECK_ROWS(errors));
}
