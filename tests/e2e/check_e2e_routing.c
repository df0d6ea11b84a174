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

/* Paths refused by the routing alone: the same answer with and without a
 * token (routing comes before authentication). */
static const struct route_refusal {
	const char *paths[8];
	int status;
	const char *code;
	const char *post; /* also POSTed "{}" with a token (NULL: none) */
} route_refusals[] = {
	{{"/api/nothing", "/api", "/api/", "/api/exams/", "/api/attempts/",
	  "/api/attempts/00000000-0000-4000-8000-000000000001/other.ts?action=state",
	  "/api/exams/00000000-0000-4000-8000-000000000001/x"},
	 404,
	 "not_found",
	 "/api/nothing"},
	/* No action. */
	{{"/api/attempts/00000000-0000-4000-8000-000000000001",
	  "/api/attempts/00000000-0000-4000-8000-000000000001?action=",
	  "/api/attempts/00000000-0000-4000-8000-000000000001/route.ts"},
	 400,
	 "unknown_action",
	 NULL},
	/* An action that does not exist. */
	{{"/api/attempts/00000000-0000-4000-8000-000000000001?action=bogus",
	  "/api/attempts/00000000-0000-4000-8000-000000000001/route.ts?action=bogus",
	  "/api/attempts/00000000-0000-4000-8000-000000000001?action=STATE"},
	 400,
	 "unknown_action",
	 NULL},
};

START_TEST(test_route_refused)
{
	const struct route_refusal *c = &route_refusals[_i];
	user s = user_new(AUTH_ROLE_STUDENT);

	for (size_t i = 0; i < sizeof c->paths / sizeof c->paths[0] && c->paths[i]; i++) {
		refused("GET", c->paths[i], NULL, NULL, c->status, c->code);
		refused("GET", c->paths[i], &s, NULL, c->status, c->code);
	}
	if (c->post != NULL)
		refused("POST", c->post, &s, "{}", c->status, c->code);
	user_free(&s);
}
END_TEST

/* An attempt action with a method it does not take: 405 with Allow, the
 * attempt untouched. */
static const struct wrong_method {
	const char *method, *action, *body, *allow;
	int exact;	 /* Allow is exactly allow (else: contains it) */
	int before_auth; /* also without a token (the check comes first) */
} wrong_methods[] = {
	{"DELETE", "state", NULL, "GET", 1, 0},
	{"POST", "save", "{\"answers\":{\"q1\":\"a\"}}", "PATCH", 0, 1},
};

START_TEST(test_route_wrong_method)
{
	const struct wrong_method *c = &wrong_methods[_i];
	world w;
	char path[128];
	resp r;

	world_new(&w, "{\"title\":\"Methods\"}");
	attempt_path(path, sizeof path, w.attempt_id, c->action);
	send_req(&r, c->method, path, &w.student, c->body, NULL);
	expect_405(&r, c->allow, c->exact);
	resp_free(&r);
	if (c->before_auth)
		refused(c->method, path, NULL, "{}", 405, "method_not_allowed");
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE attempt_id = $1",
				 w.attempt_id),
			 1);
	db_expect_untouched(w.attempt_id);
	world_free(&w);
}
END_TEST

START_TEST(test_route_other_wrong_methods)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;

	send_req(&r, "GET", "/api/attempts/new?action=start", &p, NULL, NULL);
	expect_405(&r, "POST", 0);
	resp_free(&r);

	send_req(&r, "PUT", "/api/exams", &p, "{}", NULL);
	expect_405(&r, "GET, POST", 1);
	resp_free(&r);

	send_req(&r, "PUT", "/api/exams/00000000-0000-4000-8000-000000000001", &p, "{}", NULL);
	expect_405(&r, "GET", 0);
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

/* Tokens auth_sign makes that the stack refuses: expired (also beyond the
 * 60 s leeway), signed with another secret, issued in the future. */
static const struct signed_refusal {
	long iat, exp;	    /* seconds from now */
	const char *secret; /* NULL: the stack's */
} signed_refusals[] = {
	{-7200, -3600, NULL},
	{-600, -90, NULL},
	{0, 3600, "this-is-not-the-secret-of-the-stack-0123456789"},
	{3600, 7200, NULL},
};

START_TEST(test_auth_signed_refused)
{
	const struct signed_refusal *c = &signed_refusals[_i];
	const char *secret = c->secret ? c->secret : g_secret;
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);
	char *tok;

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	tok = auth_sign(sub, AUTH_ROLE_ADMIN, now + c->iat, now + c->exp, secret, strlen(secret));
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

static void admin_payload(char *out, size_t cap, const char *role)
{
	char sub[UUID_STR_LEN + 1];
	time_t now = time(NULL);

	ck_assert_int_eq(uuid_generate(sub), ATT_OK);
	snprintf(out, cap, "{\"sub\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub, role,
		 (long long)now, (long long)now + 3600);
}

/* Hand-signed tokens the stack refuses: alg "none" (unsigned, and even
 * with a valid HMAC over the "none" header), another alg, an unknown role. */
static const struct handmade_refusal {
	const char *header, *role;
	int unsigned_too; /* also sent with an empty signature */
} handmade_refusals[] = {
	{"{\"alg\":\"none\",\"typ\":\"JWT\"}", "admin", 1},
	{"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "admin", 0},
	{"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "teacher", 0},
};

START_TEST(test_auth_handmade_refused)
{
	const struct handmade_refusal *c = &handmade_refusals[_i];
	char payload[256];
	char *tok;

	admin_payload(payload, sizeof payload, c->role);
	if (c->unsigned_too) {
		tok = sign_raw(c->header, payload, NULL, NULL);
		expect_token_refused(tok);
		free(tok);
	}
	tok = sign_raw(c->header, payload, EVP_sha256(), g_secret);
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
	expect_error_free(&r, 404, "not_found");
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
	E2E_ADD_TESTS(s, "routing", 60, E2E_LOOP(test_route_refused, route_refusals),
		      E2E_LOOP(test_route_wrong_method, wrong_methods),
		      test_route_other_wrong_methods);
	E2E_ADD_TESTS(s, "auth", 60, E2E_LOOP(test_auth_signed_refused, signed_refusals),
		      test_auth_expired_within_leeway,
		      E2E_LOOP(test_auth_handmade_refused, handmade_refusals),
		      test_auth_handmade_token_accepted, test_auth_missing_claims,
		      test_auth_malformed_header);
}
