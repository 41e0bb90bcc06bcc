/*
 * logs.h — `corral logs`: the last lines of each matching log file, then
 * the live stream from the daemon until Ctrl-C.
 */
#ifndef CORRAL_LOGS_H
#define CORRAL_LOGS_H

#include <stdio.h>
#include <sys/types.h>

#include "cli/args.h"
#include "cli/conn.h"

int logs_run(struct conn *c, const struct args *a);
/* Print the last n lines of path to f with prefix (may be ""); 0 or -errno. */
int logs_tail(FILE *f, const char *path, long n, const char *prefix);

#endif
