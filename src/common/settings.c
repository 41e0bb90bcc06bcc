/*
 * settings.c — the global settings (settings.h).
 */
#include "common/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/httproute.h"
#include "common/units.h"
#include "common/util.h"

const struct setting_def settings_defs[] = {
	{"logrotate:max_size", "10M",
	    "rotate a log file before a line takes it past this size (0: never by size)"},
	{"logrotate:retain", "30", "rotated files kept per log file (0 or all: every one)"},
	{"logrotate:compress", "false", "gzip the rotated files"},
	{"logrotate:dateFormat", "YYYY-MM-DD_HH-mm-ss", "the date in rotated file names"},
	{"logrotate:rotateInterval", "0 0 * * *",
	    "also rotate on this cron schedule (0: never by time)"},
	{"logrotate:TZ", "", "time zone of rotateInterval and of the names (empty: local)"},
	{"logrotate:max_total_size", "0",
	    "cap on the rotated files of one log file, oldest removed first (0: none)"},
	{"web:listen", "", "the address `corral web` serves HTTP on (empty: off; corral web start)"},
	{"web:token_file", "", "the file holding the web API's bearer token (empty: read-only)"},
};
const size_t settings_count = ARRAY_LEN(settings_defs);

#define ALIAS_PREFIX "pm2-logrotate:"

const char *
settings_canonical(const char *key)
{
	char buf[96];
	if (str_starts(key, ALIAS_PREFIX)) {
		snprintf(buf, sizeof(buf), "logrotate:%s", key + strlen(ALIAS_PREFIX));
		key = buf;
	}
	for (size_t i = 0; i < settings_count; i++)
		if (strcmp(settings_defs[i].key, key) == 0)
			return settings_defs[i].key;
	return NULL;
}

static int
check_size(const char *key, const char *v, int64_t *out, char **err)
{
	int64_t n;
	if (units_parse_size(v, &n) < 0) {
		*err = xasprintf("%s: \"%s\" is not a size (bytes, or like \"10M\", \"1G\", "
		    "\"512K\")", key, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int
check_bool(const char *key, const char *v, bool *out, char **err)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
		*out = v[0] == 't';
		return 0;
	}
	*err = xasprintf("%s: expected true or false, got \"%s\"", key, v);
	return -EINVAL;
}

static int
check_retain(const char *key, const char *v, int64_t *out, char **err)
{
	if (strcmp(v, "all") == 0) {
		*out = 0;
		return 0;
	}
	if (units_parse_int(v, 0, 1000000, out) < 0) {
		*err = xasprintf("%s: expected a number of files (0 to 1000000) or all, got \"%s\"",
		    key, v);
		return -EINVAL;
	}
	return 0;
}

/* "0", "" and "false" turn rotation by time off (*out NULL). */
static int
check_cron(const char *key, const char *v, struct cron_expr *ce, char **out, char **err)
{
	*out = NULL;
	if (!*v || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return 0;
	char *cerr = NULL;
	time_t next;
	if (cron_parse(v, ce, &cerr) < 0) {
		*err = xasprintf("%s: %s", key, cerr);
		free(cerr);
		return -EINVAL;
	}
	if (cron_next(ce, time(NULL), &next) == -ENOENT) {
		*err = xasprintf("%s: cron \"%s\" never fires (no such date)", key, v);
		return -EINVAL;
	}
	*out = xstrdup(v);
	return 0;
}

/* A date format whose result can be part of a file name. */
static int
check_date_format(const char *key, const char *v, char **out, char **err)
{
	if (!*v || strlen(v) > 64) {
		*err = xasprintf("%s: expected a date format of 1 to 64 characters, like "
		    "YYYY-MM-DD_HH-mm-ss", key);
		return -EINVAL;
	}
	char *conv = units_date_format(v);
	char sample[256];
	units_format_time(conv, 0, sample, sizeof(sample));
	bool control = false;
	for (const char *p = sample; *p; p++)
		control |= (unsigned char)*p < 0x20 || *p == 0x7f;
	if (control) {
		/* %n and %t give a newline and a tab: not in a file name, nor in
		 * this one-line message. */
		*err = xasprintf("%s: \"%s\" puts a control character in the file name", key, v);
		free(conv);
		return -EINVAL;
	}
	if (!*sample || strchr(sample, '/') || strcmp(sample, ".") == 0 ||
	    strcmp(sample, "..") == 0) {
		*err = xasprintf("%s: \"%s\" does not make a file name (it gives \"%s\")", key, v,
		    sample);
		free(conv);
		return -EINVAL;
	}
	*out = conv;
	return 0;
}

/* An IANA zone name that this system knows ("Europe/Paris", "UTC"). */
static int
check_tz(const char *key, const char *v, char **out, char **err)
{
	*out = NULL;
	if (!*v)
		return 0;
	bool ok = strlen(v) < 64 && v[0] != '/' && !strstr(v, "..");
	for (const char *p = v; ok && *p; p++)
		ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("/_+-", *p);
	const char *dir = getenv("TZDIR");
	char *file = ok ? xasprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", v) : NULL;
	struct stat st;
	ok = ok && stat(file, &st) == 0 && S_ISREG(st.st_mode);
	free(file);
	if (!ok) {
		*err = xasprintf("%s: \"%s\" is not a time zone this system knows (like UTC or "
		    "Europe/Paris)", key, v);
		return -EINVAL;
	}
	*out = xstrdup(v);
	return 0;
}

/* Messages stay on one line whatever the input held. */
static char *
one_line(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* Check v for key and, when conf is given, store it there. */
static int
apply(struct logrotate_conf *conf, const char *key, const char *v, char **err)
{
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*err = xasprintf("%s: the value holds a control character", key);
			return -EINVAL;
		}
	}
	/* Only checking: the value goes to a conf of its own. */
	struct logrotate_conf scratch;
	memset(&scratch, 0, sizeof(scratch));
	struct logrotate_conf *c = conf ? conf : &scratch;
	int rc = -EINVAL;
	char *s = NULL;
	if (strcmp(key, "logrotate:max_size") == 0) {
		rc = check_size(key, v, &c->max_size, err);
	} else if (strcmp(key, "logrotate:max_total_size") == 0) {
		rc = check_size(key, v, &c->max_total_size, err);
	} else if (strcmp(key, "logrotate:retain") == 0) {
		rc = check_retain(key, v, &c->retain, err);
	} else if (strcmp(key, "logrotate:compress") == 0) {
		rc = check_bool(key, v, &c->compress, err);
	} else if (strcmp(key, "logrotate:dateFormat") == 0) {
		if ((rc = check_date_format(key, v, &s, err)) == 0) {
			free(c->date_format);
			c->date_format = s;
		}
	} else if (strcmp(key, "logrotate:rotateInterval") == 0) {
		struct cron_expr ce = c->cron;
		if ((rc = check_cron(key, v, &ce, &s, err)) == 0) {
			free(c->interval);
			c->interval = s;
			c->cron = ce;
		}
	} else if (strcmp(key, "logrotate:TZ") == 0) {
		if ((rc = check_tz(key, v, &s, err)) == 0) {
			free(c->tz);
			c->tz = s;
		}
	} else if (strcmp(key, "web:listen") == 0) {
		char host[64];
		int port;
		rc = !*v || listen_parse(v, host, sizeof(host), &port, &s) == 0 ? 0 : -EINVAL;
		if (rc < 0) {
			*err = xasprintf("%s: %s", key, s);
			free(s);
		}
	} else if (strcmp(key, "web:token_file") == 0) {
		rc = !*v || v[0] == '/' ? 0 : -EINVAL;
		if (rc < 0)
			*err = xasprintf("%s: \"%s\" is not an absolute path", key, v);
	} else {
		*err = xasprintf("unknown setting \"%s\"", key);
	}
	settings_conf_free(&scratch);
	return rc;
}

int
settings_check(const char *key, const char *value, char **err)
{
	return apply(NULL, key, value, err);
}

void
settings_conf_default(struct logrotate_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	for (size_t i = 0; i < settings_count; i++) {
		char *err = NULL;
		/* The defaults are known to be good. */
		if (apply(conf, settings_defs[i].key, settings_defs[i].def, &err) < 0)
			fatal("settings: default of %s: %s", settings_defs[i].key, err);
	}
}

void
settings_conf_free(struct logrotate_conf *conf)
{
	free(conf->date_format);
	free(conf->interval);
	free(conf->tz);
	conf->date_format = conf->interval = conf->tz = NULL;
}

int
settings_parse(const char *text, size_t len, struct logrotate_conf *conf, char **err)
{
	settings_conf_default(conf);
	json_error_t je;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!obj || !json_is_object(obj)) {
		*err = obj ? xstrdup("expected a JSON object of settings")
		    : one_line(xasprintf("line %d: %s", je.line, je.text));
		json_decref(obj);
		return -EINVAL;
	}
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(obj, key, v) {
		const char *canon = settings_canonical(key);
		if (!canon) {
			/* A key of a later version: not ours to refuse. */
			continue;
		}
		if (!json_is_string(v)) {
			*err = xasprintf("%s: expected a string", key);
			rc = -EINVAL;
			break;
		}
		if ((rc = apply(conf, canon, json_string_value(v), err)) < 0)
			break;
	}
	json_decref(obj);
	if (rc < 0) {
		settings_conf_free(conf);
		settings_conf_default(conf);
	}
	return rc;
}

json_t *
settings_load(const char *path, char **err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len, 1 << 20);
	if (rc == -ENOENT)
		return json_object();
	if (rc < 0) {
		*err = xasprintf("cannot read %s: %s", path, strerror(-rc));
		return NULL;
	}
	json_error_t je;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!obj || !json_is_object(obj)) {
		*err = obj ? xasprintf("%s: expected a JSON object of settings", path)
		    : one_line(xasprintf("%s:%d: %s", path, je.line, je.text));
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int
settings_save(const char *path, const json_t *obj, char **err)
{
	char *tmp = xasprintf("%s.tmp", path);
	char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	if (rc == 0)
		rc = write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		*err = xasprintf("cannot write %s: %s", path, strerror(-rc));
		unlink(tmp);
	}
	free(text);
	free(tmp);
	return rc;
}
