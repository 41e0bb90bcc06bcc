/*
 * pidfiles.h — the instances' pid files are removed by a helper thread.
 *
 * Removing a file can cost the daemon's loop most of a millisecond: on a
 * file system mounted with `discard`, freeing the block of a file already
 * written back waits for the device. A thousand of them was most of what
 * `stop all` cost. The loop asks; the thread removes them one after the
 * other while the loop goes on stopping the rest. A request that must not
 * reply before its pid files are gone (`stop`, `delete`, `kill`) waits for
 * the sequence number of the last removal asked, and a pid file is written
 * (by the loop, supervise.c) only once the removals asked before are done,
 * so a stop's removal never deletes the next start's file.
 */
#ifndef CORRAL_PIDFILES_H
#define CORRAL_PIDFILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Remove path, soon. */
void pidfiles_remove(const char *path);
/* The sequence number of the last removal asked for (0: none). */
uint64_t pidfiles_asked(void);
/* Whether every removal up to seq is done. */
bool pidfiles_done(uint64_t seq);
/* Call fn in the loop whenever removals got done (after op_poke()). */
void pidfiles_on_done(void (*fn)(void));
/* Wait (at most timeout_ms) until everything asked is done: before the
 * daemon exits or execs. */
void pidfiles_drain(int timeout_ms);
/* Drain, end the thread and free what is left (daemon teardown). */
void pidfiles_shutdown(void);

#endif
