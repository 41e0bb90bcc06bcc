/*
 * fdreserve.h — descriptors held open on /dev/null for the daemon's own
 * work (nginx and libev keep one for accept() the same way).
 *
 * Apps and their sockets may use up the descriptor limit; the daemon must
 * still let the owner's `corral` in, and still start and restart apps as
 * soon as it can. Two reserves:
 *
 * - one descriptor for accept(): released when accept() fails with EMFILE
 *   or ENFILE, taken back as soon as a client's connection closes, so a
 *   client always gets in, one after the other;
 * - FDRESERVE_COUNT for spawns: released when a spawn fails for lack of
 *   descriptors, so it can try once more; taken back, every
 *   FDRESERVE_RETRY_MS, once descriptors are free again.
 */
#ifndef CORRAL_FDRESERVE_H
#define CORRAL_FDRESERVE_H

#include <stdbool.h>

/* Enough for one spawn: two output pipes, the broker and Node channels,
 * the exec-error pipe, a pidfd and log files. */
#define FDRESERVE_COUNT 16
#define FDRESERVE_RETRY_MS 100

/* Take both reserves (at start). */
void fdreserve_init(void);
/* err (an errno value, either sign) means the descriptors ran out: release
 * the spawn reserve for a second try. True when that is worth it (err is
 * EMFILE or ENFILE and some of the reserve was held). */
bool fdreserve_release(int err);
/* The same for accept(), with its own descriptor. */
bool fdreserve_release_for_accept(int err);
/* A descriptor was closed: take the accept reserve back if it is out. */
void fdreserve_refill_accept(void);
/* Close both reserves (at exit). */
void fdreserve_free(void);

#endif
