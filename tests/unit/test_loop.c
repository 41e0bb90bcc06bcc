/*
 * test_loop.c — the event loop's contract (src/ev/loop.h), on a real epoll
 * and real pipes: timers fire earliest first and in start order on a tie; a
 * timer armed during a pass waits for the next iteration; io_del() inside a
 * batch cancels the io's pending event; callbacks get their loop and arg
 * back; hooks run after every batch, in order; deferred frees run after the
 * hooks, including frees deferred by a free; loop_stop() ends loop_run().
 * Every test ends with no armed timer and no registered io left.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "ev/loop.h"

/* What happened, in order: small integers appended by callbacks. */
struct trace {
	int ev[256];
	size_t n;
};

static void
trace_add(struct trace *tr, int what)
{
	assert_true(tr->n < ARRAY_LEN(tr->ev));
	tr->ev[tr->n++] = what;
}

/* A timer that records its tag when it fires. */
struct tagged_timer {
	struct timer t;
	struct trace *tr;
	int tag;
};

static void
on_tagged(struct loop *l, struct timer *t, void *arg)
{
	struct tagged_timer *tt = arg;
	assert_ptr_equal(t, &tt->t);
	assert_non_null(l);
	trace_add(tt->tr, tt->tag);
}

/* Run iterations until tr holds want events, for at most 2 s. */
static void
run_until(struct loop *l, struct trace *tr, size_t want)
{
	int64_t deadline = mono_ms() + 2000;
	while (tr->n < want) {
		assert_true(mono_ms() < deadline);
		assert_int_equal(loop_run_once(l, 50), 0);
	}
}

static void
test_timers_fire_earliest_first(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	assert_non_null(l);
	struct trace tr = {0};
	struct tagged_timer tt[4];
	int64_t delays[4] = {60, 20, 40, 0};
	for (int i = 0; i < 4; i++) {
		tt[i] = (struct tagged_timer){.tr = &tr, .tag = i};
		timer_init(&tt[i].t, on_tagged, &tt[i]);
		timer_start(l, &tt[i].t, delays[i]);
		assert_true(timer_armed(&tt[i].t));
	}
	run_until(l, &tr, 4);
	int want[4] = {3, 1, 2, 0};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tr.ev[i], want[i]);
		assert_false(timer_armed(&tt[i].t));
	}
	loop_free(l);
}

/* Timers due at the same moment fire in the order they were started, not
 * in the heap's order. */
static void
test_timer_ties_fire_in_start_order(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct trace tr = {0};
	enum { N = 64 };
	struct tagged_timer *tt = calloc(N, sizeof(*tt));
	assert_non_null(tt);
	/* Started in a scrambled index order; the trace must follow it. */
	int order[N];
	for (int i = 0; i < N; i++)
		order[i] = (i * 37) % N;
	for (int i = 0; i < N; i++) {
		struct tagged_timer *t = &tt[order[i]];
		*t = (struct tagged_timer){.tr = &tr, .tag = order[i]};
		timer_init(&t->t, on_tagged, t);
		timer_start(l, &t->t, -5);          /* negative: due now */
	}
	run_until(l, &tr, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(tr.ev[i], order[i]);
	free(tt);
	loop_free(l);
}

/* A re-armed timer goes behind the ones started after its first start. */
static void
test_restart_moves_timer_back(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct trace tr = {0};
	struct tagged_timer a = {.tr = &tr, .tag = 1}, b = {.tr = &tr, .tag = 2};
	timer_init(&a.t, on_tagged, &a);
	timer_init(&b.t, on_tagged, &b);
	timer_start(l, &a.t, 0);
	timer_start(l, &b.t, 0);
	timer_start(l, &a.t, 0);
	run_until(l, &tr, 2);
	assert_int_equal(tr.ev[0], 2);
	assert_int_equal(tr.ev[1], 1);
	assert_int_equal(tr.n, 2);                  /* a fired once, not twice */
	loop_free(l);
}

/* A timer that re-arms itself with no delay fires once per iteration. */
struct rearm {
	struct timer t;
	int fired;
};

static void
on_rearm(struct loop *l, struct timer *t, void *arg)
{
	struct rearm *r = arg;
	r->fired++;
	timer_start(l, t, 0);
}

static void
test_rearm_waits_for_next_iteration(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct rearm r = {0};
	timer_init(&r.t, on_rearm, &r);
	timer_start(l, &r.t, 0);
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(loop_run_once(l, 0), 0);
		assert_int_equal(r.fired, i);
	}
	timer_stop(l, &r.t);
	assert_false(timer_armed(&r.t));
	loop_free(l);
}

/* Stopping a due timer from another timer's callback cancels it. */
struct stopper {
	struct timer t;
	struct timer *victim;
	struct trace *tr;
};

static void
on_stopper(struct loop *l, struct timer *t, void *arg)
{
	struct stopper *s = arg;
	trace_add(s->tr, 1);
	timer_stop(l, s->victim);
}

static void
test_stop_due_timer_inside_pass(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct trace tr = {0};
	struct tagged_timer victim = {.tr = &tr, .tag = 2};
	struct stopper s = {.victim = &victim.t, .tr = &tr};
	timer_init(&s.t, on_stopper, &s);
	timer_init(&victim.t, on_tagged, &victim);
	timer_start(l, &s.t, -1);
	timer_start(l, &victim.t, -1);
	run_until(l, &tr, 1);
	assert_int_equal(loop_run_once(l, 20), 0);
	assert_int_equal(tr.n, 1);
	assert_false(timer_armed(&victim.t));
	timer_stop(l, &victim.t);                   /* stopping twice is a no-op */
	loop_free(l);
}

/* Two readable pipes in one batch: whichever callback runs first removes
 * the other's io, whose pending event must then not be delivered. */
struct pipe_io {
	struct io io;
	int fds[2];
	struct pipe_io *other;
	int calls;
	struct loop *seen_loop;
};

static void
on_pipe(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct pipe_io *p = arg;
	assert_ptr_equal(io, &p->io);
	assert_true(events & EPOLLIN);
	p->calls++;
	p->seen_loop = l;
	io_del(l, &p->other->io);
}

static void
make_pipe(struct pipe_io *p)
{
	assert_int_equal(pipe2(p->fds, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(p->fds[1], "x", 1), 1);
}

static void
close_pipe(struct pipe_io *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
}

static void
test_io_del_inside_batch(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct pipe_io a = {0}, b = {0};
	a.other = &b;
	b.other = &a;
	make_pipe(&a);
	make_pipe(&b);
	assert_int_equal(io_add(l, &a.io, a.fds[0], EPOLLIN, on_pipe, &a), 0);
	assert_int_equal(io_add(l, &b.io, b.fds[0], EPOLLIN, on_pipe, &b), 0);
	assert_int_equal(loop_run_once(l, 1000), 0);
	/* Exactly one ran, and it got the loop it was registered with. */
	assert_int_equal(a.calls + b.calls, 1);
	assert_ptr_equal(a.calls ? a.seen_loop : b.seen_loop, l);
	/* The survivor stays registered and fires again (level-triggered). */
	struct pipe_io *alive = a.calls ? &a : &b;
	struct pipe_io *gone = a.calls ? &b : &a;
	assert_true(alive->io.active);
	assert_false(gone->io.active);
	gone->other = gone;                         /* stop deleting the dead one */
	alive->other = alive;
	assert_int_equal(loop_run_once(l, 1000), 0);
	assert_int_equal(alive->calls, 2);
	assert_int_equal(gone->calls, 0);
	/* io_mod on a removed io is refused; io_del twice is a no-op. */
	assert_int_equal(io_mod(l, &gone->io, EPOLLIN), -EINVAL);
	io_del(l, &gone->io);
	close_pipe(&a);
	close_pipe(&b);
	loop_free(l);
}

/* An fd epoll cannot watch (a regular file) is refused with -EPERM and the
 * io stays inactive. */
static void
test_io_add_refuses_regular_file(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	char path[] = "/tmp/corral-test-loop-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	struct pipe_io p = {0};
	assert_int_equal(io_add(l, &p.io, fd, EPOLLIN, on_pipe, &p), -EPERM);
	assert_false(p.io.active);
	close(fd);
	loop_free(l);
}

/* Hooks run after the batch, in the order they were added; deferred frees
 * run after the hooks, newest first, and a free may defer another. */
struct order_ctx {
	struct trace tr;
	struct loop *l;
};

struct freed {
	struct order_ctx *ctx;
	int tag;
	bool chain;                 /* defer another free from inside this one */
};

static void
free_tagged(void *p)
{
	struct freed *f = p;
	trace_add(&f->ctx->tr, f->tag);
	if (f->chain) {
		struct freed *g = malloc(sizeof(*g));
		assert_non_null(g);
		*g = (struct freed){.ctx = f->ctx, .tag = 40};
		loop_defer_free(f->ctx->l, g, free_tagged);
	}
	free(f);
}

static void
hook_a(struct loop *l, void *arg)
{
	struct order_ctx *c = arg;
	assert_ptr_equal(l, c->l);
	trace_add(&c->tr, 20);
}

static void
hook_b(struct loop *l, void *arg)
{
	trace_add(&((struct order_ctx *)arg)->tr, 21);
}

struct deferring_timer {
	struct timer t;
	struct order_ctx *ctx;
};

static void
on_deferring(struct loop *l, struct timer *t, void *arg)
{
	struct deferring_timer *d = arg;
	trace_add(&d->ctx->tr, 10);
	for (int i = 0; i < 2; i++) {
		struct freed *f = malloc(sizeof(*f));
		assert_non_null(f);
		*f = (struct freed){.ctx = d->ctx, .tag = 30 + i, .chain = i == 0};
		loop_defer_free(l, f, free_tagged);
	}
	/* Not freed yet: the batch is still running. */
	assert_int_equal(d->ctx->tr.n, 1);
}

static void
test_hooks_then_deferred_frees(void **state)
{
	(void)state;
	struct order_ctx c = {.l = loop_new()};
	loop_add_hook(c.l, hook_a, &c);
	loop_add_hook(c.l, hook_b, &c);
	struct deferring_timer d = {.ctx = &c};
	timer_init(&d.t, on_deferring, &d);
	timer_start(c.l, &d.t, 0);
	run_until(c.l, &c.tr, 1);
	int want[] = {10, 20, 21, 31, 30, 40};
	assert_int_equal(c.tr.n, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_int_equal(c.tr.ev[i], want[i]);
	/* Hooks run after every iteration, even one with no event. */
	assert_int_equal(loop_run_once(c.l, 0), 0);
	assert_int_equal(c.tr.n, ARRAY_LEN(want) + 2);
	loop_free(c.l);
}

/* loop_flush() runs what was deferred outside a batch (at exit). */
static void
test_flush_runs_deferred(void **state)
{
	(void)state;
	struct order_ctx c = {.l = loop_new()};
	struct freed *f = malloc(sizeof(*f));
	assert_non_null(f);
	*f = (struct freed){.ctx = &c, .tag = 7};
	loop_defer_free(c.l, f, free_tagged);
	assert_int_equal(c.tr.n, 0);
	loop_flush(c.l);
	assert_int_equal(c.tr.n, 1);
	assert_int_equal(c.tr.ev[0], 7);
	loop_free(c.l);
}

/* loop_run() returns once a callback calls loop_stop(). */
struct stop_after {
	struct timer t;
	int left;
};

static void
on_stop_after(struct loop *l, struct timer *t, void *arg)
{
	struct stop_after *s = arg;
	if (--s->left == 0)
		loop_stop(l);
	else
		timer_start(l, t, 1);
}

static void
test_loop_stop_ends_run(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	struct stop_after s = {.left = 3};
	timer_init(&s.t, on_stop_after, &s);
	timer_start(l, &s.t, 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(s.left, 0);
	assert_false(timer_armed(&s.t));
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_earliest_first),
		cmocka_unit_test(test_timer_ties_fire_in_start_order),
		cmocka_unit_test(test_restart_moves_timer_back),
		cmocka_unit_test(test_rearm_waits_for_next_iteration),
		cmocka_unit_test(test_stop_due_timer_inside_pass),
		cmocka_unit_test(test_io_del_inside_batch),
		cmocka_unit_test(test_io_add_refuses_regular_file),
		cmocka_unit_test(test_hooks_then_deferred_frees),
		cmocka_unit_test(test_flush_runs_deferred),
		cmocka_unit_test(test_loop_stop_ends_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
