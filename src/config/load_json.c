/*
 * load_json.c — ecosystem.json as PM2 reads it.
 *
 * PM2 evaluates a .json file as a JavaScript expression, so files in the
 * wild carry // and block comments and trailing commas. jansson parses the
 * values; around it sit two small scanners that never interpret a value:
 *
 *   1. clean_text() copies the text, blanking comments and trailing commas
 *      into spaces (one space per character, newlines kept), so jansson's
 *      lines and columns are those of the file;
 *   2. after jansson has accepted the cleaned text, walk_value() reads it
 *      again beside the tree jansson built and records where every value
 *      and key starts.
 *
 * Text that jansson still refuses (single quotes, unquoted keys, hex
 * numbers: JSON5) is handed to node as "(<text>)" when loading a file, as PM2
 * would; without node the jansson error stands.
 */
#include "config/doc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* jansson stops at 2048 levels; the walker never goes deeper than this. */
#define WALK_MAX_DEPTH 4096

/* Line and column (1-based, in code points) of byte `offset` of text. */
static void
position_of(const char *text, size_t len, size_t offset, int *line, int *col)
{
	int l = 1, c = 1;
	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static bool
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index of the first byte at or after i that is neither white space nor part
 * of a comment; len when there is none (or a comment is unterminated, which
 * the main scan reports). */
static size_t
skip_space_and_comments(const char *text, size_t len, size_t i)
{
	while (i < len) {
		if (is_json_space(text[i])) {
			i++;
		} else if (text[i] == '/' && i + 1 < len && text[i + 1] == '/') {
			const char *nl = memchr(text + i, '\n', len - i);
			i = nl ? (size_t)(nl - text) : len;
		} else if (text[i] == '/' && i + 1 < len && text[i + 1] == '*') {
			const char *end = memmem(text + i + 2, len - i - 2, "*/", 2);
			if (end == NULL)
				return len;
			i = (size_t)(end - text) + 2;
		} else {
			break;
		}
	}
	return i;
}

/* Append text[from, to) to out as blanks: one space per character, line
 * breaks kept. */
static void
blank_out(struct sbuf *out, const char *text, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n' || ch == '\r')
			sbuf_addc(out, (char)ch);
		else if ((ch & 0xC0) != 0x80)
			sbuf_addc(out, ' ');
	}
}

/*
 * Copy text into out with comments and trailing commas blanked and a UTF-8
 * byte order mark dropped. Sets *lenient when something was blanked. The
 * only error is an unterminated block comment (0 or -EINVAL with *err).
 */
static int
clean_text(const char *name, const char *text, size_t len, struct sbuf *out, bool *lenient,
    char **err)
{
	enum { PREV_NONE, PREV_VALUE, PREV_PUNCT } prev = PREV_NONE;
	size_t i = 0, values = 1;
	*lenient = false;
	/* jansson would skip a NUL byte silently; node refuses it. */
	const char *nul = memchr(text, '\0', len);
	if (nul != NULL) {
		int line, col;
		position_of(text, len, (size_t)(nul - text), &line, &col);
		*err = xasprintf("%s:%d:%d: a NUL byte (is this a binary file?)", name, line, col);
		return -EINVAL;
	}
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	sbuf_add(out, "", 0);
	while (i < len) {
		char c = text[i];
		if (c == '"') {
			size_t start = i++;
			while (i < len && text[i] != '"') {
				if (text[i] == '\\' && i + 1 < len)
					i++;
				i++;
			}
			if (i < len)
				i++;
			sbuf_add(out, text + start, i - start);
			prev = PREV_VALUE;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '/') {
			const char *nl = memchr(text + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - text) : len;
			blank_out(out, text, i, end);
			i = end;
			*lenient = true;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			const char *close = memmem(text + i + 2, len - i - 2, "*/", 2);
			if (close == NULL) {
				int line, col;
				position_of(text, len, i, &line, &col);
				*err = xasprintf("%s:%d:%d: unterminated /* comment", name, line, col);
				return -EINVAL;
			}
			size_t end = (size_t)(close - text) + 2;
			blank_out(out, text, i, end);
			i = end;
			*lenient = true;
		} else if (c == ',') {
			size_t next = skip_space_and_comments(text, len, i + 1);
			if (prev == PREV_VALUE && next < len && (text[next] == ']' || text[next] == '}')) {
				sbuf_addc(out, ' ');
				*lenient = true;
			} else {
				sbuf_addc(out, ',');
			}
			prev = PREV_PUNCT;
			values++;
			i++;
		} else {
			if (c == '[' || c == '{')
				values++;
			sbuf_add(out, &c, 1);
			if (c == '{' || c == '[' || c == ':')
				prev = PREV_PUNCT;
			else if (!is_json_space(c))
				prev = PREV_VALUE;
			i++;
		}
	}
	/* Every value but the first follows a comma or opens a container. */
	if (values > CONFIG_DOC_MAX_VALUES) {
		*err = xasprintf("%s: more than %d values; not read as a config file", name,
		    CONFIG_DOC_MAX_VALUES);
		return -EFBIG;
	}
	return 0;
}

/*
 * jansson reports the line and column of the last character it read; point
 * instead at the start of the offending token, which its message quotes as
 * "near '<token>'", or at the next unread character.
 */
static void
error_position(const char *clean, size_t len, const json_error_t *jerr, int *line, int *col)
{
	size_t pos = jerr->position > 0 ? (size_t)jerr->position : 0;
	if (pos > len)
		pos = len;
	size_t start = pos;
	const char *near = strstr(jerr->text, " near '");
	size_t text_len = strlen(jerr->text);
	if (near != NULL && text_len > 0 && jerr->text[text_len - 1] == '\'') {
		const char *tok = near + 7;
		size_t tok_len = (size_t)(jerr->text + text_len - 1 - tok);
		if (tok_len <= pos && memcmp(clean + pos - tok_len, tok, tok_len) == 0)
			start = pos - tok_len;
	}
	position_of(clean, len, start, line, col);
}

struct walk {
	struct config_doc *doc;
	const char *name;
	json_t **warnings;
	const char *s;
	size_t len;
	size_t i;
	int line, col;
};

static void
walk_advance(struct walk *w)
{
	unsigned char ch = (unsigned char)w->s[w->i];
	if (ch == '\n') {
		w->line++;
		w->col = 1;
	} else if ((ch & 0xC0) != 0x80) {
		w->col++;
	}
	w->i++;
}

static void
walk_space(struct walk *w)
{
	while (w->i < w->len && is_json_space(w->s[w->i]))
		walk_advance(w);
}

/* Step over a string starting at the current quote; false if unterminated. */
static bool
walk_string(struct walk *w)
{
	walk_advance(w);
	while (w->i < w->len) {
		char c = w->s[w->i];
		walk_advance(w);
		if (c == '\\' && w->i < w->len)
			walk_advance(w);
		else if (c == '"')
			return true;
	}
	return false;
}

static bool
walk_peek(const struct walk *w, char c)
{
	return w->i < w->len && w->s[w->i] == c;
}

/* The member name of the string token text[start, end), quotes included:
 * jansson decodes it whenever it has escapes. NULL if it will not decode. */
static char *
decode_key(const char *text, size_t start, size_t end)
{
	const char *raw = text + start;
	size_t raw_len = end - start;
	if (raw_len < 2)
		return NULL;
	if (memchr(raw, '\\', raw_len) == NULL)
		return xstrndup(raw + 1, raw_len - 2);
	json_t *v = json_loadb(raw, raw_len, JSON_DECODE_ANY, NULL);
	char *key = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
	json_decref(v);
	return key;
}

static bool walk_value(struct walk *w, json_t *v, int depth);

/*
 * An object in the text; v is the object jansson built from it, or NULL to
 * only step over it (a member that a later duplicate key replaced may have
 * any shape). Keys are looked up in v, so a duplicate's last occurrence,
 * which comes last, leaves the final positions.
 */
static bool
walk_object(struct walk *w, json_t *v, int depth)
{
	bool ok = false;
	json_t *seen = json_object();
	walk_advance(w);
	walk_space(w);
	if (walk_peek(w, '}')) {
		walk_advance(w);
		ok = true;
		goto out;
	}
	for (;;) {
		walk_space(w);
		if (!walk_peek(w, '"'))
			goto out;
		int key_line = w->line, key_col = w->col;
		size_t key_start = w->i;
		if (!walk_string(w))
			goto out;
		char *key = decode_key(w->s, key_start, w->i);
		if (key == NULL)
			goto out;
		if (json_object_get(seen, key) != NULL)
			config_doc_warn(w->warnings, "%s:%d:%d: duplicate key \"%s\"; the last one "
			    "is used, as in PM2", w->name, key_line, key_col, key);
		json_object_set_new(seen, key, json_true());
		walk_space(w);
		if (!walk_peek(w, ':')) {
			free(key);
			goto out;
		}
		walk_advance(w);
		walk_space(w);
		json_t *child = v ? json_object_get(v, key) : NULL;
		if (child != NULL)
			config_doc_note_member(w->doc, v, key, key_line, key_col, w->line, w->col);
		free(key);
		if (!walk_value(w, child, depth + 1))
			goto out;
		walk_space(w);
		if (walk_peek(w, ',')) {
			walk_advance(w);
			continue;
		}
		if (walk_peek(w, '}')) {
			walk_advance(w);
			ok = true;
		}
		goto out;
	}
out:
	json_decref(seen);
	return ok;
}

static bool
walk_array(struct walk *w, json_t *v, int depth)
{
	size_t index = 0;
	walk_advance(w);
	walk_space(w);
	if (walk_peek(w, ']')) {
		walk_advance(w);
		return true;
	}
	for (;;) {
		walk_space(w);
		json_t *child = v ? json_array_get(v, index) : NULL;
		if (child != NULL)
			config_doc_note_element(w->doc, v, index, w->line, w->col);
		if (!walk_value(w, child, depth + 1))
			return false;
		index++;
		walk_space(w);
		if (walk_peek(w, ',')) {
			walk_advance(w);
			continue;
		}
		if (walk_peek(w, ']')) {
			walk_advance(w);
			return true;
		}
		return false;
	}
}

/* Record where v starts and descend; false when the text does not have the
 * shape expected (which cannot happen for text jansson accepted, but the
 * walker never trusts that). */
static bool
walk_value(struct walk *w, json_t *v, int depth)
{
	if (depth > WALK_MAX_DEPTH)
		return false;
	walk_space(w);
	if (w->i >= w->len)
		return false;
	config_doc_note_value(w->doc, v, w->line, w->col);
	char c = w->s[w->i];
	if (c == '{')
		return walk_object(w, json_is_object(v) ? v : NULL, depth);
	if (c == '[')
		return walk_array(w, json_is_array(v) ? v : NULL, depth);
	if (c == '"')
		return walk_string(w);
	size_t start = w->i;
	while (w->i < w->len && !is_json_space(w->s[w->i]) &&
	    memchr(",:[]{}\"", w->s[w->i], 7) == NULL)
		walk_advance(w);
	return w->i > start;
}

/* Parse text into a new document; *json_error (when set) tells a jansson
 * failure, which node may still read, from any other. */
static int
parse_json(const char *name, const char *text, size_t len, struct config_doc **out,
    json_t **warnings, char **err, bool *jansson_failed)
{
	struct sbuf clean = SBUF_INIT;
	bool lenient = false;
	int rc;
	*out = NULL;
	*err = NULL;
	*jansson_failed = false;
	if (len > CONFIG_DOC_MAX_BYTES) {
		*err = xasprintf("%s: larger than %zu MiB; not read as a config file", name,
		    CONFIG_DOC_MAX_BYTES >> 20);
		return -EFBIG;
	}
	rc = clean_text(name, text, len, &clean, &lenient, err);
	if (rc < 0)
		goto out;

	json_error_t jerr;
	json_t *root = json_loadb(clean.s, clean.len, JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		int line, col;
		error_position(clean.s, clean.len, &jerr, &line, &col);
		/* After a member or an element jansson names only the closing
		 * bracket; the usual mistake is the missing comma. */
		const char *msg = jerr.text, *also = "";
		if (str_starts(msg, "'}' expected") || str_starts(msg, "']' expected"))
			also = "',' or ";
		*err = xasprintf("%s:%d:%d: %s%s", name, line, col, also, msg);
		*jansson_failed = true;
		rc = -EINVAL;
		goto out;
	}
	struct config_doc *doc = config_doc_new(name, CONFIG_JSON);
	config_doc_set_root(doc, root);
	struct walk w = {
		.doc = doc, .name = name, .warnings = warnings,
		.s = clean.s, .len = clean.len, .i = 0, .line = 1, .col = 1,
	};
	walk_value(&w, root, 0);
	if (lenient)
		config_doc_warn(warnings, "%s: not strict JSON (comments or trailing commas); "
		    "accepted as PM2 does", name);
	*out = doc;
	rc = 0;
out:
	sbuf_free(&clean);
	return rc;
}

int
config_doc_load_json_mem(const char *name, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err)
{
	bool jansson_failed;
	int rc = parse_json(name, text, len, out, warnings, err, &jansson_failed);
	if (rc < 0)
		*err = config_doc_one_line(*err);
	return rc;
}

int
config_doc_load_json_file(const char *path, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err)
{
	bool jansson_failed;
	int rc = parse_json(path, text, len, out, warnings, err, &jansson_failed);
	if (rc == 0 || !jansson_failed || !config_doc_have_node())
		return rc;

	/* Not JSON, but maybe a JavaScript object literal, which PM2 accepts. */
	json_t *root = NULL;
	char *eval_err = NULL;
	if (config_doc_eval_js(path, true, &root, &eval_err) < 0) {
		/* jansson's message, with its line and column, is the better one. */
		free(eval_err);
		return rc;
	}
	free(*err);
	*err = NULL;
	struct config_doc *doc = config_doc_new(path, CONFIG_JSON);
	config_doc_set_root(doc, root);
	config_doc_warn(warnings, "%s: not JSON; evaluated as JavaScript as PM2 does", path);
	*out = doc;
	return 0;
}
