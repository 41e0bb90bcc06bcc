/*
 * doc.c — the document type, its position map, and the choice of loader by
 * file name.
 *
 * Positions live in one open-addressing hash table. A slot is keyed either by
 * a value (where it starts), by an object and a member name (where the key
 * and its value start) or by an array and an index (where the element
 * starts). Keys are compared by pointer identity; each slot holds a reference
 * on its json_t, so no address in the table can be freed and reused by an
 * unrelated value while the document lives.
 */
#include "config/doc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

enum pos_kind {
	POS_VALUE = 1,	/* node: the value itself */
	POS_MEMBER,	/* node: an object; key: the member name */
	POS_ELEMENT,	/* node: an array; index: the element */
};

struct pos_slot {
	json_t *node;		/* NULL marks an empty slot; holds a reference */
	union {
		char *key;	/* POS_MEMBER: the member name, owned */
		size_t index;	/* POS_ELEMENT: the element */
	} u;
	int line, col;		/* where the value starts */
	int key_line, key_col;	/* POS_MEMBER: where the key starts */
	enum pos_kind kind;
};

struct config_doc {
	char *path;
	enum config_format format;
	json_t *root;
	struct pos_slot *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t used;
};

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t
slot_hash(const json_t *node, enum pos_kind kind, const char *key, size_t index)
{
	uint64_t h = mix64((uint64_t)(uintptr_t)node ^ ((uint64_t)kind << 60));
	if (kind == POS_MEMBER) {
		/* FNV-1a over the member name. */
		uint64_t f = 0xcbf29ce484222325ULL;
		for (const unsigned char *p = (const unsigned char *)key; *p; p++)
			f = (f ^ *p) * 0x100000001b3ULL;
		h ^= mix64(f);
	} else if (kind == POS_ELEMENT) {
		h ^= mix64((uint64_t)index + 0x9e3779b97f4a7c15ULL);
	}
	return h;
}

static bool
slot_matches(const struct pos_slot *s, const json_t *node, enum pos_kind kind,
    const char *key, size_t index)
{
	if (s->node != node || s->kind != kind)
		return false;
	if (kind == POS_MEMBER)
		return strcmp(s->u.key, key) == 0;
	if (kind == POS_ELEMENT)
		return s->u.index == index;
	return true;
}

/* The slot for the key, or the empty slot where it would go; NULL only when
 * the table has no slots at all. */
static struct pos_slot *
slot_find(const struct config_doc *doc, const json_t *node, enum pos_kind kind,
    const char *key, size_t index)
{
	if (doc->cap == 0)
		return NULL;
	size_t mask = doc->cap - 1;
	size_t i = (size_t)slot_hash(node, kind, key, index) & mask;
	for (;;) {
		struct pos_slot *s = &doc->slots[i];
		if (s->node == NULL || slot_matches(s, node, kind, key, index))
			return s;
		i = (i + 1) & mask;
	}
}

static void
table_grow(struct config_doc *doc)
{
	size_t old_cap = doc->cap;
	struct pos_slot *old = doc->slots;
	doc->cap = old_cap ? old_cap * 2 : 64;
	doc->slots = xcalloc(doc->cap, sizeof(*doc->slots));
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].node == NULL)
			continue;
		const struct pos_slot *o = &old[i];
		struct pos_slot *s = slot_find(doc, o->node, o->kind,
		    o->kind == POS_MEMBER ? o->u.key : NULL,
		    o->kind == POS_ELEMENT ? o->u.index : 0);
		*s = *o;
	}
	free(old);
}

/* Find or create the slot for a key; a new slot takes a reference on node
 * and a copy of key. */
static struct pos_slot *
slot_put(struct config_doc *doc, json_t *node, enum pos_kind kind, const char *key,
    size_t index)
{
	/* At most three quarters full: probes stay short. */
	if ((doc->used + 1) * 4 > doc->cap * 3)
		table_grow(doc);
	struct pos_slot *s = slot_find(doc, node, kind, key, index);
	if (s->node == NULL) {
		s->node = json_incref(node);
		s->kind = kind;
		if (kind == POS_MEMBER)
			s->u.key = xstrdup(key);
		else
			s->u.index = index;
		doc->used++;
	}
	return s;
}

static bool
is_shared_singleton(const json_t *v)
{
	return json_is_true(v) || json_is_false(v) || json_is_null(v);
}

struct config_doc *
config_doc_new(const char *path, enum config_format format)
{
	struct config_doc *doc = xcalloc(1, sizeof(*doc));
	doc->path = xstrdup(path);
	doc->format = format;
	return doc;
}

void
config_doc_set_root(struct config_doc *doc, json_t *root)
{
	json_decref(doc->root);
	doc->root = root;
}

void
config_doc_note_value(struct config_doc *doc, json_t *value, int line, int col)
{
	if (value == NULL || is_shared_singleton(value))
		return;
	struct pos_slot *s = slot_put(doc, value, POS_VALUE, NULL, 0);
	s->line = line;
	s->col = col;
}

void
config_doc_note_member(struct config_doc *doc, json_t *object, const char *key,
    int key_line, int key_col, int line, int col)
{
	if (object == NULL || key == NULL)
		return;
	struct pos_slot *s = slot_put(doc, object, POS_MEMBER, key, 0);
	s->key_line = key_line;
	s->key_col = key_col;
	s->line = line;
	s->col = col;
}

void
config_doc_note_element(struct config_doc *doc, json_t *array, size_t index, int line, int col)
{
	if (array == NULL)
		return;
	struct pos_slot *s = slot_put(doc, array, POS_ELEMENT, NULL, index);
	s->line = line;
	s->col = col;
}

void
config_doc_copy_positions(struct config_doc *doc, const json_t *from, json_t *to)
{
	int line, col;
	if (from == NULL || to == NULL || json_typeof(from) != json_typeof(to))
		return;
	if (config_doc_where(doc, from, &line, &col))
		config_doc_note_value(doc, to, line, col);
	if (json_is_object(from)) {
		const char *key;
		json_t *child;
		/* json_object_foreach wants a non-const object; iteration does not
		 * modify it. */
		json_object_foreach((json_t *)from, key, child) {
			json_t *copy = json_object_get(to, key);
			int key_line, key_col;
			if (copy == NULL)
				continue;
			if (config_doc_where_key(doc, from, key, &key_line, &key_col) &&
			    config_doc_where_member(doc, from, key, &line, &col))
				config_doc_note_member(doc, to, key, key_line, key_col, line, col);
			config_doc_copy_positions(doc, child, copy);
		}
	} else if (json_is_array(from)) {
		size_t n = json_array_size(from);
		if (json_array_size(to) != n)
			return;
		for (size_t i = 0; i < n; i++) {
			if (config_doc_where_index(doc, from, i, &line, &col))
				config_doc_note_element(doc, to, i, line, col);
			config_doc_copy_positions(doc, json_array_get(from, i),
			    json_array_get(to, i));
		}
	}
}

char *
config_doc_one_line(char *msg)
{
	if (msg == NULL)
		return NULL;
	struct sbuf b = SBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '\n')
			sbuf_adds(&b, "\\n");
		else if (*p == '\t')
			sbuf_adds(&b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			sbuf_addf(&b, "\\x%02x", *p);
		else
			sbuf_addc(&b, (char)*p);
	}
	free(msg);
	return sbuf_take(&b);
}

void
config_doc_warn(json_t **warnings, const char *fmt, ...)
{
	if (warnings == NULL)
		return;
	if (*warnings == NULL)
		*warnings = json_array();
	va_list ap;
	va_start(ap, fmt);
	char *msg = config_doc_one_line(xvasprintf(fmt, ap));
	va_end(ap);
	json_t *s = json_string(msg);
	if (s == NULL)
		/* Not UTF-8 (a file name, say): keep the note readable anyway. */
		s = json_string("(a warning that is not valid UTF-8)");
	json_array_append_new(*warnings, s);
	free(msg);
}

json_t *
config_doc_root(const struct config_doc *doc)
{
	return doc->root;
}

const char *
config_doc_path(const struct config_doc *doc)
{
	return doc->path;
}

enum config_format
config_doc_format(const struct config_doc *doc)
{
	return doc->format;
}

static bool
answer(const struct pos_slot *s, int *line, int *col)
{
	if (s == NULL || s->node == NULL)
		return false;
	if (line)
		*line = s->line;
	if (col)
		*col = s->col;
	return true;
}

bool
config_doc_where(const struct config_doc *doc, const json_t *value, int *line, int *col)
{
	if (doc == NULL || value == NULL || is_shared_singleton(value))
		return false;
	return answer(slot_find(doc, value, POS_VALUE, NULL, 0), line, col);
}

bool
config_doc_where_key(const struct config_doc *doc, const json_t *object, const char *key,
    int *line, int *col)
{
	if (doc == NULL || object == NULL || key == NULL)
		return false;
	const struct pos_slot *s = slot_find(doc, object, POS_MEMBER, key, 0);
	if (s == NULL || s->node == NULL)
		return false;
	if (line)
		*line = s->key_line;
	if (col)
		*col = s->key_col;
	return true;
}

bool
config_doc_where_member(const struct config_doc *doc, const json_t *object, const char *key,
    int *line, int *col)
{
	if (doc == NULL || object == NULL || key == NULL)
		return false;
	return answer(slot_find(doc, object, POS_MEMBER, key, 0), line, col);
}

bool
config_doc_where_index(const struct config_doc *doc, const json_t *array, size_t index,
    int *line, int *col)
{
	if (doc == NULL || array == NULL)
		return false;
	return answer(slot_find(doc, array, POS_ELEMENT, NULL, index), line, col);
}

void
config_doc_free(struct config_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->cap; i++) {
		if (doc->slots[i].node == NULL)
			continue;
		json_decref(doc->slots[i].node);
		if (doc->slots[i].kind == POS_MEMBER)
			free(doc->slots[i].u.key);
	}
	free(doc->slots);
	json_decref(doc->root);
	free(doc->path);
	free(doc);
}

/* The format a file name asks for: by suffix first, then (as PM2 does) by a
 * known extension anywhere in the name. -1 when none fits. */
static int
format_for_name(const char *path)
{
	static const struct {
		const char *ext;
		enum config_format format;
	} exts[] = {
		{".json", CONFIG_JSON}, {".json5", CONFIG_JSON},
		{".yaml", CONFIG_YAML}, {".yml", CONFIG_YAML},
		{".js", CONFIG_JS}, {".cjs", CONFIG_JS}, {".mjs", CONFIG_JS},
	};
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (str_ends(base, exts[i].ext))
			return (int)exts[i].format;
	static const struct {
		const char *part;
		enum config_format format;
	} parts[] = {
		{".json", CONFIG_JSON}, {".yaml", CONFIG_YAML}, {".yml", CONFIG_YAML},
		{".config.js", CONFIG_JS}, {".config.cjs", CONFIG_JS},
		{".config.mjs", CONFIG_JS},
	};
	for (size_t i = 0; i < ARRAY_LEN(parts); i++)
		if (strstr(base, parts[i].part))
			return (int)parts[i].format;
	return -1;
}

static char *
read_error(const char *path, int rc)
{
	if (rc == -EFBIG)
		return xasprintf("%s: larger than %zu MiB; not read as a config file", path,
		    CONFIG_DOC_MAX_BYTES >> 20);
	return xasprintf("%s: %s", path, strerror(-rc));
}

static int
load_js(const char *path, struct config_doc **out, char **err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int rc = -errno;
		*err = read_error(path, rc);
		return rc;
	}
	if (S_ISDIR(st.st_mode)) {
		*err = read_error(path, -EISDIR);
		return -EISDIR;
	}
	if ((size_t)st.st_size > CONFIG_DOC_MAX_BYTES) {
		*err = read_error(path, -EFBIG);
		return -EFBIG;
	}
	json_t *root = NULL;
	int rc = config_doc_eval_js(path, false, &root, err);
	if (rc < 0)
		return rc;
	struct config_doc *doc = config_doc_new(path, CONFIG_JS);
	config_doc_set_root(doc, root);
	*out = doc;
	return 0;
}

int
config_doc_load(const char *path, struct config_doc **out, json_t **warnings, char **err)
{
	int rc;
	*out = NULL;
	*err = NULL;
	int format = format_for_name(path);
	if (format < 0) {
		*err = xasprintf("%s: not a config file name (expected .json, .json5, .yaml, "
		    ".yml, .js, .cjs or .mjs)", path);
		rc = -EINVAL;
		goto out;
	}
	if (format == CONFIG_JS) {
		rc = load_js(path, out, err);
		goto out;
	}

	char *text = NULL;
	size_t len = 0;
	rc = read_file(path, &text, &len, CONFIG_DOC_MAX_BYTES);
	if (rc < 0) {
		*err = read_error(path, rc);
		goto out;
	}
	if (format == CONFIG_JSON)
		rc = config_doc_load_json_file(path, text, len, out, warnings, err);
	else
		rc = config_doc_load_yaml_mem(path, text, len, out, warnings, err);
	free(text);
out:
	if (rc < 0)
		*err = config_doc_one_line(*err);
	return rc;
}
