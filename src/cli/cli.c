/*
 * cli.c — verb dispatch (being written).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"

int
cli_main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "daemon") == 0)
		return daemon_main(argc - 1, argv + 1);
	fprintf(stderr, "corral: not built yet\n");
	return 1;
}
