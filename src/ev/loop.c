/*
 * loop.c — epoll + timer heap + per-iteration hooks + deferred frees. The
 * contract is in loop.h.
 */
#include "ev/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_EVENTS 64
#define MAX_HOOKS 8

struct deferred {
	void *p;
	void (*fn)(void *);
};

struct loop {
	int epfd;
	bool stop;
	uint64_t timer_seq;     /* the next timer_start()'s seq */
	struct timer **heap;
	size_t nheap, capheap;
	struct {
		loop_hook fn;
		void *arg;
	} hooks[MAX_HOOKS];
	size_t nhooks;
	struct deferred *deferred;
	size_t ndeferred, capdeferred;
};

struct loop *
loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->heap);
	free(l->deferred);
	free(l);
}

int
io_add(struct loop *l, struct io *io, int fd, uint32_t events, io_cb cb, void *arg)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	io->events = events;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	io->active = true;
	return 0;
}

int
io_mod(struct loop *l, struct io *io, uint32_t events)
{
	if (!io->active)
		return -EINVAL;
	if (io->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void
io_del(struct loop *l, struct io *io)
{
	if (!io->active)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->active = false;
}

/* Timer heap, ordered by when_ms, then by start order. */

static bool
timer_before(const struct timer *a, const struct timer *b)
{
	return a->when_ms < b->when_ms || (a->when_ms == b->when_ms && a->seq < b->seq);
}

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct timer *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_index = (int)a;
	l->heap[b]->heap_index = (int)b;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(l->heap[i], l->heap[parent]))
			break;
		heap_swap(l, i, parent);
		i = parent;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, best = i;
		if (left < l->nheap && timer_before(l->heap[left], l->heap[best]))
			best = left;
		if (right < l->nheap && timer_before(l->heap[right], l->heap[best]))
			best = right;
		if (best == i)
			break;
		heap_swap(l, i, best);
		i = best;
	}
}

void
timer_init(struct timer *t, timer_cb cb, void *arg)
{
	t->cb = cb;
	t->arg = arg;
	t->when_ms = 0;
	t->seq = 0;
	t->heap_index = -1;
}

bool
timer_armed(const struct timer *t)
{
	return t->heap_index >= 0;
}

void
timer_stop(struct loop *l, struct timer *t)
{
	if (t->heap_index < 0)
		return;
	size_t i = (size_t)t->heap_index;
	size_t last = l->nheap - 1;
	if (i != last) {
		heap_swap(l, i, last);
		l->nheap--;
		heap_down(l, i);
		heap_up(l, i);
	} else {
		l->nheap--;
	}
	t->heap_index = -1;
}

void
timer_start(struct loop *l, struct timer *t, int64_t delay_ms)
{
	timer_stop(l, t);
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 32;
		l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
	}
	t->when_ms = mono_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->seq = l->timer_seq++;
	t->heap_index = (int)l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, l->nheap - 1);
}

void
loop_add_hook(struct loop *l, loop_hook hook, void *arg)
{
	if (l->nhooks == MAX_HOOKS)
		fatal("too many loop hooks");
	l->hooks[l->nhooks].fn = hook;
	l->hooks[l->nhooks].arg = arg;
	l->nhooks++;
}

void
loop_defer_free(struct loop *l, void *p, void (*fn)(void *))
{
	if (l->ndeferred == l->capdeferred) {
		l->capdeferred = l->capdeferred ? l->capdeferred * 2 : 16;
		l->deferred = xrealloc(l->deferred, l->capdeferred * sizeof(*l->deferred));
	}
	l->deferred[l->ndeferred].p = p;
	l->deferred[l->ndeferred].fn = fn;
	l->ndeferred++;
}

static void
run_deferred(struct loop *l)
{
	/* A free function may defer more frees; loop until drained. */
	while (l->ndeferred > 0) {
		struct deferred d = l->deferred[--l->ndeferred];
		d.fn(d.p);
	}
}

/* Fire the timers that are due. One armed by a callback during this pass
 * waits for the next iteration, even with a delay of 0, so a timer that
 * re-arms itself cannot keep the loop from polling. */
static void
run_timers(struct loop *l)
{
	int64_t now = mono_ms();
	uint64_t armed_during_pass = l->timer_seq;
	while (l->nheap > 0 && l->heap[0]->when_ms <= now &&
	    l->heap[0]->seq < armed_during_pass) {
		struct timer *t = l->heap[0];
		timer_stop(l, t);
		t->cb(l, t, t->arg);
	}
}

void
loop_flush(struct loop *l)
{
	run_deferred(l);
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	struct epoll_event events[MAX_EVENTS];
	int timeout = max_wait_ms;
	if (l->nheap > 0) {
		int64_t wait = l->heap[0]->when_ms - mono_ms();
		wait = wait < 0 ? 0 : (wait > 60000 ? 60000 : wait);
		if (timeout < 0 || wait < timeout)
			timeout = (int)wait;
	}
	int n = epoll_wait(l->epfd, events, MAX_EVENTS, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct io *io = events[i].data.ptr;
		if (io->active)
			io->cb(l, io, events[i].events, io->arg);
	}
	run_timers(l);
	for (size_t i = 0; i < l->nhooks; i++)
		l->hooks[i].fn(l, l->hooks[i].arg);
	run_deferred(l);
	return 0;
}

int
loop_run(struct loop *l)
{
	while (!l->stop) {
		int rc = loop_run_once(l, -1);
		if (rc < 0)
			return rc;
	}
	return 0;
}
