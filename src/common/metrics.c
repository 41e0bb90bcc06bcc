/*
 * metrics.c — validating in-app metrics (metrics.h).
 */
#include "common/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool
word_ok(const char *s, size_t n, size_t max, bool may_be_empty)
{
	if (n > max || (n == 0 && !may_be_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("_.:/ -", c) != NULL;
		if (!ok || c == '\0')
			return false;
	}
	return true;
}

int
metrics_set(json_t **store, const char *name, double value, const char *unit,
    int64_t at_ms)
{
	if (!name || !word_ok(name, strlen(name), METRIC_NAME_MAX, false) ||
	    !word_ok(unit ? unit : "", unit ? strlen(unit) : 0, METRIC_UNIT_MAX, true) ||
	    !isfinite(value))
		return -EINVAL;
	if (!*store)
		*store = json_object();
	if (!json_object_get(*store, name) && json_object_size(*store) >= METRICS_MAX)
		return -ENOSPC;
	json_t *v = value == floor(value) && fabs(value) < 9e15 ?
	    json_integer((json_int_t)value) : json_real(value);
	json_object_set_new(*store, name, json_pack("{s:o, s:s, s:I}", "value", v,
	    "unit", unit ? unit : "", "at", (json_int_t)at_ms));
	return 0;
}

/* One {value, unit} (or the message itself, for an app's). */
static int
set_from(json_t **store, const char *name, json_t *m, int64_t at_ms)
{
	json_t *v = json_object_get(m, "value");
	json_t *u = json_object_get(m, "unit");
	if (!json_is_number(v) || (u && !json_is_string(u)))
		return -EINVAL;
	return metrics_set(store, name, json_number_value(v), u ? json_string_value(u) : NULL,
	    at_ms);
}

int
metrics_from_message(json_t **store, json_t *msg, int64_t at_ms)
{
	if (!json_is_object(msg))
		return -ENOENT;
	const char *type = json_string_value(json_object_get(msg, "type"));
	if (type && strcmp(type, "corral:metric") == 0) {
		int rc = set_from(store, json_string_value(json_object_get(msg, "name")), msg, at_ms);
		return rc < 0 ? rc : 1;
	}
	const char *cmd = json_string_value(json_object_get(msg, "cmd"));
	const char *op = json_string_value(json_object_get(msg, "op"));
	if (!cmd || strcmp(cmd, "NODE_CORRAL") != 0 || !op || strcmp(op, "metrics") != 0)
		return -ENOENT;
	json_t *all = json_object_get(msg, "metrics");
	if (!json_is_object(all))
		return -EINVAL;
	int n = 0;
	const char *name;
	json_t *m;
	json_object_foreach(all, name, m) {
		if (set_from(store, name, m, at_ms) == 0)
			n++;
	}
	return n > 0 ? n : -EINVAL;
}

int
metrics_from_notify(json_t **store, const char *line, size_t len, int64_t at_ms)
{
	static const char key[] = "CORRAL_METRIC=";
	size_t k = sizeof(key) - 1;
	if (len < k || memcmp(line, key, k) != 0)
		return -ENOENT;
	const char *s = line + k, *end = line + len;
	const char *eq = memchr(s, '=', (size_t)(end - s));
	if (!eq || eq == s || (size_t)(eq - s) > METRIC_NAME_MAX)
		return -EINVAL;
	const char *v = eq + 1;
	const char *sp = memchr(v, ' ', (size_t)(end - v));
	const char *vend = sp ? sp : end;
	if (vend == v || (size_t)(vend - v) > 32 || (sp && (size_t)(end - sp - 1) > METRIC_UNIT_MAX))
		return -EINVAL;
	char name[METRIC_NAME_MAX + 1], num[33], unit[METRIC_UNIT_MAX + 1] = "";
	memcpy(name, s, (size_t)(eq - s));
	name[eq - s] = '\0';
	memcpy(num, v, (size_t)(vend - v));
	num[vend - v] = '\0';
	if (sp) {
		memcpy(unit, sp + 1, (size_t)(end - sp - 1));
		unit[end - sp - 1] = '\0';
	}
	if (strlen(name) != (size_t)(eq - s) || strlen(num) != (size_t)(vend - v) ||
	    strlen(unit) != (sp ? (size_t)(end - sp - 1) : 0))
		return -EINVAL;     /* a NUL inside */
	char *e;
	errno = 0;
	double d = strtod(num, &e);
	if (*e || errno == ERANGE)
		return -EINVAL;
	int rc = metrics_set(store, name, d, unit, at_ms);
	return rc < 0 ? rc : 1;
}
