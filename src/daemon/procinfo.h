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
/* The array of ins[0..n) in that shape appended to b; NULL entries (an
 * instance gone meanwhile) are left out. Replies send it as text
 * (client_reply_text(), op_reply_procs()): jansson objects of a thousand
 * instances cost a parse and a serialization more. */
void procinfo_append_all(struct sbuf *b, struct inst *const *ins, size_t n,
    enum procinfo_shape shape);

/*
 * The light figures `corral monit` redraws every second (the `sample`
 * request, docs/protocol.md) as one compact JSON object appended to b:
 * pm_id, app_id, name, namespace, mode, status, pid, uptime_ms, restarts.
 * With measured, cpu and memory (the caller sampled it) and, in cluster
 * mode, the instance's load-balancing state ("ready", "draining", "not
 * ready") and accept-queue depth; without, those are null: the rows a
 * dashboard does not show cost no /proc read and no listener walk.
 */
void procinfo_append_sample(struct sbuf *b, struct inst *in, bool measured);

/* The status shown for in ("online", "stopping", ...): an instance whose
 * main process exited is not online any more, whatever follows. */
const char *procinfo_status(const struct inst *in);
/* Whether in's CPU and memory figures are those of its process now. */
bool procinfo_sampled(const struct inst *in);
/* A cluster instance's load-balancing state ("ready", "draining", "not
 * ready") and, in *queued, its accept-queue depth. */
const char *procinfo_lb(struct inst *in, int64_t *queued);

#endif
