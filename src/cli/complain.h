/*
 * complain.h — the one shape of a user-facing error in the CLI:
 * "corral <verb>: <message>" on stderr, one line.
 */
#ifndef CORRAL_COMPLAIN_H
#define CORRAL_COMPLAIN_H

#include <stdarg.h>

#include "common/util.h"

void cli_complain(const char *verb, const char *fmt, ...) PRINTFLIKE(2, 3);
void cli_vcomplain(const char *verb, const char *fmt, va_list ap) PRINTFLIKE(2, 0);

#endif
