/*
 * test_deploy.c — the deploy.<env> section (config/deploy.c): PM2's fields
 * and defaults, and each mistake as one line naming the file, line, column
 * and field; and --host's ssh://user@host:port (cli/remote.c).
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "cli/remote.h"
#include "config/deploy.h"
#include "config/doc.h"

static int
parse(const char *json, const char *env, struct deploy_target *t, char **err)
{
	struct config_doc *doc = NULL;
	char *lerr = NULL;
	if (config_doc_load_json_mem("eco.json", json, strlen(json), &doc, NULL, &lerr) < 0)
		fail_msg("bad test input: %s", lerr);
	*err = NULL;
	int rc = deploy_parse(doc, env, t, err);
	config_doc_free(doc);
	return rc;
}

static void
expect_error(const char *json, const char *env, const char *want)
{
	struct deploy_target t;
	char *err;
	assert_int_equal(parse(json, env, &t, &err), -EINVAL);
	assert_non_null(err);
	if (strcmp(err, want) != 0)
		fail_msg("got  %s\nwant %s", err, want);
	assert_null(strchr(err, '\n'));
	free(err);
}

static void
test_pm2_fields(void **state)
{
	struct deploy_target t;
	char *err;
	int rc = parse("{\"deploy\": {\"production\": {\"user\": \"ubuntu\", "
	    "\"host\": [\"a.example\", \"b.example\"], \"port\": \"2222\", \"key\": \"~/.ssh/k\", "
	    "\"ssh_options\": \"StrictHostKeyChecking=no\", \"forward-agent\": true, "
	    "\"repo\": \"git@github.com:x/y.git\", \"ref\": \"origin/main\", \"path\": \"/srv/y\", "
	    "\"fetch\": \"fast\", \"env\": {\"NODE_ENV\": \"production\", \"N\": 3}, "
	    "\"pre-deploy-local\": \"echo local\", \"post-setup\": \"ls\", "
	    "\"keep_releases\": 3, \"max_parallel\": 2}}}", "production", &t, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(t.hosts[0], "a.example");
	assert_string_equal(t.hosts[1], "b.example");
	assert_null(t.hosts[2]);
	assert_string_equal(t.user, "ubuntu");
	assert_int_equal(t.port, 2222);
	assert_string_equal(t.ssh_options[0], "StrictHostKeyChecking=no");
	assert_null(t.ssh_options[1]);
	assert_true(t.forward_agent);
	assert_true(t.fetch_fast);
	assert_string_equal(t.env_vars[0], "NODE_ENV=production");
	assert_string_equal(t.env_vars[1], "N=3");
	assert_int_equal(t.keep_releases, 3);
	assert_int_equal(t.max_parallel, 2);
	assert_string_equal(t.pre_deploy_local, "echo local");
	assert_null(t.pre_deploy);
	/* PM2's default post-deploy, with corral. */
	assert_string_equal(t.post_deploy, "corral startOrRestart eco.json --env production");
	deploy_target_free(&t);

	rc = parse("{\"deploy\": {\"s\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"v1\", "
	    "\"path\": \"~/app\"}}}", "s", &t, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(t.keep_releases, DEPLOY_KEEP_DEFAULT);
	assert_int_equal(t.port, 0);
	assert_null(t.ssh_options[0]);
	assert_null(t.env_vars[0]);
	deploy_target_free(&t);
}

static void
test_mistakes_are_one_line_with_where(void **state)
{
	expect_error("{\"apps\": []}", "production",
	    "eco.json: no deploy section (PM2's deploy.<env>: user, host, repo, ref, path...)");
	expect_error("{\"deploy\": {\"prod\": {}, \"dev\": {}}}", "production",
	    "eco.json: no deploy.production (the file has: prod, dev)");
	expect_error("{\"deploy\": {\"p\": 3}}", "p",
	    "eco.json:1:18: deploy.p: expected an object, got a number");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\"}}}", "p",
	    "eco.json: deploy.p: missing 'path' (deploy.p needs host, repo, path and ref)");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\",\n"
	    "  \"path\": \"/a\", \"port\": \"ssh\"}}}", "p",
	    "eco.json:2:25: deploy.p.port: expected a whole number, got \"ssh\"");
	expect_error("{\"deploy\": {\"p\": {\"host\": [\"h\", 4], \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"/a\"}}}", "p",
	    "eco.json:1:27: deploy.p.host: element 1: expected a string, got a number");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"-oProxyCommand=x\", \"repo\": \"r\", "
	    "\"ref\": \"x\", \"path\": \"/a\"}}}", "p",
	    "eco.json:1:27: deploy.p.host: \"-oProxyCommand=x\" is not a host name");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"app\"}}}", "p",
	    "eco.json:1:65: deploy.p.path: \"app\" is not absolute (or ~/...)");
	/* ~user is not expanded on the host (the path is quoted there). */
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"~deploy/app\"}}}", "p",
	    "eco.json:1:65: deploy.p.path: \"~deploy/app\" is not absolute (or ~/...)");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"/a\", \"env\": {\"A B\": 1}}}}", "p",
	    "eco.json:1:78: deploy.p.env: \"A B\" is not a variable name a shell can export");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"/a\", \"keep_releases\": 0}}}", "p",
	    "eco.json:1:88: deploy.p.keep_releases: 0 is out of range (1 to 1000)");
	expect_error("{\"deploy\": {\"p\": {\"host\": \"h\", \"repo\": \"r\", \"ref\": \"x\", "
	    "\"path\": \"/a\", \"fetch\": \"quick\"}}}", "p",
	    "eco.json:1:80: deploy.p.fetch: expected 'fast' or 'full', got \"quick\"");
}

static void
test_host_urls(void **state)
{
	static const struct {
		const char *url, *dest, *port;
	} ok[] = {
		{"ssh://deploy@web1:2222", "deploy@web1", "2222"},
		{"ssh://web1", "web1", ""},
		{"ssh://web1/", "web1", ""},
		{"me@web1", "me@web1", ""},
		{"ssh://me@[::1]:22", "me@::1", "22"},
		{"ssh://[::1]", "::1", ""},
	};
	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		char *dest, *port, *err = NULL;
		if (remote_parse_url(ok[i].url, &dest, &port, &err) < 0)
			fail_msg("%s: %s", ok[i].url, err);
		assert_string_equal(dest, ok[i].dest);
		assert_string_equal(port, ok[i].port);
		free(dest);
		free(port);
	}
	static const char *const bad[] = {"ssh://", "ssh://web1:", "ssh://web1:99999",
	    "ssh://-oProxyCommand=x", "ssh://@web1", "ssh://web1/srv", "ssh://web1:2x"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *dest, *port, *err = NULL;
		if (remote_parse_url(bad[i], &dest, &port, &err) == 0)
			fail_msg("%s: accepted as %s port %s", bad[i], dest, port);
		assert_non_null(strstr(err, bad[i]));
		free(err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pm2_fields),
		cmocka_unit_test(test_mistakes_are_one_line_with_where),
		cmocka_unit_test(test_host_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
