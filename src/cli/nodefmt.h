/*
 * nodefmt.h — a JSON value as Node's util.inspect() prints it (no colours,
 * no depth limit): what PM2's `prettylist` and `id` print.
 *
 *     [ 4, 5 ]
 *     {
 *       pid: 1234,
 *       name: 'api',
 *       pm2_env: { status: 'online', args: [], 'dash-key': "it's" },
 *       ...
 *     }
 *
 * The rules are Node's: keys that are identifiers stand bare, others are
 * quoted; strings take single quotes (double quotes or backticks when that
 * spares an escape); an object or array goes on one line when it fits in 80
 * columns and holds nothing nested more than two levels down; arrays of more
 * than six short entries are laid out in columns; at most 100 array entries
 * and 10,000 characters of a string are shown. Keys that are array indexes
 * ("0", "42") come first, in numeric order, as in a JavaScript object.
 *
 * Pure: value in, text out (no trailing newline); the caller frees it.
 */
#ifndef CORRAL_NODEFMT_H
#define CORRAL_NODEFMT_H

#include <jansson.h>

char *nodefmt_json(const json_t *value);

#endif
