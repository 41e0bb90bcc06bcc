/*
 * jsonw.h — writing a JSON object straight into text, for the daemon's
 * listings: building a jansson tree of every field of a thousand processes
 * and dumping it took nine tenths of a `jlist`.
 *
 * The text is compact, as jansson's JSON_COMPACT without JSON_ENSURE_ASCII
 * writes it; reals as jansson writes them ("%.17g", with ".0" if that reads
 * as an integer). A string that is not valid UTF-8 is written as null (as
 * jansson refuses it). Members are written in the order of the calls.
 */
#ifndef CORRAL_JSONW_H
#define CORRAL_JSONW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

#define JSONW_DEPTH 8

struct jsonw {
	struct sbuf *b;
	int depth;
	bool first[JSONW_DEPTH];    /* no member written yet at this depth */
};

/* Start an object in b. */
void jw_begin(struct jsonw *w, struct sbuf *b);
/* Start an object member key; close it (and the outermost) with jw_end. */
void jw_object(struct jsonw *w, const char *key);
void jw_end(struct jsonw *w);

/* Members; a NULL string is null. */
void jw_str(struct jsonw *w, const char *key, const char *s);
void jw_int(struct jsonw *w, const char *key, int64_t v);
/* v when present, else null. */
void jw_int_or_null(struct jsonw *w, const char *key, bool present, int64_t v);
void jw_real(struct jsonw *w, const char *key, double v);
void jw_bool(struct jsonw *w, const char *key, bool v);
void jw_null(struct jsonw *w, const char *key);
/* An array of strings (NULL-terminated; NULL is an empty array). */
void jw_strv(struct jsonw *w, const char *key, char *const *v);
/* A jansson value (consumed; NULL is null), dumped compact. */
void jw_json(struct jsonw *w, const char *key, json_t *v);
/* Text that is already JSON. */
void jw_raw(struct jsonw *w, const char *key, const char *text);

#endif
