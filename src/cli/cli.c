/*
 * cli.c — verb dispatch (being written).
 */
#include "cli/cli.h"

#include <stdio.h>

int
cli_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "corral: not built yet\n");
	return 1;
}
