/*
 * lazylib.h — a shared library loaded the first time it is needed.
 *
 * The daemon is the same binary as the CLI and spends most of its life
 * idle; a library linked in is mapped, relocated and initialised by every
 * process at start whether it is used or not. libmicrohttpd brings GnuTLS,
 * p11-kit and eight more with it (about 0.45 MB of the daemon's resident
 * memory, and their constructors run at every `corral` command), for
 * `corral web` alone; ncurses is for `corral monit` alone. Those are
 * opened with dlopen() by the code that needs them, through a table of
 * function pointers (daemon/mhd.h, cli/curses.h).
 */
#ifndef CORRAL_LAZYLIB_H
#define CORRAL_LAZYLIB_H

#include <stddef.h>

struct lazylib {
	const char *soname;         /* what dlopen() is given */
	const char *const *names;   /* the symbols, in the order of slots */
	void **slots;               /* filled with their addresses */
	size_t n;
	int state;                  /* 0 not tried, 1 loaded, -1 failed */
	char *error;                /* why it failed (kept) */
};

/* Load l once: 0 when every symbol was found, else -1 with *err (a copy,
 * one line: "cannot load libX.so.N: why"). Later calls give the first
 * outcome again. */
int lazylib_load(struct lazylib *l, char **err);

#endif
