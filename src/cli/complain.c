/*
 * complain.c — "corral <verb>: <message>" (complain.h).
 */
#include "cli/complain.h"

#include <stdio.h>
#include <stdlib.h>

void
cli_vcomplain(const char *verb, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	fprintf(stderr, "corral %s: %s\n", verb, msg);
	free(msg);
}

void
cli_complain(const char *verb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vcomplain(verb, fmt, ap);
	va_end(ap);
}
