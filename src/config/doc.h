/*
 * doc.h — an ecosystem file as a jansson tree, plus where every value of it
 * was written.
 *
 * A loader turns the bytes of a file into a tree; the tree is what PM2 would
 * have seen after evaluating the file (JSON and JSON5 through JavaScript
 * semantics, YAML through js-yaml's core schema, .js/.cjs/.mjs through node).
 * The position map lets the field normalizer say
 *
 *     ecosystem.json:12:20: app 'api': max_memory_restart: ...
 *
 * Positions are 1-based; columns count characters (UTF-8 code points), not
 * bytes. They are known for JSON and YAML and never for JavaScript, or for a
 * .json file that only node could read.
 *
 * jansson shares one object for every true, false and null, so those have no
 * position of their own: ask for them through their container with
 * config_doc_where_member() or config_doc_where_index(), which work for every
 * value. The document keeps a reference on every value it has a position for,
 * so a pointer never comes back as some later, unrelated value.
 */
#ifndef CORRAL_CONFIG_DOC_H
#define CORRAL_CONFIG_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum config_format {
	CONFIG_JSON,	/* .json, .json5 */
	CONFIG_YAML,	/* .yaml, .yml */
	CONFIG_JS,	/* .js, .cjs, .mjs: evaluated by node */
};

/* Files larger than this are refused before parsing, and so are files with
 * more values than this (aliases expanded): real ecosystem files are a few
 * kilobytes, and the limits bound the memory a hostile one can take. */
#define CONFIG_DOC_MAX_BYTES ((size_t)16 << 20)
#define CONFIG_DOC_MAX_VALUES 500000

struct config_doc;

/*
 * Load a file, choosing the loader by name: ".json"/".json5" → JSON,
 * ".yaml"/".yml" → YAML, ".js"/".cjs"/".mjs" → JavaScript (names that only
 * contain one of those, like PM2 accepts, are tried the same way).
 * Returns 0 or -errno. On error *err is one line "path:line:col: what"
 * (line and column when known) that the caller frees. Non-fatal notes are
 * appended to *warnings, a json array of strings created when NULL; pass
 * warnings == NULL to drop them.
 */
int config_doc_load(const char *path, struct config_doc **out, json_t **warnings, char **err);

/* The same from memory (for fuzzers and tests); name is used in messages and
 * as config_doc_path(). Neither ever runs node. */
int config_doc_load_json_mem(const char *name, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err);
int config_doc_load_yaml_mem(const char *name, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err);

/* The tree (borrowed; it lives as long as the document). */
json_t *config_doc_root(const struct config_doc *doc);
const char *config_doc_path(const struct config_doc *doc);
enum config_format config_doc_format(const struct config_doc *doc);

/* Where a value of the tree starts (by pointer identity); false when unknown,
 * which is always the case for true/false/null and for JavaScript. */
bool config_doc_where(const struct config_doc *doc, const json_t *value, int *line, int *col);
/* Where the key `key` of `object` was written. */
bool config_doc_where_key(const struct config_doc *doc, const json_t *object, const char *key,
    int *line, int *col);
/* Where the value of object[key] starts (works for true/false/null too). */
bool config_doc_where_member(const struct config_doc *doc, const json_t *object,
    const char *key, int *line, int *col);
/* Where array[index] starts (works for true/false/null too). */
bool config_doc_where_index(const struct config_doc *doc, const json_t *array, size_t index,
    int *line, int *col);

void config_doc_free(struct config_doc *doc);

/*
 * Loader side: used by load_json.c, load_yaml.c and load_js.c only.
 */

/* An empty document named `path` (copied). */
struct config_doc *config_doc_new(const char *path, enum config_format format);
/* Give the document its tree (the reference is stolen). */
void config_doc_set_root(struct config_doc *doc, json_t *root);
/* Record positions; each takes a reference on the json_t it is keyed by. */
void config_doc_note_value(struct config_doc *doc, json_t *value, int line, int col);
void config_doc_note_member(struct config_doc *doc, json_t *object, const char *key,
    int key_line, int key_col, int line, int col);
void config_doc_note_element(struct config_doc *doc, json_t *array, size_t index,
    int line, int col);
/* `to` is a json_deep_copy() of `from`: give each part of the copy the
 * position of the part it was copied from. */
void config_doc_copy_positions(struct config_doc *doc, const json_t *from, json_t *to);
/* msg (taken) with control characters escaped, so that it is one line. */
char *config_doc_one_line(char *msg);
/* Append a formatted note to *warnings (created when NULL; no-op when
 * warnings is NULL). */
void config_doc_warn(json_t **warnings, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The JSON loader for a file already read: like config_doc_load_json_mem(),
 * but text that is not JSON is handed to node as PM2 does. */
int config_doc_load_json_file(const char *path, const char *text, size_t len,
    struct config_doc **out, json_t **warnings, char **err);
/* Evaluate the file with node: as a module (require/import) or, when
 * as_expression, as the JavaScript expression "(<text>)". 0 and *root, or
 * -errno and *err. */
int config_doc_eval_js(const char *path, bool as_expression, json_t **root, char **err);
/* Whether node can be found on PATH. */
bool config_doc_have_node(void);

#endif
