/*
 * procinfo.h — an instance as clients see it: the rows of `list`, the
 * objects of `jlist`/`describe` (with PM2's `pm2_env` and `monit` shapes for
 * scripts written against PM2), and the same as text for big listings.
 * docs/protocol.md documents the fields.
 */
#ifndef CORRAL_PROCINFO_H
#define CORRAL_PROCINFO_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

struct inst;

enum procinfo_shape {
	PROCINFO_FULL,      /* everything about it, with its spec */
	PROCINFO_ENV,       /* the same, with the environment in the spec */
	PROCINFO_BRIEF,     /* just what the `list` table draws: a tenth of the
	                     * bytes, which the CLI would otherwise parse for
	                     * nothing */
};

/* The instance as one compact JSON object appended to b, written straight
 * as text (common/jsonw.h). */
void procinfo_append(struct sbuf *b, struct inst *in, enum procinfo_shape shape);
/* The same as jansson objects (new references). */
json_t *procinfo_json(struct inst *in, bool with_env);
json_t *procinfo_brief(struct inst *in);

#endif
