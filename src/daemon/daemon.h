/*
 * daemon.h — `corral daemon`: the entry point that wires every subsystem of
 * the supervisor together (the state itself is in state.h).
 */
#ifndef CORRAL_DAEMON_H
#define CORRAL_DAEMON_H

/* Run the daemon for $CORRAL_HOME. Returns the process exit code. */
int daemon_main(int argc, char **argv);
/* `corral runtime [options] <file|script> [start options]` (argv[0] is the
 * program): the daemon in the foreground, as a container's entry point
 * (runtime.h). Returns the process exit code. */
int daemon_runtime_main(int argc, char **argv);

#endif
