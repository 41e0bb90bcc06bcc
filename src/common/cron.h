/*
 * cron.h — cron expressions for the `cron_restart` option, with the syntax
 * PM2 users write for croner:
 *
 *   [second] minute hour day-of-month month day-of-week
 *
 * Five fields (the second is then 0) or six (seconds first), or one of the
 * macros @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * Each field is a comma list of items; an item is `*`, a number, a name
 * (JAN-DEC in the month field, SUN-SAT in the day-of-week field, any case)
 * or a range `a-b`, optionally followed by a step: `*`/n, `a-b/n`, `a/n`
 * (from a up to the field's maximum). `?` means `*` in the two day fields.
 * Day-of-week takes 0-7, where both 0 and 7 are Sunday.
 *
 * Days follow Vixie cron (croner's legacy mode): when both day fields are
 * restricted, a day matches if EITHER matches; when one of them is `*` or
 * `?`, only the other one restricts.
 *
 * Times are matched against the local wall clock (the process's TZ).
 * Around DST changes:
 *   - a wall-clock time that does not exist (skipped by a spring-forward
 *     jump) fires once, at the instant of the jump;
 *   - a wall-clock time that happens twice (fall-back) fires once, at its
 *     first occurrence; the repeated hour is not replayed.
 *
 * Both functions are pure (no allocation except *err) and safe to fuzz.
 */
#ifndef CORRAL_CRON_H
#define CORRAL_CRON_H

#include <stdint.h>
#include <time.h>

enum cron_flags {
	CRON_DOM_ANY = 1 << 0,	/* day-of-month was written `*` or `?` */
	CRON_DOW_ANY = 1 << 1,	/* day-of-week was written `*` or `?` */
};

/* A parsed expression: bit n of a set is on when value n matches. Callers
 * may copy and compare it; fill it only through cron_parse(). */
struct cron_expr {
	uint64_t seconds;	/* 0-59 */
	uint64_t minutes;	/* 0-59 */
	uint32_t hours;		/* 0-23 */
	uint32_t days_of_month;	/* 1-31 (bit 0 unused) */
	uint16_t months;	/* 1-12 (bit 0 unused) */
	uint8_t days_of_week;	/* 0-6, Sunday is 0 (a written 7 lands on 0) */
	uint8_t flags;		/* enum cron_flags */
};

/*
 * Parse `text` into *out. Returns 0, or -EINVAL with *out untouched and, when
 * err is not NULL, *err set to one line the caller frees, naming the field
 * and the problem, e.g.
 *   cron "61 * * * *": minute field: 61 is out of range 0-59
 *   cron "* * *": expected 5 or 6 fields, got 3
 * On success *err is set to NULL.
 */
int cron_parse(const char *text, struct cron_expr *out, char **err);

/*
 * The first instant strictly after `after` (seconds since the epoch) that
 * matches `e` in the local time zone (see the DST rules above), in *next.
 * Returns 0; -ENOENT when nothing matches within the next 8 years (e.g.
 * "0 0 30 2 *"); -ERANGE when `after` is not in the years 1-9999 of the
 * local calendar. Always terminates quickly.
 */
int cron_next(const struct cron_expr *e, time_t after, time_t *next);

#endif
