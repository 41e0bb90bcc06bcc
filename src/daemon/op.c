/*
 * op.c — deferred replies.
 */
#include "daemon/op.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/util.h"
#include "daemon/events.h"
#include "daemon/server.h"
#include "daemon/state.h"

static void
on_deadline(struct loop *l, struct timer *t, void *arg)
{
	op_poke();
}

void
op_set_deadline(struct op *op, int64_t delay_ms)
{
	op->deadline_mono = mono_ms() + delay_ms;
	timer_start(D->loop, &op->timer, delay_ms);
}

struct op *
op_new(struct client *c, json_t *req_id, op_check_fn check, void *data,
    void (*free_data)(void *))
{
	struct op *op = xcalloc(1, sizeof(*op));
	/* The client may have been dropped while the request was being set
	 * up (a push to it failed): op_client_gone() has run already. */
	op->client = client_alive(c) ? c : NULL;
	op->req_id = json_incref(req_id);
	op->check = check;
	op->data = data;
	op->free_data = free_data;
	timer_init(&op->timer, on_deadline, op);
	TAILQ_INSERT_TAIL(&D->ops, op, link);
	op_poke();
	return op;
}

static void
op_free(struct op *op)
{
	struct client *c = op->client;
	TAILQ_REMOVE(&D->ops, op, link);
	timer_stop(D->loop, &op->timer);
	if (op->free_data)
		op->free_data(op->data);
	json_decref(op->req_id);
	free(op);
	client_op_done(c);
}

void
op_reply(struct op *op, json_t *result)
{
	if (op->client)
		client_reply(op->client, op->req_id, result);
	else
		json_decref(result);
}

/* op_reply() with one more member, key, whose value is the JSON text
 * text[0..len) (client_reply_text()). */
static void
op_reply_text(struct op *op, json_t *result, const char *key, const char *text, size_t len)
{
	if (op->client)
		client_reply_text(op->client, op->req_id, result, key, text, len);
	else
		json_decref(result);
}

void
op_reply_procs(struct op *op, json_t *result, struct inst **ins, size_t n,
    enum procinfo_shape shape)
{
	struct sbuf b = SBUF_INIT;
	if (op->client)
		procinfo_append_all(&b, ins, n, shape);
	free(ins);
	op_reply_text(op, result, "procs", b.s, b.len);
	sbuf_free(&b);
}

void
op_fail(struct op *op, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (op->client)
		client_error(op->client, op->req_id, code, "%s", msg);
	free(msg);
}

bool
op_expired(const struct op *op)
{
	return op->deadline_mono > 0 && mono_ms() >= op->deadline_mono;
}

void
op_poke(void)
{
	D->ops_poked = true;
}

void
op_on_event(const struct event *ev, void *arg)
{
	op_poke();
}

void
op_run(struct loop *l, void *arg)
{
	struct op *op, *next;
	if (!D->ops_poked)
		return;
	D->ops_poked = false;
	for (op = TAILQ_FIRST(&D->ops); op; op = next) {
		next = TAILQ_NEXT(op, link);
		state_step();
		if (op->check(op)) {
			/* A check may have freed other ops' instances, never ops. */
			next = TAILQ_NEXT(op, link);
			op_free(op);
		}
	}
}

void
op_fail_all(const char *code, const char *msg)
{
	struct op *op;
	while ((op = TAILQ_FIRST(&D->ops)) != NULL) {
		op_fail(op, code, "%s", msg);
		op_free(op);
	}
}

void
op_free_all(void)
{
	struct op *op;
	while ((op = TAILQ_FIRST(&D->ops)) != NULL)
		op_free(op);
}

void
op_client_gone(struct client *c)
{
	struct op *op;
	TAILQ_FOREACH(op, &D->ops, link) {
		state_step();
		if (op->client == c)
			op->client = NULL;
	}
}
