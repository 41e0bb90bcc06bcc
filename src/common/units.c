/*
 * units.c — durations, sizes and integers as users write them.
 */
#include "common/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/util.h"

/* Split "  12.5 ms " into a number and a unit word; 0 or -EINVAL. */
static int
split_number(const char *s, double *num, bool *had_dot, char *unit, size_t unit_len)
{
	while (isspace((unsigned char)*s))
		s++;
	const char *start = s;
	if (*s == '+')
		s++;
	size_t digits = 0;
	*had_dot = false;
	while (isdigit((unsigned char)*s) || (*s == '.' && !*had_dot)) {
		if (*s == '.')
			*had_dot = true;
		else
			digits++;
		s++;
	}
	if (digits == 0)
		return -EINVAL;
	char numbuf[64];
	size_t nlen = (size_t)(s - start);
	if (nlen >= sizeof(numbuf))
		return -ERANGE;
	memcpy(numbuf, start, nlen);
	numbuf[nlen] = '\0';
	*num = strtod(numbuf, NULL);
	while (isspace((unsigned char)*s))
		s++;
	size_t ulen = 0;
	while (isalpha((unsigned char)*s)) {
		if (ulen + 1 >= unit_len)
			return -EINVAL;
		unit[ulen++] = *s++;
	}
	unit[ulen] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	return *s == '\0' ? 0 : -EINVAL;
}

int
units_parse_duration(const char *s, int64_t default_unit_ms, int64_t *out_ms)
{
	double num;
	bool dot;
	char unit[8];
	int rc = split_number(s, &num, &dot, unit, sizeof(unit));
	if (rc < 0)
		return rc;
	double mult;
	if (unit[0] == '\0')
		mult = (double)default_unit_ms;
	else if (strcasecmp(unit, "ms") == 0)
		mult = 1;
	else if (strcasecmp(unit, "s") == 0 || strcasecmp(unit, "sec") == 0)
		mult = 1000;
	else if (strcasecmp(unit, "m") == 0 || strcasecmp(unit, "min") == 0)
		mult = 60000;
	else if (strcasecmp(unit, "h") == 0)
		mult = 3600000;
	else if (strcasecmp(unit, "d") == 0)
		mult = 86400000;
	else
		return -EINVAL;
	double v = num * mult;
	if (v > 9.0e15)
		return -ERANGE;
	*out_ms = (int64_t)llround(v);
	return 0;
}

int
units_parse_size(const char *s, int64_t *out_bytes)
{
	double num;
	bool dot;
	char unit[8];
	int rc = split_number(s, &num, &dot, unit, sizeof(unit));
	if (rc < 0)
		return rc;
	double mult = 1;
	size_t ulen = strlen(unit);
	if (ulen > 0) {
		/* Accept K, KB, KiB (any case). */
		if (ulen == 3 && tolower((unsigned char)unit[1]) == 'i' &&
		    tolower((unsigned char)unit[2]) == 'b')
			ulen = 1;
		else if (ulen == 2 && tolower((unsigned char)unit[1]) == 'b')
			ulen = 1;
		else if (ulen == 1 && tolower((unsigned char)unit[0]) == 'b')
			ulen = 0, unit[0] = '\0';
		if (ulen > 1)
			return -EINVAL;
		switch (ulen ? tolower((unsigned char)unit[0]) : 0) {
		case 0: mult = 1; break;
		case 'k': mult = 1024.0; break;
		case 'm': mult = 1024.0 * 1024; break;
		case 'g': mult = 1024.0 * 1024 * 1024; break;
		case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
		default: return -EINVAL;
		}
	}
	double v = num * mult;
	if (v > 9.0e18)
		return -ERANGE;
	*out_bytes = (int64_t)llround(v);
	return 0;
}

int
units_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s)
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void
units_format_uptime(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else if (s < 86400 * 365)
		snprintf(buf, len, "%lldD", (long long)(s / 86400));
	else
		snprintf(buf, len, "%lldY", (long long)(s / (86400 * 365)));
}

void
units_format_bytes(int64_t bytes, char *buf, size_t len)
{
	const char *unit[] = {"b", "kb", "mb", "gb", "tb"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lldb", (long long)bytes);
	else
		snprintf(buf, len, "%.1f%s", v, unit[u]);
}

void
units_format_time(const char *fmt, int64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	/* Expand %L (milliseconds) and %:z ourselves; strftime does the rest.
	 * Every expansion is at most 8 bytes, so stop 8 short of the end. */
	char expanded[256];
	size_t o = 0;
	for (const char *p = fmt; *p && o + 8 < sizeof(expanded); p++) {
		if (p[0] == '%' && p[1] == 'L') {
			o += (size_t)snprintf(expanded + o, sizeof(expanded) - o, "%03d",
			    (int)(wall_ms % 1000));
			p++;
		} else if (p[0] == '%' && p[1] == ':' && p[2] == 'z') {
			long off = tm.tm_gmtoff / 60;
			o += (size_t)snprintf(expanded + o, sizeof(expanded) - o, "%c%02ld:%02ld",
			    off < 0 ? '-' : '+', labs(off) / 60 % 100, labs(off) % 60);
			p += 2;
		} else if (p[0] == '%' && p[1] == '%') {
			expanded[o++] = *p++;
			expanded[o++] = *p;
		} else {
			expanded[o++] = *p;
		}
	}
	expanded[o] = '\0';
	/* The format is the user's log_date_format, by design. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(buf, len, expanded, &tm) == 0 && len > 0)
		buf[0] = '\0';
#pragma GCC diagnostic pop
}

char *
units_date_format(const char *fmt)
{
	if (strchr(fmt, '%'))
		return xstrdup(fmt);
	static const struct {
		const char *tok;
		const char *out;
	} toks[] = {
		{"YYYY", "%Y"}, {"YY", "%y"}, {"MMMM", "%B"}, {"MMM", "%b"}, {"MM", "%m"},
		{"M", "%-m"}, {"DD", "%d"}, {"D", "%-d"}, {"dddd", "%A"}, {"ddd", "%a"},
		{"HH", "%H"}, {"H", "%-H"}, {"hh", "%I"}, {"h", "%-I"}, {"mm", "%M"},
		{"m", "%-M"}, {"ss", "%S"}, {"s", "%-S"}, {"SSS", "%L"}, {"ZZ", "%z"},
		{"Z", "%:z"}, {"A", "%p"}, {"a", "%P"}, {"X", "%s"}, {"x", "%s%L"},
	};
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	for (const char *p = fmt; *p;) {
		if (*p == '[') {
			const char *end = strchr(p, ']');
			if (end) {
				sbuf_add(&b, p + 1, (size_t)(end - p - 1));
				p = end + 1;
				continue;
			}
		}
		bool matched = false;
		for (size_t i = 0; i < ARRAY_LEN(toks) && !matched; i++) {
			size_t n = strlen(toks[i].tok);
			if (strncmp(p, toks[i].tok, n) == 0) {
				sbuf_adds(&b, toks[i].out);
				p += n;
				matched = true;
			}
		}
		if (!matched)
			sbuf_addc(&b, *p++);
	}
	return sbuf_take(&b);
}
