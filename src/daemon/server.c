/*
 * server.c — control socket and clients.
 */
#include "daemon/server.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/linebuf.h"
#include "common/log.h"
#include "daemon/commands.h"
#include "daemon/events.h"
#include "daemon/fdreserve.h"
#include "daemon/op.h"
#include "daemon/state.h"
#include "daemon/table.h"

/*
 * Memory. Whatever clients do, what the daemon holds for them is bounded:
 *
 * - output: a client gets no further request read while any of its output
 *   waits in the daemon (what its socket took is the kernel's), so a client
 *   that does not read holds at most one reply. Everything queued for all
 *   clients together stays within OUT_BUDGET; a subscriber's pushes within
 *   PUSH_BUDGET too (beyond, they are dropped and counted). When something
 *   does not fit, clients that hold queued output and read none of it for
 *   STALL_MS are closed, the longest stalled first; if that is not enough,
 *   a push is dropped and a reply's client is closed, with the reason in
 *   daemon.log. A reply bigger than the whole budget passes only alone.
 *   Slow readers that keep reading are never closed: a big reply reaches
 *   them at their pace.
 * - input: a request is read in small slices and no further bytes are read
 *   while a complete request waits; request lines longer than BIG_LINE
 *   being received by all clients together stay within IN_BUDGET, by the
 *   same rule (stalled senders go first).
 */
#define OUT_BUDGET (4u << 20)
#define PUSH_BUDGET (256u << 10)
#define IN_BUDGET (8u << 20)
#define BIG_LINE (64u << 10)
#define STALL_MS 2000
/* Client slots: a quarter of the daemon's descriptors at most, the rest
 * stay for apps and their sockets. */
#define MAX_CLIENTS 1024
/* Subscribers (`corral logs`, events) are never closed for being idle, so
 * they may hold only so many slots: the others (a sixteenth) stay for
 * commands. */
#define MAX_SUBSCRIBERS(clients) ((clients) - (clients) / 16)
/* A new connection has this long to say hello. */
#define HELLO_TIMEOUT_MS 5000
/* A client that holds no subscription and waits for no reply is closed
 * after this long without a request or a read (CORRAL_CLIENT_IDLE_MS). */
#define IDLE_TIMEOUT_MS 60000
/* Out of descriptors, a newcomer takes the descriptor of a client idle for
 * at least this long. */
#define EVICT_MIN_IDLE_MS 200
#define ACCEPT_RETRY_MS 100
#define REQUESTS_PER_TURN 4
/* Lines of a stream made per turn of the loop when the socket takes them
 * at once (a local client reading fast): the others go on next turn. */
#define STREAM_LINES_PER_TURN 8

/* A reply made line by line as the client reads it (client_stream). */
struct stream {
	stream_next_fn next;
	void *arg;
	void (*free_arg)(void *);
};

struct client {
	TAILQ_ENTRY(client) link;
	struct io io;
	int fd;
	uid_t uid;
	pid_t pid;
	bool hello;
	bool read_eof;           /* the peer will send nothing more */
	bool processing;         /* inside process_lines() */
	bool closing;            /* close once the output is flushed */
	bool dead;
	struct linebuf in;
	struct sbuf out;
	size_t out_off;
	/* subscriptions */
	bool sub_logs;
	bool sub_out, sub_err;
	/* What a log subscription follows, both NULL for everything: apps by
	 * their id (their instances, also those added later) and single
	 * instances by their uid; objects keyed by the decimal id, whose value
	 * is the name to say when it is deleted. Ids are never reused, so a
	 * follower never gets the lines of an app started later under a
	 * reused pm_id. */
	json_t *sub_apps;
	json_t *sub_insts;
	bool sub_events;
	int64_t missed;          /* pushes dropped because the queue was full */
	int64_t active_mono;     /* last request handled, or reply bytes read */
	struct timer idle_timer; /* the hello deadline, then the idle timeout */
	int64_t out_moved_mono;  /* output queued, or some of it read, last */
	int64_t in_moved_mono;   /* request bytes read last */
	bool said_partly;        /* sent part of a line: no error line may follow */
	struct stream *stream;   /* a reply being made, NULL when none */
};

/* What a client holds: queued output, or a long request line in progress. */
enum holding {
	HOLD_OUT,
	HOLD_IN,
};

static void client_drop(struct client *c);
static void client_expel(struct client *c, const char *code, const char *fmt, ...)
    PRINTFLIKE(3, 4);
static void process_lines(struct client *c);
static void maybe_finish(struct client *c);

static void
client_free(void *p)
{
	struct client *c = p;
	linebuf_free(&c->in);
	sbuf_free(&c->out);
	json_decref(c->sub_apps);
	json_decref(c->sub_insts);
	free(c);
}

static void
stream_end(struct client *c)
{
	struct stream *s = c->stream;
	if (!s)
		return;
	c->stream = NULL;
	if (s->free_arg)
		s->free_arg(s->arg);
	free(s);
}

static void
client_drop(struct client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	stream_end(c);
	D->clients_out_bytes -= c->out.len - c->out_off;
	timer_stop(D->loop, &c->idle_timer);
	io_del(D->loop, &c->io);
	close(c->fd);
	/* The next client gets in even when apps took every other fd. */
	fdreserve_refill_accept();
	TAILQ_REMOVE(&D->clients, c, link);
	op_client_gone(c);
	loop_defer_free(D->loop, c, client_free);
}

static size_t
queued(const struct client *c)
{
	return c->out.len - c->out_off;
}

static void
update_events(struct client *c)
{
	uint32_t ev = c->closing || c->read_eof || queued(c) > 0 || c->stream ? 0 : EPOLLIN;
	/* Requests held back while the client was behind are handled from
	 * on_client(): a writable socket brings us there once it caught up.
	 * A stream's next lines are made from there too. */
	if (queued(c) > 0 || c->stream || (!c->closing && linebuf_has_line(&c->in)))
		ev |= EPOLLOUT;
	io_mod(D->loop, &c->io, ev);
}

/* Send what the socket takes now; false when the client was dropped. */
static bool
send_some(struct client *c, const char *data, size_t n, size_t *sent)
{
	*sent = 0;
	while (*sent < n) {
		ssize_t k = send(c->fd, data + *sent, n - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_drop(c);
			return false;
		}
		*sent += (size_t)k;
		c->active_mono = c->out_moved_mono = mono_ms();
	}
	return true;
}

static bool client_queue(struct client *c, const char *data, size_t n, bool push);

/* Push the "missed" note on its own (client_queue sends it before the
 * next push otherwise). */
static void
say_missed(struct client *c)
{
	char note[64];
	int n = snprintf(note, sizeof(note), "{\"event\":\"missed\",\"count\":%lld}\n",
	    (long long)c->missed);
	c->missed = 0;
	client_queue(c, note, (size_t)n, false);
}

static void
flush_out(struct client *c)
{
	size_t sent = 0;
	/* Nothing queued may mean no buffer at all (NULL + 0 is UB). */
	if (queued(c) > 0 && !send_some(c, c->out.s + c->out_off, queued(c), &sent))
		return;
	c->out_off += sent;
	D->clients_out_bytes -= sent;
	if (queued(c) == 0) {
		/* A big reply's buffer goes with it. */
		if (c->out.cap > BIG_LINE)
			sbuf_free(&c->out);
		else
			sbuf_reset(&c->out);
		c->out_off = 0;
		c->said_partly = false;
		if (c->closing) {
			client_drop(c);
			return;
		}
		/* The subscriber caught up: tell it now what it missed, not with
		 * a next push that may never come. */
		if (c->missed > 0)
			say_missed(c);
	} else if (c->out_off > (1u << 20)) {
		/* Drop what was sent so the buffer does not creep. */
		memmove(c->out.s, c->out.s + c->out_off, queued(c));
		c->out.len -= c->out_off;
		c->out.s[c->out.len] = '\0';
		c->out_off = 0;
	}
	update_events(c);
}

/* How much of `what` c holds. */
static size_t
held(const struct client *c, enum holding what)
{
	if (what == HOLD_OUT)
		return queued(c);
	size_t n = linebuf_pending(&c->in);
	return n >= BIG_LINE ? n : 0;
}

/* Does c move after all? Output: what a flush sends (it updates the
 * clock); input: bytes waiting in its socket for us to read. */
static bool
still_moving(struct client *c, enum holding what)
{
	if (what == HOLD_IN) {
		int unread = 0;
		if (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0) {
			c->in_moved_mono = mono_ms();
			return true;
		}
		return false;
	}
	size_t before = queued(c);
	flush_out(c);
	return c->dead || queued(c) < before;
}

static int64_t
moved_mono(const struct client *c, enum holding what)
{
	return what == HOLD_OUT ? c->out_moved_mono : c->in_moved_mono;
}

/* Room for n more bytes of `what` within budget: close the clients (other
 * than c) that hold some and moved none of it for STALL_MS, the longest
 * stalled first. True when n fits, or when nobody else holds any (one
 * item bigger than the budget passes alone). *no_stall_before, when given,
 * caches the earliest time a client can be stalled, so that a full budget
 * costs one walk of the clients per STALL_MS, not one per line. */
static bool
make_room(struct client *c, enum holding what, size_t n, size_t budget,
    int64_t *no_stall_before)
{
	for (;;) {
		size_t total = 0, others = 0;
		struct client *o, *stalled = NULL;
		int64_t now = mono_ms(), earliest = INT64_MAX;
		TAILQ_FOREACH(o, &D->clients, link) {
			size_t h = held(o, what);
			total += h;
			if (o == c || h == 0)
				continue;
			others += h;
			int64_t moved = moved_mono(o, what);
			if (moved < earliest)
				earliest = moved;
			if (now - moved >= STALL_MS && (!stalled || moved < moved_mono(stalled, what)))
				stalled = o;
		}
		if (total + n <= budget || others == 0)
			return true;
		if (!stalled) {
			if (no_stall_before)
				*no_stall_before = earliest + STALL_MS;
			return false;
		}
		/* The daemon itself may have been too busy to move anything: a
		 * client that reads what its socket holds, or whose request waits
		 * in its socket, is not stalled. */
		if (still_moving(stalled, what))
			continue;
		client_expel(stalled, "busy", "%s %zu bytes and %s for %lld ms; another client "
		    "needs the room", what == HOLD_OUT ? "holds" : "is sending a request of",
		    held(stalled, what), what == HOLD_OUT ? "read none of them" : "sent nothing more",
		    (long long)(now - moved_mono(stalled, what)));
	}
}

/* make_room() for output, with the daemon's running total first. */
static bool
out_fits(struct client *c, size_t n)
{
	size_t total = D->clients_out_bytes;
	if (total + n <= OUT_BUDGET || total == queued(c))
		return true;
	if (mono_ms() < D->clients_out_no_stall_before)
		return false;
	return make_room(c, HOLD_OUT, n, OUT_BUDGET, &D->clients_out_no_stall_before);
}

/* A large request (an ecosystem file of 100 apps, a jlist of them) peaks at
 * a few MB of JSON that is freed at once, but glibc only returns the top of
 * the heap to the system: the freed pages in the middle stay resident and the
 * idle daemon looks twice its size. Hand them back once the clients have been
 * quiet for TRIM_IDLE_MS (malloc_trim walks the heap: ~0.1 ms here). */
#define TRIM_IDLE_MS 1000
/* Small requests and replies (a dashboard's sample every second) reuse the
 * same few chunks of heap: no trim, and no walk of the heap, for them. */
#define TRIM_MIN_BYTES (64u << 10)

static void
on_trim(struct loop *l, struct timer *t, void *arg)
{
	D->trim_bytes = 0;
	table_drop_caches();
	malloc_trim(0);
}

/* n more bytes of requests or output went through the heap: once that adds
 * up to TRIM_MIN_BYTES, trim when the clients are quiet. */
static void
trim_later(size_t n)
{
	D->trim_bytes += n;
	if (D->trim_bytes >= TRIM_MIN_BYTES)
		timer_start(D->loop, &D->trim_timer, TRIM_IDLE_MS);
}

/* Send one line (data ends with its newline), queueing what the socket does
 * not take. A push that does not fit the subscriber's or the daemon's
 * budget is dropped and counted (false); a reply that does not fit closes
 * its client, with the reason in daemon.log. */
static bool
client_queue(struct client *c, const char *data, size_t n, bool push)
{
	if (c->dead)
		return false;
	if (push && queued(c) > 0 && (queued(c) + n > PUSH_BUDGET || !out_fits(c, n))) {
		c->missed++;
		return false;
	}
	trim_later(n);
	char *with_note = NULL;
	if (push && c->missed > 0) {
		with_note = xasprintf("{\"event\":\"missed\",\"count\":%lld}\n%.*s",
		    (long long)c->missed, (int)n, data);
		c->missed = 0;
		data = with_note;
		n = strlen(with_note);
	}
	size_t sent = 0;
	if (queued(c) == 0 && !send_some(c, data, n, &sent)) {
		free(with_note);
		return false;
	}
	c->said_partly |= sent > 0 && sent < n;
	size_t rest = n - sent;
	/* The rest of a push already begun must follow, or the line is cut. */
	if (rest > 0 && !push && !out_fits(c, rest)) {
		client_expel(c, "busy", "a reply of %zu bytes does not fit: %zu of the %u bytes the "
		    "daemon holds for clients that read slowly are taken", n,
		    D->clients_out_bytes, OUT_BUDGET);
		free(with_note);
		return false;
	}
	if (rest > 0) {
		if (queued(c) == 0)
			c->out_moved_mono = mono_ms();
		sbuf_add(&c->out, data + sent, rest);
		D->clients_out_bytes += rest;
		update_events(c);
	} else if (c->closing && queued(c) == 0) {
		client_drop(c);
	}
	free(with_note);
	return true;
}

/* msg as one line of the protocol (caller frees), NULL if it cannot be. */
static char *
line_of(json_t *msg)
{
	char *txt = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!txt)
		return NULL;
	size_t len = strlen(txt);
	txt = xrealloc(txt, len + 2);
	txt[len] = '\n';
	txt[len + 1] = '\0';
	return txt;
}

/* Send a reply. */
static void
client_send(struct client *c, json_t *msg)
{
	if (c->dead)
		return;
	char *txt = line_of(msg);
	if (txt)
		client_queue(c, txt, strlen(txt), false);
	free(txt);
}

/* Push msg to c; *line keeps its text for the next subscriber (the caller
 * frees it), so a line for many subscribers is serialized once. */
static void
client_push(struct client *c, json_t *msg, char **line)
{
	if (!*line)
		*line = line_of(msg);
	if (*line)
		client_queue(c, *line, strlen(*line), true);
}

/* Make and send a stream's next lines while the socket takes them whole,
 * STREAM_LINES_PER_TURN at most. */
static void
stream_pump(struct client *c)
{
	for (int k = 0; k < STREAM_LINES_PER_TURN && c->stream && !c->dead && queued(c) == 0;
	    k++) {
		size_t len;
		char *line = c->stream->next(c->stream->arg, &len);
		if (!line) {
			stream_end(c);
			maybe_finish(c);
			break;
		}
		client_queue(c, line, len, false);
		free(line);
	}
	if (!c->dead)
		update_events(c);
}

void
client_stream(struct client *c, stream_next_fn next, void *arg, void (*free_arg)(void *))
{
	if (c->dead || c->stream) {
		if (free_arg)
			free_arg(arg);
		return;
	}
	c->stream = xcalloc(1, sizeof(*c->stream));
	*c->stream = (struct stream){next, arg, free_arg};
	stream_pump(c);
}

void
client_send_line(struct client *c, const char *text)
{
	size_t len = strlen(text);
	char *line = xmalloc(len + 2);
	memcpy(line, text, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	client_queue(c, line, len + 1, false);
	free(line);
}

/* {"id":id,"ok":true, ...result's members}; result is consumed. */
static json_t *
reply_of(json_t *id, json_t *result)
{
	json_t *r = json_object();
	json_object_set(r, "id", id ? id : json_null());
	json_object_set_new(r, "ok", json_true());
	if (result)
		json_object_update(r, result);
	json_decref(result);
	return r;
}

void
client_reply(struct client *c, json_t *id, json_t *result)
{
	json_t *r = reply_of(id, result);
	client_send(c, r);
	json_decref(r);
}

void
client_reply_text(struct client *c, json_t *id, json_t *result, const char *key,
    const char *text, size_t len)
{
	json_t *r = reply_of(id, result);
	char *head = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(r);
	json_t *k = json_string(key);
	char *ktxt = json_dumps(k, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	json_decref(k);
	if (!c->dead && head && ktxt) {
		/* head is {...}: its closing brace gives way to the member. */
		struct sbuf b = SBUF_INIT;
		sbuf_add(&b, head, strlen(head) - 1);
		sbuf_addc(&b, ',');
		sbuf_adds(&b, ktxt);
		sbuf_addc(&b, ':');
		sbuf_add(&b, text, len);
		sbuf_adds(&b, "}\n");
		client_queue(c, b.s, b.len, false);
		sbuf_free(&b);
	}
	free(head);
	free(ktxt);
}

void
client_error(struct client *c, json_t *id, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *r = json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", id ? id : json_null(),
	    "ok", 0, "error", "code", code, "message", msg);
	free(msg);
	client_send(c, r);
	json_decref(r);
}

void
client_close_after_flush(struct client *c)
{
	c->closing = true;
	flush_out(c);
}

static void
handle_line(struct client *c, const char *line, size_t len)
{
	trim_later(len);
	c->active_mono = mono_ms();
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr);
	if (!req || !json_is_object(req)) {
		if (req)
			client_error(c, NULL, "bad_request", "a request must be a JSON object");
		else
			client_error(c, NULL, "bad_json", "invalid JSON at column %d: %s",
			    jerr.column, jerr.text);
		json_decref(req);
		client_close_after_flush(c);
		return;
	}
	json_t *id = json_object_get(req, "id");
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		client_error(c, id, "bad_request", "missing \"cmd\"");
	} else if (!c->hello && strcmp(cmd, "hello") != 0) {
		client_error(c, id, "no_hello", "say hello first: {\"cmd\":\"hello\",\"v\":%d}",
		    PROTO_VERSION);
		client_close_after_flush(c);
	} else if (strcmp(cmd, "hello") == 0) {
		json_t *v = json_object_get(req, "v");
		if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
			client_error(c, id, "version", "protocol version %s is not supported "
			    "(this daemon speaks %d)", json_is_integer(v) ? "given" : "missing",
			    PROTO_VERSION);
			client_close_after_flush(c);
		} else {
			c->hello = true;
			timer_start(D->loop, &c->idle_timer, D->client_idle_ms);
			/* What a client may use beyond version 1 of the protocol
			 * (a CLI of another build may talk to this daemon). */
			client_reply(c, id, json_pack("{s:i, s:s, s:i, s:[s]}", "v", PROTO_VERSION,
			    "version", CORRAL_VERSION, "pid", (int)D->pid, "features", "env_base"));
		}
	} else {
		command_dispatch(c, id, cmd, req);
	}
	json_decref(req);
}

static bool
client_has_ops(const struct client *c)
{
	struct op *op;
	TAILQ_FOREACH(op, &D->ops, link)
		if (op->client == c)
			return true;
	return false;
}

/* Subscribed, or waiting for a reply: not idle, whatever the clock says. */
static bool
client_pinned(const struct client *c)
{
	return c->sub_logs || c->sub_events || c->stream || client_has_ops(c);
}

/* Close c now, for a reason that does not wait for it to read: say why in
 * daemon.log and, if nothing else is queued for it, in one error line. */
static void
client_expel(struct client *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	dlog("client pid %d: closed: %s", (int)c->pid, msg);
	if (queued(c) == 0 && !c->said_partly) {
		json_t *r = json_pack("{s:n, s:b, s:{s:s, s:s}}", "id", "ok", 0, "error",
		    "code", code, "message", msg);
		char *txt = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(r);
		char *line = xasprintf("%s\n", txt);
		ssize_t unused = send(c->fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)unused;
		free(line);
		free(txt);
	}
	free(msg);
	client_drop(c);
}

/* The hello deadline, then the idle timeout: a client that neither says
 * hello in time nor, later, sends a request or reads a reply for
 * client_idle_ms while it holds no subscription and waits for nothing,
 * gives its slot back. */
static void
on_client_timer(struct loop *l, struct timer *t, void *arg)
{
	struct client *c = arg;
	if (!c->hello) {
		client_expel(c, "timeout", "no hello within %d ms", HELLO_TIMEOUT_MS);
		return;
	}
	int64_t left = c->active_mono + D->client_idle_ms - mono_ms();
	if (client_pinned(c) || left > 0) {
		timer_start(l, t, left > 0 ? left : D->client_idle_ms);
		return;
	}
	client_expel(c, "idle", "no request for %lld ms", (long long)D->client_idle_ms);
}

/* After the peer stopped sending: close once every request is answered. */
static void
maybe_finish(struct client *c)
{
	if (!c->read_eof || c->dead || c->closing || linebuf_has_line(&c->in))
		return;
	if (linebuf_pending(&c->in) > 0) {
		client_error(c, NULL, "truncated", "connection closed in the middle of a request line");
		client_close_after_flush(c);
	} else if (!client_has_ops(c) && !c->stream) {
		client_close_after_flush(c);
	}
}

/* Handle the complete lines read so far, while the client keeps up with
 * its replies, REQUESTS_PER_TURN at a time: the others wait for the next
 * turn of the loop (update_events() asks for one), so that hundreds of
 * clients pipelining requests do not keep `corral` waiting. */
static void
process_lines(struct client *c)
{
	if (c->processing)
		return;
	c->processing = true;
	char *line;
	size_t len;
	for (int turn = 0; turn < REQUESTS_PER_TURN && !c->dead && !c->closing &&
	    queued(c) == 0 && !c->stream && (line = linebuf_next(&c->in, &len)) != NULL; turn++)
		handle_line(c, line, len);
	if (!c->dead)
		linebuf_shrink(&c->in);
	if (!c->dead && !c->closing && c->in.overflow) {
		client_error(c, NULL, "too_long", "request line longer than %u bytes", PROTO_MAX_LINE);
		client_close_after_flush(c);
	}
	c->processing = false;
	maybe_finish(c);
}

bool
client_alive(const struct client *c)
{
	return c && !c->dead;
}

void
client_op_done(struct client *c)
{
	if (c && !c->dead)
		maybe_finish(c);
}

static void
on_client(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct client *c = arg;
	if (events & EPOLLOUT) {
		flush_out(c);
		/* Caught up: make a stream's next lines, or handle requests held
		 * back meanwhile. Only here, never from flush_out(): replies and
		 * pushes flush in the middle of other work (another client's
		 * delete, a log line), which a request run from there would pull
		 * the instances from under. */
		if (!c->dead && c->stream && queued(c) == 0)
			stream_pump(c);
		if (!c->dead && c->out.len == 0 && !c->stream &&
		    (linebuf_has_line(&c->in) || c->read_eof)) {
			process_lines(c);
			if (!c->dead && !c->closing)
				update_events(c);
		}
	}
	if (c->dead || c->closing || c->read_eof || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (int round = 0; round < 8 && !c->dead && !c->closing; round++) {
		/* Requests wait in the socket while the replies are not read. */
		if (queued(c) > 0 || c->stream || linebuf_has_line(&c->in))
			break;
		if (held(c, HOLD_IN) > 0 && !make_room(c, HOLD_IN, BIG_LINE, IN_BUDGET, NULL)) {
			client_expel(c, "busy", "a request of %zu bytes so far does not fit in the %u "
			    "bytes the daemon takes of requests in progress", held(c, HOLD_IN),
			    IN_BUDGET);
			return;
		}
		ssize_t n = linebuf_read(&c->in, c->fd);
		if (n > 0)
			c->in_moved_mono = mono_ms();
		if (n == -EAGAIN)
			break;
		if (n == -EMSGSIZE) {
			client_error(c, NULL, "too_long", "request line longer than %u bytes",
			    PROTO_MAX_LINE);
			client_close_after_flush(c);
			return;
		}
		if (n <= 0) {
			c->read_eof = true;
			update_events(c);
			process_lines(c);
			return;
		}
		process_lines(c);
	}
	if (!c->dead && !c->closing)
		update_events(c);
}

/* Close the client idle the longest among those that hold no subscription
 * and wait for no reply, for a newcomer, if it has been idle for min_idle_ms
 * at least; false if there is none. */
static bool
evict_idlest(const char *why, int64_t min_idle_ms)
{
	struct client *o, *idlest = NULL;
	TAILQ_FOREACH(o, &D->clients, link)
		if (!client_pinned(o) && (!idlest || o->active_mono < idlest->active_mono))
			idlest = o;
	if (!idlest || mono_ms() - idlest->active_mono < min_idle_ms)
		return false;
	client_expel(idlest, "idle", "%s: this one, idle for %lld ms, makes room for a new one",
	    why, (long long)(mono_ms() - idlest->active_mono));
	return true;
}

/* A slot for a new client: when all slots are taken, the client idle
 * the longest among those that hold no subscription and wait for no reply
 * gives its slot up, so that a command always gets in. False when every
 * client is subscribed or waiting. */
static bool
make_client_room(void)
{
	size_t n = 0;
	struct client *o;
	TAILQ_FOREACH(o, &D->clients, link)
		n++;
	return n < D->max_clients || evict_idlest("every client slot is taken", 0);
}

static void
on_accept(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(D->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		/* Out of descriptors: the client (`corral` itself, most likely)
		 * gets the daemon's spare; when a client holds it, the client idle
		 * the longest gives its descriptor to the spare — if it has been
		 * idle a while: with one slot, each newcomer of a flood would
		 * close the one before it, `corral` too, before it said anything.
		 * Newcomers wait in the listen queue meanwhile. */
		int e = errno;
		if (fd < 0 && (e == EMFILE || e == ENFILE) && (fdreserve_release_for_accept(e) ||
		    (evict_idlest("out of file descriptors", EVICT_MIN_IDLE_MS) &&
		     fdreserve_release_for_accept(e)))) {
			fd = accept4(D->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0)
				fdreserve_refill_accept();
		}
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The pending connection keeps the socket readable:
				 * stop watching it for a moment instead of spinning. */
				dlog("accept: %s; not accepting clients for %d ms", strerror(errno),
				    ACCEPT_RETRY_MS);
				io_mod(D->loop, &D->ctl_io, 0);
				timer_start(D->loop, &D->accept_retry, ACCEPT_RETRY_MS);
			} else if (errno != EAGAIN && errno != EINTR) {
				dlog("accept: %s", strerror(errno));
			}
			return;
		}
		if (!make_client_room()) {
			static const char msg[] = "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
			    "\"busy\",\"message\":\"too many clients, each of them subscribed or "
			    "waiting for a reply\"}}\n";
			ssize_t unused = send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)unused;
			close(fd);
			fdreserve_refill_accept();
			continue;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			fdreserve_refill_accept();
			continue;
		}
		struct client *c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->active_mono = c->out_moved_mono = c->in_moved_mono = mono_ms();
		linebuf_init(&c->in, PROTO_MAX_LINE);
		timer_init(&c->idle_timer, on_client_timer, c);
		TAILQ_INSERT_TAIL(&D->clients, c, link);
		if (io_add(D->loop, &c->io, fd, EPOLLIN, on_client, c) < 0) {
			TAILQ_REMOVE(&D->clients, c, link);
			close(fd);
			fdreserve_refill_accept();
			client_free(c);
			continue;
		}
		timer_start(D->loop, &c->idle_timer, HELLO_TIMEOUT_MS);
		if (cred.uid != geteuid() && cred.uid != 0) {
			dlog("refused a client with uid %u (pid %d)", (unsigned)cred.uid, (int)cred.pid);
			client_error(c, NULL, "forbidden", "uid %u may not control this corral "
			    "daemon (it belongs to uid %u)", (unsigned)cred.uid, (unsigned)geteuid());
			client_close_after_flush(c);
		}
	}
}

static void
on_accept_retry(struct loop *l, struct timer *t, void *arg)
{
	io_mod(l, &D->ctl_io, EPOLLIN);
}

int
server_listen(char **err)
{
	D->client_idle_ms = env_number("CORRAL_CLIENT_IDLE_MS", 1, 24LL * 3600 * 1000, IDLE_TIMEOUT_MS);
	struct rlimit nofile;
	D->max_clients = MAX_CLIENTS;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur / 4 < MAX_CLIENTS)
		D->max_clients = nofile.rlim_cur / 4;
	timer_init(&D->accept_retry, on_accept_retry, NULL);
	timer_init(&D->trim_timer, on_trim, NULL);
	/* The previous daemon of this process, before `corral update` made it
	 * exec us, kept its listening socket open for us: connections made
	 * meanwhile wait in its backlog, none is refused. */
	const char *inherited = getenv("CORRAL_CONTROL_FD");
	if (inherited) {
		int fd = atoi(inherited);
		unsetenv("CORRAL_CONTROL_FD");
		int listening = 0;
		socklen_t len = sizeof(listening);
		if (fd > 2 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
		    listening) {
			fd_set_cloexec(fd, true);
			fd_set_nonblock(fd, true);
			D->ctl_fd = fd;
			return io_add(D->loop, &D->ctl_io, fd, EPOLLIN, on_accept, NULL);
		}
		dlog("CORRAL_CONTROL_FD=%s is not a listening socket: listening anew", inherited);
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", D->paths.sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -errno;
	}
	unlink(D->paths.sock);
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0 || chmod(D->paths.sock, 0600) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		*err = xasprintf("cannot listen on %s: %s", D->paths.sock, strerror(e));
		close(fd);
		return -e;
	}
	D->ctl_fd = fd;
	return io_add(D->loop, &D->ctl_io, fd, EPOLLIN, on_accept, NULL);
}

/* Write what is queued for c, waiting for it until deadline (mono ms):
 * only at exit or just before the daemon's exec (update.c). */
static void
flush_until(struct client *c, int64_t deadline)
{
	while (!c->dead && c->out.len > c->out_off) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = send(c->fd, c->out.s + c->out_off, c->out.len - c->out_off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			c->out_off += (size_t)n;
	}
}

void
client_flush_now(struct client *c, int timeout_ms)
{
	flush_until(c, mono_ms() + timeout_ms);
}

int
server_listen_fd(void)
{
	return D->ctl_fd;
}

size_t
server_client_count(void)
{
	size_t n = 0;
	struct client *c;
	TAILQ_FOREACH(c, &D->clients, link)
		n++;
	return n;
}

void
server_close_all(void)
{
	struct client *c;
	/* What is queued (the reply to `kill`, which lists every app and may
	 * not fit in the socket's buffer) gets one second in all, so a client
	 * that reads gets it whole and one that does not is not waited for. */
	int64_t deadline = mono_ms() + 1000;
	while ((c = TAILQ_FIRST(&D->clients)) != NULL) {
		flush_until(c, deadline);
		client_drop(c);
	}
	timer_stop(D->loop, &D->accept_retry);
	if (D->ctl_fd >= 0) {
		io_del(D->loop, &D->ctl_io);
		close(D->ctl_fd);
		D->ctl_fd = -1;
		unlink(D->paths.sock);
	}
}

/* False (and c closed) when c may not subscribe: MAX_SUBSCRIBERS others
 * are subscribed already. */
static bool
subscriber_room(struct client *c)
{
	size_t n = 0;
	struct client *o;
	TAILQ_FOREACH(o, &D->clients, link)
		n += o != c && (o->sub_logs || o->sub_events);
	if (c->sub_logs || c->sub_events || n < MAX_SUBSCRIBERS(D->max_clients))
		return true;
	client_expel(c, "busy", "%zu clients are subscribed already: the other slots stay for "
	    "commands", n);
	return false;
}

void
client_subscribe_logs(struct client *c, json_t *apps, json_t *insts, bool out, bool err)
{
	if (!subscriber_room(c))
		return;
	c->sub_logs = true;
	c->sub_out = out;
	c->sub_err = err;
	json_decref(c->sub_apps);
	json_decref(c->sub_insts);
	c->sub_apps = apps ? json_incref(apps) : NULL;
	c->sub_insts = insts ? json_incref(insts) : NULL;
}

void
client_subscribe_events(struct client *c)
{
	if (!subscriber_room(c))
		return;
	c->sub_events = true;
}

static bool
in_set(json_t *set, uint64_t id)
{
	char key[24];
	snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
	return json_object_get(set, key) != NULL;
}

static bool
follows(const struct client *c, uint64_t app_id, uint64_t inst_uid)
{
	if (!c->sub_apps && !c->sub_insts)
		return true;
	return in_set(c->sub_apps, app_id) || in_set(c->sub_insts, inst_uid);
}

/* An app or instance a follower follows is deleted: tell it (with how
 * many things it still follows; at 0 `corral logs` ends) and forget it. */
static void
unfollow(const char *kind, uint64_t id)
{
	char key[24];
	snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
	char *line = NULL;
	struct client *c, *next;
	for (c = TAILQ_FIRST(&D->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		json_t *set = strcmp(kind, "app") == 0 ? c->sub_apps : c->sub_insts;
		json_t *name = c->sub_logs ? json_object_get(set, key) : NULL;
		if (!name)
			continue;
		json_t *msg = json_pack("{s:s, s:s, s:O, s:I}", "event", "deleted", "what", kind,
		    "name", name, "remaining",
		    (json_int_t)(json_object_size(c->sub_apps) + json_object_size(c->sub_insts) - 1));
		json_object_del(set, key);
		client_push(c, msg, &line);
		free(line);
		line = NULL;
		json_decref(msg);
	}
}

static void
server_publish_log(uint64_t app_id, uint64_t inst_uid, int pm_id, const char *name,
    const char *stream, const char *data, size_t n, bool eol)
{
	bool is_out = strcmp(stream, "out") == 0;
	json_t *msg = NULL;
	char *line = NULL;
	struct client *c, *next;
	for (c = TAILQ_FIRST(&D->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (!c->sub_logs || !(is_out ? c->sub_out : c->sub_err) ||
		    !follows(c, app_id, inst_uid))
			continue;
		if (!msg) {
			msg = json_pack("{s:s, s:i, s:s, s:s, s:b, s:I}", "event", "log", "pm_id", pm_id,
			    "name", name, "stream", stream, "eol", eol, "at", (json_int_t)wall_ms());
			if (utf8_valid(data, n)) {
				json_object_set_new(msg, "data", json_stringn(data, n));
			} else {
				char *b64 = base64_encode(data, n);
				json_object_set_new(msg, "data_b64", json_string(b64));
				free(b64);
			}
		}
		client_push(c, msg, &line);
	}
	free(line);
	json_decref(msg);
}

static void
publish_event(json_t *msg)
{
	char *line = NULL;
	struct client *c, *next;
	for (c = TAILQ_FIRST(&D->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->sub_events)
			client_push(c, msg, &line);
	}
	free(line);
}

void
server_publish_event(struct inst *in, const char *event)
{
	if (TAILQ_EMPTY(&D->clients))
		return;
	json_t *msg = json_pack("{s:s, s:s, s:i, s:s, s:I}", "event", "process",
	    "what", event, "pm_id", in->pm_id, "name", in->app->spec.name,
	    "at", (json_int_t)wall_ms());
	publish_event(msg);
	json_decref(msg);
}

static void
server_publish_msg(struct inst *in, json_t *data)
{
	if (TAILQ_EMPTY(&D->clients))
		return;
	json_t *msg = json_pack("{s:s, s:i, s:s, s:O}", "event", "message",
	    "pm_id", in->pm_id, "name", in->app->spec.name, "data", data);
	publish_event(msg);
	json_decref(msg);
}

void
server_on_event(const struct event *ev, void *arg)
{
	switch (ev->kind) {
	case EV_INST_STATE:
	case EV_INST_EXIT:
		server_publish_event(ev->in, ev->what);
		break;
	case EV_INST_REMOVE:
		server_publish_event(ev->in, ev->what);
		unfollow("instance", ev->in->uid);
		break;
	case EV_APP_REMOVE:
		unfollow("app", ev->app->id);
		break;
	case EV_INST_MSG:
		server_publish_msg(ev->in, ev->msg);
		break;
	case EV_LOG:
		server_publish_log(ev->app_id, ev->inst_uid, ev->pm_id, ev->name, ev->stream, ev->data,
		    ev->len, ev->eol);
		break;
	default:
		break;
	}
}
