/*
 * loop.h — the event loop: epoll for file descriptors, a binary heap of
 * CLOCK_MONOTONIC timers, hooks that run once per iteration after all events
 * were dispatched, and frees deferred to the end of the iteration.
 *
 * This is the lowest layer of the daemon: it knows nothing of apps, clients
 * or the daemon's state, and everything above it gets its own pointer back
 * in each callback (the `arg` given to io_add() or timer_init()), so no
 * owner has to recover itself from the address of an embedded struct.
 *
 * One iteration:  epoll_wait (until the next timer is due)
 *                   → the io callbacks of this batch, in the kernel's order
 *                   → the due timers, earliest first; ties in start order
 *                   → the hooks, in the order they were added
 *                   → the deferred frees, newest first
 *
 * Ownership: the loop never owns the objects it dispatches to; struct io
 * and struct timer live inside their owners. An object that may still have
 * events pending in the current batch must not be freed directly: call
 * loop_defer_free(), which frees it once the batch is done. io_del() on an
 * io makes any pending event for it in this batch a no-op.
 */
#ifndef CORRAL_EV_LOOP_H
#define CORRAL_EV_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct io;
struct timer;

typedef void (*io_cb)(struct loop *l, struct io *io, uint32_t events, void *arg);
typedef void (*timer_cb)(struct loop *l, struct timer *t, void *arg);
typedef void (*loop_hook)(struct loop *l, void *arg);

struct io {
	int fd;
	uint32_t events;        /* what epoll watches for */
	io_cb cb;
	void *arg;
	bool active;            /* registered with epoll */
};

struct timer {
	int64_t when_ms;        /* absolute, CLOCK_MONOTONIC */
	uint64_t seq;           /* start order: breaks ties between equal when_ms */
	timer_cb cb;
	void *arg;
	int heap_index;         /* -1 when not armed */
};

/* A new loop, or NULL with errno set when epoll cannot be created. */
struct loop *loop_new(void);
/* Free the loop itself. Pending deferred frees are not run (loop_flush). */
void loop_free(struct loop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT...); cb(l, io, events, arg) runs
 * for each readiness. 0 or -errno. 0 events registers the fd idle. */
int io_add(struct loop *l, struct io *io, int fd, uint32_t events, io_cb cb, void *arg);
/* Change what io waits for. 0, -EINVAL if io is not active, or -errno. */
int io_mod(struct loop *l, struct io *io, uint32_t events);
/* Stop watching io (the fd stays open; closing it is the owner's job). */
void io_del(struct loop *l, struct io *io);

/* Prepare t (not armed); cb(l, t, arg) runs when it fires. */
void timer_init(struct timer *t, timer_cb cb, void *arg);
/* (Re)arm t to fire once after delay_ms (negative counts as 0). */
void timer_start(struct loop *l, struct timer *t, int64_t delay_ms);
/* Disarm t; a no-op when it is not armed. */
void timer_stop(struct loop *l, struct timer *t);
bool timer_armed(const struct timer *t);

/* Run hook(l, arg) after every batch of events and timers. At most 8. */
void loop_add_hook(struct loop *l, loop_hook hook, void *arg);
/* Free p with fn(p) after the current batch. */
void loop_defer_free(struct loop *l, void *p, void (*fn)(void *));

/* Run pending deferred frees now (at exit). */
void loop_flush(struct loop *l);
/* Run one iteration, waiting at most max_wait_ms (-1: until an event or
 * the next timer). 0, or -errno if epoll itself fails. For tests and for
 * loop_run(). */
int loop_run_once(struct loop *l, int max_wait_ms);
/* Run until loop_stop(); returns 0, or -errno if epoll itself fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
