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

/* Everything about in, with its spec (and the environment when with_env).
 * A new reference. */
json_t *procinfo_json(struct inst *in, bool with_env);
/* Just what the `list` table draws: a tenth of the bytes of the full form,
 * which the CLI would otherwise parse for nothing. A new reference. */
json_t *procinfo_brief(struct inst *in);
/* procinfo_json(in, false) as compact JSON text, appended to b. */
void procinfo_append_text(struct sbuf *b, struct inst *in);

#endif
