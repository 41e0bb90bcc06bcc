/*
 * fuzz_cron.c — libFuzzer target for cron expressions.
 *
 * Input: byte 0 picks a time zone, bytes 1-8 the `after` time, the rest is
 * the expression (up to its first NUL). A rejected expression must come with
 * a one-line message. An accepted one must give a next time later than
 * `after` that reads, in the local zone, as a match — or is the instant of a
 * DST jump (a skipped wall-clock match fires there). In UTC the answer must
 * also be the first match: every second before it is checked when it is
 * near, and -ENOENT is only allowed for day-of-month/month pairs that never
 * exist. Run with -timeout=1 so a slow cron_next() counts as a failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {
	"UTC",
	"America/New_York",
	"Europe/London",
	"Europe/Dublin",		/* negative DST in winter */
	"Australia/Lord_Howe",		/* 30-minute DST */
	"Pacific/Chatham",		/* +12:45 / +13:45 */
	"Pacific/Apia",			/* skipped 2011-12-30 entirely */
	"America/Havana",		/* DST at midnight */
	"America/Sao_Paulo",		/* DST used to start at midnight */
	"Africa/Casablanca",		/* two jumps a few weeks apart */
	"Asia/Kathmandu",		/* +05:45, no DST */
};

/* Check sizes of the spans cron_next() may answer across. */
#define NEAR_SECONDS 4000
#define MAX_SPAN_SECONDS ((int64_t)(8 * 366 + 2) * 86400)

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
has(uint64_t set, int bit)
{
	return (int)((set >> bit) & 1);
}

/* An independent reading of the matching rules, on a broken-down time. */
static int
matches(const struct cron_expr *e, const struct tm *tm)
{
	if (!has(e->seconds, tm->tm_sec) || !has(e->minutes, tm->tm_min) ||
	    !has(e->hours, tm->tm_hour) || !has(e->months, tm->tm_mon + 1))
		return 0;
	int dom = has(e->days_of_month, tm->tm_mday);
	int dow = has(e->days_of_week, tm->tm_wday);
	if ((e->flags & CRON_DOM_ANY) && (e->flags & CRON_DOW_ANY))
		return 1;
	if (e->flags & CRON_DOM_ANY)
		return dow;
	if (e->flags & CRON_DOW_ANY)
		return dom;
	return dom || dow;
}

static int
is_jump(time_t t)
{
	struct tm before, now;
	time_t prev = t - 1;
	check(localtime_r(&prev, &before) != NULL);
	check(localtime_r(&t, &now) != NULL);
	return before.tm_gmtoff != now.tm_gmtoff;
}

/* Whether some month of e has some day of e (Feb 29 counts). */
static int
some_date_exists(const struct cron_expr *e)
{
	static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	for (int month = 1; month <= 12; month++)
		for (int day = 1; day <= longest[month]; day++)
			if (has(e->months, month) && has(e->days_of_month, day))
				return 1;
	return 0;
}

static void
use_zone(size_t index)
{
	static size_t current = (size_t)-1;
	if (index == current)
		return;
	setenv("TZ", zones[index], 1);
	tzset();
	current = index;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;

	size_t zone = data[0] % (sizeof(zones) / sizeof(zones[0]));
	uint64_t raw = 0;
	for (int i = 0; i < 8; i++)
		raw = raw << 8 | data[1 + i];
	/* Mostly 1900-2300; with the top bit of byte 0, any 64-bit value. */
	int64_t after_value = (data[0] & 0x80) ? (int64_t)raw :
	    (int64_t)(raw % (UINT64_C(400) * 366 * 86400)) - INT64_C(70) * 366 * 86400;
	time_t after = (time_t)after_value;

	char *text = malloc(size - 9 + 1);
	check(text != NULL);
	memcpy(text, data + 9, size - 9);
	text[size - 9] = '\0';

	use_zone(zone);

	struct cron_expr e;
	char *err = NULL;
	int rc = cron_parse(text, &e, &err);
	if (rc != 0) {
		check(rc == -EINVAL);
		check(err != NULL);
		check(strncmp(err, "cron \"", 6) == 0);
		check(strchr(err, '\n') == NULL);
		free(err);
		free(text);
		return 0;
	}
	check(err == NULL);
	check(e.seconds != 0 && e.minutes != 0 && e.hours != 0 && e.days_of_month != 0 &&
	    e.months != 0 && e.days_of_week != 0);

	time_t next = 0;
	rc = cron_next(&e, after, &next);
	check(rc == 0 || rc == -ENOENT || rc == -ERANGE);
	if (rc == -ERANGE) {
		struct tm tm;
		check(localtime_r(&after, &tm) == NULL || tm.tm_year < 1 - 1900 ||
		    tm.tm_year > 9999 - 1900);
	} else if (rc == -ENOENT) {
		if (zone == 0) {
			/* Weekdays always come round; only impossible dates fail. */
			check((e.flags & CRON_DOW_ANY) && !(e.flags & CRON_DOM_ANY));
			check(!some_date_exists(&e));
		}
	} else {
		struct tm tm;
		check(next > after);
		check((int64_t)next - (int64_t)after <= MAX_SPAN_SECONDS);
		check(localtime_r(&next, &tm) != NULL);
		check(matches(&e, &tm) || (zone != 0 && is_jump(next)));
		if (zone == 0 && next - after <= NEAR_SECONDS) {
			for (time_t t = after + 1; t < next; t++) {
				check(gmtime_r(&t, &tm) != NULL);
				check(!matches(&e, &tm));
			}
		}
	}
	free(text);
	return 0;
}
