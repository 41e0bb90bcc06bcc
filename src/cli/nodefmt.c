/*
 * nodefmt.c — Node's util.inspect() layout for JSON values (nodefmt.h).
 *
 * Lengths are counted as JavaScript counts them, in UTF-16 units, since
 * the layout decisions compare them with the 80-column break length; only
 * the columns of grouped arrays are aligned by display width (a CJK
 * character takes two columns, a combining mark none), as Node does.
 */
#include "cli/nodefmt.h"

#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/util.h"

#define BREAK_LENGTH 80
#define COMPACT 3               /* levels that may share one line */
#define MAX_ARRAY_LENGTH 100
#define MAX_STRING_LENGTH 10000
#define MIN_LINE_WIDTH 16       /* shorter strings are never split */

struct nodefmt {
	int indent;             /* columns of indentation of the current entry */
	int current_depth;      /* depth of the innermost object entered last */
};

/* The formatted entries of one object or array. */
struct entries {
	char **v;
	size_t n, cap;
};

static void
entries_push(struct entries *e, char *s)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 8;
		e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n++] = s;
}

static void
entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

/* The code point at s (valid UTF-8, as jansson keeps it) and its length. */
static unsigned
code_point(const char *s, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;
	if (u[0] < 0x80) {
		*len = 1;
		return u[0];
	}
	if (u[0] < 0xe0) {
		*len = 2;
		return (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
	}
	if (u[0] < 0xf0) {
		*len = 3;
		return (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
	}
	*len = 4;
	return (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 | (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
}

/* Length in UTF-16 units (JavaScript's String length) of n bytes at s. */
static size_t
js_length(const char *s, size_t n)
{
	size_t units = 0;
	for (size_t i = 0; i < n;) {
		size_t k;
		units += code_point(s + i, &k) >= 0x10000 ? 2 : 1;
		i += k;
	}
	return units;
}

static size_t
js_strlen(const char *s)
{
	return js_length(s, strlen(s));
}

/* Columns s takes on a terminal: wcwidth() of each code point in a UTF-8
 * locale (control characters and unknown ones take none). */
static size_t
display_width(const char *s)
{
	static locale_t utf8;
	if (!utf8)
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
	size_t width = 0;
	for (size_t k; *s; s += k) {
		unsigned c = code_point(s, &k);
		int w = c < 0x7f ? c >= 0x20 : utf8 ? wcwidth((wchar_t)c) : 1;
		width += w > 0 ? (size_t)w : 0;
	}
	if (old)
		uselocale(old);
	return width;
}

/* A number as JavaScript's Number.prototype.toString writes it: the
 * shortest digits that read back as the same double. */
static char *
js_number(double d)
{
	if (d == 0)
		return xstrdup(signbit(d) ? "-0" : "0");
	char buf[40], digits[20];
	int exp10 = 0;
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, fabs(d));
		if (strtod(buf, NULL) == fabs(d))
			break;
	}
	/* buf is "d.ddde±x": split it into digits and exponent. */
	size_t k = 0;
	const char *p = buf;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[k++] = *p;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	exp10 = atoi(p + 1);
	int n = exp10 + 1;      /* where the decimal point goes */
	struct sbuf b = SBUF_INIT;
	if (d < 0)
		sbuf_addc(&b, '-');
	if ((int)k <= n && n <= 21) {
		sbuf_adds(&b, digits);
		for (int i = (int)k; i < n; i++)
			sbuf_addc(&b, '0');
	} else if (0 < n && n <= 21) {
		sbuf_add(&b, digits, (size_t)n);
		sbuf_addc(&b, '.');
		sbuf_adds(&b, digits + n);
	} else if (-6 < n && n <= 0) {
		sbuf_adds(&b, "0.");
		for (int i = n; i < 0; i++)
			sbuf_addc(&b, '0');
		sbuf_adds(&b, digits);
	} else {
		sbuf_addc(&b, digits[0]);
		if (k > 1) {
			sbuf_addc(&b, '.');
			sbuf_adds(&b, digits + 1);
		}
		sbuf_addf(&b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	return sbuf_take(&b);
}

static char *
js_integer(json_int_t v)
{
	/* Past 2^53 JavaScript holds the nearest double. */
	if (v > (1LL << 53) || v < -(1LL << 53))
		return js_number((double)v);
	return xasprintf("%lld", (long long)v);
}

/* Quoted and escaped as util.inspect does: single quotes, unless the text
 * holds one and double quotes (or else backticks) need no escape. */
static char *
quote(const char *s, size_t n)
{
	bool single = memchr(s, '\'', n) != NULL;
	char q = '\'';
	if (single && !memchr(s, '"', n))
		q = '"';
	else if (single && !memchr(s, '`', n) && !memmem(s, n, "${", 2))
		q = '`';
	struct sbuf b = SBUF_INIT;
	sbuf_addc(&b, q);
	static const char *const named[] = {['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n",
	    ['\f'] = "\\f", ['\r'] = "\\r", ['\\'] = "\\\\", ['\''] = "\\'"};
	for (size_t i = 0; i < n;) {
		size_t k;
		unsigned c = code_point(s + i, &k);
		const char *esc = c < ARRAY_LEN(named) && (c != '\'' || q == '\'') ? named[c] : NULL;
		if (esc)
			sbuf_adds(&b, esc);
		else if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
			sbuf_addf(&b, "\\x%02X", c);
		else
			sbuf_add(&b, s + i, k);
		i += k;
	}
	sbuf_addc(&b, q);
	return sbuf_take(&b);
}

/* A string value: long ones that hold newlines are split after each, one
 * quoted piece per line joined by " +". */
static char *
format_string(struct nodefmt *c, const char *s, size_t n)
{
	char *trailer = NULL;
	size_t units = js_length(s, n);
	if (units > MAX_STRING_LENGTH) {
		size_t cut = 0;
		for (size_t u = 0; u < MAX_STRING_LENGTH;) {
			size_t k;
			u += code_point(s + cut, &k) >= 0x10000 ? 2 : 1;
			cut += k;
		}
		trailer = xasprintf("... %zu more character%s", units - MAX_STRING_LENGTH,
		    units - MAX_STRING_LENGTH > 1 ? "s" : "");
		n = cut;
		units = MAX_STRING_LENGTH;
	}
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	if (units > MIN_LINE_WIDTH && (long)units > BREAK_LENGTH - c->indent - 4) {
		for (size_t i = 0; i < n;) {
			const char *nl = memchr(s + i, '\n', n - i);
			size_t end = nl ? (size_t)(nl - s) + 1 : n;
			if (i > 0)
				sbuf_addf(&b, " +\n%*s", c->indent + 2, "");
			char *piece = quote(s + i, end - i);
			sbuf_adds(&b, piece);
			free(piece);
			i = end;
		}
	} else {
		char *whole = quote(s, n);
		sbuf_adds(&b, whole);
		free(whole);
	}
	if (trailer)
		sbuf_adds(&b, trailer);
	free(trailer);
	return sbuf_take(&b);
}

/* An object key: bare when it is an identifier. */
static char *
format_key(const char *key)
{
	bool ident = (key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z') ||
	    key[0] == '_';
	for (const char *p = key; ident && *p; p++)
		ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		    (*p >= '0' && *p <= '9');
	if (strcmp(key, "__proto__") == 0)
		return xstrdup("['__proto__']");
	return ident ? xstrdup(key) : quote(key, strlen(key));
}

/* An array index as JavaScript orders keys: "0", "7", "42" (no sign, no
 * leading zero, below 2^32 - 1). */
static bool
index_key(const char *key, unsigned long long *index)
{
	size_t len = strlen(key);
	if (len == 0 || len > 10 || (key[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++)
		if (key[i] < '0' || key[i] > '9')
			return false;
	*index = strtoull(key, NULL, 10);
	return *index < 4294967295ULL;
}

struct key {
	const char *name;
	unsigned long long index;
	bool is_index;
	size_t order;
};

static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (x->is_index != y->is_index)
		return x->is_index ? -1 : 1;
	if (x->is_index && x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *format_value(struct nodefmt *c, const json_t *v, int depth);

/* Lay out more than six short array entries in aligned columns, numbers
 * right-aligned: fewer lines, each within the break length. */
static void
group_entries(struct nodefmt *c, struct entries *e, const json_t *array)
{
	size_t count = e->n, total = 0, max = 0;
	if (json_array_size(array) > MAX_ARRAY_LENGTH)
		count--;        /* "... n more items" stays on its own line */
	size_t *len = xcalloc(e->n, sizeof(*len));
	for (size_t i = 0; i < count; i++) {
		len[i] = display_width(e->v[i]);
		total += len[i] + 2;
		if (len[i] > max)
			max = len[i];
	}
	size_t actual_max = max + 2;
	if (!(actual_max * 3 + (size_t)c->indent < BREAK_LENGTH &&
	    ((double)total / (double)actual_max > 5 || max <= 6))) {
		free(len);
		return;
	}
	double bias = sqrt((double)actual_max - (double)total / (double)e->n);
	double biased_max = fmax((double)actual_max - 3 - bias, 1);
	double cols = fmin(fmin(round(sqrt(2.5 * biased_max * (double)count) / biased_max),
	    floor((double)(BREAK_LENGTH - c->indent) / (double)actual_max)), COMPACT * 4);
	size_t columns = (size_t)fmin(cols, 15);
	if (columns <= 1) {
		free(len);
		return;
	}
	size_t *width = xcalloc(columns, sizeof(*width));
	for (size_t i = 0; i < columns; i++) {
		for (size_t j = i; j < count; j += columns)
			if (len[j] > width[i])
				width[i] = len[j];
		width[i] += 2;
	}
	bool numbers = true;
	for (size_t i = 0; i < e->n && i < json_array_size(array); i++)
		numbers &= json_is_number(json_array_get(array, i));
	struct entries rows = {0};
	for (size_t i = 0; i < count; i += columns) {
		size_t end = i + columns < count ? i + columns : count;
		struct sbuf b = SBUF_INIT;
		sbuf_adds(&b, "");
		for (size_t j = i; j < end; j++) {
			bool last = j + 1 == end;
			size_t cell = len[j] + (last ? 0 : 2);
			size_t target = width[j - i] - (last ? 2 : 0);
			size_t pad = target > cell ? target - cell : 0;
			if (numbers)
				sbuf_addf(&b, "%*s", (int)pad, "");
			sbuf_adds(&b, e->v[j]);
			if (!last)
				sbuf_adds(&b, ", ");
			if (!numbers && !last)
				sbuf_addf(&b, "%*s", (int)pad, "");
		}
		entries_push(&rows, sbuf_take(&b));
	}
	if (count < e->n)
		entries_push(&rows, xstrdup(e->v[count]));
	entries_free(e);
	*e = rows;
	free(width);
	free(len);
}

/* Do the entries fit on one line that starts `start` columns in? */
static bool
below_break_length(const struct entries *e, size_t start)
{
	size_t total = e->n + start;
	if (total + e->n > BREAK_LENGTH)
		return false;
	for (size_t i = 0; i < e->n; i++) {
		total += js_strlen(e->v[i]);
		if (total > BREAK_LENGTH)
			return false;
	}
	return true;
}

static char *
join(const struct entries *e, const char *sep)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	for (size_t i = 0; i < e->n; i++) {
		if (i)
			sbuf_adds(&b, sep);
		sbuf_adds(&b, e->v[i]);
	}
	return sbuf_take(&b);
}

/* The entries of an object or array between its braces: on one line when
 * nothing in it is nested too deep and it fits, else one entry a line. */
static char *
reduce(struct nodefmt *c, struct entries *e, const json_t *v, int depth)
{
	bool array = json_is_array(v);
	const char *open = array ? "[" : "{", *close = array ? "]" : "}";
	size_t count = e->n;
	if (array && count > 6)
		group_entries(c, e, v);
	char *out = NULL;
	if (c->current_depth - depth < COMPACT && count == e->n &&
	    below_break_length(e, e->n + (size_t)c->indent + strlen(open) + 10)) {
		char *joined = join(e, ", ");
		if (!strchr(joined, '\n'))
			out = xasprintf("%s %s %s", open, joined, close);
		free(joined);
	}
	if (!out) {
		char *sep = xasprintf(",\n%*s  ", c->indent, "");
		char *joined = join(e, sep);
		out = xasprintf("%s\n%*s  %s\n%*s%s", open, c->indent, "", joined, c->indent, "", close);
		free(joined);
		free(sep);
	}
	return out;
}

static char *
format_object(struct nodefmt *c, const json_t *v, int depth)
{
	bool array = json_is_array(v);
	size_t n = array ? json_array_size(v) : json_object_size(v);
	if (n == 0)
		return xstrdup(array ? "[]" : "{}");
	depth++;
	c->current_depth = depth;
	struct entries e = {0};
	if (array) {
		size_t shown = n < MAX_ARRAY_LENGTH ? n : MAX_ARRAY_LENGTH;
		for (size_t i = 0; i < shown; i++) {
			c->indent += 2;
			entries_push(&e, format_value(c, json_array_get(v, i), depth));
			c->indent -= 2;
		}
		if (n > shown)
			entries_push(&e, xasprintf("... %zu more item%s", n - shown,
			    n - shown > 1 ? "s" : ""));
	} else {
		struct key *keys = xcalloc(n, sizeof(*keys));
		size_t k = 0;
		const char *name;
		json_t *member;
		json_object_foreach((json_t *)v, name, member) {
			keys[k] = (struct key){.name = name, .order = k};
			keys[k].is_index = index_key(name, &keys[k].index);
			k++;
		}
		qsort(keys, k, sizeof(*keys), key_cmp);
		for (size_t i = 0; i < k; i++) {
			c->indent += 2;
			char *value = format_value(c, json_object_get(v, keys[i].name), depth);
			c->indent -= 2;
			char *key = format_key(keys[i].name);
			entries_push(&e, xasprintf("%s: %s", key, value));
			free(key);
			free(value);
		}
		free(keys);
	}
	char *out = reduce(c, &e, v, depth);
	entries_free(&e);
	return out;
}

static char *
format_value(struct nodefmt *c, const json_t *v, int depth)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		return format_object(c, v, depth);
	case JSON_STRING:
		return format_string(c, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return js_integer(json_integer_value(v));
	case JSON_REAL:
		return js_number(json_real_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_NULL:
		break;
	}
	return xstrdup("null");
}

char *
nodefmt_json(const json_t *value)
{
	struct nodefmt c = {0};
	return format_value(&c, value, 0);
}
