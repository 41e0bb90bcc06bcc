/*
 * loop.h — the daemon's single-threaded event loop: epoll for file
 * descriptors, a binary heap of CLOCK_MONOTONIC timers, and hooks that run
 * once per iteration after all events were dispatched.
 *
 * Ownership: the loop never owns the objects it dispatches to. An object that
 * may still have events pending in the current batch must not be freed
 * directly: call loop_defer_free(), which frees it once the batch is done.
 * io_del() on an io makes any pending event for it in this batch a no-op.
 */
#ifndef CORRAL_LOOP_H
#define CORRAL_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct io;
struct timer;

typedef void (*io_cb)(struct io *io, uint32_t events);
typedef void (*timer_cb)(struct timer *t);
typedef void (*loop_hook)(void *arg);

struct io {
	int fd;
	uint32_t events;
	io_cb cb;
	bool active;
};

struct timer {
	int64_t when_ms;        /* absolute, CLOCK_MONOTONIC */
	timer_cb cb;
	int heap_index;         /* -1 when not armed */
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT...). 0 or -errno. */
int io_add(struct loop *l, struct io *io, int fd, uint32_t events, io_cb cb);
int io_mod(struct loop *l, struct io *io, uint32_t events);
void io_del(struct loop *l, struct io *io);

void timer_init(struct timer *t, timer_cb cb);
/* (Re)arm t to fire once after delay_ms. */
void timer_start(struct loop *l, struct timer *t, int64_t delay_ms);
void timer_stop(struct loop *l, struct timer *t);
bool timer_armed(const struct timer *t);

/* Run hook(arg) after every batch of events and timers. */
void loop_add_hook(struct loop *l, loop_hook hook, void *arg);
/* Free p with fn(p) after the current batch. */
void loop_defer_free(struct loop *l, void *p, void (*fn)(void *));

/* Run pending deferred frees now (at exit). */
void loop_flush(struct loop *l);
/* Run until loop_stop(); returns 0, or -errno if epoll itself fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
