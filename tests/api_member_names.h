/* api_member_names: the request-body member names the service's
 * validators look up (API.md), for the test programs that build or probe
 * bodies at random: tests/fuzz/fuzz_json and tests/e2e/hostile. Changing
 * the order changes which requests a hostile seed makes. */
#ifndef TESTS_API_MEMBER_NAMES_H
#define TESTS_API_MEMBER_NAMES_H

/* String literals, for an array's initialiser. */
#define API_MEMBER_NAMES                                                                           \
	"answers", "auto_save_data", "expected_version", "events", "event_type", "payload",        \
		"client_event_id", "occurred_at", "operation", "data", "attempt_id", "exam_id",    \
		"extra_s", "exam_ids", "title", "type"

#endif
