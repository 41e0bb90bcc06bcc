/*
 * test_spec.c — the canonical app spec, as the daemon reads it from any
 * client: defaults (PM2's), a full round trip through JSON, and every kind
 * of type or range error reported as "field: problem".
 */
#include <errno.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"

static json_t *
parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
	if (!j)
		fail_msg("bad test JSON: %s", je.text);
	return j;
}

static void
test_defaults(void **state)
{
	json_t *j = parse("{\"name\":\"a\",\"script\":\"/bin/true\"}");
	struct spec s;
	char *err = NULL;
	assert_int_equal(spec_from_json(j, &s, &err), 0);
	assert_string_equal(s.name, "a");
	assert_string_equal(s.namespace, "default");
	assert_string_equal(s.cwd, "/");
	assert_null(s.interpreter);
	assert_null(s.args[0]);
	assert_int_equal(s.exec_mode, MODE_FORK);
	assert_int_equal(s.instances, 1);
	assert_true(s.autorestart);
	assert_true(s.autostart);
	assert_int_equal(s.max_restarts, 16);
	assert_int_equal(s.min_uptime, 1000);
	assert_int_equal(s.restart_delay, 0);
	assert_int_equal(s.exp_backoff_restart_delay, 0);
	assert_int_equal(s.stop_exit_codes.n, 0);
	assert_int_equal(s.kill_timeout, 1600);
	assert_string_equal(s.kill_signal, "SIGINT");
	assert_int_equal(s.listen_timeout, 3000);
	assert_true(s.treekill);
	assert_true(s.merge_logs);
	assert_int_equal(s.uid, -1);
	assert_int_equal(s.gid, -1);
	assert_string_equal(s.instance_var, "NODE_APP_INSTANCE");
	assert_int_equal(json_object_size(s.env), 0);
	spec_free(&s);
	json_decref(j);
}

static const char full[] =
	"{\"name\":\"web\",\"namespace\":\"shop\",\"script\":\"/srv/app.py\","
	"\"args\":[\"--port\",\"8000\"],\"interpreter\":\"/usr/bin/python3\","
	"\"interpreter_args\":[\"-X\",\"dev\"],\"cwd\":\"/srv\",\"version\":\"1.2.3\","
	"\"exec_mode\":\"cluster\",\"instances\":-1,"
	"\"env\":{\"A\":\"1\",\"PATH\":\"/bin\"},\"app_env\":{\"A\":\"1\"},"
	"\"filter_env_all\":false,\"filter_env\":[\"SECRET\"],"
	"\"autorestart\":false,\"autostart\":false,\"max_restarts\":3,\"min_uptime\":500,"
	"\"restart_delay\":250,\"exp_backoff_restart_delay\":100,\"stop_exit_codes\":[0,143],"
	"\"kill_timeout\":3000,\"kill_signal\":\"SIGTERM\",\"listen_timeout\":8000,"
	"\"wait_ready\":true,\"shutdown_with_message\":true,\"treekill\":false,"
	"\"max_memory_restart\":314572800,\"cron_restart\":\"0 3 * * *\",\"watch\":true,"
	"\"watch_paths\":[\"/srv/src\"],\"ignore_watch\":[\"*.log\"],\"watch_delay\":200,"
	"\"log_date_format\":\"%Y\",\"log_type\":\"json\",\"merge_logs\":false,"
	"\"out_file\":\"/l/o.log\",\"error_file\":\"/l/e.log\",\"log_file\":\"/l/all.log\","
	"\"pid_file\":\"/p/web.pid\",\"disable_logs\":true,\"uid\":1000,\"gid\":1000,"
	"\"user\":\"www\",\"instance_var\":\"INSTANCE\",\"increment_var\":\"PORT\","
	"\"lb\":\"sticky\",\"listen\":[\"0.0.0.0:8000\"],\"share_ports\":[8000],"
	"\"node_ipc\":true}";

static void
test_round_trip(void **state)
{
	json_t *in = parse(full);
	struct spec s;
	char *err = NULL;
	if (spec_from_json(in, &s, &err) < 0)
		fail_msg("%s", err);
	json_t *out = spec_to_json(&s, true);
	/* Every field given comes back with the same value. */
	const char *k;
	json_t *v;
	json_object_foreach(in, k, v) {
		json_t *o = json_object_get(out, k);
		if (!o || !json_equal(o, v))
			fail_msg("field %s did not round-trip", k);
	}
	/* And the canonical form is a fixed point. */
	struct spec s2;
	assert_int_equal(spec_from_json(out, &s2, &err), 0);
	json_t *out2 = spec_to_json(&s2, true);
	assert_true(json_equal(out, out2));
	/* A deep copy is equal and independent. */
	struct spec s3;
	spec_copy(&s3, &s);
	spec_free(&s);
	json_t *out3 = spec_to_json(&s3, true);
	assert_true(json_equal(out, out3));
	spec_free(&s2);
	spec_free(&s3);
	json_decref(in);
	json_decref(out);
	json_decref(out2);
	json_decref(out3);
}

static void
test_null_clears_optional_string(void **state)
{
	json_t *j = parse("{\"name\":\"a\",\"script\":\"/x\",\"cron_restart\":null,"
	    "\"kill_signal\":\"SIGUSR2\",\"instances\":2.0}");
	struct spec s;
	char *err = NULL;
	assert_int_equal(spec_from_json(j, &s, &err), 0);
	assert_null(s.cron_restart);
	assert_string_equal(s.kill_signal, "SIGUSR2");
	assert_int_equal(s.instances, 2);
	spec_free(&s);
	json_decref(j);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} bad[] = {
		{"[]", "app: expected an object"},
		{"{\"script\":\"/x\"}", "name: missing"},
		{"{\"name\":\"a\"}", "script: missing"},
		{"{\"name\":5,\"script\":\"/x\"}", "name: expected a string"},
		{"{\"name\":null,\"script\":\"/x\"}", "name: expected a string"},
		{"{\"name\":\"\",\"script\":\"/x\"}", "name: must not be empty"},
		{"{\"name\":\"a\",\"script\":\"\"}", "script: must not be empty"},
		{"{\"name\":\"a\\u0000b\",\"script\":\"/x\"}", "name: contains a NUL byte"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"args\":\"--port\"}", "args: expected an array of strings"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"args\":[\"a\",1]}", "args[1]: expected a string"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"max_restarts\":\"3\"}", "max_restarts: expected an integer"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"max_restarts\":1.5}", "max_restarts: expected an integer"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"max_restarts\":-1}", "max_restarts: -1 is out of range"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"kill_timeout\":-5}", "kill_timeout: -5 is out of range"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"min_uptime\":99999999999999}", "min_uptime: 99999999999999 is out of range"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"instances\":5000}", "instances: 5000 is out of range"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"autorestart\":\"yes\"}", "autorestart: expected true or false"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"autorestart\":1}", "autorestart: expected true or false"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"stop_exit_codes\":[0,256]}", "stop_exit_codes[1]: expected an integer in 0..255"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"stop_exit_codes\":0}", "stop_exit_codes: expected an array of integers"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"env\":[]}", "env: expected an object"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"env\":{\"A\":1}}", "env.A: expected a string"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"env\":{\"A=B\":\"1\"}}", "env.A=B: not a valid environment variable"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"env\":{\"\":\"1\"}}", "not a valid environment variable"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"exec_mode\":\"fork_mode\"}", "exec_mode: expected one of \"fork\", \"cluster\""},
		{"{\"name\":\"a\",\"script\":\"/x\",\"lb\":\"random\"}", "lb: expected one of"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"cwd\":\"srv\"}", "cwd: \"srv\" is not an absolute path"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"interpreter\":\"python3\"}", "interpreter: \"python3\" is not an absolute path"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"kill_signal\":\"SIGFOO\"}", "kill_signal: \"SIGFOO\" is not a signal"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"instance_var\":\"\"}", "instance_var: not a valid variable name"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"increment_var\":\"A=B\"}", "increment_var: not a valid variable name"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"uid\":-2}", "uid: -2 is out of range"},
		{"{\"name\":\"a\",\"script\":\"/x\",\"share_ports\":[0]}", "share_ports[0]: expected an integer in 1..65535"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		json_t *j = parse(bad[i].json);
		struct spec s;
		char *err = NULL;
		int rc = spec_from_json(j, &s, &err);
		if (rc != -EINVAL)
			fail_msg("%s: accepted", bad[i].json);
		assert_non_null(err);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: error \"%s\", expected \"%s\"", bad[i].json, err, bad[i].msg);
		free(err);
		json_decref(j);
	}
}

static void
test_long_name_refused(void **state)
{
	char name[260];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	json_t *j = json_pack("{s:s, s:s}", "name", name, "script", "/x");
	struct spec s;
	char *err = NULL;
	assert_int_equal(spec_from_json(j, &s, &err), -EINVAL);
	assert_string_equal(err, "name: longer than 200 characters");
	free(err);
	json_decref(j);
}

static void
test_error_without_message_pointer(void **state)
{
	json_t *j = parse("{\"name\":1}");
	struct spec s;
	assert_int_equal(spec_from_json(j, &s, NULL), -EINVAL);
	json_decref(j);
}

static void
test_resolve_instances(void **state)
{
	assert_int_equal(spec_resolve_instances(4, 2), 4);
	assert_int_equal(spec_resolve_instances(1, 8), 1);
	assert_int_equal(spec_resolve_instances(0, 2), 2);
	assert_int_equal(spec_resolve_instances(-1, 4), 3);
	assert_int_equal(spec_resolve_instances(-1, 1), 1);
	assert_int_equal(spec_resolve_instances(-10, 4), 1);
	assert_true(spec_usable_cpus() >= 1);
}

static void
test_lb_names(void **state)
{
	assert_int_equal(spec_lb_parse("shared"), LB_SHARED);
	assert_int_equal(spec_lb_parse("even"), LB_EVEN);
	assert_int_equal(spec_lb_parse("sticky"), LB_STICKY);
	assert_int_equal(spec_lb_parse("least-busy"), LB_LEAST_BUSY);
	assert_int_equal(spec_lb_parse("roundrobin"), -EINVAL);
	assert_string_equal(spec_lb_name(LB_STICKY), "sticky");
	assert_string_equal(spec_lb_name(99), "?");
	assert_string_equal(spec_mode_name(MODE_CLUSTER), "cluster");
	assert_string_equal(spec_mode_name(MODE_FORK), "fork");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_null_clears_optional_string),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_name_refused),
		cmocka_unit_test(test_error_without_message_pointer),
		cmocka_unit_test(test_resolve_instances),
		cmocka_unit_test(test_lb_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
