/*
 * test_httproute.c — what `corral web` reads of a request itself
 * (common/httproute.c): routes with their targets decoded, 404 and 405,
 * the Accept header's choice of OpenMetrics, bearer tokens, and listen
 * addresses.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "common/httproute.h"

static int
parse(const char *method, const char *path, struct route *r)
{
	const char *allow;
	return route_parse(method, path, r, &allow);
}

static void
test_routes(void **state)
{
	struct route r;
	assert_int_equal(parse("GET", "/", &r), 200);
	assert_int_equal(r.kind, ROUTE_DASHBOARD);
	assert_int_equal(parse("GET", "/metrics", &r), 200);
	assert_int_equal(r.kind, ROUTE_METRICS);
	assert_int_equal(parse("HEAD", "/healthz", &r), 200);
	assert_int_equal(r.kind, ROUTE_HEALTHZ);
	assert_int_equal(parse("GET", "/readyz", &r), 200);
	assert_int_equal(parse("GET", "/api/v1/processes", &r), 200);
	assert_int_equal(r.kind, ROUTE_PROCESSES);
	assert_int_equal(parse("GET", "/api/v1/processes/my%20app", &r), 200);
	assert_int_equal(r.kind, ROUTE_PROCESS);
	assert_string_equal(r.target, "my app");
	assert_int_equal(parse("GET", "/api/v1/logs/3", &r), 200);
	assert_int_equal(r.kind, ROUTE_LOGS);
	assert_string_equal(r.target, "3");
	assert_int_equal(parse("GET", "/api/v1/events", &r), 200);
	assert_int_equal(r.kind, ROUTE_EVENTS);
	assert_int_equal(parse("POST", "/api/v1/processes/web/reload", &r), 200);
	assert_int_equal(r.kind, ROUTE_ACTION);
	assert_string_equal(r.action, "reload");
	assert_string_equal(r.target, "web");
	assert_int_equal(parse("POST", "/api/v1/apps/web/scale", &r), 200);
	assert_int_equal(r.kind, ROUTE_SCALE);
}

static void
test_not_found_and_wrong_method(void **state)
{
	struct route r;
	const char *allow;
	assert_int_equal(parse("GET", "/nope", &r), 404);
	assert_int_equal(parse("GET", "/api/v1/", &r), 404);
	assert_int_equal(parse("GET", "/api/v1/processes/a/b/c", &r), 404);
	assert_int_equal(parse("POST", "/api/v1/processes/a/explode", &r), 404);
	/* Targets: no '/', no control character, valid escapes, not empty. */
	assert_int_equal(parse("GET", "/api/v1/processes/a%2Fb", &r), 404);
	assert_int_equal(parse("GET", "/api/v1/processes/a%0a", &r), 404);
	assert_int_equal(parse("GET", "/api/v1/processes/a%zz", &r), 404);
	assert_int_equal(parse("GET", "/api/v1/processes/a%4", &r), 404);
	char longp[600] = "/api/v1/processes/";
	memset(longp + strlen(longp), 'x', ROUTE_TARGET_MAX + 1);
	assert_int_equal(parse("GET", longp, &r), 404);
	assert_int_equal(route_parse("DELETE", "/metrics", &r, &allow), 405);
	assert_string_equal(allow, "GET");
	assert_int_equal(route_parse("GET", "/api/v1/processes/0/stop", &r, &allow), 405);
	assert_string_equal(allow, "POST");
	assert_int_equal(route_parse("POST", "/api/v1/processes", &r, &allow), 405);
}

static void
test_accept(void **state)
{
	assert_false(accept_wants_openmetrics(NULL));
	assert_false(accept_wants_openmetrics("text/plain"));
	assert_true(accept_wants_openmetrics("application/openmetrics-text"));
	/* What Prometheus sends. */
	assert_true(accept_wants_openmetrics("application/openmetrics-text;version=1.0.0,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
	    "*/*;q=0.1"));
	assert_false(accept_wants_openmetrics("application/openmetrics-text;q=0, text/plain"));
	assert_false(accept_wants_openmetrics("application/openmetrics-textual"));
}

static void
test_bearer(void **state)
{
	assert_true(bearer_matches("Bearer abcdefgh", "abcdefgh"));
	assert_true(bearer_matches("bearer  abcdefgh", "abcdefgh"));
	assert_false(bearer_matches("Bearer abcdefg", "abcdefgh"));
	assert_false(bearer_matches("Bearer abcdefghi", "abcdefgh"));
	assert_false(bearer_matches("Basic abcdefgh", "abcdefgh"));
	assert_false(bearer_matches(NULL, "abcdefgh"));
	assert_false(bearer_matches("Bearer ", ""));
	assert_false(bearer_matches("Bearer x", NULL));
}

static void
test_listen(void **state)
{
	char host[64];
	int port;
	char *err = NULL;
	assert_int_equal(listen_parse("127.0.0.1:9615", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9615);
	assert_true(listen_is_loopback(host));
	assert_int_equal(listen_parse("[::1]:80", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "::1");
	assert_true(listen_is_loopback(host));
	assert_int_equal(listen_parse("9000", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(listen_parse(":9000", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_false(listen_is_loopback(host));
	const char *bad[] = {"", "localhost:80", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:8x",
	    "::1:80", "[::1]80", "1.2.3.4:", "a\nb:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(listen_parse(bad[i], host, sizeof(host), &port, &err), -1);
		assert_non_null(err);
		assert_null(strchr(err, '\n'));
		free(err);
	}
}

static void
test_host_header(void **state)
{
	const char *good[] = {"localhost", "LOCALHOST:9615", "127.0.0.1", "127.0.0.1:9615",
	    "127.1.2.3:80", "[::1]", "[::1]:9615"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(host_header_is_loopback(good[i]));
	const char *bad[] = {"evil.example", "evil.example:9615", "localhost.evil.example",
	    "127.0.0.1.evil.example", "10.0.0.1:9615", "[::2]:80", "127.0.0.1:", "127.0.0.1:x",
	    "127.0.0.1:123456", "[::1", "[::1]x", "", "localhost:80:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(host_header_is_loopback(bad[i]));
	assert_false(host_header_is_loopback(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_not_found_and_wrong_method),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_host_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
