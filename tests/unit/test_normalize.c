/*
 * test_normalize.c — PM2 fields → canonical spec, without a daemon: the
 * pure helpers (dayjs formats, argument splitting, environment filters)
 * and normalize_app/normalize_doc on documents loaded from memory.
 *
 * Scripts are absolute programs that exist everywhere (/bin/sh), so no
 * fixture directory is needed.
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/doc.h"
#include "config/normalize.h"

static char *test_environ[] = {"PATH=/usr/bin:/bin", "HOME=/home/t", "SECRET_A=1",
    "SECRET_B=2", "PUBLIC=3", "NOTIFY_SOCKET=/x", NULL};

struct result {
	json_t *apps;
	json_t *warnings;
	char *err;
	int rc;
};

/* Normalize a JSON document named "t.json" (or, from_cli, one app). */
static struct result
run(const char *text, const char *env_name, const char *only, bool from_cli)
{
	struct result r = {NULL, json_array(), NULL, 0};
	struct norm_ctx ctx = {.base_dir = "/tmp", .environ = test_environ,
	    .env_name = env_name, .from_cli = from_cli, .warnings = r.warnings};
	if (from_cli) {
		json_t *raw = json_loads(text, 0, NULL);
		assert_non_null(raw);
		json_t *spec = NULL;
		r.rc = normalize_app(&ctx, raw, &spec, &r.err);
		json_decref(raw);
		if (spec) {
			r.apps = json_array();
			json_array_append_new(r.apps, spec);
		}
		return r;
	}
	struct config_doc *doc = NULL;
	r.rc = config_doc_load_json_mem("t.json", text, strlen(text), &doc, &r.warnings, &r.err);
	if (r.rc == 0) {
		r.rc = normalize_doc(&ctx, doc, only, &r.apps, &r.err);
		config_doc_free(doc);
	}
	return r;
}

static void
done(struct result *r)
{
	json_decref(r->apps);
	json_decref(r->warnings);
	free(r->err);
}

static json_t *
app_at(struct result *r, size_t i)
{
	assert_int_equal(r->rc, 0);
	json_t *a = json_array_get(r->apps, i);
	assert_non_null(a);
	return a;
}

static long long
num(json_t *a, const char *k)
{
	json_t *v = json_object_get(a, k);
	assert_true(json_is_integer(v));
	return (long long)json_integer_value(v);
}

static const char *
str(json_t *a, const char *k)
{
	const char *s = json_string_value(json_object_get(a, k));
	assert_non_null(s);
	return s;
}

static bool
has_warning(struct result *r, const char *needle)
{
	size_t i;
	json_t *w;
	json_array_foreach(r->warnings, i, w)
		if (strstr(json_string_value(w), needle))
			return true;
	return false;
}

static void
expect_error(const char *text, const char *want)
{
	struct result r = run(text, NULL, NULL, false);
	assert_int_equal(r.rc, -EINVAL);
	assert_non_null(r.err);
	if (strcmp(r.err, want) != 0)
		fail_msg("got  %s\nwant %s", r.err, want);
	done(&r);
}

static void
test_date_format(void **state)
{
	const char *cases[][2] = {
		{"YYYY-MM-DD HH:mm:ss Z", "%Y-%m-%d %H:%M:%S %:z"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZZ", "%Y-%m-%dT%H:%M:%S.%L%z"},
		{"[at] h:mm A", "at %-I:%M %p"},
		{"x", "%s%L"},
		{"%H:%M:%S", "%H:%M:%S"},
		{"DD/MM/YY", "%d/%m/%y"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *got = normalize_date_format(cases[i][0]);
		assert_string_equal(got, cases[i][1]);
		free(got);
	}
}

static void
test_split_args(void **state)
{
	char *err = NULL;
	char **v = normalize_split_args("  a 'b c' \"d \\\" e\" f\\ g ''", &err);
	assert_non_null(v);
	const char *want[] = {"a", "b c", "d \" e", "f g", ""};
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_string_equal(v[i], want[i]);
	assert_null(v[ARRAY_LEN(want)]);
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	assert_null(normalize_split_args("a 'b", &err));
	assert_string_equal(err, "unterminated ' quote");
	free(err);
}

static void
test_env_filters(void **state)
{
	json_t *own = json_pack("{s:s}", "OWN", "x");
	char *substr[] = {"SECRET", NULL};
	json_t *e = normalize_env(test_environ, own, false, substr, NULL);
	assert_null(json_object_get(e, "SECRET_A"));
	assert_null(json_object_get(e, "SECRET_B"));
	assert_null(json_object_get(e, "NOTIFY_SOCKET"));   /* corral's own */
	assert_string_equal(json_string_value(json_object_get(e, "PUBLIC")), "3");
	assert_string_equal(json_string_value(json_object_get(e, "OWN")), "x");
	json_decref(e);
	char *exact[] = {"=SECRET", "=SECRET_A", NULL};
	e = normalize_env(test_environ, own, false, exact, NULL);
	assert_null(json_object_get(e, "SECRET_A"));
	assert_non_null(json_object_get(e, "SECRET_B"));
	json_decref(e);
	e = normalize_env(test_environ, own, true, NULL, NULL);
	assert_int_equal(json_object_size(e), 1);
	json_decref(e);
	json_decref(own);
}

static void
test_is_config_file(void **state)
{
	assert_true(normalize_is_config_file("ecosystem.config.js"));
	assert_true(normalize_is_config_file("app.json5"));
	assert_true(normalize_is_config_file("x.yml"));
	assert_true(normalize_is_config_file("prod.config.mjs"));
	assert_false(normalize_is_config_file("server.js"));
	assert_false(normalize_is_config_file("pm2.js"));
}

static void
test_defaults_and_units(void **state)
{
	struct result r = run("{\"apps\": [{\"name\": \"a\", \"script\": \"/bin/sh\", "
	    "\"interpreter\": \"none\", \"maxMemoryRestart\": \"1.5G\", \"min_uptime\": \"2m\", "
	    "\"kill_timeout\": \"500ms\", \"restart_delay\": \"1h\", \"watch_delay\": 3}]}",
	    NULL, NULL, false);
	json_t *a = app_at(&r, 0);
	assert_int_equal(num(a, "max_memory_restart"), 1536LL * 1024 * 1024);
	assert_int_equal(num(a, "min_uptime"), 120000);
	assert_int_equal(num(a, "kill_timeout"), 500);
	assert_int_equal(num(a, "restart_delay"), 3600000);
	assert_int_equal(num(a, "watch_delay"), 3);         /* ms in a file */
	assert_int_equal(num(a, "listen_timeout"), 3000);   /* defaults filled in */
	assert_int_equal(num(a, "max_restarts"), 16);
	assert_string_equal(str(a, "kill_signal"), "SIGINT");
	assert_string_equal(str(a, "namespace"), "default");
	assert_true(json_is_null(json_object_get(a, "interpreter")));
	assert_true(json_is_true(json_object_get(a, "merge_logs")));
	done(&r);
}

/* The array at a[k] as one string: ["a", "b"] → "a|b". */
static char *
joined(json_t *a, const char *k)
{
	json_t *arr = json_object_get(a, k);
	assert_true(json_is_array(arr));
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		if (json_is_integer(e))
			sbuf_addf(&b, "%s%lld", i ? "|" : "", (long long)json_integer_value(e));
		else
			sbuf_addf(&b, "%s%s", i ? "|" : "", json_string_value(e));
	}
	return sbuf_take(&b);
}

static void
test_list_strings_split(void **state)
{
	/* As PM2 splits a string given for an array, plus commas; quotes keep
	 * a word whole; a watch path stays whole. */
	struct result r = run("{\"name\": \"a\", \"script\": \"/bin/sh\", \"watch\": \"my dir\", "
	    "\"ignore_watch\": \"node_modules logs,*.tmp  'a b' it's\", "
	    "\"listen\": \"127.0.0.1:80, [::1]:80\", \"share_ports\": \"3000,3001 3002\"}",
	    NULL, NULL, true);
	json_t *a = app_at(&r, 0);
	const char *want[][2] = {
		{"ignore_watch", "node_modules|logs|*.tmp|a b|it's"},
		{"listen", "127.0.0.1:80|[::1]:80"},
		{"share_ports", "3000|3001|3002"},
		{"watch_paths", "/tmp/my dir"},
	};
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		char *got = joined(a, want[i][0]);
		assert_string_equal(got, want[i][1]);
		free(got);
	}
	done(&r);
	/* One word stays as written, an empty string too. */
	r = run("{\"name\": \"a\", \"script\": \"/bin/sh\", \"ignore_watch\": \"\"}", NULL, NULL, true);
	char *got = joined(app_at(&r, 0), "ignore_watch");
	assert_string_equal(got, "");
	assert_int_equal(json_array_size(json_object_get(app_at(&r, 0), "ignore_watch")), 1);
	free(got);
	done(&r);
}

static void
test_canonical_name_wins_over_alias(void **state)
{
	/* Either order: the field's own name beats its alias. */
	const char *texts[] = {
		"{\"name\": \"a\", \"script\": \"/bin/sh\", \"out\": \"/x/alias\", \"out_file\": \"/x/real\"}",
		"{\"name\": \"a\", \"script\": \"/bin/sh\", \"out_file\": \"/x/real\", \"out\": \"/x/alias\"}",
	};
	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		struct result r = run(texts[i], NULL, NULL, false);
		assert_string_equal(str(app_at(&r, 0), "out_file"), "/x/real");
		done(&r);
	}
}

static void
test_env_merge_order(void **state)
{
	const char *text = "{\"apps\": [{\"name\": \"a\", \"script\": \"/bin/sh\", "
	    "\"append_env_to_name\": true, \"port\": 81, "
	    "\"env\": {\"L\": \"app\", \"D\": \"app\", \"N\": 5, \"O\": {\"k\": [1]}}, "
	    "\"env_prod\": {\"L\": \"prod\"}}], "
	    "\"deploy\": {\"prod\": {\"env\": {\"D\": \"deploy\", \"ONLY_D\": \"1\"}}}}";
	struct result r = run(text, "prod", NULL, false);
	json_t *a = app_at(&r, 0);
	json_t *env = json_object_get(a, "env");
	assert_string_equal(str(a, "name"), "a-prod");
	assert_string_equal(str(env, "L"), "prod");
	assert_string_equal(str(env, "D"), "app");
	assert_string_equal(str(env, "ONLY_D"), "1");
	assert_string_equal(str(env, "N"), "5");
	assert_string_equal(str(env, "O"), "{\"k\":[1]}");
	assert_string_equal(str(env, "PORT"), "81");
	assert_string_equal(str(env, "PUBLIC"), "3");
	done(&r);
	/* Without --env: no name suffix, no env_prod. */
	r = run(text, NULL, NULL, false);
	a = app_at(&r, 0);
	assert_string_equal(str(a, "name"), "a");
	assert_string_equal(str(json_object_get(a, "env"), "L"), "app");
	done(&r);
}

static void
test_only(void **state)
{
	const char *text = "[{\"name\": \"a\", \"script\": \"/bin/sh\"}, "
	    "{\"name\": \"b\", \"script\": \"/bin/sh\", \"kill_timeout\": \"bad\"}, "
	    "{\"name\": \"c\", \"script\": \"/bin/sh\"}]";
	struct result r = run(text, NULL, "c, a", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(r.apps), 2);
	assert_string_equal(str(app_at(&r, 0), "name"), "a");
	assert_string_equal(str(app_at(&r, 1), "name"), "c");
	done(&r);
	/* All or nothing: b is wrong, so the whole file is. */
	r = run(text, NULL, NULL, false);
	assert_int_equal(r.rc, -EINVAL);
	assert_null(r.apps);
	done(&r);
}

static void
test_errors_name_file_line_app_field(void **state)
{
	expect_error("{\"apps\": [\n  {\"name\": \"api\",\n   \"script\": \"/bin/sh\",\n"
	    "   \"instances\": [2]}]}",
	    "t.json:4:17: app 'api': instances: expected a number of instances, \"max\", 0 or "
	    "a negative number, got an array");
	expect_error("[{\"name\": \"x\", \"script\": \"/bin/sh\", \"cron\": \"* * * * * * *\"}]",
	    "t.json:1:45: app 'x': cron: cron \"* * * * * * *\": expected 5 or 6 fields, got 7");
	expect_error("[{\"name\": \"x\"}]",
	    "t.json:1:2: app 'x': no script: every app needs \"script\" (the file or command to run)");
	expect_error("[{\"name\": \"x\", \"script\": \"/bin/sh\", \"autorestart\": \"maybe\"}]",
	    "t.json:1:52: app 'x': autorestart: expected true or false, got a string");
	expect_error("[{\"name\": \"x\", \"script\": \"/bin/sh\", \"log_date_format\": true}]",
	    "t.json:1:56: app 'x': log_date_format: expected a format or false, got true");
	expect_error("[{\"name\": \"x\", \"script\": \"/bin/sh\", \"interpreter\": \"./nope\"}]",
	    "t.json:1:52: app 'x': interpreter: /tmp/nope: no such program");
	expect_error("{\"deploy\": {}}",
	    "t.json: no apps found (expected {\"apps\": [...]}, an array of apps, or one app object)");
}

static void
test_cli_errors_name_the_option(void **state)
{
	struct result r = run("{\"script\": \"/bin/sh\", \"max_memory_restart\": \"lots\"}", NULL,
	    NULL, true);
	assert_int_equal(r.rc, -EINVAL);
	assert_string_equal(r.err, "--max-memory-restart: \"lots\" is not a size (bytes, or like "
	    "\"300M\", \"1G\", \"512K\")");
	done(&r);
}

static void
test_warnings(void **state)
{
	struct result r = run("[{\"name\": \"a\", \"script\": \"/bin/sh\", \"max_memory_limit\": 1, "
	    "\"vizion\": false}, {\"name\": \"b\", \"script\": \"/bin/sh\", \"vizion\": true}]",
	    NULL, NULL, false);
	assert_int_equal(r.rc, 0);
	assert_true(has_warning(&r, "t.json:1:37: app 'a': unknown field \"max_memory_limit\" "
	    "ignored (did you mean \"max_memory_restart\"?)"));
	/* An ignored field is reported once for the file. */
	size_t n = 0, i;
	json_t *w;
	json_array_foreach(r.warnings, i, w)
		n += strstr(json_string_value(w), "vizion") != NULL;
	assert_int_equal(n, 1);
	done(&r);
}

static void
test_overrides(void **state)
{
	json_t *over = json_pack("{s:s, s:b}", "namespace", "cli", "watch", 1);
	struct result r = {NULL, json_array(), NULL, 0};
	struct norm_ctx ctx = {.base_dir = "/tmp", .environ = test_environ,
	    .warnings = r.warnings, .overrides = over};
	const char *text = "[{\"name\": \"a\", \"script\": \"/bin/sh\"}, "
	    "{\"name\": \"b\", \"script\": \"/bin/sh\", \"namespace\": \"own\", \"watch\": false}]";
	struct config_doc *doc = NULL;
	assert_int_equal(config_doc_load_json_mem("t.json", text, strlen(text), &doc, NULL,
	    &r.err), 0);
	r.rc = normalize_doc(&ctx, doc, NULL, &r.apps, &r.err);
	config_doc_free(doc);
	assert_string_equal(str(app_at(&r, 0), "namespace"), "cli");
	assert_string_equal(str(app_at(&r, 1), "namespace"), "own");
	assert_true(json_is_true(json_object_get(app_at(&r, 1), "watch")));
	done(&r);
	json_decref(over);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_format),
		cmocka_unit_test(test_split_args),
		cmocka_unit_test(test_env_filters),
		cmocka_unit_test(test_is_config_file),
		cmocka_unit_test(test_defaults_and_units),
		cmocka_unit_test(test_list_strings_split),
		cmocka_unit_test(test_canonical_name_wins_over_alias),
		cmocka_unit_test(test_env_merge_order),
		cmocka_unit_test(test_only),
		cmocka_unit_test(test_errors_name_file_line_app_field),
		cmocka_unit_test(test_cli_errors_name_the_option),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_overrides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
