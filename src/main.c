/*
 * main.c — corral is one binary: `corral daemon` runs the supervisor,
 * `corral runtime` (also installed as `corral-runtime`, and run by that
 * name as `pm2-runtime` is) the supervisor in the foreground for
 * containers, `corral keeper` (started by the daemon, not listed in help)
 * holds what the apps need while no daemon runs, `corral logzip <file>
 * <log>` (started by the daemon to gzip a rotated log file off its loop,
 * not listed either), every other verb is the client. None of them links
 * another's code paths.
 */
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/gzfile.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "keeper/keeper.h"

/* Is --help or -h among argv[from..], before a `--` (the script's own)? */
static bool
asks_help(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* `corral daemon`, but not `corral daemon --help`, which the client answers. */
static bool
is_daemon(int argc, char **argv)
{
	return argc >= 2 && strcmp(argv[1], "daemon") == 0 && !asks_help(argc, argv, 2);
}

/* Compress one rotated log file; a failure goes to the daemon's log. */
static int
logzip_main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	/* The apps and the daemon come first: this runs only on a CPU they
	 * leave idle (or niced, where SCHED_IDLE is refused). */
	struct sched_param none = {0};
	if (sched_setscheduler(0, SCHED_IDLE, &none) < 0 && nice(19) < 0)
		(void)0;
	char *err = NULL;
	if (gzfile_compress(argv[1], &err) == 0)
		return 0;
	if (log_open(argv[2]) == 0)
		dlog("logzip: %s (the rotated file stays uncompressed)", err);
	free(err);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *base = argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argv[0] ? argv[0] : "";
	if (strcmp(base, "corral-runtime") == 0) {
		if (asks_help(argc, argv, 1)) {
			char *help[] = {argv[0], "runtime", "--help", NULL};
			return cli_main(3, help);
		}
		return daemon_runtime_main(argc, argv);
	}
	if (argc >= 2 && strcmp(argv[1], "runtime") == 0 && !asks_help(argc, argv, 2))
		return daemon_runtime_main(argc - 1, argv + 1);
	if (is_daemon(argc, argv))
		return daemon_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "keeper") == 0)
		return keeper_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "logzip") == 0)
		return logzip_main(argc - 1, argv + 1);
	return cli_main(argc, argv);
}
