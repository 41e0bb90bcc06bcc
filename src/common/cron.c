/*
 * cron.c — parsing cron expressions and finding their next firing time.
 *
 * cron_next() searches in wall-clock space first: calendar fields with no
 * time zone, where every day has 86400 seconds and every step moves strictly
 * forward, bounded 8 years ahead. Only a wall-clock match is mapped to an
 * instant, with localtime_r() and a bisection across a DST jump when the
 * wall-clock time does not exist. No loop depends on the time zone behaving.
 */
#include "common/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

/* How far cron_next() looks: 8 years, counted generously. */
#define SEARCH_DAYS (8 * 366)
/* Wall-clock matches that may fail to map to an instant (only in zones with
 * two transitions within two days) before cron_next() gives up. */
#define MAX_UNMAPPED 4096
/* Values are parsed with saturation here, far above any field's limit. */
#define NUMBER_CAP 1000000
/* Longest piece of user text quoted in an error message, in bytes. */
#define QUOTE_MAX_BYTES 64
/* Longest number or range shown unquoted in an error message, in bytes. */
#define WORD_MAX_BYTES 12

enum field_index {
	FIELD_SECOND,
	FIELD_MINUTE,
	FIELD_HOUR,
	FIELD_DOM,
	FIELD_MONTH,
	FIELD_DOW,
	FIELD_COUNT,
};

struct field_spec {
	const char *name;
	int min;			/* smallest value */
	int max;			/* largest value `*` and `a/n` reach */
	int limit;			/* largest value one may write (day-of-week: 7) */
	bool is_day;			/* `?` allowed */
	const char *const *names;	/* names of min, min+1, ...; NULL-terminated */
	const char *names_span;		/* "JAN-DEC", for messages */
};

static const char *const month_names[] = {
	"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	"JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL,
};

static const char *const weekday_names[] = {
	"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL,
};

static const struct field_spec field_specs[FIELD_COUNT] = {
	[FIELD_SECOND] = {"second", 0, 59, 59, false, NULL, NULL},
	[FIELD_MINUTE] = {"minute", 0, 59, 59, false, NULL, NULL},
	[FIELD_HOUR] = {"hour", 0, 23, 23, false, NULL, NULL},
	[FIELD_DOM] = {"day-of-month", 1, 31, 31, true, NULL, NULL},
	[FIELD_MONTH] = {"month", 1, 12, 12, false, month_names, "JAN-DEC"},
	[FIELD_DOW] = {"day-of-week", 0, 6, 7, true, weekday_names, "SUN-SAT"},
};

static const struct {
	const char *name;
	const char *expansion;
} macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* ---- parsing --------------------------------------------------------- */

/* Append s[0..len) to b in double quotes, escaping what would break a
 * one-line message and cutting it at QUOTE_MAX_BYTES. */
static void
add_quoted(struct sbuf *b, const char *s, size_t len)
{
	size_t shown = len > QUOTE_MAX_BYTES ? QUOTE_MAX_BYTES : len;

	sbuf_addc(b, '"');
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			sbuf_addc(b, '\\');
			sbuf_addc(b, (char)c);
		} else if (c == '\t') {
			sbuf_adds(b, "\\t");
		} else if (c < 0x20 || c >= 0x7f) {
			sbuf_addf(b, "\\x%02x", c);
		} else {
			sbuf_addc(b, (char)c);
		}
	}
	if (shown < len)
		sbuf_adds(b, "...");
	sbuf_addc(b, '"');
}

/* Append a run of letters, digits and dashes as written (it needs no
 * quoting), cut at WORD_MAX_BYTES. */
static void
add_word(struct sbuf *b, const char *word, size_t len)
{
	if (len > WORD_MAX_BYTES) {
		sbuf_add(b, word, WORD_MAX_BYTES);
		sbuf_adds(b, "...");
	} else {
		sbuf_add(b, word, len);
	}
}

/* Parse one value (a number or, where the field has them, a name) at *pp,
 * moving *pp past it. Range-checked against [min, limit]. *by_name tells
 * whether it was written as a name. 0, or -EINVAL with the problem in why. */
static int
parse_value(const struct field_spec *f, const char **pp, const char *end, int *value,
    bool *by_name, struct sbuf *why)
{
	const char *p = *pp;
	const char *start = p;

	*by_name = false;
	if (p < end && isdigit((unsigned char)*p)) {
		long v = 0;
		while (p < end && isdigit((unsigned char)*p)) {
			if (v < NUMBER_CAP)
				v = v * 10 + (*p - '0');
			p++;
		}
		if (v < f->min || v > f->limit) {
			add_word(why, start, (size_t)(p - start));
			sbuf_addf(why, " is out of range %d-%d", f->min, f->limit);
			return -EINVAL;
		}
		*value = (int)v;
		*pp = p;
		return 0;
	}
	if (p < end && isalpha((unsigned char)*p)) {
		while (p < end && isalpha((unsigned char)*p))
			p++;
		size_t len = (size_t)(p - start);
		if (f->names == NULL) {
			add_quoted(why, start, len);
			sbuf_adds(why, " is not a number");
			return -EINVAL;
		}
		for (int i = 0; f->names[i] != NULL; i++) {
			if (len == strlen(f->names[i]) && strncasecmp(start, f->names[i], len) == 0) {
				*value = f->min + i;
				*by_name = true;
				*pp = p;
				return 0;
			}
		}
		sbuf_adds(why, "unknown name ");
		add_quoted(why, start, len);
		sbuf_addf(why, " (expected %s)", f->names_span);
		return -EINVAL;
	}
	if (p == end) {
		sbuf_adds(why, "a value is missing");
		return -EINVAL;
	}
	sbuf_adds(why, "unexpected ");
	add_quoted(why, p, 1);
	sbuf_adds(why, " where a value should be");
	return -EINVAL;
}

/* Parse one list item [item, end) of field f into *bits. 0 or -EINVAL. */
static int
parse_item(const struct field_spec *f, const char *item, const char *end, uint64_t *bits,
    struct sbuf *why)
{
	const char *p = item;
	int lo, hi, step = 1;
	bool by_name;

	if (p == end) {
		sbuf_adds(why, "empty list item");
		return -EINVAL;
	}
	if (*p == '*' || *p == '?') {
		if (*p == '?' && !f->is_day) {
			sbuf_adds(why, "\"?\" is only allowed in the day-of-month and day-of-week fields");
			return -EINVAL;
		}
		lo = f->min;
		hi = f->max;
		p++;
	} else {
		const char *range = p;
		if (parse_value(f, &p, end, &lo, &by_name, why) < 0)
			return -EINVAL;
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if (parse_value(f, &p, end, &hi, &by_name, why) < 0)
				return -EINVAL;
			/* "FRI-SUN": a Sunday written by name closes a range as 7. */
			if (f->limit > f->max && by_name && hi == f->min && lo > f->min)
				hi = f->limit;
			if (lo > hi) {
				sbuf_adds(why, "range ");
				add_word(why, range, (size_t)(p - range));
				sbuf_adds(why, " is reversed");
				return -EINVAL;
			}
		} else if (p < end && *p == '/') {
			/* "a/n" runs from a to the field's maximum. */
			hi = lo > f->max ? lo : f->max;
		}
	}
	if (p < end && *p == '/') {
		const char *digits = ++p;
		long v = 0;
		while (p < end && isdigit((unsigned char)*p)) {
			if (v < NUMBER_CAP)
				v = v * 10 + (*p - '0');
			p++;
		}
		int span = f->max - f->min + 1;
		if (p == digits) {
			sbuf_adds(why, "a step is missing after \"/\"");
			return -EINVAL;
		}
		if (v < 1 || v > span) {
			sbuf_adds(why, "step ");
			add_word(why, digits, (size_t)(p - digits));
			sbuf_addf(why, " is out of range 1-%d", span);
			return -EINVAL;
		}
		step = (int)v;
	}
	if (p < end) {
		sbuf_adds(why, "unexpected ");
		add_quoted(why, p, (size_t)(end - p));
		sbuf_adds(why, " in ");
		add_quoted(why, item, (size_t)(end - item));
		return -EINVAL;
	}
	for (int v = lo; v <= hi; v += step)
		*bits |= UINT64_C(1) << (v > f->max ? f->min : v);
	return 0;
}

/* Parse the field text [start, end) (no blanks inside) into *bits; *any is
 * set when the whole field is `*` or `?`. 0 or -EINVAL. */
static int
parse_field(const struct field_spec *f, const char *start, const char *end, uint64_t *bits,
    bool *any, struct sbuf *why)
{
	const char *p = start;

	*bits = 0;
	*any = end - start == 1 && (*start == '*' || *start == '?');
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma != NULL ? comma : end;
		if (parse_item(f, p, item_end, bits, why) < 0)
			return -EINVAL;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/* Set *err (if err is not NULL) to the one-line message for a problem in
 * the user's `text`, in `field` (NULL when the problem is not in one). */
static void
set_error(char **err, const char *text, const char *field, const char *problem)
{
	if (err == NULL)
		return;
	struct sbuf msg = SBUF_INIT;
	sbuf_adds(&msg, "cron ");
	add_quoted(&msg, text, strlen(text));
	sbuf_adds(&msg, ": ");
	if (field != NULL)
		sbuf_addf(&msg, "%s field: ", field);
	sbuf_adds(&msg, problem);
	*err = sbuf_take(&msg);
}

/* Parse `body` (the user's text, or a macro's expansion) into *out; `text`
 * is what the user wrote, for messages. 0 or -EINVAL with *err set. */
static int
parse_fields(const char *text, const char *body, struct cron_expr *out, char **err)
{
	const char *starts[FIELD_COUNT], *ends[FIELD_COUNT];
	uint64_t sets[FIELD_COUNT];
	bool any[FIELD_COUNT];
	int count = 0;
	const char *p = body;
	const char *bad_field = NULL;
	struct sbuf why = SBUF_INIT;
	int rc = -EINVAL;

	for (;;) {
		while (*p != '\0' && isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (count < FIELD_COUNT) {
			starts[count] = start;
			ends[count] = p;
		}
		count++;
	}
	if (count != 5 && count != 6) {
		sbuf_addf(&why, "expected 5 or 6 fields, got %d", count);
		goto done;
	}

	int first = FIELD_COUNT - count;	/* five fields: no seconds */
	sets[FIELD_SECOND] = 1;
	any[FIELD_SECOND] = false;
	for (int i = 0; i < count; i++) {
		const struct field_spec *f = &field_specs[first + i];
		if (parse_field(f, starts[i], ends[i], &sets[first + i], &any[first + i], &why) < 0) {
			bad_field = f->name;
			goto done;
		}
	}

	struct cron_expr e;
	memset(&e, 0, sizeof(e));
	e.seconds = sets[FIELD_SECOND];
	e.minutes = sets[FIELD_MINUTE];
	e.hours = (uint32_t)sets[FIELD_HOUR];
	e.days_of_month = (uint32_t)sets[FIELD_DOM];
	e.months = (uint16_t)sets[FIELD_MONTH];
	e.days_of_week = (uint8_t)sets[FIELD_DOW];
	if (any[FIELD_DOM])
		e.flags |= CRON_DOM_ANY;
	if (any[FIELD_DOW])
		e.flags |= CRON_DOW_ANY;
	*out = e;
	rc = 0;

done:
	if (rc < 0)
		set_error(err, text, bad_field, why.s);
	sbuf_free(&why);
	return rc;
}

int
cron_parse(const char *text, struct cron_expr *out, char **err)
{
	if (err != NULL)
		*err = NULL;

	const char *start = text;
	while (isspace((unsigned char)*start))
		start++;
	if (*start != '@')
		return parse_fields(text, text, out, err);

	size_t len = strlen(start);
	while (len > 0 && isspace((unsigned char)start[len - 1]))
		len--;
	for (size_t i = 0; i < ARRAY_LEN(macros); i++) {
		if (len == strlen(macros[i].name) && strncasecmp(start, macros[i].name, len) == 0)
			return parse_fields(text, macros[i].expansion, out, err);
	}
	struct sbuf why = SBUF_INIT;
	sbuf_adds(&why, "unknown macro ");
	add_quoted(&why, start, len);
	sbuf_adds(&why, " (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight "
	    "or @hourly)");
	set_error(err, text, NULL, why.s);
	sbuf_free(&why);
	return -EINVAL;
}

/* ---- calendar arithmetic -------------------------------------------- */

/* A wall-clock time: calendar fields with no time zone attached. */
struct wall {
	int year;
	int month;	/* 1-12 */
	int day;	/* 1-31 */
	int hour;
	int minute;
	int second;
};

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
is_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to the given proleptic Gregorian date. Counting years
 * from March puts the leap day at the end of the year, so the day of the year
 * is a fixed function of the month: months from March run in a
 * 31,30,31,30,31 pattern worth 153 days per five. */
static int64_t
days_from_epoch(int64_t year, int month, int day)
{
	int64_t y = month <= 2 ? year - 1 : year;
	int months_since_march = month <= 2 ? month + 9 : month - 3;
	int64_t day_of_year = (153 * months_since_march + 2) / 5 + day - 1;
	int64_t days = 365 * y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400) +
	    day_of_year;
	return days - 719468;	/* 0000-03-01 to 1970-01-01 */
}

/* 0 is Sunday; 1970-01-01 was a Thursday. */
static int
weekday_of(int64_t days)
{
	int64_t w = (days + 4) % 7;
	return (int)(w < 0 ? w + 7 : w);
}

static int64_t
wall_seconds(const struct wall *w)
{
	return days_from_epoch(w->year, w->month, w->day) * 86400 + w->hour * 3600 +
	    w->minute * 60 + w->second;
}

/* The local wall clock at instant t, as seconds (calendar fields read as
 * if they were UTC). false when localtime_r() cannot represent t. */
static bool
local_wall(time_t t, int64_t *wall)
{
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL)
		return false;
	/* A leap second (TZ=right/...) reads as the second before it. */
	int sec = tm.tm_sec > 59 ? 59 : tm.tm_sec;
	*wall = days_from_epoch(tm.tm_year + INT64_C(1900), tm.tm_mon + 1, tm.tm_mday) * 86400 +
	    tm.tm_hour * 3600 + tm.tm_min * 60 + sec;
	return true;
}

static void
next_month(struct wall *w)
{
	w->day = 1;
	w->hour = w->minute = w->second = 0;
	if (++w->month > 12) {
		w->month = 1;
		w->year++;
	}
}

static void
next_day(struct wall *w)
{
	w->hour = w->minute = w->second = 0;
	if (++w->day > days_in_month(w->year, w->month))
		next_month(w);
}

static void
next_hour(struct wall *w)
{
	w->minute = w->second = 0;
	if (++w->hour > 23)
		next_day(w);
}

static void
next_minute(struct wall *w)
{
	w->second = 0;
	if (++w->minute > 59)
		next_hour(w);
}

static void
next_second(struct wall *w)
{
	if (++w->second > 59)
		next_minute(w);
}

/* The smallest member of `set` in [from, max] (max <= 62), in *found. */
static bool
next_member(uint64_t set, int from, int max, int *found)
{
	uint64_t window = set & (~UINT64_C(0) << from) & ((UINT64_C(2) << max) - 1);
	if (window == 0)
		return false;
	*found = __builtin_ctzll(window);
	return true;
}

static bool
day_matches(const struct cron_expr *e, const struct wall *w)
{
	bool dom = (e->days_of_month >> w->day) & 1;
	int weekday = weekday_of(days_from_epoch(w->year, w->month, w->day));
	bool dow = (e->days_of_week >> weekday) & 1;

	if (e->flags & CRON_DOM_ANY)
		return dow;
	if (e->flags & CRON_DOW_ANY)
		return dom;
	return dom || dow;
}

/* Move *w forward (it may already match) to the first wall-clock time that
 * matches e, or return -ENOENT once past day number last_day. Each pass of
 * the loop moves *w strictly forward, at worst a day at a time. */
static int
find_wall(const struct cron_expr *e, struct wall *w, int64_t last_day)
{
	int v;

	for (;;) {
		if (days_from_epoch(w->year, w->month, w->day) > last_day)
			return -ENOENT;
		if (!((e->months >> w->month) & 1)) {
			next_month(w);
			continue;
		}
		if (!day_matches(e, w)) {
			next_day(w);
			continue;
		}
		if (!next_member(e->hours, w->hour, 23, &v)) {
			next_day(w);
			continue;
		}
		if (v != w->hour) {
			w->hour = v;
			w->minute = w->second = 0;
		}
		if (!next_member(e->minutes, w->minute, 59, &v)) {
			next_hour(w);
			continue;
		}
		if (v != w->minute) {
			w->minute = v;
			w->second = 0;
		}
		if (!next_member(e->seconds, w->second, 59, &v)) {
			next_minute(w);
			continue;
		}
		w->second = v;
		return 0;
	}
}

/*
 * The earliest instant after `after` whose local wall clock reads `wall`,
 * or, when `wall` falls in a spring-forward gap, the instant of the jump.
 * -ENOENT when there is none (a repeated wall time already passed, or a
 * zone too odd to bisect), -ERANGE when localtime_r() fails.
 */
static int
wall_to_instant(int64_t wall, time_t after, time_t *out)
{
	/* UTC offsets stay within ±16 h, so any instant that reads `wall` lies
	 * within a day of `wall` taken as UTC; the offsets in force at the two
	 * ends of that window are the candidates. */
	time_t lo = (time_t)(wall - 86400);
	time_t hi = (time_t)(wall + 86400);
	int64_t wall_lo, wall_hi, w;
	bool found = false;
	time_t best = 0;

	if (!local_wall(lo, &wall_lo) || !local_wall(hi, &wall_hi))
		return -ERANGE;
	int64_t offsets[2] = {wall_lo - lo, wall_hi - hi};
	for (size_t i = 0; i < 2; i++) {
		time_t t = (time_t)(wall - offsets[i]);
		if (local_wall(t, &w) && w == wall && t > after && (!found || t < best)) {
			best = t;
			found = true;
		}
	}
	if (found) {
		*out = best;
		return 0;
	}
	if (offsets[0] == offsets[1])
		return -ENOENT;

	/* Bisect for the jump: `below` keeps the old offset, `above` does not. */
	time_t below = lo, above = hi;
	while (above - below > 1) {
		time_t mid = below + (above - below) / 2;
		if (!local_wall(mid, &w))
			return -ERANGE;
		if (w - mid == offsets[0])
			below = mid;
		else
			above = mid;
	}
	int64_t wall_below, wall_above;
	if (!local_wall(below, &wall_below) || !local_wall(above, &wall_above))
		return -ERANGE;
	if (wall_below < wall && wall < wall_above && above > after) {
		*out = above;
		return 0;
	}
	return -ENOENT;
}

int
cron_next(const struct cron_expr *e, time_t after, time_t *next)
{
	struct tm tm;

	if (localtime_r(&after, &tm) == NULL)
		return -ERANGE;
	if (tm.tm_year < 1 - 1900 || tm.tm_year > 9999 - 1900)
		return -ERANGE;

	struct wall w = {
		.year = tm.tm_year + 1900,
		.month = tm.tm_mon + 1,
		.day = tm.tm_mday,
		.hour = tm.tm_hour,
		.minute = tm.tm_min,
		.second = tm.tm_sec > 59 ? 59 : tm.tm_sec,
	};
	int64_t last_day = days_from_epoch(w.year, w.month, w.day) + SEARCH_DAYS;

	next_second(&w);
	for (int tries = 0; tries < MAX_UNMAPPED; tries++) {
		int rc = find_wall(e, &w, last_day);
		if (rc < 0)
			return rc;
		time_t t;
		rc = wall_to_instant(wall_seconds(&w), after, &t);
		if (rc == 0) {
			*next = t;
			return 0;
		}
		if (rc != -ENOENT)
			return rc;
		next_second(&w);
	}
	return -ENOENT;
}
