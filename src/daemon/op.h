/*
 * op.h — requests that complete later.
 *
 * `corral stop api` returns once api is really stopped; `start` once every
 * new instance has launched (online, or exited trying). Such a request
 * becomes an op: a check function that is re-run whenever some instance
 * changed (op_poke), and that replies to the client when its condition
 * holds. If the client disconnects first, the op still runs to completion
 * with nobody to tell.
 */
#ifndef CORRAL_OP_H
#define CORRAL_OP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "daemon/procinfo.h"
#include "ev/loop.h"

struct client;
struct event;
struct op;

/* Return true when the op is done (it has replied through op_reply or
 * op_fail). */
typedef bool (*op_check_fn)(struct op *op);

struct op {
	TAILQ_ENTRY(op) link;
	struct client *client;      /* NULL once the client left */
	json_t *req_id;
	op_check_fn check;
	void *data;
	void (*free_data)(void *);
	int64_t deadline_mono;      /* 0 = none; check sees op_expired() */
	struct timer timer;
};

struct op *op_new(struct client *c, json_t *req_id, op_check_fn check,
    void *data, void (*free_data)(void *));
void op_reply(struct op *op, json_t *result);
/* op_reply() with the instances ins[0..n) (freed here; NULL entries left
 * out) as "procs", in that shape (procinfo_append_all()). */
void op_reply_procs(struct op *op, json_t *result, struct inst **ins, size_t n,
    enum procinfo_shape shape);
void op_fail(struct op *op, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool op_expired(const struct op *op);
/* Re-check the op after delay_ms even if nothing changes. */
void op_set_deadline(struct op *op, int64_t delay_ms);
/* Something changed: re-check every op after this loop iteration. */
void op_poke(void);
/* Events handler: op_poke() on any event it is subscribed to. */
void op_on_event(const struct event *ev, void *arg);
/* Loop hook: run the checks if poked. */
void op_run(struct loop *l, void *arg);
void op_client_gone(struct client *c);
/* Fail every pending op with this error and drop it. */
void op_fail_all(const char *code, const char *msg);
/* Drop every op without replying (daemon exit). */
void op_free_all(void);

#endif
