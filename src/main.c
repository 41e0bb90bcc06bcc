/*
 * main.c — corral is one binary: `corral daemon` runs the supervisor,
 * `corral keeper` (started by the daemon, not listed in help) holds what the
 * apps need while no daemon runs, every other verb is the client. None of
 * them links another's code paths.
 */
#include <string.h>

#include "cli/cli.h"
#include "daemon/daemon.h"
#include "keeper/keeper.h"

/* `corral daemon`, but not `corral daemon --help`, which the client answers. */
static int
is_daemon(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "daemon") != 0)
		return 0;
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 0;
	return 1;
}

int
main(int argc, char **argv)
{
	if (is_daemon(argc, argv))
		return daemon_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "keeper") == 0)
		return keeper_main(argc - 1, argv + 1);
	return cli_main(argc, argv);
}
