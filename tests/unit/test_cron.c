/*
 * test_cron.c — cron expressions: every piece of syntax, every kind of error
 * (with the exact message a user sees), the day-of-month / day-of-week OR
 * rule, leap years, month and year boundaries, six-field seconds, macros,
 * and a DST zone around both transitions.
 *
 * Times are written and shown as "YYYY-MM-DD HH:MM:SS" in UTC; most tests
 * run with TZ=UTC so the local calendar is UTC too.
 */
#include <errno.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"

static void
use_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int
setup_utc(void **state)
{
	use_tz("UTC");
	return 0;
}

/* "YYYY-MM-DD HH:MM:SS" read as UTC. */
static time_t
at(const char *text)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int n = sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	assert_int_equal(n, 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static void
show(time_t t, char *buf, size_t len)
{
	struct tm tm;
	assert_non_null(gmtime_r(&t, &tm));
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static struct cron_expr
parse_ok(const char *text)
{
	struct cron_expr e;
	char *err = NULL;
	int rc = cron_parse(text, &e, &err);
	if (rc != 0)
		fail_msg("cron_parse(\"%s\"): %s", text, err);
	assert_null(err);
	return e;
}

/*
 * Starting from `from`, call cron_next `count` times, each time after the
 * previous answer, and return the answers joined by " | " (a static buffer).
 * An error shows as "ENOENT" / "ERANGE" and ends the chain.
 */
static const char *
chain(const char *expr, const char *from, int count)
{
	static char out[1024];
	struct cron_expr e = parse_ok(expr);
	time_t t = at(from);

	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		time_t next = 0;
		int rc = cron_next(&e, t, &next);
		char piece[64];
		if (rc == -ENOENT)
			snprintf(piece, sizeof(piece), "ENOENT");
		else if (rc == -ERANGE)
			snprintf(piece, sizeof(piece), "ERANGE");
		else if (rc != 0)
			snprintf(piece, sizeof(piece), "rc=%d", rc);
		else
			show(next, piece, sizeof(piece));
		if (i > 0)
			strcat(out, " | ");
		strcat(out, piece);
		if (rc != 0)
			break;
		assert_true(next > t);
		t = next;
	}
	return out;
}

static void
assert_same_expr(const char *a, const char *b)
{
	struct cron_expr ea = parse_ok(a), eb = parse_ok(b);
	if (memcmp(&ea, &eb, sizeof(ea)) != 0)
		fail_msg("\"%s\" and \"%s\" should parse the same", a, b);
}

/* ---- syntax ------------------------------------------------------------ */

static void
test_star_and_strictly_after(void **state)
{
	assert_string_equal(chain("* * * * *", "2024-01-01 00:00:30", 2),
	    "2024-01-01 00:01:00 | 2024-01-01 00:02:00");
	/* A time that matches exactly is not "after" itself. */
	assert_string_equal(chain("0 0 * * *", "2024-01-01 00:00:00", 1), "2024-01-02 00:00:00");
	struct cron_expr e = parse_ok("* * * * *");
	assert_int_equal(e.seconds, 1);
	assert_int_equal(e.minutes, (UINT64_C(1) << 60) - 1);
	assert_int_equal(e.hours, (1u << 24) - 1);
	assert_int_equal(e.days_of_month, 0xfffffffeu);
	assert_int_equal(e.months, 0x1ffe);
	assert_int_equal(e.days_of_week, 0x7f);
	assert_int_equal(e.flags, CRON_DOM_ANY | CRON_DOW_ANY);
}

static void
test_numbers(void **state)
{
	assert_string_equal(chain("5 4 * * *", "2024-01-01 00:00:00", 2),
	    "2024-01-01 04:05:00 | 2024-01-02 04:05:00");
	assert_string_equal(chain("0 0 15 6 *", "2024-01-01 00:00:00", 2),
	    "2024-06-15 00:00:00 | 2025-06-15 00:00:00");
	/* Leading zeros are plain numbers. */
	assert_same_expr("05 04 * * *", "5 4 * * *");
}

static void
test_lists(void **state)
{
	assert_string_equal(chain("0,30 * * * *", "2024-01-01 00:10:00", 3),
	    "2024-01-01 00:30:00 | 2024-01-01 01:00:00 | 2024-01-01 01:30:00");
	assert_string_equal(chain("15,45 8,20 * * *", "2024-01-01 09:00:00", 3),
	    "2024-01-01 20:15:00 | 2024-01-01 20:45:00 | 2024-01-02 08:15:00");
	/* Items of different kinds mix. */
	struct cron_expr e = parse_ok("1,10-12,*/30 * * * *");
	assert_int_equal(e.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 1) |
	    (UINT64_C(7) << 10) | (UINT64_C(1) << 30));
}

static void
test_ranges(void **state)
{
	assert_string_equal(chain("0 9-11 * * *", "2024-01-01 12:00:00", 4),
	    "2024-01-02 09:00:00 | 2024-01-02 10:00:00 | 2024-01-02 11:00:00 | "
	    "2024-01-03 09:00:00");
	/* A one-value range. */
	assert_same_expr("7-7 * * * *", "7 * * * *");
}

static void
test_steps(void **state)
{
	assert_string_equal(chain("*/15 * * * *", "2024-01-01 00:00:00", 4),
	    "2024-01-01 00:15:00 | 2024-01-01 00:30:00 | 2024-01-01 00:45:00 | "
	    "2024-01-01 01:00:00");
	assert_string_equal(chain("10-30/10 * * * *", "2024-01-01 00:00:00", 4),
	    "2024-01-01 00:10:00 | 2024-01-01 00:20:00 | 2024-01-01 00:30:00 | "
	    "2024-01-01 01:10:00");
	/* "a/n" runs from a to the field's maximum. */
	assert_string_equal(chain("5/20 * * * *", "2024-01-01 00:00:00", 4),
	    "2024-01-01 00:05:00 | 2024-01-01 00:25:00 | 2024-01-01 00:45:00 | "
	    "2024-01-01 01:05:00");
	assert_string_equal(chain("0 */6 * * *", "2024-01-01 00:00:00", 4),
	    "2024-01-01 06:00:00 | 2024-01-01 12:00:00 | 2024-01-01 18:00:00 | "
	    "2024-01-02 00:00:00");
	/* Day-of-month starts at 1: 1, 11, 21, 31. */
	assert_string_equal(chain("0 0 */10 * *", "2024-01-01 00:00:00", 4),
	    "2024-01-11 00:00:00 | 2024-01-21 00:00:00 | 2024-01-31 00:00:00 | "
	    "2024-02-01 00:00:00");
	assert_string_equal(chain("0 0 1 */3 *", "2024-01-01 00:00:00", 4),
	    "2024-04-01 00:00:00 | 2024-07-01 00:00:00 | 2024-10-01 00:00:00 | "
	    "2025-01-01 00:00:00");
	/* The largest step keeps only the first value. */
	assert_same_expr("*/60 * * * *", "0 * * * *");
	assert_same_expr("*/1 * * * *", "* * * * *");
}

static void
test_month_names(void **state)
{
	assert_same_expr("0 0 1 JAN,jul *", "0 0 1 1,7 *");
	assert_same_expr("0 0 1 mar-May *", "0 0 1 3-5 *");
	assert_same_expr("0 0 1 Jun-DEC/3 *", "0 0 1 6,9,12 *");
	assert_same_expr("0 0 1 feb-4 *", "0 0 1 2-4 *");
	assert_same_expr("0 0 1 jan,FEB,Mar,apr,MAY,jun,jul,aug,sep,oct,nov,dec *",
	    "0 0 1 * *");
	assert_string_equal(chain("0 0 1 JAN,jul *", "2024-02-01 00:00:00", 2),
	    "2024-07-01 00:00:00 | 2025-01-01 00:00:00");
}

static void
test_day_names(void **state)
{
	/* 2024-01-01 was a Monday. */
	assert_string_equal(chain("0 0 * * MON-FRI", "2024-01-05 12:00:00", 2),
	    "2024-01-08 00:00:00 | 2024-01-09 00:00:00");
	assert_string_equal(chain("0 0 * * sun", "2024-01-01 00:00:00", 2),
	    "2024-01-07 00:00:00 | 2024-01-14 00:00:00");
	assert_same_expr("0 0 * * Sun,mon,TUE,wed,thu,fri,sat", "0 0 * * 0-6");
	/* 7 is Sunday too, in lists and ranges, and SUN closes a range as 7. */
	assert_same_expr("0 0 * * 7", "0 0 * * 0");
	assert_same_expr("0 0 * * 5-7", "0 0 * * 0,5,6");
	assert_same_expr("0 0 * * FRI-SUN", "0 0 * * 0,5,6");
	assert_same_expr("0 0 * * SUN-TUE", "0 0 * * 0,1,2");
	assert_same_expr("0 0 * * */2", "0 0 * * 0,2,4,6");
	assert_same_expr("0 0 * * 1/2", "0 0 * * 1,3,5");
	assert_same_expr("0 0 * * MON-FRI/2", "0 0 * * 1,3,5");
	struct cron_expr e = parse_ok("0 0 * * 7");
	assert_int_equal(e.days_of_week, 1);
	assert_string_equal(chain("0 0 * * 7", "2024-01-01 00:00:00", 1), "2024-01-07 00:00:00");
}

static void
test_question_mark(void **state)
{
	assert_same_expr("0 0 ? * MON", "0 0 * * MON");
	assert_same_expr("0 0 1 * ?", "0 0 1 * *");
	struct cron_expr e = parse_ok("0 0 ? * ?");
	assert_int_equal(e.flags, CRON_DOM_ANY | CRON_DOW_ANY);
}

static void
test_whitespace(void **state)
{
	assert_same_expr("  0\t\t12   * *\t*  ", "0 12 * * *");
	assert_same_expr("0 12 * * *\n", "0 12 * * *");
}

static void
test_macros(void **state)
{
	assert_same_expr("@yearly", "0 0 1 1 *");
	assert_same_expr("@annually", "0 0 1 1 *");
	assert_same_expr("@monthly", "0 0 1 * *");
	assert_same_expr("@weekly", "0 0 * * 0");
	assert_same_expr("@daily", "0 0 * * *");
	assert_same_expr("@midnight", "0 0 * * *");
	assert_same_expr("@hourly", "0 * * * *");
	assert_same_expr("  @DAILY\t", "0 0 * * *");
	assert_string_equal(chain("@weekly", "2024-01-01 00:00:00", 2),
	    "2024-01-07 00:00:00 | 2024-01-14 00:00:00");
	assert_string_equal(chain("@yearly", "2024-03-01 00:00:00", 1), "2025-01-01 00:00:00");
	assert_string_equal(chain("@hourly", "2024-12-31 23:00:00", 1), "2025-01-01 00:00:00");
}

/* ---- seconds ----------------------------------------------------------- */

static void
test_six_fields(void **state)
{
	assert_string_equal(chain("*/2 * * * * *", "2024-01-01 00:00:00", 3),
	    "2024-01-01 00:00:02 | 2024-01-01 00:00:04 | 2024-01-01 00:00:06");
	assert_string_equal(chain("*/2 * * * * *", "2024-01-01 00:00:01", 1), "2024-01-01 00:00:02");
	assert_string_equal(chain("*/20 * * * * *", "2024-12-31 23:59:41", 2),
	    "2025-01-01 00:00:00 | 2025-01-01 00:00:20");
	assert_string_equal(chain("30 * * * * *", "2024-01-01 00:00:30", 1), "2024-01-01 00:01:30");
	assert_string_equal(chain("15-17 0 12 * * *", "2024-01-01 00:00:00", 4),
	    "2024-01-01 12:00:15 | 2024-01-01 12:00:16 | 2024-01-01 12:00:17 | "
	    "2024-01-02 12:00:15");
	/* Five fields mean second 0. */
	assert_same_expr("* * * * *", "0 * * * * *");
}

/* ---- days -------------------------------------------------------------- */

static void
test_dom_dow_or(void **state)
{
	/* Both restricted: the 1st OR any Monday (2024-02-01 is a Thursday). */
	assert_string_equal(chain("0 0 1 * MON", "2024-01-02 00:00:00", 6),
	    "2024-01-08 00:00:00 | 2024-01-15 00:00:00 | 2024-01-22 00:00:00 | "
	    "2024-01-29 00:00:00 | 2024-02-01 00:00:00 | 2024-02-05 00:00:00");
	/* Only one restricted: that one alone decides. */
	assert_string_equal(chain("0 0 1 * *", "2024-01-02 00:00:00", 1), "2024-02-01 00:00:00");
	assert_string_equal(chain("0 0 * * MON", "2024-01-30 00:00:00", 1), "2024-02-05 00:00:00");
	assert_string_equal(chain("0 0 ? * MON", "2024-01-30 00:00:00", 1), "2024-02-05 00:00:00");
	/* A step is a restriction even when it starts with `*`. */
	assert_string_equal(chain("0 0 */15 * SAT", "2024-01-01 00:00:00", 3),
	    "2024-01-06 00:00:00 | 2024-01-13 00:00:00 | 2024-01-16 00:00:00");
	/* Every day restricted explicitly still ORs: every day matches. */
	assert_string_equal(chain("0 0 1-31 * MON", "2024-01-02 00:00:00", 1),
	    "2024-01-03 00:00:00");
	/* The OR also rescues an impossible date: Feb 30 or a Monday in Feb. */
	assert_string_equal(chain("0 0 30 2 MON", "2024-01-01 00:00:00", 1), "2024-02-05 00:00:00");
}

static void
test_leap_years(void **state)
{
	assert_string_equal(chain("0 0 29 2 *", "2023-03-01 00:00:00", 2),
	    "2024-02-29 00:00:00 | 2028-02-29 00:00:00");
	/* 2100 is not a leap year: eight years from 2096 to 2104. */
	assert_string_equal(chain("0 0 29 2 *", "2096-03-01 00:00:00", 1), "2104-02-29 00:00:00");
	/* 2000 is. */
	assert_string_equal(chain("0 0 29 2 *", "1997-01-01 00:00:00", 1), "2000-02-29 00:00:00");
}

static void
test_never(void **state)
{
	assert_string_equal(chain("0 0 30 2 *", "2024-01-01 00:00:00", 1), "ENOENT");
	assert_string_equal(chain("0 0 31 4,6,9,11 *", "2024-01-01 00:00:00", 1), "ENOENT");
	assert_string_equal(chain("* * 31 2 *", "2024-01-01 00:00:00", 1), "ENOENT");
	/* An empty set in any field (not producible by cron_parse) terminates too. */
	struct cron_expr e = parse_ok("* * * * * *");
	time_t next;
	e.minutes = 0;
	assert_int_equal(cron_next(&e, at("2024-01-01 00:00:00"), &next), -ENOENT);
	e = parse_ok("* * * * * *");
	e.seconds = 0;
	assert_int_equal(cron_next(&e, at("2024-01-01 00:00:00"), &next), -ENOENT);
	e = parse_ok("* * * * * *");
	e.months = 0;
	assert_int_equal(cron_next(&e, at("2024-01-01 00:00:00"), &next), -ENOENT);
}

static void
test_month_and_year_boundaries(void **state)
{
	assert_string_equal(chain("0 0 1 1 *", "2024-12-31 23:59:59", 1), "2025-01-01 00:00:00");
	assert_string_equal(chain("* * * * *", "2024-12-31 23:59:30", 1), "2025-01-01 00:00:00");
	assert_string_equal(chain("59 23 31 12 *", "2024-12-31 23:59:00", 1),
	    "2025-12-31 23:59:00");
	assert_string_equal(chain("0 12 * * *", "2024-01-31 13:00:00", 1), "2024-02-01 12:00:00");
	/* The 31st skips the months without one. */
	assert_string_equal(chain("0 0 31 * *", "2024-01-31 00:00:00", 3),
	    "2024-03-31 00:00:00 | 2024-05-31 00:00:00 | 2024-07-31 00:00:00");
	assert_string_equal(chain("0 0 30 * *", "2023-01-30 00:00:00", 1), "2023-03-30 00:00:00");
	/* Last day of February, leap and not. */
	assert_string_equal(chain("0 0 28,29 2 *", "2023-02-28 00:00:00", 3),
	    "2024-02-28 00:00:00 | 2024-02-29 00:00:00 | 2025-02-28 00:00:00");
}

static void
test_out_of_range_time(void **state)
{
	struct cron_expr e = parse_ok("* * * * *");
	time_t next;
	/* Year 10000 is past what cron_next() accepts. */
	assert_int_equal(cron_next(&e, at("9999-12-31 23:59:59") + 1, &next), -ERANGE);
	/* Eight years before the end still works. */
	assert_int_equal(cron_next(&e, at("9999-12-31 23:58:00"), &next), 0);
	assert_int_equal(next, at("9999-12-31 23:59:00"));
}

/* ---- errors ------------------------------------------------------------ */

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
		{"61 * * * *", "cron \"61 * * * *\": minute field: 61 is out of range 0-59"},
		{"* * *", "cron \"* * *\": expected 5 or 6 fields, got 3"},
		{"* * * * * * *", "cron \"* * * * * * *\": expected 5 or 6 fields, got 7"},
		{"", "cron \"\": expected 5 or 6 fields, got 0"},
		{" \t ", "cron \" \\t \": expected 5 or 6 fields, got 0"},
		{"0", "cron \"0\": expected 5 or 6 fields, got 1"},
		{"60 * * * * *", "cron \"60 * * * * *\": second field: 60 is out of range 0-59"},
		{"* 24 * * *", "cron \"* 24 * * *\": hour field: 24 is out of range 0-23"},
		{"* * 0 * *", "cron \"* * 0 * *\": day-of-month field: 0 is out of range 1-31"},
		{"* * 32 * *", "cron \"* * 32 * *\": day-of-month field: 32 is out of range 1-31"},
		{"* * * 0 *", "cron \"* * * 0 *\": month field: 0 is out of range 1-12"},
		{"* * * 13 *", "cron \"* * * 13 *\": month field: 13 is out of range 1-12"},
		{"* * * * 8", "cron \"* * * * 8\": day-of-week field: 8 is out of range 0-7"},
		{"1-99 * * * *", "cron \"1-99 * * * *\": minute field: 99 is out of range 0-59"},
		{"99999999999999999999 * * * *",
		    "cron \"99999999999999999999 * * * *\": minute field: 999999999999... is out "
		    "of range 0-59"},
		{"*/0 * * * *", "cron \"*/0 * * * *\": minute field: step 0 is out of range 1-60"},
		{"*/61 * * * * *",
		    "cron \"*/61 * * * * *\": second field: step 61 is out of range 1-60"},
		{"0 */25 * * *", "cron \"0 */25 * * *\": hour field: step 25 is out of range 1-24"},
		{"0 0 * * 1-5/0",
		    "cron \"0 0 * * 1-5/0\": day-of-week field: step 0 is out of range 1-7"},
		{"*/ * * * *", "cron \"*/ * * * *\": minute field: a step is missing after \"/\""},
		{"5/x * * * *", "cron \"5/x * * * *\": minute field: a step is missing after \"/\""},
		{"5-1 * * * *", "cron \"5-1 * * * *\": minute field: range 5-1 is reversed"},
		{"0000000000000005-1 * * * *",
		    "cron \"0000000000000005-1 * * * *\": minute field: range 000000000000... is "
		    "reversed"},
		{"0 0 * * SAT-MON",
		    "cron \"0 0 * * SAT-MON\": day-of-week field: range SAT-MON is reversed"},
		{"0 0 1 DEC-JAN *", "cron \"0 0 1 DEC-JAN *\": month field: range DEC-JAN is reversed"},
		{"1,,2 * * * *", "cron \"1,,2 * * * *\": minute field: empty list item"},
		{"1, * * * *", "cron \"1, * * * *\": minute field: empty list item"},
		{"0 ,1 * * *", "cron \"0 ,1 * * *\": hour field: empty list item"},
		{"5x * * * *", "cron \"5x * * * *\": minute field: unexpected \"x\" in \"5x\""},
		{"1-2-3 * * * *", "cron \"1-2-3 * * * *\": minute field: unexpected \"-3\" in \"1-2-3\""},
		{"*-5 * * * *", "cron \"*-5 * * * *\": minute field: unexpected \"-5\" in \"*-5\""},
		{"*/5/2 * * * *",
		    "cron \"*/5/2 * * * *\": minute field: unexpected \"/2\" in \"*/5/2\""},
		{"- * * * *", "cron \"- * * * *\": minute field: unexpected \"-\" where a value should be"},
		{"1- * * * *", "cron \"1- * * * *\": minute field: a value is missing"},
		{"abc * * * *", "cron \"abc * * * *\": minute field: \"abc\" is not a number"},
		{"0 0 L * *", "cron \"0 0 L * *\": day-of-month field: \"L\" is not a number"},
		{"0 0 * * 5#3", "cron \"0 0 * * 5#3\": day-of-week field: unexpected \"#3\" in \"5#3\""},
		{"* * * FOO *", "cron \"* * * FOO *\": month field: unknown name \"FOO\" (expected JAN-DEC)"},
		{"* * * MON *", "cron \"* * * MON *\": month field: unknown name \"MON\" (expected JAN-DEC)"},
		{"* * * JANUARY *",
		    "cron \"* * * JANUARY *\": month field: unknown name \"JANUARY\" (expected JAN-DEC)"},
		{"* * * * JAN",
		    "cron \"* * * * JAN\": day-of-week field: unknown name \"JAN\" (expected SUN-SAT)"},
		{"? * * * *",
		    "cron \"? * * * *\": minute field: \"?\" is only allowed in the day-of-month and "
		    "day-of-week fields"},
		{"* * * ? *",
		    "cron \"* * * ? *\": month field: \"?\" is only allowed in the day-of-month and "
		    "day-of-week fields"},
		{"@reboot",
		    "cron \"@reboot\": unknown macro \"@reboot\" (expected @yearly, @annually, "
		    "@monthly, @weekly, @daily, @midnight or @hourly)"},
		{"@daily 5",
		    "cron \"@daily 5\": unknown macro \"@daily 5\" (expected @yearly, @annually, "
		    "@monthly, @weekly, @daily, @midnight or @hourly)"},
		/* User text is quoted so the message stays one readable line. */
		{"1\"2 * * * *", "cron \"1\\\"2 * * * *\": minute field: unexpected \"\\\"2\" in \"1\\\"2\""},
		{"\x01 * * * *", "cron \"\\x01 * * * *\": minute field: unexpected \"\\x01\" where a value "
		    "should be"},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct cron_expr e, untouched;
		char *err = NULL;
		memset(&e, 0xa5, sizeof(e));
		untouched = e;
		int rc = cron_parse(cases[i].text, &e, &err);
		if (rc != -EINVAL)
			fail_msg("\"%s\" should be rejected, got %d", cases[i].text, rc);
		assert_non_null(err);
		if (strcmp(err, cases[i].message) != 0)
			fail_msg("\"%s\":\n  got  %s\n  want %s", cases[i].text, err, cases[i].message);
		assert_null(strchr(err, '\n'));
		assert_memory_equal(&e, &untouched, sizeof(e));
		free(err);
		/* The message is optional. */
		assert_int_equal(cron_parse(cases[i].text, &e, NULL), -EINVAL);
	}
}

static void
test_error_quotes_long_text(void **state)
{
	char text[300];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	char *err = NULL;
	struct cron_expr e;
	assert_int_equal(cron_parse(text, &e, &err), -EINVAL);
	assert_non_null(err);
	assert_non_null(strstr(err, "...\": expected 5 or 6 fields, got 1"));
	assert_true(strlen(err) < 200);
	free(err);
}

/* ---- DST --------------------------------------------------------------- */

/* America/New_York: 2024-03-10 02:00 EST jumps to 03:00 EDT (07:00 UTC);
 * 2024-11-03 02:00 EDT falls back to 01:00 EST (06:00 UTC). */
static void
test_dst_spring_forward(void **state)
{
	use_tz("America/New_York");
	/* 02:30 does not exist that night: it fires at the jump, 03:00 EDT. */
	assert_string_equal(chain("30 2 * * *", "2024-03-10 05:00:00", 2),
	    "2024-03-10 07:00:00 | 2024-03-11 06:30:00");
	/* Frequent jobs go on right after the jump. */
	assert_string_equal(chain("*/5 * * * *", "2024-03-10 06:50:00", 3),
	    "2024-03-10 06:55:00 | 2024-03-10 07:00:00 | 2024-03-10 07:05:00");
	/* Every answer is later than the last and comes quickly, across the jump. */
	struct cron_expr e = parse_ok("*/7 * * * * *");
	time_t t = at("2024-03-10 06:00:00");
	for (int i = 0; i < 2000; i++) {
		time_t next;
		assert_int_equal(cron_next(&e, t, &next), 0);
		assert_true(next > t);
		assert_true(next - t <= 7);
		t = next;
	}
	use_tz("UTC");
}

static void
test_dst_fall_back(void **state)
{
	use_tz("America/New_York");
	/* 01:30 happens twice; it fires at the first one only. */
	assert_string_equal(chain("30 1 * * *", "2024-11-03 04:00:00", 2),
	    "2024-11-03 05:30:00 | 2024-11-04 06:30:00");
	/* Fixed times after the repeated hour are where the wall clock says. */
	assert_string_equal(chain("0 3 * * *", "2024-11-03 04:00:00", 1), "2024-11-03 08:00:00");
	/* Starting inside the repeated hour keeps to the real clock from there. */
	assert_string_equal(chain("*/30 * * * *", "2024-11-03 06:10:00", 2),
	    "2024-11-03 06:30:00 | 2024-11-03 07:00:00");
	struct cron_expr e = parse_ok("* * * * * *");
	time_t t = at("2024-11-03 04:00:00");
	for (int i = 0; i < 20000; i++) {
		time_t next;
		assert_int_equal(cron_next(&e, t, &next), 0);
		assert_true(next > t);
		t = next;
	}
	use_tz("UTC");
}

/* Pacific/Apia skipped 2011-12-30 entirely: 23:59:59 on the 29th (-10:00)
 * was followed by 00:00 on the 31st (+14:00), at 2011-12-30 10:00 UTC. */
static void
test_skipped_day(void **state)
{
	use_tz("Pacific/Apia");
	assert_string_equal(chain("0 12 * * *", "2011-12-29 22:00:00", 2),
	    "2011-12-30 10:00:00 | 2011-12-30 22:00:00");
	assert_string_equal(chain("0 0 30 12 *", "2011-12-01 00:00:00", 2),
	    "2011-12-30 10:00:00 | 2012-12-29 10:00:00");
	use_tz("UTC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_star_and_strictly_after, setup_utc),
		cmocka_unit_test_setup(test_numbers, setup_utc),
		cmocka_unit_test_setup(test_lists, setup_utc),
		cmocka_unit_test_setup(test_ranges, setup_utc),
		cmocka_unit_test_setup(test_steps, setup_utc),
		cmocka_unit_test_setup(test_month_names, setup_utc),
		cmocka_unit_test_setup(test_day_names, setup_utc),
		cmocka_unit_test_setup(test_question_mark, setup_utc),
		cmocka_unit_test_setup(test_whitespace, setup_utc),
		cmocka_unit_test_setup(test_macros, setup_utc),
		cmocka_unit_test_setup(test_six_fields, setup_utc),
		cmocka_unit_test_setup(test_dom_dow_or, setup_utc),
		cmocka_unit_test_setup(test_leap_years, setup_utc),
		cmocka_unit_test_setup(test_never, setup_utc),
		cmocka_unit_test_setup(test_month_and_year_boundaries, setup_utc),
		cmocka_unit_test_setup(test_out_of_range_time, setup_utc),
		cmocka_unit_test_setup(test_errors, setup_utc),
		cmocka_unit_test_setup(test_error_quotes_long_text, setup_utc),
		cmocka_unit_test_setup(test_dst_spring_forward, setup_utc),
		cmocka_unit_test_setup(test_dst_fall_back, setup_utc),
		cmocka_unit_test_setup(test_skipped_day, setup_utc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
