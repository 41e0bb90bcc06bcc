/*
 * main.c — corral is one binary: `corral daemon` runs the supervisor, every
 * other verb is the client.
 */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
