/*
 * test_args.c — the command-line grammar `corral <verb> [args] [options]
 * [-- args]`: options anywhere before `--`, long/short/inline forms (-i4,
 * --name=x), optional values only inline, flags that take no value, `--`
 * passing everything after it through, negative numbers and "-" as
 * arguments, and the one-line errors: unknown option (with a suggestion),
 * missing value, option that does not apply to the verb.
 */
#include <errno.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

#define ARGV(...) (char *[]){__VA_ARGS__}
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(groups, out, err, ...) \
	args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), groups, out, err)

static void
expect_strv(char **v, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			fail_msg("missing element %zu (\"%s\")", i, want[i]);
		assert_string_equal(v[i], want[i]);
	}
	assert_null(v[n]);
}

static void
test_full_start_line(void **state)
{
	struct args a;
	char *err = NULL;
	int rc = PARSE(OG_START, &a, &err, "start", "app.js", "--name", "web", "-i4",
	    "--max-restarts=3", "--", "--port", "7000", "--name", "x");
	assert_int_equal(rc, 0);
	assert_null(err);
	static const char *const pos[] = {"app.js"};
	static const char *const rest[] = {"--port", "7000", "--name", "x"};
	expect_strv(a.pos, pos, 1);
	expect_strv(a.rest, rest, 4);
	assert_string_equal(args_get(&a, "name"), "web");
	assert_string_equal(args_get(&a, "instances"), "4");
	assert_string_equal(args_get(&a, "max-restarts"), "3");
	assert_false(args_has(&a, "force"));
	args_free(&a);
}

static void
test_options_anywhere_before_dashdash(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "-f", "--name", "n", "app.py",
	    "--no-autorestart"), 0);
	static const char *const pos[] = {"app.py"};
	expect_strv(a.pos, pos, 1);
	assert_true(args_has(&a, "force"));
	assert_string_equal(args_get(&a, "force"), "true");
	assert_true(args_has(&a, "no-autorestart"));
	assert_null(a.rest[0]);
	args_free(&a);
}

static void
test_short_forms(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "x", "-n", "one", "-i", "2",
	    "-k", "500", "-o", "/tmp/o.log", "-e", "/tmp/e.log"), 0);
	assert_string_equal(args_get(&a, "name"), "one");
	assert_string_equal(args_get(&a, "instances"), "2");
	assert_string_equal(args_get(&a, "kill-timeout"), "500");
	assert_string_equal(args_get(&a, "output"), "/tmp/o.log");
	assert_string_equal(args_get(&a, "error"), "/tmp/e.log");
	args_free(&a);
	/* -i4 is -i 4, -nfoo is -n foo. */
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "x", "-i4", "-nfoo"), 0);
	assert_string_equal(args_get(&a, "instances"), "4");
	assert_string_equal(args_get(&a, "name"), "foo");
	args_free(&a);
}

static void
test_negative_numbers_are_arguments(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_LIST, &a, &err, "scale", "api", "-1"), 0);
	static const char *const pos[] = {"api", "-1"};
	expect_strv(a.pos, pos, 2);
	args_free(&a);
	/* A value that looks negative is taken by the option needing it. */
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "app.js", "-i", "-1"), 0);
	assert_string_equal(args_get(&a, "instances"), "-1");
	args_free(&a);
	/* "-" alone is an argument (stdin in PM2). */
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "-"), 0);
	static const char *const dash[] = {"-"};
	expect_strv(a.pos, dash, 1);
	args_free(&a);
}

static void
test_dashdash_alone_and_empty_rest(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "redis-server", "--"), 0);
	static const char *const pos[] = {"redis-server"};
	expect_strv(a.pos, pos, 1);
	assert_null(a.rest[0]);
	args_free(&a);
	/* A second "--" is just an argument of the app. */
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "p", "--", "a", "--", "-b"), 0);
	static const char *const rest[] = {"a", "--", "-b"};
	expect_strv(a.rest, rest, 3);
	args_free(&a);
}

static void
test_optional_value_only_inline(void **state)
{
	struct args a;
	char *err = NULL;
	/* --watch never swallows the script. */
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "--watch", "app.js"), 0);
	static const char *const pos[] = {"app.js"};
	expect_strv(a.pos, pos, 1);
	assert_string_equal(args_get(&a, "watch"), "true");
	args_free(&a);
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "app.js", "--watch=src,lib",
	    "--log=/tmp/all.log"), 0);
	assert_string_equal(args_get(&a, "watch"), "src,lib");
	assert_string_equal(args_get(&a, "log"), "/tmp/all.log");
	args_free(&a);
}

static void
test_repeated_option_last_wins(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "x", "--name", "a", "-n", "b"), 0);
	assert_string_equal(args_get(&a, "name"), "b");
	args_free(&a);
}

static void
expect_error(int rc, char *err, const char *want)
{
	assert_int_equal(rc, -EINVAL);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
	free(err);
}

static void
test_unknown_option_suggests(void **state)
{
	struct args a;
	char *err = NULL;
	int rc = PARSE(OG_START, &a, &err, "start", "app.js", "--nmae", "x");
	expect_error(rc, err, "corral start: unknown option --nmae (did you mean --name?)");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "--max-restart", "3");
	expect_error(rc, err, "did you mean --max-restarts?");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "--completely-unrelated-thing");
	expect_error(rc, err, "unknown option --completely-unrelated-thing");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "-Z");
	expect_error(rc, err, "unknown option -Z");
	/* A very long option name is reported, not truncated into another. */
	err = NULL;
	char longopt[300];
	memset(longopt, 'n', sizeof(longopt));
	memcpy(longopt, "--name", 6);
	longopt[sizeof(longopt) - 1] = '\0';
	rc = PARSE(OG_START, &a, &err, "start", "app.js", longopt, "x");
	expect_error(rc, err, "unknown option --namennn");
}

static void
test_missing_value(void **state)
{
	struct args a;
	char *err = NULL;
	int rc = PARSE(OG_START, &a, &err, "start", "app.js", "--name");
	expect_error(rc, err, "corral start: option --name needs a value");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "-n", "--", "x");
	expect_error(rc, err, "option --name needs a value");
	err = NULL;
	rc = PARSE(OG_LOGS, &a, &err, "logs", "--lines");
	expect_error(rc, err, "corral logs: option --lines needs a value");
}

static void
test_flag_takes_no_value(void **state)
{
	struct args a;
	char *err = NULL;
	int rc = PARSE(OG_START, &a, &err, "start", "app.js", "--no-autorestart=yes");
	expect_error(rc, err, "option --no-autorestart takes no value");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "-fx");
	expect_error(rc, err, "option --force takes no value");
}

static void
test_option_not_for_this_verb(void **state)
{
	struct args a;
	char *err = NULL;
	int rc = PARSE(OG_LIST, &a, &err, "list", "--name", "x");
	expect_error(rc, err, "corral list: option --name does not apply to list");
	err = NULL;
	rc = PARSE(OG_START, &a, &err, "start", "app.js", "--lines", "5");
	expect_error(rc, err, "option --lines does not apply to start");
	err = NULL;
	rc = PARSE(0, &a, &err, "kill", "--force");
	expect_error(rc, err, "option --force does not apply to kill");
}

static void
test_app_fields(void **state)
{
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "app.js", "--name", "web",
	    "--no-autorestart", "--watch=a,b", "--kill-timeout", "3s", "--time",
	    "--stop-exit-codes", "0,143", "--force", "--interpreter", "none"), 0);
	json_t *app = args_app_fields(&a);
	assert_string_equal(json_string_value(json_object_get(app, "name")), "web");
	assert_string_equal(json_string_value(json_object_get(app, "autorestart")), "false");
	assert_string_equal(json_string_value(json_object_get(app, "kill_timeout")), "3s");
	assert_string_equal(json_string_value(json_object_get(app, "time")), "true");
	assert_string_equal(json_string_value(json_object_get(app, "stop_exit_codes")), "0,143");
	assert_string_equal(json_string_value(json_object_get(app, "interpreter")), "none");
	json_t *w = json_object_get(app, "watch");
	assert_true(json_is_array(w));
	assert_int_equal(json_array_size(w), 2);
	assert_string_equal(json_string_value(json_array_get(w, 1)), "b");
	/* --force is an action, not an app field. */
	assert_null(json_object_get(app, "force"));
	json_decref(app);
	args_free(&a);
}

static void
test_suggest_option(void **state)
{
	assert_string_equal(args_suggest_option("instance", OG_START), "instances");
	assert_string_equal(args_suggest_option("restart-dealy", OG_START), "restart-delay");
	assert_string_equal(args_suggest_option("nostreem", OG_LOGS), "nostream");
	assert_string_equal(args_suggest_option("lnies", OG_LOGS), "lines");
	assert_null(args_suggest_option("zzzzzzzzzzzz", ~0u));
	/* Only the verb's own options: `list --prot` is not `--port`. */
	assert_string_equal(args_suggest_option("prot", OG_START), "port");
	assert_null(args_suggest_option("prot", OG_LIST));
}

static void
test_short_option_by_verb(void **state)
{
	/* -u is --uid for start and --user for startup, as in PM2. */
	struct args a;
	char *err = NULL;
	assert_int_equal(PARSE(OG_START, &a, &err, "start", "app.js", "-u", "www"), 0);
	assert_string_equal(args_get(&a, "uid"), "www");
	assert_false(args_has(&a, "user"));
	args_free(&a);
	assert_int_equal(PARSE(OG_STARTUP, &a, &err, "startup", "-u", "alice", "--hp", "/home/a"), 0);
	assert_string_equal(args_get(&a, "user"), "alice");
	assert_string_equal(args_get(&a, "hp"), "/home/a");
	assert_false(args_has(&a, "uid"));
	args_free(&a);
	assert_int_equal(PARSE(OG_LIST, &a, &err, "list", "-u", "x"), -EINVAL);
	assert_non_null(strstr(err, "does not apply"));
	free(err);
}

static void
test_every_option_is_well_formed(void **state)
{
	/* Each long option parses in its own group, with or without a value as
	 * declared; a table typo would break the CLI. */
	for (const struct opt_def *o = args_options; o->lng; o++) {
		char opt[80];
		snprintf(opt, sizeof(opt), "--%s", o->lng);
		struct args a;
		char *err = NULL;
		int rc = o->arg == 1 ? PARSE(o->groups, &a, &err, "verb", opt, "1")
		    : PARSE(o->groups, &a, &err, "verb", opt);
		if (rc != 0)
			fail_msg("%s: %s", opt, err);
		assert_true(args_has(&a, o->lng));
		args_free(&a);
		assert_true(o->help && *o->help);
		if (o->shrt) {
			/* A letter may be shared by options no verb accepts together. */
			for (const struct opt_def *p = o + 1; p->lng; p++)
				if (p->shrt == o->shrt && (p->groups & o->groups))
					fail_msg("-%c is used by --%s and --%s", o->shrt, o->lng, p->lng);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_start_line),
		cmocka_unit_test(test_options_anywhere_before_dashdash),
		cmocka_unit_test(test_short_forms),
		cmocka_unit_test(test_negative_numbers_are_arguments),
		cmocka_unit_test(test_dashdash_alone_and_empty_rest),
		cmocka_unit_test(test_optional_value_only_inline),
		cmocka_unit_test(test_repeated_option_last_wins),
		cmocka_unit_test(test_unknown_option_suggests),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_flag_takes_no_value),
		cmocka_unit_test(test_option_not_for_this_verb),
		cmocka_unit_test(test_app_fields),
		cmocka_unit_test(test_suggest_option),
		cmocka_unit_test(test_short_option_by_verb),
		cmocka_unit_test(test_every_option_is_well_formed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
