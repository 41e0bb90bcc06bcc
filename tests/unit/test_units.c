/*
 * test_units.c — the numbers users type: durations ("500ms", "2s", a bare
 * number in the caller's default unit), sizes ("300M", "1.5G", 1024-based as
 * in PM2), plain integers with ranges, and the short forms the tables and
 * log lines print.
 * Every parser is strict: trailing garbage, a missing number, a sign where
 * none belongs and overflow are errors, never a silent 0.
 */
#include <errno.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/units.h"

static int64_t
dur(const char *s, int64_t unit)
{
	int64_t v = -12345;
	int rc = units_parse_duration(s, unit, &v);
	if (rc != 0)
		fail_msg("duration \"%s\": rc %d", s, rc);
	return v;
}

static void
test_duration_units(void **state)
{
	assert_int_equal(dur("500ms", 1), 500);
	assert_int_equal(dur("2s", 1), 2000);
	assert_int_equal(dur("1m", 1), 60000);
	assert_int_equal(dur("2h", 1), 2 * 3600000);
	assert_int_equal(dur("1d", 1), 86400000);
	assert_int_equal(dur("3sec", 1), 3000);
	assert_int_equal(dur("2min", 1), 120000);
	assert_int_equal(dur("2S", 1), 2000);
	assert_int_equal(dur("10MS", 1), 10);
	assert_int_equal(dur("1.5s", 1), 1500);
	assert_int_equal(dur("0.25s", 1), 250);
	assert_int_equal(dur("+3s", 1), 3000);
	assert_int_equal(dur(" 2 s ", 1), 2000);
	assert_int_equal(dur("0", 1), 0);
	assert_int_equal(dur("0ms", 1), 0);
}

static void
test_duration_bare_number_uses_default_unit(void **state)
{
	assert_int_equal(dur("1500", 1), 1500);
	assert_int_equal(dur("1500", 1000), 1500000);
	assert_int_equal(dur("1.5", 1000), 1500);
	/* An explicit unit wins over the default. */
	assert_int_equal(dur("200ms", 1000), 200);
}

static void
test_duration_errors(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
		{"", -EINVAL}, {"   ", -EINVAL}, {"ms", -EINVAL}, {"abc", -EINVAL},
		{"5x", -EINVAL}, {"5 ms x", -EINVAL}, {"5msms", -EINVAL}, {"-5", -EINVAL},
		{"-5s", -EINVAL}, {".", -EINVAL}, {"1.2.3", -EINVAL}, {"1e3", -EINVAL},
		{"1,5s", -EINVAL}, {"5s5", -EINVAL}, {"0x10", -EINVAL}, {"inf", -EINVAL},
		{"nan", -EINVAL}, {"5 seconds", -EINVAL}, {"5w", -EINVAL},
		{"99999999999999999d", -ERANGE}, {"999999999999999999999", -ERANGE},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int64_t v = 777;
		int rc = units_parse_duration(bad[i].text, 1, &v);
		if (rc != bad[i].rc)
			fail_msg("duration \"%s\": rc %d, expected %d", bad[i].text, rc, bad[i].rc);
		/* A failed parse never writes a value. */
		assert_int_equal(v, 777);
	}
}

static int64_t
size_of(const char *s)
{
	int64_t v = -1;
	int rc = units_parse_size(s, &v);
	if (rc != 0)
		fail_msg("size \"%s\": rc %d", s, rc);
	return v;
}

static void
test_size_units(void **state)
{
	assert_int_equal(size_of("10"), 10);
	assert_int_equal(size_of("10B"), 10);
	assert_int_equal(size_of("10b"), 10);
	assert_int_equal(size_of("512K"), 512 * 1024);
	assert_int_equal(size_of("512k"), 512 * 1024);
	assert_int_equal(size_of("1KB"), 1024);
	assert_int_equal(size_of("1KiB"), 1024);
	assert_int_equal(size_of("1kib"), 1024);
	assert_int_equal(size_of("300M"), 300LL * 1024 * 1024);
	assert_int_equal(size_of("300MB"), 300LL * 1024 * 1024);
	assert_int_equal(size_of("1G"), 1024LL * 1024 * 1024);
	assert_int_equal(size_of("1.5G"), 1536LL * 1024 * 1024);
	assert_int_equal(size_of("2T"), 2LL * 1024 * 1024 * 1024 * 1024);
	assert_int_equal(size_of(" 64 M "), 64LL * 1024 * 1024);
	assert_int_equal(size_of("0"), 0);
}

static void
test_size_errors(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
		{"", -EINVAL}, {"M", -EINVAL}, {"1X", -EINVAL}, {"1KBB", -EINVAL},
		{"1 iB", -EINVAL}, {"1MiBs", -EINVAL}, {"-1M", -EINVAL}, {"1.5.5", -EINVAL},
		{"1P", -EINVAL}, {"abc", -EINVAL}, {"12 34", -EINVAL}, {"1e6", -EINVAL},
		{"99999999999T", -ERANGE},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int64_t v = 777;
		int rc = units_parse_size(bad[i].text, &v);
		if (rc != bad[i].rc)
			fail_msg("size \"%s\": rc %d, expected %d", bad[i].text, rc, bad[i].rc);
		assert_int_equal(v, 777);
	}
}

static void
test_int(void **state)
{
	int64_t v = 0;
	assert_int_equal(units_parse_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(units_parse_int(" 7 ", 0, 100, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(units_parse_int("-1", -4096, 4096, &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(units_parse_int("+3", -4096, 4096, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(units_parse_int("0", 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(units_parse_int("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);

	v = 555;
	assert_int_equal(units_parse_int("", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("  ", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("abc", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("4x", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("4 4", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("1.5", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("0x10", 0, 100, &v), -EINVAL);
	assert_int_equal(units_parse_int("101", 0, 100, &v), -ERANGE);
	assert_int_equal(units_parse_int("-1", 0, 100, &v), -ERANGE);
	assert_int_equal(units_parse_int("99999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(units_parse_int("-99999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(v, 555);
}

static void
test_format_uptime(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{0, "0s"}, {999, "0s"}, {1000, "1s"}, {59999, "59s"}, {60000, "1m"},
		{3599999, "59m"}, {3600000, "1h"}, {86399999, "23h"}, {86400000, "1D"},
		{86400000LL * 364, "364D"}, {86400000LL * 365, "1Y"}, {86400000LL * 800, "2Y"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char buf[32];
		units_format_uptime(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void
test_format_bytes(void **state)
{
	static const struct {
		int64_t bytes;
		const char *text;
	} cases[] = {
		{0, "0b"}, {1023, "1023b"}, {1024, "1.0kb"}, {1536, "1.5kb"},
		{1048576, "1.0mb"}, {31982182, "30.5mb"}, {1073741824LL * 3, "3.0gb"},
		{1099511627776LL * 2048, "2048.0tb"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char buf[32];
		units_format_bytes(cases[i].bytes, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
	/* A short buffer is cut, never overrun. */
	char tiny[4];
	units_format_bytes(31982182, tiny, sizeof(tiny));
	assert_string_equal(tiny, "30.");
}

static void
test_format_time(void **state)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	char buf[64];
	int64_t t = 1700000000123;     /* 2023-11-14 22:13:20.123 UTC */
	units_format_time(UNITS_ISO_TIME, t, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14T22:13:20.123+0000");
	units_format_time("%H:%M:%S.%L %:z 100%%", t, buf, sizeof(buf));
	assert_string_equal(buf, "22:13:20.123 +00:00 100%");
	units_format_time("%Y-%m-%d", t, buf, 5);
	assert_string_equal(buf, "");   /* does not fit */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_bare_number_uses_default_unit),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_format_uptime),
		cmocka_unit_test(test_format_bytes),
		cmocka_unit_test(test_format_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
