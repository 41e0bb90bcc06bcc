/*
 * runtime.h — `corral runtime` (also run as `corral-runtime`): the daemon in
 * the foreground, as a container's entry point (docs/runtime.md).
 *
 * The daemon loop runs in this process (PID 1 in a container): no keeper,
 * no fork to the background. The control socket works as usual, so
 * `docker exec … corral list` acts on it. Around the daemon, this module:
 *
 *   - starts the apps: `corral start <the arguments>` as a child, whose
 *     output goes to stderr; if it fails, everything stops (exit 1);
 *   - prints every line of the apps' output on stdout, in one of four
 *     shapes (plain `0|api | text`, --raw, --json, --format), through a
 *     bounded queue: a stdout nobody reads costs dropped lines (counted),
 *     never a blocked loop;
 *   - on SIGTERM/SIGINT/SIGQUIT, stops the apps one app at a time, the last
 *     started first, each with its own kill_signal and kill_timeout; a
 *     second signal SIGKILLs what is left;
 *   - without --no-auto-exit, exits once every app has stopped for good;
 *   - says how it ended in its exit code.
 *
 * As PID 1 (or a subreaper) every orphan of the container comes to the
 * daemon, whose SIGCHLD path reaps whatever it is given.
 */
#ifndef CORRAL_RUNTIME_H
#define CORRAL_RUNTIME_H

#include <stdbool.h>

/* Exit codes of `corral runtime` (docs/runtime.md). */
enum {
	RUNTIME_EXIT_OK = 0,          /* stopped on a signal; every app exited in time */
	RUNTIME_EXIT_START = 1,       /* bad arguments, or the apps could not start */
	RUNTIME_EXIT_KILLED = 2,      /* stopped on a signal; something had to be SIGKILLed */
	RUNTIME_EXIT_FAILED = 3,      /* an app had failed (errored) */
	RUNTIME_EXIT_ALL_STOPPED = 4, /* every app stopped for good by itself (auto-exit) */
};

/* Take the runtime's own options (--json, --raw, --format, --formatted,
 * --no-auto-exit) out of argv (argv[0] is the program); the rest goes to
 * `corral start`. Sets D->runtime. 0, or -EINVAL with *err (caller frees). */
int runtime_init(int argc, char **argv, char **err);
/* The loop is set up and the control socket listens: print the apps'
 * output from now on and start them. shutdown() begins the daemon's
 * orderly exit. 0, or -errno with *err. */
int runtime_start(void (*shutdown)(void), char **err);
/* The daemon begins its exit (a signal, every app stopped, the start
 * failed): note what had failed, and stop the apps, last started first. */
void runtime_begin_stop(void);
/* A stop signal while stopping: SIGKILL every process left now. */
void runtime_kill_now(void);
/* The exit code, from how it ended; prints the last notice. */
int runtime_exit_code(void);
/* Whether the runtime's own `corral start` has started the apps (until
 * then `corral web`'s /readyz says not ready). True when not a runtime. */
bool runtime_apps_started(void);
/* Flush what stdout still takes, restore its flags, free everything. */
void runtime_free(void);

#endif
