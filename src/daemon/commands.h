/*
 * commands.h — the request handlers of the control protocol
 * (docs/protocol.md lists them with their arguments and replies).
 */
#ifndef CORRAL_COMMANDS_H
#define CORRAL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct client;

struct inst;

void command_dispatch(struct client *c, json_t *id, const char *cmd, json_t *req);
/* The instances the request's "targets" name (with its "by_script"), or
 * false after replying the error to c. */
bool command_targets(struct client *c, json_t *id, json_t *req, struct inst ***ins,
    size_t *n);

#endif
