/*
 * perf.h — what the daemon (profile start/stop, which `profile --duration`
 * uses too) and the CLI (folding perf's samples) share about running Linux
 * perf on an app (docs/profiling.md).
 */
#ifndef CORRAL_PERF_H
#define CORRAL_PERF_H

#include <sys/types.h>

/* Why perf may not sample other processes (a line saying how to allow
 * it; caller frees), or NULL when it may: root may, others when
 * /proc/sys/kernel/perf_event_paranoid is 2 or less. */
char *perf_forbidden(void);
/* The same for a process of euid, with the level read from paranoid_path. */
char *perf_forbidden_by(const char *paranoid_path, uid_t euid);
/* The perf binary on $PATH (caller frees), or NULL after setting *err to
 * the line that says how to install it. */
char *perf_find(char **err);

#endif
