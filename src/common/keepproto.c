/*
 * keepproto.c — frames between the daemon and its keeper (keepproto.h).
 */
#include "common/keepproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

/* Room for the descriptors of one frame, with margin: a recvmsg() never
 * returns those of two frames at once, but the margin costs nothing. */
#define CMSG_FDS 16
#define READ_CHUNK 65536

int
keep_hdr_make(struct keep_hdr *hdr, enum keep_op op, uint64_t key, size_t len, unsigned nfds)
{
	if (op < KEEP_HELLO || op >= KEEP_OP_MAX || len > KEEP_MAX_BLOB || nfds > KEEP_MAX_FDS)
		return -EINVAL;
	*hdr = (struct keep_hdr){.magic = KEEP_MAGIC, .len = (uint32_t)len, .op = (uint16_t)op,
	    .nfds = (uint16_t)nfds, .key = key};
	return 0;
}

ssize_t
keep_sendmsg(int sock, struct iovec *iov, int niov, const int *fds, unsigned nfds, int flags)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * KEEP_MAX_FDS)];
	} ctl;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = &ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do {
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int
keep_send(int sock, enum keep_op op, uint64_t key, const void *blob, size_t len,
    const int *fds, unsigned nfds)
{
	struct keep_hdr hdr;
	if (keep_hdr_make(&hdr, op, key, len, nfds) < 0)
		return -EINVAL;
	size_t sent = 0, total = sizeof(hdr) + len;
	while (sent < total) {
		struct iovec iov[2];
		int niov = 0;
		if (sent < sizeof(hdr))
			iov[niov++] = (struct iovec){(char *)&hdr + sent, sizeof(hdr) - sent};
		size_t boff = sent > sizeof(hdr) ? sent - sizeof(hdr) : 0;
		if (len > boff)
			iov[niov++] = (struct iovec){(char *)blob + boff, len - boff};
		/* The descriptors go with the first byte only. */
		ssize_t n = keep_sendmsg(sock, iov, niov, fds, sent == 0 ? nfds : 0, 0);
		if (n < 0)
			return (int)n;
		sent += (size_t)n;
	}
	return 0;
}

void
keep_reader_init(struct keep_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void
keep_reader_free(struct keep_reader *r)
{
	for (size_t i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	free(r->fds);
	free(r->buf);
	keep_reader_init(r);
}

static void
queue_fd(struct keep_reader *r, int fd)
{
	if (r->nfds == r->fdcap) {
		r->fdcap = r->fdcap ? r->fdcap * 2 : 16;
		r->fds = xrealloc(r->fds, r->fdcap * sizeof(*r->fds));
	}
	r->fds[r->nfds++] = fd;
}

ssize_t
keep_reader_fill(struct keep_reader *r, int sock)
{
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->cap - r->len < READ_CHUNK) {
		r->cap = r->len + READ_CHUNK * 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * CMSG_FDS)];
	} ctl;
	struct iovec iov = {r->buf + r->len, r->cap - r->len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
	    .msg_controllen = sizeof(ctl)};
	ssize_t n;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			queue_fd(r, fd);
		}
	}
	/* Descriptors the kernel could not give us: the frames no longer
	 * match them. */
	if (mh.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	r->len += (size_t)n;
	return n;
}

int
keep_reader_next(struct keep_reader *r, struct keep_frame *f)
{
	struct keep_hdr hdr;
	size_t avail = r->len - r->off;
	if (avail < sizeof(hdr))
		return 0;
	memcpy(&hdr, r->buf + r->off, sizeof(hdr));
	if (hdr.magic != KEEP_MAGIC || hdr.op < KEEP_HELLO || hdr.op >= KEEP_OP_MAX ||
	    hdr.nfds > KEEP_MAX_FDS || hdr.len > KEEP_MAX_BLOB)
		return -EPROTO;
	if (avail < sizeof(hdr) + hdr.len)
		return 0;
	if (r->nfds < hdr.nfds)
		return -EPROTO;
	memset(f, 0, sizeof(*f));
	f->op = (enum keep_op)hdr.op;
	f->key = hdr.key;
	f->len = hdr.len;
	f->blob = xmalloc(hdr.len + 1);
	memcpy(f->blob, r->buf + r->off + sizeof(hdr), hdr.len);
	f->blob[hdr.len] = '\0';
	f->nfds = hdr.nfds;
	for (unsigned i = 0; i < KEEP_MAX_FDS; i++)
		f->fds[i] = i < hdr.nfds ? r->fds[i] : -1;
	if (hdr.nfds) {
		memmove(r->fds, r->fds + hdr.nfds, (r->nfds - hdr.nfds) * sizeof(*r->fds));
		r->nfds -= hdr.nfds;
	}
	r->off += sizeof(hdr) + hdr.len;
	if (r->off == r->len) {
		r->off = r->len = 0;
		/* A big blob passed: give its memory back. */
		if (r->cap > 4 * READ_CHUNK) {
			r->cap = 2 * READ_CHUNK;
			r->buf = xrealloc(r->buf, r->cap);
		}
	}
	return 1;
}

void
keep_frame_free(struct keep_frame *f)
{
	for (unsigned i = 0; i < f->nfds && i < KEEP_MAX_FDS; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	free(f->blob);
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < KEEP_MAX_FDS; i++)
		f->fds[i] = -1;
}
