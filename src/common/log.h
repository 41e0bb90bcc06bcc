/*
 * log.h — the daemon's own log ($CORRAL_HOME/daemon.log): one line per
 * call, stamped with the local time to the millisecond.
 *
 * Any layer may log; nothing here knows the daemon. Until log_open() (and
 * after log_close()) lines are dropped, so code that runs in the CLI or in
 * a unit test can call dlog() freely. Writes never block: the file is
 * opened O_NONBLOCK, and a line the disk refuses is dropped.
 */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include "common/util.h"

/* Open (create 0600, append) the log at path. 0 or -errno. */
int log_open(const char *path);
/* Open the same path again (after the file was moved away, SIGUSR2 or
 * `reloadLogs`). 0, or -errno with the old file kept. */
int log_reopen(void);
void log_close(void);
/* Call rotate() after a line took the file to max_bytes or more (0 or
 * NULL: never); it is not called again from inside itself. */
void log_set_rotation(int64_t max_bytes, void (*rotate)(void));

void dlog(const char *fmt, ...) PRINTFLIKE(1, 2);

#endif
