/*
 * pidfiles.h — the instances' pid files are removed by helper threads.
 *
 * Removing a file can cost the daemon's loop most of a millisecond: on a
 * file system mounted with `discard`, freeing the block of a file already
 * written back waits for the device. A thousand of them was most of what
 * `stop all` cost. The loop asks; the threads take the files away while the
 * loop goes on stopping the rest: each is renamed to a hidden name in its
 * directory first (PIDFILES_GONE), which costs no discard, and removed
 * once no rename waits. A request that must not reply before its pid files
 * are gone (`stop`, `delete`, `kill`) waits for the sequence number of the
 * last removal asked (its rename), and a pid file is written
 * (by the loop, supervise.c) only once the removals asked before are done,
 * so a stop's removal never deletes the next start's file.
 */
#ifndef CORRAL_PIDFILES_H
#define CORRAL_PIDFILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The end of the hidden name a pid file has while it is being removed
 * (pidfiles.c): .<name>.<daemon pid>-<number>.gone, in its directory. */
#define PIDFILES_GONE ".gone"

/* Remove path, soon. */
void pidfiles_remove(const char *path);
/* Remove what removals a daemon did not finish left in dir (at start). */
void pidfiles_sweep(const char *dir);
/* The sequence number of the last removal asked for (0: none). */
uint64_t pidfiles_asked(void);
/* Whether every removal up to seq is done, as the loop learnt it: the
 * answer changes only between the loop's events, never during a turn. */
bool pidfiles_done(uint64_t seq);
/* Call fn in the loop whenever removals got done (after op_poke()). */
void pidfiles_on_done(void (*fn)(void));
/* Wait (at most timeout_ms) until everything asked is done: before the
 * daemon exits or execs. */
void pidfiles_drain(int timeout_ms);
/* Drain, end the thread and free what is left (daemon teardown). */
void pidfiles_shutdown(void);

#endif
