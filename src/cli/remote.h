/*
 * remote.h — the ssh command corral runs (deploy, --host), and
 * `corral --host ssh://user@host[:port] <verb> ...`: the same command run
 * by the corral of that host, through ssh (docs/deploy.md, "Remote
 * control").
 */
#ifndef CORRAL_REMOTE_H
#define CORRAL_REMOTE_H

#include <stddef.h>

/* The ssh program and its own options: CORRAL_SSH_COMMAND, split as a
 * shell would (no expansion), or "ssh". A new NULL-terminated vector in
 * *argv (strv_free() frees it); its length is returned. A variable that
 * cannot be split ends the command with a one-line error (exit 2). */
size_t remote_ssh_command(char ***argv);

/* Append a copy of s to a NULL-terminated vector of n strings. */
void remote_argv_push(char ***v, size_t *n, const char *s);

/* Split "ssh://[user@]host[:port]" (or "[user@]host") into the destination
 * ssh takes ("user@host", a new string) and the port ("" when none, a new
 * string). 0, or -1 with *err (one line, caller frees). */
int remote_parse_url(const char *url, char **dest, char **port, char **err);

/* Run argv (the verb and its arguments) through `ssh <host> corral ...`,
 * with a terminal when this one has it; never returns but for an error
 * (the exit code, after saying why). */
int remote_run(const char *url, int argc, char **argv);

#endif
