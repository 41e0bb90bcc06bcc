/*
 * keeper.h — `corral keeper`: the small process that keeps what the apps
 * depend on while no daemon runs (docs/architecture.md, "Surviving the
 * daemon's death").
 *
 * The first daemon of a home forks it as its parent (the daemon goes on in
 * the child), so the keeper is the daemon's parent and a child subreaper:
 * when the daemon dies, its apps become the keeper's children and are
 * reaped at once. The daemon hands it a copy of every descriptor the apps
 * depend on (output pipes, pidfds, broker and Node channels, listening
 * sockets, the sd_notify sockets) with a record of what each is, and keeps
 * those records current (common/keepproto.h). The keeper never reads the
 * pipes: while no daemon runs, an app's writes wait in its pipe, and block
 * once the pipe is full. Nothing is lost and nothing breaks.
 *
 * When the daemon's connection ends without its "bye", the keeper starts a
 * new daemon (at most KEEPER_RESTARTS a minute) and hands everything over
 * when it says hello; a daemon started by a `corral` command finds the
 * keeper through $CORRAL_HOME/keeper.sock. After "bye" (`corral kill`,
 * SIGTERM to the daemon) the keeper closes everything and exits.
 */
#ifndef CORRAL_KEEPER_H
#define CORRAL_KEEPER_H

/* How many times a minute the keeper starts a daemon that keeps dying. */
#define KEEPER_RESTARTS 5

/* Run the keeper for $CORRAL_HOME; the current daemon's connection is the
 * descriptor in $CORRAL_KEEPER_FD and its pid in $CORRAL_KEEPER_DAEMON.
 * Returns the exit code. */
int keeper_main(int argc, char **argv);

#endif
