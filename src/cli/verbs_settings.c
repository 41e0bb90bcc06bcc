/*
 * verbs_settings.c — set, get, unset: the global settings in
 * $CORRAL_HOME/settings.json (common/settings.h), applied to a running
 * daemon at once (`reload_settings`), read by the next one at its start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/verbs.h"
#include "common/settings.h"

static int
unknown_key(struct ctx *x, const char *key)
{
	struct sbuf b = SBUF_INIT;
	for (size_t i = 0; i < settings_count; i++)
		sbuf_addf(&b, "%s%s", i ? ", " : "", settings_defs[i].key);
	char *known = sbuf_take(&b);
	cli_fail(x, "unknown setting \"%s\" (corral knows %s; pm2-logrotate:<key> is the same)",
	    key, known);
	free(known);
	return 1;
}

/* Take the settings lock, creating the home if needed. The fd, or -1
 * after saying why. */
static int
lock_settings(struct ctx *x)
{
	char *err = NULL;
	if (paths_prepare(&x->paths, &err) < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return -1;
	}
	int fd = open(x->paths.settings_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		cli_fail(x, "cannot lock %s: %s", x->paths.settings_lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A running daemon reads the file again; none: the next one will. */
static int
apply_live(struct ctx *x)
{
	int rc = cli_connect(x, false);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return 1;
	json_t *r = cli_call(x, json_pack("{s:s}", "cmd", "reload_settings"), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	json_decref(r);
	return 0;
}

int
settings_change(struct ctx *x, const char *const *keys, const char *const *values, size_t n)
{
	int lock = lock_settings(x);
	if (lock < 0)
		return 1;
	char *err = NULL;
	json_t *obj = settings_load(x->paths.settings, &err);
	int rc = 0;
	if (!obj) {
		rc = cli_fail(x, "%s", err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* One key per setting: an alias written by hand goes. */
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(obj, tmp, k, v) {
			const char *canon = settings_canonical(k);
			if (canon && strcmp(canon, keys[i]) == 0)
				json_object_del(obj, k);
		}
		if (values[i])
			json_object_set_new(obj, keys[i], json_string(values[i]));
	}
	if (settings_save(x->paths.settings, obj, &err) < 0)
		rc = cli_fail(x, "%s", err);
out:
	json_decref(obj);
	free(err);
	close(lock);
	return rc;
}

/* Change one key (value NULL: remove it) in the file, then tell the
 * daemon. 0 or 1. */
static int
change(struct ctx *x, const char *key, const char *value)
{
	int rc = settings_change(x, &key, &value, 1);
	return rc ? rc : apply_live(x);
}

int
verb_set(struct ctx *x)
{
	if (!x->a.pos[0] || !x->a.pos[1])
		return cli_usage_error(x);
	const char *key = settings_canonical(x->a.pos[0]);
	if (!key)
		return unknown_key(x, x->a.pos[0]);
	/* A cron expression may come unquoted: its words are one value. */
	struct sbuf b = SBUF_INIT;
	for (size_t i = 1; x->a.pos[i]; i++)
		sbuf_addf(&b, "%s%s", i > 1 ? " " : "", x->a.pos[i]);
	char *value = sbuf_take(&b);
	char *err = NULL;
	int rc;
	if (settings_check(key, value, &err) < 0) {
		rc = cli_fail(x, "%s", err);
		free(err);
	} else if ((rc = change(x, key, value)) == 0) {
		printf("corral: %s = %s\n", key, value);
	}
	free(value);
	return rc;
}

int
verb_unset(struct ctx *x)
{
	if (!x->a.pos[0] || x->a.pos[1])
		return cli_usage_error(x);
	const char *key = settings_canonical(x->a.pos[0]);
	if (!key)
		return unknown_key(x, x->a.pos[0]);
	int rc = change(x, key, NULL);
	if (rc == 0) {
		for (size_t i = 0; i < settings_count; i++)
			if (strcmp(settings_defs[i].key, key) == 0)
				printf("corral: %s is back to its default (%s)\n", key,
				    *settings_defs[i].def ? settings_defs[i].def : "empty");
	}
	return rc;
}

int
verb_get(struct ctx *x)
{
	if (x->a.pos[0] && x->a.pos[1])
		return cli_usage_error(x);
	const char *want = NULL;
	if (x->a.pos[0] && !(want = settings_canonical(x->a.pos[0])))
		return unknown_key(x, x->a.pos[0]);
	char *err = NULL;
	json_t *obj = settings_load(x->paths.settings, &err);
	if (!obj) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	/* What the file says for each key (an alias counts). A value the
	 * daemon would refuse is not shown as if it were in force. */
	json_t *set = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		const char *canon = settings_canonical(k);
		if (!canon)
			continue;
		if (!json_is_string(v))
			err = xasprintf("%s: expected a string", k);
		else if (settings_check(canon, json_string_value(v), &err) == 0)
			json_object_set(set, canon, v);
		if (err) {
			cli_fail(x, "%s: %s (corral set or unset it)", x->paths.settings, err);
			free(err);
			json_decref(set);
			json_decref(obj);
			return 1;
		}
	}
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_defs[i];
		if (want && strcmp(want, d->key) != 0)
			continue;
		const char *val = json_string_value(json_object_get(set, d->key));
		const char *shown = val ? val : *d->def ? d->def : want ? ""
		    : strcmp(d->key, "logrotate:TZ") == 0 ? "(empty: local time)" : "(empty)";
		if (want)
			printf("%s\n", shown);
		else
			printf("%-26s %s%s\n", d->key, shown, val ? "" : "  (default)");
	}
	json_decref(set);
	json_decref(obj);
	return 0;
}
