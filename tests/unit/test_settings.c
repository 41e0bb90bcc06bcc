/*
 * test_settings.c — the global settings (common/settings.c): pm2-logrotate's
 * keys and defaults, the pm2-logrotate: alias, each value checked with a
 * message naming the key, a settings file parsed over the defaults, and the
 * file written and read back.
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/settings.h"
#include "common/util.h"

static void
test_defaults_are_pm2_logrotate_s(void **state)
{
	struct logrotate_conf c;
	settings_conf_default(&c);
	assert_int_equal(c.max_size, 10 * 1024 * 1024);
	assert_int_equal(c.retain, 30);
	assert_false(c.compress);
	assert_string_equal(c.date_format, "%Y-%m-%d_%H-%M-%S");
	assert_string_equal(c.interval, "0 0 * * *");
	assert_null(c.tz);
	assert_int_equal(c.max_total_size, 0);
	settings_conf_free(&c);
}

static void
test_aliases(void **state)
{
	assert_string_equal(settings_canonical("pm2-logrotate:max_size"), "logrotate:max_size");
	assert_string_equal(settings_canonical("logrotate:retain"), "logrotate:retain");
	assert_null(settings_canonical("logrotate:nope"));
	assert_null(settings_canonical("max_size"));
	assert_null(settings_canonical("pm2-logrotate:"));
}

static void
bad(const char *key, const char *value, const char *want)
{
	char *err = NULL;
	if (settings_check(key, value, &err) != -EINVAL)
		fail_msg("%s %s: accepted", key, value);
	assert_non_null(err);
	if (!strstr(err, key) || !strstr(err, want) || strchr(err, '\n'))
		fail_msg("%s %s: message \"%s\" lacks \"%s\"", key, value, err, want);
	free(err);
}

static void
good(const char *key, const char *value)
{
	char *err = NULL;
	if (settings_check(key, value, &err) != 0)
		fail_msg("%s %s: refused: %s", key, value, err);
}

static void
test_values_are_checked(void **state)
{
	good("logrotate:max_size", "1M");
	good("logrotate:max_size", "0");
	good("logrotate:max_size", "512K");
	bad("logrotate:max_size", "10X", "not a size");
	bad("logrotate:max_size", "-1", "not a size");
	good("logrotate:retain", "all");
	good("logrotate:retain", "3");
	bad("logrotate:retain", "three", "number of files");
	good("logrotate:compress", "true");
	bad("logrotate:compress", "yes", "true or false");
	good("logrotate:rotateInterval", "*/5 * * * *");
	good("logrotate:rotateInterval", "0");
	bad("logrotate:rotateInterval", "61 * * * *", "61");
	bad("logrotate:rotateInterval", "0 0 30 2 *", "never fires");
	good("logrotate:dateFormat", "YYYY-MM-DD");
	bad("logrotate:dateFormat", "YYYY/MM/DD", "file name");
	bad("logrotate:dateFormat", "", "date format");
	bad("logrotate:dateFormat", "%Y%n%d", "control character");
	bad("logrotate:dateFormat", "x%t", "control character");
	good("logrotate:TZ", "UTC");
	bad("logrotate:TZ", "Mars/Olympus", "time zone");
	bad("logrotate:TZ", "../../etc/passwd", "time zone");
	good("logrotate:max_total_size", "1G");
	bad("logrotate:max_total_size", "lots", "not a size");
}

static void
test_parse_over_defaults(void **state)
{
	const char *text = "{\"logrotate:max_size\": \"1M\", \"pm2-logrotate:retain\": \"3\","
	    " \"logrotate:compress\": \"true\", \"logrotate:rotateInterval\": \"0\","
	    " \"logrotate:dateFormat\": \"YYYYMMDD\", \"a later key\": \"x\"}";
	struct logrotate_conf c;
	char *err = NULL;
	assert_int_equal(settings_parse(text, strlen(text), &c, &err), 0);
	assert_int_equal(c.max_size, 1024 * 1024);
	assert_int_equal(c.retain, 3);
	assert_true(c.compress);
	assert_null(c.interval);
	assert_string_equal(c.date_format, "%Y%m%d");
	settings_conf_free(&c);

	/* A bad value: the defaults, and the key named. */
	const char *worse = "{\"logrotate:max_size\": \"1M\", \"logrotate:retain\": \"x\"}";
	assert_int_equal(settings_parse(worse, strlen(worse), &c, &err), -EINVAL);
	assert_non_null(strstr(err, "logrotate:retain"));
	assert_int_equal(c.max_size, 10 * 1024 * 1024);
	free(err);
	settings_conf_free(&c);
	err = NULL;
	assert_int_equal(settings_parse("[1]", 3, &c, &err), -EINVAL);
	free(err);
	settings_conf_free(&c);
	err = NULL;
	assert_int_equal(settings_parse("{\"logrotate:retain\": 3}", 23, &c, &err), -EINVAL);
	assert_non_null(strstr(err, "expected a string"));
	free(err);
	settings_conf_free(&c);
}

static void
test_save_and_load(void **state)
{
	char dir[] = "/tmp/corral-settings-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/settings.json", dir);
	char *err = NULL;
	json_t *empty = settings_load(path, &err);
	assert_non_null(empty);
	assert_int_equal(json_object_size(empty), 0);
	json_object_set_new(empty, "logrotate:max_size", json_string("2M"));
	assert_int_equal(settings_save(path, empty, &err), 0);
	json_t *back = settings_load(path, &err);
	assert_string_equal(json_string_value(json_object_get(back, "logrotate:max_size")), "2M");
	json_decref(back);
	json_decref(empty);
	FILE *f = fopen(path, "w");
	fputs("{not json", f);
	fclose(f);
	assert_null(settings_load(path, &err));
	assert_non_null(strstr(err, path));
	free(err);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_pm2_logrotate_s),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_values_are_checked),
		cmocka_unit_test(test_parse_over_defaults),
		cmocka_unit_test(test_save_and_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
