/*
 * load_yaml.c — ecosystem.yaml as PM2 reads it (js-yaml 4, default schema).
 *
 * libyaml supplies events with marks; this file builds the jansson tree from
 * them. Plain scalars are typed as js-yaml's YAML 1.2 core schema does:
 *
 *     null  ~  Null  NULL  (empty)             → null
 *     true  True  TRUE  false  False  FALSE    → boolean ("yes", "on" stay strings)
 *     12  -3  +4  1_000  0x1F  0o17  0b101     → integer (012 is decimal 12)
 *     1.5  .5  1e3  -2.5E-3                    → real (.inf and .nan are refused)
 *
 * Quoted scalars and everything else are strings. Aliases are copied (with
 * the positions of what they copy), "<<" merge keys work as in js-yaml, and
 * a duplicated key is an error, as js-yaml makes it. Copies made for aliases
 * are capped so that a "billion laughs" file fails cleanly.
 */
#include "config/doc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/util.h"

#define YAML_MAX_DEPTH 1000
#define YAML_MAX_VALUES CONFIG_DOC_MAX_VALUES
#define YAML_MAX_COPIED 100000

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_MERGE "tag:yaml.org,2002:merge"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

struct yaml_load {
	yaml_parser_t parser;
	struct config_doc *doc;
	const char *name;
	const char *text;
	size_t len;
	json_t **warnings;
	char **err;
	json_t *anchor_values;	/* anchor name → the value it names */
	json_t *anchor_counts;	/* anchor name → how many values that is */
	size_t values;		/* values built so far, copies included */
	size_t copied;		/* values created by expanding aliases */
};

static int
mark_int(size_t n)
{
	return n >= INT_MAX ? INT_MAX : (int)n + 1;
}

static int fail_at(struct yaml_load *y, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set *err to "name:line:col: what" (the first error wins); -EINVAL. */
static int
fail_at(struct yaml_load *y, yaml_mark_t mark, const char *fmt, ...)
{
	if (*y->err != NULL)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	*y->err = xasprintf("%s:%d:%d: %s", y->name, mark_int(mark.line),
	    mark_int(mark.column), what);
	free(what);
	return -EINVAL;
}

/* Turn libyaml's error state into *err. */
static int
parser_error(struct yaml_load *y)
{
	const yaml_parser_t *p = &y->parser;
	const char *problem = p->problem ? p->problem : "syntax error";
	if (p->error == YAML_MEMORY_ERROR) {
		*y->err = xasprintf("%s: out of memory while parsing YAML", y->name);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors come with a byte offset, not a mark. */
		int line = 1, col = 1;
		size_t end = p->problem_offset < y->len ? p->problem_offset : y->len;
		for (size_t i = 0; i < end; i++) {
			unsigned char ch = (unsigned char)y->text[i];
			if (ch == '\n') {
				line++;
				col = 1;
			} else if ((ch & 0xC0) != 0x80) {
				col++;
			}
		}
		if (p->problem_value >= 0)
			*y->err = xasprintf("%s:%d:%d: %s (byte 0x%02X)", y->name, line, col,
			    problem, (unsigned)p->problem_value);
		else
			*y->err = xasprintf("%s:%d:%d: %s", y->name, line, col, problem);
		return -EINVAL;
	}
	if (p->context != NULL)
		return fail_at(y, p->problem_mark, "%s (%s that starts at %d:%d)", problem,
		    p->context, mark_int(p->context_mark.line), mark_int(p->context_mark.column));
	return fail_at(y, p->problem_mark, "%s", problem);
}

static int
next_event(struct yaml_load *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->parser, ev)) {
		memset(ev, 0, sizeof(*ev));
		return parser_error(y);
	}
	return 0;
}

static int
count_value(struct yaml_load *y, yaml_mark_t mark)
{
	if (++y->values > YAML_MAX_VALUES) {
		fail_at(y, mark, "more than %d values in one file", YAML_MAX_VALUES);
		return -EFBIG;
	}
	return 0;
}

static bool
str_in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static bool
is_null_word(const char *s)
{
	static const char *const words[] = {"", "~", "null", "Null", "NULL", NULL};
	return str_in(s, words);
}

static int
bool_word(const char *s)
{
	static const char *const yes[] = {"true", "True", "TRUE", NULL};
	static const char *const no[] = {"false", "False", "FALSE", NULL};
	if (str_in(s, yes))
		return 1;
	if (str_in(s, no))
		return 0;
	return -1;
}

static bool
is_digit_in_base(char c, int base)
{
	if (base == 2)
		return c == '0' || c == '1';
	if (base == 8)
		return c >= '0' && c <= '7';
	if (base == 16)
		return isxdigit((unsigned char)c);
	return isdigit((unsigned char)c);
}

/*
 * js-yaml's integer: an optional sign, then 0, or 0b/0x/0o and digits of
 * that base, or decimal digits (leading zeros allowed); '_' may separate
 * digits but neither start the digits nor end the scalar. Values beyond
 * 64 bits become reals, as they are numbers to JavaScript.
 */
static json_t *
resolve_int(const char *s)
{
	const char *p = s;
	bool negative = false;
	int base = 10;
	if (*p == '-' || *p == '+')
		negative = *p++ == '-';
	if (p[0] == '0' && p[1] == '\0')
		return json_integer(0);
	if (p[0] == '0' && (p[1] == 'b' || p[1] == 'x' || p[1] == 'o')) {
		base = p[1] == 'b' ? 2 : p[1] == 'x' ? 16 : 8;
		p += 2;
	} else if (*p == '_') {
		return NULL;
	}
	size_t n = strlen(p);
	if (n == 0 || p[n - 1] == '_')
		return NULL;
	char *digits = xmalloc(n + 1);
	size_t nd = 0;
	for (const char *q = p; *q; q++) {
		if (*q == '_')
			continue;
		if (!is_digit_in_base(*q, base)) {
			free(digits);
			return NULL;
		}
		digits[nd++] = *q;
	}
	digits[nd] = '\0';
	if (nd == 0) {
		free(digits);
		return NULL;
	}
	json_t *v;
	errno = 0;
	unsigned long long u = strtoull(digits, NULL, base);
	if (errno == 0 && u <= (unsigned long long)INT64_MAX) {
		v = json_integer(negative ? -(json_int_t)u : (json_int_t)u);
	} else if (errno == 0 && negative && u == (unsigned long long)INT64_MAX + 1) {
		v = json_integer(INT64_MIN);
	} else {
		double d = 0;
		if (base == 10)
			d = strtod(digits, NULL);
		for (size_t i = 0; base != 10 && i < nd; i++) {
			int digit = isdigit((unsigned char)digits[i]) ? digits[i] - '0'
			    : tolower((unsigned char)digits[i]) - 'a' + 10;
			d = d * base + digit;
		}
		v = isfinite(d) ? json_real(negative ? -d : d) : NULL;
	}
	free(digits);
	return v;
}

static bool
skip_digits(const char **p, bool allow_underscore)
{
	const char *start = *p;
	while (isdigit((unsigned char)**p) || (allow_underscore && **p == '_'))
		(*p)++;
	return *p > start;
}

/* js-yaml's float pattern. */
static bool
looks_like_float(const char *s)
{
	static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
	static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
	size_t n = strlen(s);
	if (n == 0 || s[n - 1] == '_')
		return false;
	if (str_in(s, nan))
		return true;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (str_in(p, inf))
		return true;
	if (*p == '.') {
		/* ".5": no sign allowed in this form. */
		if (p != s)
			return false;
		p++;
		if (!skip_digits(&p, true))
			return false;
	} else {
		if (!isdigit((unsigned char)*p))
			return false;
		skip_digits(&p, true);
		if (*p == '.') {
			p++;
			skip_digits(&p, true);
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!skip_digits(&p, false))
			return false;
	}
	return *p == '\0';
}

static double
float_value(const char *s)
{
	size_t n = strlen(s);
	char *buf = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] != '_')
			buf[k++] = (char)tolower((unsigned char)s[i]);
	buf[k] = '\0';
	const char *p = buf;
	double sign = 1;
	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	double d;
	if (strcmp(p, ".inf") == 0)
		d = INFINITY;
	else if (strcmp(p, ".nan") == 0)
		d = NAN;
	else
		d = strtod(p, NULL);
	free(buf);
	return sign * d;
}

static int
real_value(struct yaml_load *y, yaml_mark_t mark, const char *s, json_t **out)
{
	double d = float_value(s);
	if (!isfinite(d))
		return fail_at(y, mark, "%s is not a finite number", s);
	*out = json_real(d);
	return 0;
}

static bool
tag_is(const char *tag, const char *want)
{
	return tag != NULL && strcmp(tag, want) == 0;
}

/* The value of a scalar event: typed when plain and untagged, by its tag
 * when tagged, a string otherwise. */
static int
scalar_value(struct yaml_load *y, const yaml_event_t *ev, json_t **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	yaml_mark_t mark = ev->start_mark;
	*out = NULL;
	if (memchr(s, '\0', len) != NULL)
		return fail_at(y, mark, "a NUL character in a string is not supported");

	if ((tag == NULL && !plain) || tag_is(tag, "!") || tag_is(tag, TAG_STR)) {
		*out = json_stringn(s, len);
	} else if (tag == NULL) {
		int b = bool_word(s);
		if (is_null_word(s))
			*out = json_null();
		else if (b >= 0)
			*out = json_boolean(b);
		else if ((*out = resolve_int(s)) == NULL && looks_like_float(s))
			return real_value(y, mark, s, out);
		else if (*out == NULL)
			*out = json_stringn(s, len);
	} else if (tag_is(tag, TAG_INT)) {
		if ((*out = resolve_int(s)) == NULL)
			return fail_at(y, mark, "cannot read \"%s\" as !!int", s);
	} else if (tag_is(tag, TAG_FLOAT)) {
		json_t *i = resolve_int(s);
		if (json_is_integer(i)) {
			*out = json_real((double)json_integer_value(i));
			json_decref(i);
		} else if (i != NULL) {
			*out = i;
		} else if (looks_like_float(s)) {
			return real_value(y, mark, s, out);
		} else {
			return fail_at(y, mark, "cannot read \"%s\" as !!float", s);
		}
	} else if (tag_is(tag, TAG_BOOL)) {
		int b = bool_word(s);
		if (b < 0)
			return fail_at(y, mark, "cannot read \"%s\" as !!bool", s);
		*out = json_boolean(b);
	} else if (tag_is(tag, TAG_NULL)) {
		if (!is_null_word(s))
			return fail_at(y, mark, "cannot read \"%s\" as !!null", s);
		*out = json_null();
	} else {
		return fail_at(y, mark, "unknown tag !<%s>", tag);
	}
	if (*out == NULL)
		return fail_at(y, mark, "a string that is not valid UTF-8");
	return 0;
}

static int build_node(struct yaml_load *y, yaml_event_t *ev, int depth, json_t **out);

/* A copy of the value an alias names, positioned where the alias is. */
static int
expand_alias(struct yaml_load *y, const char *anchor, yaml_mark_t mark, json_t **out)
{
	json_t *value = json_object_get(y->anchor_values, anchor);
	if (value == NULL)
		return fail_at(y, mark, "unknown alias *%s (no anchor &%s before it)", anchor,
		    anchor);
	size_t count = (size_t)json_integer_value(json_object_get(y->anchor_counts, anchor));
	if (y->copied + count > YAML_MAX_COPIED) {
		fail_at(y, mark, "aliases expand to more than %d values", YAML_MAX_COPIED);
		return -EFBIG;
	}
	y->copied += count;
	y->values += count;
	if (y->values > YAML_MAX_VALUES) {
		fail_at(y, mark, "more than %d values in one file", YAML_MAX_VALUES);
		return -EFBIG;
	}
	json_t *copy = json_deep_copy(value);
	if (copy == NULL)
		return fail_at(y, mark, "cannot copy the value of *%s", anchor);
	config_doc_copy_positions(y->doc, value, copy);
	config_doc_note_value(y->doc, copy, mark_int(mark.line), mark_int(mark.column));
	*out = copy;
	return 0;
}

static void
remember_anchor(struct yaml_load *y, const char *anchor, json_t *value, size_t count)
{
	if (anchor == NULL || value == NULL)
		return;
	json_object_set(y->anchor_values, anchor, value);
	json_object_set_new(y->anchor_counts, anchor, json_integer((json_int_t)count));
}

/* A member name as JavaScript's String() would write a scalar key. */
static char *
key_string(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrdup(json_string_value(v));
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL: {
		double d = json_real_value(v);
		if (d == floor(d) && fabs(d) < 1e21)
			return xasprintf("%.0f", d);
		for (int prec = 1; prec < 17; prec++) {
			char *s = xasprintf("%.*g", prec, d);
			if (strtod(s, NULL) == d)
				return s;
			free(s);
		}
		return xasprintf("%.17g", d);
	}
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_NULL:
		return xstrdup("null");
	default:
		return NULL;
	}
}

/* Copy src's members that obj lacks into obj (js-yaml's mergeMappings),
 * noting in `merged` which keys may still be overridden. */
static void
merge_one(struct yaml_load *y, json_t *obj, json_t *merged, json_t *src)
{
	const char *key;
	json_t *value;
	json_object_foreach(src, key, value) {
		if (json_object_get(obj, key) != NULL)
			continue;
		json_object_set(obj, key, value);
		json_object_set_new(merged, key, json_true());
		int key_line, key_col, line, col;
		if (config_doc_where_key(y->doc, src, key, &key_line, &key_col) &&
		    config_doc_where_member(y->doc, src, key, &line, &col))
			config_doc_note_member(y->doc, obj, key, key_line, key_col, line, col);
	}
}

static int
merge_into(struct yaml_load *y, json_t *obj, json_t *merged, json_t *src, yaml_mark_t mark)
{
	if (json_is_object(src)) {
		merge_one(y, obj, merged, src);
		return 0;
	}
	if (json_is_array(src)) {
		size_t i;
		json_t *item;
		json_array_foreach(src, i, item)
			if (!json_is_object(item))
				goto bad;
		json_array_foreach(src, i, item)
			merge_one(y, obj, merged, item);
		return 0;
	}
bad:
	return fail_at(y, mark, "cannot merge mappings; a << value must be a mapping or a "
	    "list of mappings");
}

/*
 * Read a mapping key (taking ownership of its event): *key gets the member
 * name, or *is_merge is set for "<<".
 */
static int
mapping_key(struct yaml_load *y, yaml_event_t *ev, int depth, char **key, bool *is_merge)
{
	yaml_mark_t mark = ev->start_mark;
	*key = NULL;
	*is_merge = false;
	if (ev->type == YAML_SCALAR_EVENT) {
		const char *tag = (const char *)ev->data.scalar.tag;
		bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if ((tag == NULL && plain && strcmp((const char *)ev->data.scalar.value, "<<") == 0)
		    || tag_is(tag, TAG_MERGE)) {
			*is_merge = true;
			yaml_event_delete(ev);
			return 0;
		}
	} else if (ev->type != YAML_ALIAS_EVENT) {
		const char *what = ev->type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence";
		yaml_event_delete(ev);
		return fail_at(y, mark, "a mapping key must be a scalar, not a %s", what);
	}
	json_t *v;
	int rc = build_node(y, ev, depth, &v);
	if (rc < 0)
		return rc;
	*key = key_string(v);
	const char *what = json_is_object(v) ? "mapping" : "sequence";
	json_decref(v);
	if (*key == NULL)
		return fail_at(y, mark, "a mapping key must be a scalar, not a %s", what);
	return 0;
}

static int
build_mapping(struct yaml_load *y, int depth, json_t *obj)
{
	json_t *merged = json_object();	/* keys that came from "<<" */
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if ((rc = next_event(y, &ev)) < 0)
			break;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_mark_t key_mark = ev.start_mark;
		char *key;
		bool is_merge;
		if ((rc = mapping_key(y, &ev, depth + 1, &key, &is_merge)) < 0)
			break;
		if ((rc = next_event(y, &ev)) < 0) {
			free(key);
			break;
		}
		yaml_mark_t value_mark = ev.start_mark;
		json_t *value;
		if ((rc = build_node(y, &ev, depth + 1, &value)) < 0) {
			free(key);
			break;
		}
		if (is_merge) {
			rc = merge_into(y, obj, merged, value, value_mark);
			json_decref(value);
			if (rc < 0)
				break;
			continue;
		}
		if (json_object_get(obj, key) != NULL && json_object_get(merged, key) == NULL) {
			rc = fail_at(y, key_mark, "duplicated mapping key \"%s\"", key);
			json_decref(value);
			free(key);
			break;
		}
		json_object_del(merged, key);
		if (json_object_set_new(obj, key, value) < 0) {
			rc = fail_at(y, key_mark, "a key that is not valid UTF-8");
			free(key);
			break;
		}
		config_doc_note_member(y->doc, obj, key, mark_int(key_mark.line),
		    mark_int(key_mark.column), mark_int(value_mark.line),
		    mark_int(value_mark.column));
		free(key);
	}
	json_decref(merged);
	return rc;
}

static int
build_sequence(struct yaml_load *y, int depth, json_t *arr)
{
	for (;;) {
		yaml_event_t ev;
		int rc = next_event(y, &ev);
		if (rc < 0)
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		yaml_mark_t mark = ev.start_mark;
		json_t *item;
		if ((rc = build_node(y, &ev, depth + 1, &item)) < 0)
			return rc;
		size_t index = json_array_size(arr);
		json_array_append_new(arr, item);
		config_doc_note_element(y->doc, arr, index, mark_int(mark.line),
		    mark_int(mark.column));
	}
}

/*
 * Build the value that starts with event *ev (which this takes ownership
 * of), with its positions, registering its anchor if it has one.
 */
static int
build_node(struct yaml_load *y, yaml_event_t *ev, int depth, json_t **out)
{
	yaml_mark_t mark = ev->start_mark;
	char *anchor = NULL;
	const char *tag = NULL;
	json_t *v = NULL;
	size_t values_before = y->values;
	int rc;
	*out = NULL;
	if (depth > YAML_MAX_DEPTH) {
		yaml_event_delete(ev);
		return fail_at(y, mark, "nested deeper than %d levels", YAML_MAX_DEPTH);
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		rc = expand_alias(y, (const char *)ev->data.alias.anchor, mark, out);
		yaml_event_delete(ev);
		return rc;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			anchor = xstrdup((const char *)ev->data.scalar.anchor);
		rc = scalar_value(y, ev, &v);
		yaml_event_delete(ev);
		if (rc == 0)
			rc = count_value(y, mark);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor)
			anchor = xstrdup((const char *)ev->data.sequence_start.anchor);
		tag = (const char *)ev->data.sequence_start.tag;
		if (tag != NULL && !tag_is(tag, "!") && !tag_is(tag, TAG_SEQ)) {
			rc = fail_at(y, mark, "unknown tag !<%s>", tag);
			yaml_event_delete(ev);
			break;
		}
		yaml_event_delete(ev);
		v = json_array();
		if ((rc = count_value(y, mark)) == 0)
			rc = build_sequence(y, depth, v);
		break;
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor)
			anchor = xstrdup((const char *)ev->data.mapping_start.anchor);
		tag = (const char *)ev->data.mapping_start.tag;
		if (tag != NULL && !tag_is(tag, "!") && !tag_is(tag, TAG_MAP)) {
			rc = fail_at(y, mark, "unknown tag !<%s>", tag);
			yaml_event_delete(ev);
			break;
		}
		yaml_event_delete(ev);
		v = json_object();
		if ((rc = count_value(y, mark)) == 0)
			rc = build_mapping(y, depth, v);
		break;
	default:
		yaml_event_delete(ev);
		rc = fail_at(y, mark, "unexpected YAML event");
		break;
	}
	if (rc < 0) {
		json_decref(v);
		free(anchor);
		return rc;
	}
	config_doc_note_value(y->doc, v, mark_int(mark.line), mark_int(mark.column));
	remember_anchor(y, anchor, v, y->values - values_before);
	free(anchor);
	*out = v;
	return 0;
}

/* Stream → first document → its root node; a second document is noted and
 * ignored. */
static int
load_stream(struct yaml_load *y)
{
	yaml_event_t ev;
	int rc;
	if ((rc = next_event(y, &ev)) < 0)
		return rc;
	yaml_event_delete(&ev);	/* STREAM-START */
	if ((rc = next_event(y, &ev)) < 0)
		return rc;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		*y->err = xasprintf("%s: no YAML document in the file (it is empty)", y->name);
		return -EINVAL;
	}
	yaml_event_delete(&ev);
	if ((rc = next_event(y, &ev)) < 0)
		return rc;
	json_t *root;
	if ((rc = build_node(y, &ev, 0, &root)) < 0)
		return rc;
	config_doc_set_root(y->doc, root);
	if ((rc = next_event(y, &ev)) < 0)
		return rc;
	yaml_event_delete(&ev);	/* DOCUMENT-END */
	if ((rc = next_event(y, &ev)) < 0)
		return rc;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		config_doc_warn(y->warnings, "%s:%d:%d: a second YAML document starts here; "
		    "only the first is used", y->name, mark_int(ev.start_mark.line),
		    mark_int(ev.start_mark.column));
	yaml_event_delete(&ev);
	return 0;
}

int
config_doc_load_yaml_mem(const char *name, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err)
{
	*out = NULL;
	*err = NULL;
	if (len > CONFIG_DOC_MAX_BYTES) {
		*err = xasprintf("%s: larger than %zu MiB; not read as a config file", name,
		    CONFIG_DOC_MAX_BYTES >> 20);
		return -EFBIG;
	}
	struct yaml_load y = {
		.name = name, .text = text ? text : "", .len = text ? len : 0,
		.warnings = warnings, .err = err,
	};
	if (!yaml_parser_initialize(&y.parser)) {
		*err = xasprintf("%s: out of memory while parsing YAML", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)y.text, y.len);
	y.doc = config_doc_new(name, CONFIG_YAML);
	y.anchor_values = json_object();
	y.anchor_counts = json_object();
	int rc = load_stream(&y);
	json_decref(y.anchor_values);
	json_decref(y.anchor_counts);
	yaml_parser_delete(&y.parser);
	if (rc < 0) {
		if (*err == NULL)
			*err = xasprintf("%s: cannot read YAML", name);
		*err = config_doc_one_line(*err);
		config_doc_free(y.doc);
		return rc;
	}
	*out = y.doc;
	return 0;
}
