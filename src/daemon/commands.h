/*
 * commands.h — the request handlers of the control protocol
 * (docs/protocol.md lists them with their arguments and replies).
 */
#ifndef CORRAL_COMMANDS_H
#define CORRAL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

struct client;
struct inst;

void command_dispatch(struct client *c, json_t *id, const char *cmd, json_t *req);
/* The JSON a listing shows for one instance (jlist). */
json_t *command_procinfo(struct inst *in, bool with_env);

#endif
