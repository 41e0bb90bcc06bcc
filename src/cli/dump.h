/*
 * dump.h — `corral save` and `corral resurrect`: the process list in
 * $CORRAL_HOME/dump.json (mode 0600: it holds the apps' environments).
 *
 * Format: {"version": 2, "env_base": {...}, "apps": [{"spec": <canonical
 * spec>, "instances": <count running>, "status": "online" | "stopped"}]},
 * each spec's environment written as "env_delta" over env_base when that is
 * shorter (envshare.h); version 1, without env_base, had every "env" whole
 * and is read as well. Written to a temp file,
 * fsynced, renamed over dump.json; the previous dump is kept as
 * dump.json.bak and read when dump.json is damaged.
 */
#ifndef CORRAL_DUMP_H
#define CORRAL_DUMP_H

#include <jansson.h>
#include <stdbool.h>

#include "common/paths.h"

/* Build the dump document from a `list` reply with env. */
json_t *dump_from_procs(json_t *procs);
/* Write doc; refuses to replace a non-empty dump with an empty one unless
 * force. 0 or -errno with *err. */
int dump_write(const struct paths *p, json_t *doc, bool force, char **err);
/* Read dump.json (or .bak); new reference, NULL with *err. */
json_t *dump_read(const struct paths *p, char **err);

#endif
