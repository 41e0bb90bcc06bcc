/*
 * main.c — corral is one binary: `corral daemon` runs the supervisor,
 * `corral runtime` (also installed as `corral-runtime`, and run by that
 * name as `pm2-runtime` is) the supervisor in the foreground for
 * containers, `corral keeper` (started by the daemon, not listed in help)
 * holds what the apps need while no daemon runs, every other verb is the
 * client. None of them links another's code paths.
 */
#include <stdbool.h>
#include <string.h>

#include "cli/cli.h"
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
	return cli_main(argc, argv);
}
