/*
 * fuzz_metrics.c — libFuzzer target for the in-app metric parsers
 * (common/metrics.h): what apps send on NOTIFY_SOCKET and the Node IPC
 * channel.
 *
 * Input: byte 0 picks the parser (even: NOTIFY_SOCKET lines, split at
 * newlines as notify.c does; odd: one JSON message); the rest is the data,
 * fed twice so that updates of known names run too. Whatever comes in, the
 * store keeps at most METRICS_MAX metrics, each with a valid name and unit
 * and a finite number.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(json_t *store)
{
	if (!store)
		return;
	if (json_object_size(store) > METRICS_MAX)
		abort();
	const char *name;
	json_t *m;
	json_object_foreach(store, name, m) {
		size_t n = strlen(name);
		json_t *v = json_object_get(m, "value");
		const char *unit = json_string_value(json_object_get(m, "unit"));
		if (n == 0 || n > METRIC_NAME_MAX || !json_is_number(v) ||
		    !isfinite(json_number_value(v)) || !unit || strlen(unit) > METRIC_UNIT_MAX)
			abort();
		for (const char *c = name; *c; c++)
			if (*c == '\n' || *c == ';' || *c == '"' || *c == '\\')
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *store = NULL;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	for (int round = 0; round < 2; round++) {
		if (data[0] % 2 == 0) {
			const char *end = s + n, *p = s;
			while (p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
				metrics_from_notify(&store, p, len, 1);
				p += len + 1;
			}
		} else {
			json_t *msg = json_loadb(s, n, JSON_DECODE_ANY, NULL);
			metrics_from_message(&store, msg, 1);
			json_decref(msg);
		}
		check(store);
	}
	json_decref(store);
	return 0;
}
