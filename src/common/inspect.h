/*
 * inspect.h — Node's inspector options (`--inspect`, `--inspect-brk`,
 * `--inspect-wait`, each with an optional `=[host:]port`, and
 * `--inspect-port=[host:]port`), read and rewritten without a Node.
 *
 * Several instances of one app given `--inspect` would all try the same
 * port (9229 by default) and only one would get a debugger. Instance i of a
 * cluster app gets the port the option names (or 9229) + i: instance 0
 * keeps the port asked for (where Chrome's chrome://inspect looks first),
 * the others follow it. Pure functions, no allocation but the returned
 * strings.
 */
#ifndef CORRAL_INSPECT_H
#define CORRAL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>

#define INSPECT_DEFAULT_PORT 9229

/* Is the option a[0..len) one of the inspector's? Then *port is the port it
 * names, or INSPECT_DEFAULT_PORT when it names none. */
bool inspect_option(const char *a, size_t len, int *port);
/* The option for instance `index` of a cluster app: the same option with
 * port + index (the host kept); NULL when a is not an inspector option
 * or the port would pass 65535. The caller frees. */
char *inspect_option_for_instance(const char *a, int index);

#endif
