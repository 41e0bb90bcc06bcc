/*
 * cli.h — the command-line client: parses the verb and its options, talks
 * to the daemon (starting it when needed), prints the result.
 */
#ifndef CORRAL_CLI_H
#define CORRAL_CLI_H

#include "common/util.h"

int cli_main(int argc, char **argv);

#endif
