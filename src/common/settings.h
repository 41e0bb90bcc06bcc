/*
 * settings.h — corral's global settings: `corral set/get/unset`, kept in
 * $CORRAL_HOME/settings.json, read by the daemon at start and again on the
 * `reload_settings` request.
 *
 * The keys are pm2-logrotate's, so PM2 users' habits carry over; the
 * prefix `pm2-logrotate:` is an alias of `logrotate:`:
 *
 *   logrotate:max_size        a file rotates when a line would take it past
 *                             this size ("10M"; 0: never by size)
 *   logrotate:retain          rotated files kept per log (0 or "all": all)
 *   logrotate:compress        gzip rotated files (true/false)
 *   logrotate:dateFormat      the date in rotated names (dayjs or strftime)
 *   logrotate:rotateInterval  a cron expression ("0 0 * * *"; 0: never by time)
 *   logrotate:TZ              the time zone of rotateInterval and of the names
 *   logrotate:max_total_size  a cap on all rotated files of one log, oldest
 *                             removed first (0: none)
 *
 * The file holds the values as the user wrote them (strings); each is
 * checked when it is set and again when it is read. The parsing functions
 * are pure (no I/O) and fuzzed (tests/fuzz/fuzz_settings.c).
 */
#ifndef CORRAL_SETTINGS_H
#define CORRAL_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cron.h"

/* The global rotation settings, parsed. */
struct logrotate_conf {
	int64_t max_size;        /* bytes, 0 = no rotation by size */
	int64_t retain;          /* rotated files kept, 0 = all */
	bool compress;
	char *date_format;       /* strftime form (units_date_format) */
	char *interval;          /* cron text, NULL = no rotation by time */
	struct cron_expr cron;   /* parsed interval */
	char *tz;                /* NULL = the daemon's local zone */
	int64_t max_total_size;  /* bytes, 0 = no cap */
};

/* One key: its canonical name, its default (as text) and what it takes. */
struct setting_def {
	const char *key;
	const char *def;
	const char *help;
};
extern const struct setting_def settings_defs[];
extern const size_t settings_count;

/* The canonical key of `key` (aliases resolved), or NULL when unknown. */
const char *settings_canonical(const char *key);
/* Check value for a canonical key. 0, or -EINVAL with *err (one line,
 * caller frees) saying what is wrong. */
int settings_check(const char *key, const char *value, char **err);
/* Parse a settings document (the text of settings.json) into conf: the
 * defaults, then every key it sets. 0, or -EINVAL with *err (naming the
 * key) and conf holding the defaults. conf is freed by settings_conf_free()
 * either way. */
int settings_parse(const char *text, size_t len, struct logrotate_conf *conf, char **err);
void settings_conf_free(struct logrotate_conf *conf);
/* The defaults alone. */
void settings_conf_default(struct logrotate_conf *conf);

/* Read the file at path into a new object (empty when it does not exist).
 * NULL with *err when it cannot be read or is not a JSON object. */
json_t *settings_load(const char *path, char **err);
/* Write obj to path (0600, atomically: a temporary file renamed). 0, or
 * -errno with *err. */
int settings_save(const char *path, const json_t *obj, char **err);

#endif
