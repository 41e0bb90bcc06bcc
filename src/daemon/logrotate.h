/*
 * logrotate.h — rotation of the log files the daemon writes: the global
 * settings (common/settings.h, `corral set`), an app's own (log_max_size,
 * log_retain, log_compress, log_rotate_interval), the rotated files of each
 * log (named, retained, capped), and their compression in child processes.
 *
 * The writer (logfile.c for the apps' logs, common/log.c for daemon.log)
 * decides when: before a write that would take the file past max_size, at
 * a line boundary, or when the cron schedule fires. Then it calls
 * logrotate_rename(), reopens its path, and hands the rotated file to
 * logrotate_added(): it joins the log's list of rotated files (oldest
 * first; read from the directory the first time), the oldest beyond
 * `retain` or `max_total_size` are removed, and with `compress` it is
 * queued for `corral logzip` (2 s after its rotation, at most
 * LOGROTATE_ZIPS_AT_ONCE at a time, on idle CPU time,
 * reaped by the daemon; if the daemon dies meanwhile, the child finishes
 * alone, and a file left uncompressed is compressed when the next daemon
 * rotates that log).
 *
 * A rotated file is named after the log's path: `<dir>/<stem>__<date><ext>`
 * (`app-out__2026-12-07_00-00-00.log`), `.gz` appended once compressed;
 * a second rotation within the same second adds `_001`, `_002`... to the
 * date, so the names sort in the order the files were rotated.
 */
#ifndef CORRAL_LOGROTATE_H
#define CORRAL_LOGROTATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/cron.h"
#include "ev/loop.h"

#define LOGROTATE_ZIPS_AT_ONCE 2
/* After a rotation failed (rename, reopen), none is tried for this long. */
#define ROTATE_RETRY_MS 10000

enum rot_state {
	ROT_PLAIN,      /* as rotated (or compression failed) */
	ROT_QUEUED,     /* waiting for a compressor */
	ROT_ZIPPING,    /* a compressor is on it */
	ROT_ZIPPED,     /* <path> is the .gz */
};

struct rotated {
	char *path;
	int64_t size;
	enum rot_state state;
};

/* One log's own settings over the global ones, and its rotated files. */
struct rotset {
	int64_t max_size;       /* -1: the global setting */
	int64_t retain;         /* -1: global */
	int compress;           /* -1: global, else 0/1 */
	char *interval;         /* NULL: global; "": no rotation by time */
	struct cron_expr cron;  /* interval parsed */
	struct rotated *v;      /* oldest first */
	size_t n, cap;
	bool scanned;           /* v holds what the directory had too */
	char *last_date;        /* the date of the last name given, */
	int last_seq;           /* and its number (_001...) */
};

/* Read $CORRAL_HOME/settings.json (defaults when it is missing or bad, with
 * a line in daemon.log) and start rotating daemon.log. */
void logrotate_init(void);
/* Read the settings again and apply them to every log. 0, or -EINVAL with
 * *err (the settings in force stay). */
int logrotate_reload(char **err);
/* The settings in force, as {key: value} (new reference). */
json_t *logrotate_settings_json(void);
/* Stop the compressors still running and free everything (daemon exit). */
void logrotate_shutdown(void);

/* A log's own settings (-1 / NULL: the global one). */
void rotset_init(struct rotset *rs);
void rotset_configure(struct rotset *rs, int64_t max_size, int64_t retain, int compress,
    const char *interval);
/* Forget the list (the log is closed); compressors on its files finish. */
void rotset_free(struct rotset *rs);

/* What applies to this log. */
int64_t logrotate_max_size(const struct rotset *rs);
bool logrotate_has_interval(const struct rotset *rs);
/* (Re)arm t for rs's next time rotation, or leave it disarmed when rs
 * has none. */
void logrotate_arm(const struct rotset *rs, struct timer *t);
/* From t's callback: true when rs's schedule fired, with t armed for the
 * next time (never within the same second); false when t fired early (a
 * clock step) and waits again for the second itself. */
bool logrotate_fired(const struct rotset *rs, struct timer *t);

/* Rename path, a log of rs, to the name of a rotated file (*moved, caller
 * frees). 0 or -errno (logged). */
int logrotate_rename(struct rotset *rs, const char *path, char **moved);
/* The file moved (bytes long) was rotated from path: list it, apply the
 * retention, queue its compression. why is for daemon.log ("size"). */
void logrotate_added(struct rotset *rs, const char *path, const char *moved, int64_t bytes,
    const char *why);
/* The disk is full under path: remove this log's oldest rotated file when
 * max_total_size is set. True when one was removed. */
bool logrotate_free_space(struct rotset *rs, const char *path);

#endif
