/*
 * suggest.h — what the CLI answers to a command or option it does not know.
 *
 * A suggestion must never lead a user from a typo to a command that does
 * something else, least of all one that stops, deletes or overwrites. The
 * rule:
 *
 *   - A word is a near miss of a name when it is at most one edit away
 *     (an inserted, missing or wrong letter, or two neighbouring letters
 *     swapped), or two edits for names of more than four letters. Nothing
 *     else is suggested: "monit" is not "config", "plus" is not "flush".
 *   - A destructive verb (one that stops, deletes, overwrites or signals:
 *     stop, restart, delete, kill, cleardump, flush, ...) is suggested only
 *     for a one-edit typo of that very verb ("delte", "restrat").
 *   - An option is suggested only among the options of the verb typed: `list
 *     --prot` does not propose `--port`, an option of start.
 *   - A PM2 command corral does not have (imonit, heapdump, plus,
 *     install, ...) is not a typo: the answer says what to use instead.
 *
 * Pure: words in, words out.
 */
#ifndef CORRAL_SUGGEST_H
#define CORRAL_SUGGEST_H

#include <stdbool.h>

/* Is typed a near miss of name? destructive: name stops, deletes,
 * overwrites or signals something. */
bool suggest_near_miss(const char *typed, const char *name, bool destructive);

/* For a PM2 command corral does not have, what to use instead (static
 * text, one line); NULL for anything else. */
const char *suggest_pm2_alternative(const char *typed);

#endif
