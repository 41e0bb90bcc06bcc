/*
 * commands.h — the request handlers of the control protocol
 * (docs/protocol.md lists them with their arguments and replies).
 */
#ifndef CORRAL_COMMANDS_H
#define CORRAL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

struct client;

void command_dispatch(struct client *c, json_t *id, const char *cmd, json_t *req);

#endif
