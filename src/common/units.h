/*
 * units.h — parsing and printing of the numbers users type: durations
 * ("500ms", "2s", "1m", "2h", "1d"; a bare number is milliseconds), sizes
 * ("300M", "1G", "512K", "1.5G"; a bare number is bytes; K/M/G are powers of
 * 1024 as in PM2, lower case and a trailing "B"/"iB" are accepted) and
 * plain integers; and the short forms tables and log lines print. All
 * parsers are pure and strict: trailing garbage, overflow and negative values
 * where none make sense are errors.
 */
#ifndef CORRAL_UNITS_H
#define CORRAL_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a duration; default_unit_ms multiplies a bare number (1 for ms,
 * 1000 for seconds). 0 or -EINVAL / -ERANGE. */
int units_parse_duration(const char *s, int64_t default_unit_ms, int64_t *out_ms);
/* Parse a size in bytes. 0 or -EINVAL / -ERANGE. */
int units_parse_size(const char *s, int64_t *out_bytes);
/* Parse a whole decimal integer within [min, max]. 0 or -EINVAL / -ERANGE. */
int units_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Human forms for tables: "12s", "5m", "3h", "2D"; "1.2mb", "340kb". */
void units_format_uptime(int64_t ms, char *buf, size_t len);
void units_format_bytes(int64_t bytes, char *buf, size_t len);

/* The wall-clock time wall_ms in local time, by a strftime format that may
 * also use %L (milliseconds) and %:z (+hh:mm); "" when it does not fit. */
void units_format_time(const char *fmt, int64_t wall_ms, char *buf, size_t len);
/* A date format as PM2 users write it (dayjs tokens "YYYY-MM-DD HH:mm:ss
 * Z", [literal]) or already strftime (any '%'), as the strftime-style
 * format units_format_time() takes. Caller frees. */
char *units_date_format(const char *fmt);
/* The timestamp of `log_type: json` lines and `corral logs --json`. */
#define UNITS_ISO_TIME "%Y-%m-%dT%H:%M:%S.%L%z"

#endif
