/*
 * envshare.h — the environment the apps of one start share, written once.
 *
 * The apps of a file started from one shell inherit the same variables:
 * nearly all of each spec's bytes. A start request (docs/protocol.md,
 * "env_base") and the saved list (dump.h) hold them once, as a base, and
 * each app's environment as the variables in which it differs
 * ("env_delta": a string sets one, null removes one).
 */
#ifndef CORRAL_CLI_ENVSHARE_H
#define CORRAL_CLI_ENVSHARE_H

#include <jansson.h>

/* The base for a list of canonical specs whose first is first (new
 * reference): its environment without the variables it sets itself
 * (app_env), which for a file started from one shell is that shell's.
 * NULL when it has none (or first is NULL). */
json_t *envshare_base(json_t *first);
/* spec as written next to base (new reference): its "env" as "env_delta"
 * over base when that is the shorter, else spec itself. */
json_t *envshare_delta(json_t *spec, json_t *base);
/* The other way: spec (written next to base) with its whole "env" (new
 * reference, sharing base's strings); spec itself when it has no
 * "env_delta". */
json_t *envshare_whole(json_t *spec, json_t *base);

#endif
