/* check_e2e_routing: routing (paths, methods, actions) and authentication
 * (tokens and their claims). Part of check_e2e (see check_e2e.c). */
#include <cJSON.h>
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_e2e.h"

START_TEST(test_route_unknown_path)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/nothing",
		"/api",
		"/api/",
		"/api/exams/",
		"/api/attempts/",
		"/api/attempts/00000000-0000-4000-8000-000000000001/other.ts?action=state",
		"/api/exams/00000000-0000-4000-8000-000000000001/x",
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		refused("GET", paths[i], NULL, NULL, 404, "not_found");
		refused("GET", paths[i], &s, NULL, 404, "not_found");
	}
	refused("POST", "/api/nothing", &s, "{}", 404, "not_found");
	user_free(&s);
}
END_TEST

START_TEST(test_route_missing_action)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/attempts/00000000-0000-4000-8000-000000000001",
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=",
		"/api/attempts/00000000-0000-4000-8000-000000000001/route.ts",
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		refused("GET", paths[i], &s, NULL, 400, "unknown_action");
		/* Routing comes before authentication. */
		refused("GET", paths[i], NULL, NULL, 400, "unknown_action");
	}
	user_free(&s);
}
END_TEST

START_TEST(test_route_bogus_action)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	static const char *const paths[] = {
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=bogus",
		"/api/attempts/00000000-0000-4000-8000-000000000001/route.ts?action=bogus",
		"/api/attempts/00000000-0000-4000-8000-000000000001?action=STATE",
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		refused("GET", paths[i], &s, NULL, 400, "unknown_action");
		refused("GET", paths[i], NULL, NULL, 400, "unknown_action");
	}
	user_free(&s);
}
END_TEST

START_TEST(test_route_delete_state)
{
	world w;
	char path[128];
	resp r;
	const char *allow;

	world_new(&w, "{\"title\":\"Methods\"}");
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_req(&r, "DELETE", path, &w.student, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strcmp(allow, "GET") == 0, "Allow: %s, want GET",
		      allow ? allow : "(none)");
	resp_free(&r);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE attempt_id = $1",
				 w.attempt_id),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_route_post_save)
{
	world w;
	char path[128];
	resp r;
	const char *allow;

	world_new(&w, "{\"title\":\"Methods 2\"}");
	attempt_path(path, sizeof path, w.attempt_id, "save");
	send_req(&r, "POST", path, &w.student, "{\"answers\":{\"q1\":\"a\"}}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "PATCH") != NULL, "Allow: %s, want PATCH",
		      allow ? allow : "(none)");
	resp_free(&r);
	/* Before authentication too. */
	refused("POST", path, NULL, "{}", 405, "method_not_allowed");
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_route_other_wrong_methods)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;
	const char *allow;

	send_req(&r, "GET", "/api/attempts/new?action=start", &p, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "POST") != NULL, "Allow: %s, want POST",
		      allow ? allow : "(none)");
	resp_free(&r);

	send_req(&r, "PUT", "/api/exams", &p, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strcmp(allow, "GET, POST") == 0, "Allow: %s, want GET, POST",
		      allow ? allow : "(none)");
	resp_free(&r);

	send_req(&r, "PUT", "/api/exams/00000000-0000-4000-8000-000000000001", &p, "{}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	allow = http_client_header(&r.r, "Allow");
	ck_assert_msg(allow != NULL && strstr(allow, "GET") != NULL, "Allow: %s, want GET",
		      allow ? allow : "(none)");
	resp_free(&r);
	user_free(&p);
}
END_TEST

/* GET the state of a fresh attempt with the given raw token; 401 expected,
 * and proof that the same request with the owner's token succeeds. */
static void expect_token_refused(const char *token)
{
	world w;
	char path[128];
	resp r;

	world_new(&w, "{\"title\":\"Auth\"}");
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_raw(&r, "GET", path, token, NULL, 0, NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	send_raw(&r, "GET", path, w.student.token, NULL, 0, NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	world_free(&w);
}

START_TEST(test_auth_expired)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now - 7200, now - 3600, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_expired_beyond_leeway)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now - 600, now - 90, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_expired_within_leeway)
{
	world w;
	char path[128];
	time_t now = time(NULL);
	char *tok;
	resp r;

	world_new(&w, "{\"title\":\"Leeway\"}");
	/* 20 s past exp is inside the 60 s leeway: accepted. */
	tok = auth_sign(w.student.sub, AUTH_ROLE_STUDENT, now - 600, now - 20, g_secret,
			strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_raw(&r, "GET", path, tok, NULL, 0, NULL);
	expect_str(expect_ok(&r, 200), "attempt_id", w.attempt_id);
	resp_free(&r);
	free(tok);
	world_free(&w);
}
END_TEST

START_TEST(test_auth_wrong_secret)
{
	char sub[UUID_STR_LEN + 1];
	const char *other = "this-is-not-the-secret-of-the-stack-0123456789";
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now, now + 3600, other, strlen(other));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

static void admin_payload(char *out, size_t cap, const char *role)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	snprintf(out, cap, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub, role,
		 (long long)now, (long long)now + 3600);
}

START_TEST(test_auth_alg_none)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "admin");
	tok = sign_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL);
	expect_token_refused(tok);
	free(tok);
	/* Even with a valid HMAC over the "none" header. */
	tok = sign_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_other_alg)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "admin");
	tok = sign_raw("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_handmade_token_accepted)
{
	/* The control for the tests below: a hand-signed HS256 token with a
	 * known role works, so their 401s come from the claim under test. */
	char payload[256];
	char *tok;
	resp r;

	admin_payload(payload, sizeof payload, "student");
	tok = sign_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	send_raw(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", tok, NULL, 0, NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	free(tok);
}
END_TEST

START_TEST(test_auth_unknown_role)
{
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, "teacher");
	tok = sign_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_missing_claims)
{
	const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char sub[UUID_STR_LEN + 1], payload[256];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	/* No exp. */
	snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"role\":\"admin\"}", sub);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
	/* No role. */
	snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%lld}", sub,
		 (long long)now + 3600);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
	/* sub not a UUID. */
	snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":%lld}",
		 (long long)now + 3600);
	tok = sign_raw(hdr, payload, EVP_sha256(), g_secret);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_iat_in_future)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now + 3600, now + 7200, g_secret, strlen(g_secret));
	ck_assert_ptr_nonnull(tok);
	expect_token_refused(tok);
	free(tok);
}
END_TEST

START_TEST(test_auth_malformed_header)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	char basic[AUTH_MAX_TOKEN_LEN + 32];
	const char *h1[] = {basic, NULL};
	const char *h2[] = {"Authorization: Bearer", NULL};
	resp r;

	snprintf(basic, sizeof basic, "Authorization: Basic %s", s.token);
	send_req(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL, NULL, h1);
	expect_unauthorized(&r);
	resp_free(&r);
	send_req(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", NULL, NULL, h2);
	expect_unauthorized(&r);
	resp_free(&r);
	send_raw(&r, "GET", "/api/exams/00000000-0000-4000-8000-000000000009", "not.a.jwt", NULL, 0,
		 NULL);
	expect_unauthorized(&r);
	resp_free(&r);
	user_free(&s);
}
END_TEST

/* ============================================================ runner */

void e2e_routing_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "routing", 60, test_route_unknown_path, test_route_missing_action,
		      test_route_bogus_action, test_route_delete_state, test_route_post_save,
		      test_route_other_wrong_methods);
	E2E_ADD_TESTS(s, "auth", 60, test_auth_expired, test_auth_expired_beyond_leeway,
		      test_auth_expired_within_leeway, test_auth_wrong_secret, test_auth_alg_none,
		      test_auth_other_alg, test_auth_handmade_token_accepted,
		      test_auth_unknown_role, test_auth_missing_claims, test_auth_iat_in_future,
		      test_auth_malformed_header);
}
