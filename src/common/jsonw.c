/*
 * jsonw.c — JSON objects written straight into text (jsonw.h).
 */
#include "common/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string, quoted and escaped as jansson escapes it. */
static void
add_string(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	sbuf_addc(b, '"');
	size_t run = 0;     /* bytes that need no escape, not yet added */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		sbuf_add(b, s + i - run, run);
		run = 0;
		char esc[7] = {'\\', 0};
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			break;
		}
		sbuf_adds(b, esc);
	}
	sbuf_add(b, s + n - run, run);
	sbuf_addc(b, '"');
}

/* The separator and the key of the next member. */
static void
key(struct jsonw *w, const char *k)
{
	if (!w->first[w->depth])
		sbuf_addc(w->b, ',');
	w->first[w->depth] = false;
	add_string(w->b, k, strlen(k));
	sbuf_addc(w->b, ':');
}

static void
open_object(struct jsonw *w)
{
	if (w->depth + 1 >= JSONW_DEPTH)
		fatal("jsonw: objects nested deeper than %d", JSONW_DEPTH);
	sbuf_addc(w->b, '{');
	w->first[++w->depth] = true;
}

void
jw_begin(struct jsonw *w, struct sbuf *b)
{
	w->b = b;
	w->depth = -1;
	open_object(w);
}

void
jw_object(struct jsonw *w, const char *k)
{
	key(w, k);
	open_object(w);
}

void
jw_end(struct jsonw *w)
{
	sbuf_addc(w->b, '}');
	w->depth--;
}

void
jw_str(struct jsonw *w, const char *k, const char *s)
{
	key(w, k);
	size_t n = s ? strlen(s) : 0;
	if (s && utf8_valid(s, n))
		add_string(w->b, s, n);
	else
		sbuf_adds(w->b, "null");
}

void
jw_int(struct jsonw *w, const char *k, int64_t v)
{
	key(w, k);
	/* By hand: printf's machinery was a good part of a `sample` reply. */
	char num[24], *e = num + sizeof(num), *p = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	sbuf_add(w->b, p, (size_t)(e - p));
}

void
jw_int_or_null(struct jsonw *w, const char *k, bool present, int64_t v)
{
	if (present)
		jw_int(w, k, v);
	else
		jw_null(w, k);
}

void
jw_real(struct jsonw *w, const char *k, double v)
{
	key(w, k);
	char num[64];
	snprintf(num, sizeof(num), "%.17g", v);
	sbuf_adds(w->b, num);
	if (!strpbrk(num, ".eEni"))
		sbuf_adds(w->b, ".0");
}

void
jw_bool(struct jsonw *w, const char *k, bool v)
{
	key(w, k);
	sbuf_adds(w->b, v ? "true" : "false");
}

void
jw_null(struct jsonw *w, const char *k)
{
	key(w, k);
	sbuf_adds(w->b, "null");
}

void
jw_strv(struct jsonw *w, const char *k, char *const *v)
{
	key(w, k);
	sbuf_addc(w->b, '[');
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			sbuf_addc(w->b, ',');
		size_t n = strlen(v[i]);
		if (utf8_valid(v[i], n))
			add_string(w->b, v[i], n);
		else
			sbuf_adds(w->b, "null");
	}
	sbuf_addc(w->b, ']');
}

void
jw_json(struct jsonw *w, const char *k, json_t *v)
{
	char *txt = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	jw_raw(w, k, txt ? txt : "null");
	free(txt);
	json_decref(v);
}

void
jw_raw(struct jsonw *w, const char *k, const char *text)
{
	key(w, k);
	sbuf_adds(w->b, text);
}
