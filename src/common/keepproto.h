/*
 * keepproto.h — the wire format between the daemon and its keeper
 * (src/keeper, docs/architecture.md "Surviving the daemon's death").
 *
 * One unix stream socket, frames in both directions. A frame is a fixed
 * header, a blob of `len` bytes (the daemon writes JSON; the keeper never
 * looks inside), and up to KEEP_MAX_FDS descriptors sent with the header as
 * SCM_RIGHTS. Descriptors arrive no later than the first byte of their
 * frame, so the reader queues them in arrival order and each complete frame
 * takes its `nfds` from the front of the queue.
 *
 *   daemon → keeper   HELLO (key: KEEP_VERSION)   BEGIN  PUT key blob [fds]
 *                     TAG key blob   DEL key   COMMIT   READY   BYE
 *   keeper → daemon   ITEM key blob [fds] ... END (key: the keeper's version)
 *
 * `corral update` (daemon/update.c) speaks it too, to the new binary run
 * as `corral daemon --check-handover` on a socketpair before the daemon
 * execs it:
 *
 *   new binary → daemon   HELLO (key: its KEEP_VERSION, blob: its version)
 *   daemon → new binary   ITEM key blob ... END (key: KEEP_VERSION): the
 *                         records the keeper holds, without descriptors
 *   new binary → daemon   VERDICT (key: 1 it can take over, 0 it cannot;
 *                         blob: what it read, or why not)
 *
 * KEEP_VERSION versions the frames and the records together: a change an
 * older reader would misread (a field that changes meaning, a new kind of
 * item it must not ignore) bumps it. A daemon does not update to a binary
 * of another version, and a keeper of another version is let go (its apps
 * are found as orphans).
 *
 * PUT replaces an item whole (its old descriptors are closed), TAG only its
 * blob, DEL drops it. Between BEGIN and COMMIT the items build a new
 * generation that replaces the old one at COMMIT, so a daemon that dies in
 * the middle of re-sending everything leaves the keeper with the last
 * complete set.
 */
#ifndef CORRAL_KEEPPROTO_H
#define CORRAL_KEEPPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define KEEP_VERSION 1
#define KEEP_MAX_FDS 4
#define KEEP_MAX_BLOB (256u << 20)
#define KEEP_MAGIC 0x6b656570u  /* "keep" */

enum keep_op {
	KEEP_HELLO = 1,   /* a daemon introduces itself; the keeper hands over */
	KEEP_ITEM,        /* one kept item, at handover */
	KEEP_END,         /* handover complete */
	KEEP_BEGIN,       /* a new generation of items follows */
	KEEP_COMMIT,      /* it replaces the old one */
	KEEP_PUT,         /* set an item: blob and descriptors */
	KEEP_TAG,         /* replace an item's blob, keep its descriptors */
	KEEP_DEL,         /* drop an item, closing its descriptors */
	KEEP_READY,       /* the daemon serves clients */
	KEEP_BYE,         /* orderly exit: close everything and exit */
	KEEP_VERDICT,     /* `corral update`'s check: can the new binary take over */
	KEEP_OP_MAX
};

/* The header as it travels (host byte order: both ends are one binary on
 * one host). */
struct keep_hdr {
	uint32_t magic;
	uint32_t len;             /* blob bytes that follow */
	uint16_t op;
	uint16_t nfds;            /* descriptors sent with this header */
	uint32_t reserved;
	uint64_t key;
};

/* A decoded frame. The blob is NUL-terminated (the terminator is not
 * counted in len). */
struct keep_frame {
	enum keep_op op;
	uint64_t key;
	char *blob;
	size_t len;
	int fds[KEEP_MAX_FDS];
	unsigned nfds;
};

/* Bytes and descriptors received and not yet made into frames. */
struct keep_reader {
	char *buf;
	size_t off, len, cap;     /* unread bytes are buf[off, len) */
	int *fds;
	size_t nfds, fdcap;
};

/* Fill hdr for a frame; -EINVAL when it cannot travel (too big, too many
 * descriptors, an unknown op). */
int keep_hdr_make(struct keep_hdr *hdr, enum keep_op op, uint64_t key, size_t len,
    unsigned nfds);

/* One sendmsg() of iov, with fds as SCM_RIGHTS when nfds > 0 (retried on
 * EINTR, never SIGPIPE; flags such as MSG_DONTWAIT added): the bytes sent,
 * or -errno. */
ssize_t keep_sendmsg(int sock, struct iovec *iov, int niov, const int *fds, unsigned nfds,
    int flags);
/* Send one whole frame on a blocking socket (a handover, a fresh keeper):
 * 0 or -errno. Never raises SIGPIPE. */
int keep_send(int sock, enum keep_op op, uint64_t key, const void *blob, size_t len,
    const int *fds, unsigned nfds);

void keep_reader_init(struct keep_reader *r);
/* Close the descriptors still queued and free the buffers. */
void keep_reader_free(struct keep_reader *r);
/* One recvmsg() into r: the bytes read (> 0), 0 at end of stream, or
 * -errno (-EAGAIN on a non-blocking socket with nothing to read). Received
 * descriptors are close-on-exec. */
ssize_t keep_reader_fill(struct keep_reader *r, int sock);
/* Take the next complete frame out of r: 1 (f is the caller's, free it with
 * keep_frame_free), 0 when more bytes are needed, -EPROTO when the stream
 * is not this protocol. */
int keep_reader_next(struct keep_reader *r, struct keep_frame *f);
/* Free the blob and close the descriptors still in f (set an entry of
 * f->fds to -1 to keep it). */
void keep_frame_free(struct keep_frame *f);

#endif
