/*
 * wait.h — a request that replies once instances reached a state: `start`
 * and `restart` when each instance's launch is over, `stop` when each
 * process tree is gone, `delete` when each instance is. The wait holds ids,
 * never pointers (uid + spawn serial), so a deleted instance leaves nothing
 * dangling; it is re-checked whenever something changed (op.h).
 *
 * The reply is `procs` (the instances still there), plus `failed` (one
 * entry per app that could not start) when some app failed; or an error,
 * when wait_fail() set one.
 */
#ifndef CORRAL_WAIT_H
#define CORRAL_WAIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct client;
struct inst;

enum wait_kind {
	WAIT_LAUNCHED,   /* the launch after serial is over (online or failed) */
	WAIT_STOPPED,    /* stopped or errored, or started again since serial */
	WAIT_GONE,       /* deleted, with every process it started */
};

struct wait;

struct wait *wait_new(void);
/* Wait for in to reach kind (serial: its spawn serial to compare with). */
void wait_add(struct wait *w, struct inst *in, enum wait_kind kind, uint64_t serial);
/* Wait until no process started for instance uid is left (the instance
 * need not exist: orphans of a dead daemon, adopt.h). */
void wait_add_gone(struct wait *w, uint64_t uid);
/* Reply this error instead of the list, once everything waited for is
 * done. The first one set wins. */
void wait_fail(struct wait *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One app of the request could not start: reported in `failed` as
 * {"name", "code", "error"} (code as the protocol's error codes). */
void wait_app_failed(struct wait *w, const char *name, const char *code, const char *error);
size_t wait_nfailed(const struct wait *w);
/* Reply the first failed app's error (and code) instead of the list: a
 * request for one app that failed is an error. */
void wait_fail_as_first_failed(struct wait *w);
/* List the instances in their brief shape, PROCINFO_BRIEF (the request said
 * "brief"). */
void wait_brief(struct wait *w);
/* `kill`: leave the loop after replying, once no process at all is left. */
void wait_exit_after(struct wait *w);
/* Hand w to an op that replies to c (which may be NULL) when it is done. */
void wait_reply_when_done(struct wait *w, struct client *c, json_t *id);
void wait_free(struct wait *w);

#endif
