/*
 * metrics.h — an instance's in-app metrics: what corral's Node agent
 * reports (heap, event-loop delay, handles, GC) and the named values apps
 * send themselves, on the Node IPC channel or NOTIFY_SOCKET
 * (docs/protocol.md, "In-app metrics").
 *
 * Everything here comes from the app: untrusted. A name is 1 to
 * METRIC_NAME_MAX bytes of [A-Za-z0-9_.:/ -], a unit at most METRIC_UNIT_MAX
 * of the same, a value a finite number; an instance keeps at most
 * METRICS_MAX names (a new name past that is dropped). The store is a JSON
 * object, name → {"value": number, "unit": string, "at": ms since the epoch},
 * which is the shape jlist shows as "axm_monitor".
 */
#ifndef CORRAL_METRICS_H
#define CORRAL_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX 32
#define METRIC_NAME_MAX 48
#define METRIC_UNIT_MAX 16

/* Set one metric in *store (created when NULL). 0, or -EINVAL (a bad name,
 * unit or value) or -ENOSPC (METRICS_MAX names already) and nothing set. */
int metrics_set(json_t **store, const char *name, double value, const char *unit,
    int64_t at_ms);
/* A message sent with process.send(): corral's agent's
 * {"cmd": "NODE_CORRAL", "op": "metrics", "metrics": {name: {value, unit}}}
 * or an app's {"type": "corral:metric", "name": n, "value": v, "unit": u}.
 * The number of metrics set, or -EINVAL when msg is neither (or every one
 * was bad); a message of another kind is -ENOENT. */
int metrics_from_message(json_t **store, json_t *msg, int64_t at_ms);
/* A NOTIFY_SOCKET line without its newline: "CORRAL_METRIC=name=value" or
 * "CORRAL_METRIC=name=value unit". 1 when set, -ENOENT when the line is not
 * a CORRAL_METRIC one, -EINVAL or -ENOSPC when it is and was refused. */
int metrics_from_notify(json_t **store, const char *line, size_t len, int64_t at_ms);

#endif
