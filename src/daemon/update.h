/*
 * update.h — `corral update`: replace the running daemon with the corral
 * binary now on disk, without restarting any app (docs/architecture.md,
 * "Updating the daemon in place").
 *
 * The daemon execs the new binary in its own process: same pid, so the
 * apps stay its children; the new daemon takes everything over from the
 * keeper, exactly as after a death (adopt.c), through the keeper's
 * connection, which stays open across the exec, and keeps listening on the
 * same control socket (connections made meanwhile wait in its backlog).
 * Before it execs, it proves the binary can do that: it runs it as
 * `corral daemon --check-handover` on a socketpair and hands it the
 * records the keeper holds (common/keepproto.h); the binary reads them as
 * it would after the exec and says whether it can take over. Only then
 * does the daemon make sure the keeper has its very last state and exec.
 * If the check fails — the binary does not start, speaks another version,
 * cannot read a record — nothing happens and the client hears why.
 */
#ifndef CORRAL_UPDATE_H
#define CORRAL_UPDATE_H

#include <jansson.h>

struct client;

/* The "update_daemon" request of client c: check, reply, exec. Returns
 * only if there is no exec (refused, the check failed — c got an error —
 * or execv itself failed: c got "ok", and sees the old version answer). */
void update_daemon(struct client *c, json_t *id);

/* `corral daemon --check-handover` (run by update_daemon): read the
 * records on $CORRAL_CHECK_FD and say whether this binary can take them
 * over. The process exit code. */
int update_check_main(void);

#endif
