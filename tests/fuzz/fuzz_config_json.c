/*
 * fuzz_config_json.c — the JSON loader on arbitrary bytes.
 *
 * Besides not crashing, hanging or leaking: an error is one line and leaves
 * no document; a document has a position, inside the text, for every key
 * and every value that can have one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (for libFuzzer to report) unless what the loader returned holds
 * together. */
static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

struct bounds {
	const struct config_doc *doc;
	int lines;	/* lines in the input */
};

static void
check_at(const struct bounds *b, bool found, int line, int col)
{
	check(found, "a value or key without a position");
	check(line >= 1 && line <= b->lines && col >= 1, "a position outside the text");
}

static void
check_value(const struct bounds *b, json_t *v, int depth)
{
	int line = 0, col = 0;
	check(depth < 5000, "a tree deeper than the loaders allow");
	if (!json_is_true(v) && !json_is_false(v) && !json_is_null(v))
		check_at(b, config_doc_where(b->doc, v, &line, &col), line, col);
	if (json_is_object(v)) {
		const char *key;
		json_t *child;
		json_object_foreach(v, key, child) {
			check_at(b, config_doc_where_key(b->doc, v, key, &line, &col), line, col);
			check_at(b, config_doc_where_member(b->doc, v, key, &line, &col), line,
			    col);
			check_value(b, child, depth + 1);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child) {
			check_at(b, config_doc_where_index(b->doc, v, i, &line, &col), line, col);
			check_value(b, child, depth + 1);
		}
	}
}

static void
check_result(int rc, const struct config_doc *doc, json_t *warnings, const char *err,
    const char *text, size_t len)
{
	if (rc < 0) {
		check(doc == NULL, "a document with an error");
		check(err != NULL && strchr(err, '\n') == NULL, "an error that is not one line");
		return;
	}
	check(rc == 0 && doc != NULL && err == NULL, "success without a document");
	check(warnings == NULL || json_is_array(warnings), "warnings not an array");
	struct bounds b = {doc, 1};
	for (size_t i = 0; i < len; i++)
		b.lines += text[i] == '\n';
	check_value(&b, config_doc_root(doc), 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_doc *doc = NULL;
	json_t *warnings = NULL;
	char *err = NULL;
	int rc = config_doc_load_json_mem("fuzz.json", (const char *)data, size, &doc, &warnings, &err);
	check_result(rc, doc, warnings, err, (const char *)data, size);
	config_doc_free(doc);
	json_decref(warnings);
	free(err);
	return 0;
}
