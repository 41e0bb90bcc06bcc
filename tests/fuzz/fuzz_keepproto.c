/*
 * fuzz_keepproto.c — libFuzzer target for the frames between the daemon
 * and its keeper (src/common/keepproto.h).
 *
 * The first byte says how many descriptors arrived with the bytes (0 to
 * 7, copies of /dev/null); the rest is the byte stream. The reader must
 * take frames out of it until it needs more bytes or says -EPROTO, never
 * read past what it has, and give every frame exactly the bytes its header
 * announced: the header made again from the frame is the one in the
 * stream, and the blob is the bytes after it. Every descriptor is either
 * in a frame or still queued, and all are closed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/keepproto.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nfds = data[0] & 7;
	data++;
	size--;
	struct keep_reader r;
	keep_reader_init(&r);
	r.buf = xmalloc(size ? size : 1);
	memcpy(r.buf, data, size);
	r.len = r.cap = size;
	r.fds = xcalloc(nfds ? nfds : 1, sizeof(*r.fds));
	r.fdcap = nfds ? nfds : 1;
	for (unsigned i = 0; i < nfds; i++) {
		r.fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		check(r.fds[i] >= 0);
	}
	r.nfds = nfds;

	size_t pos = 0;
	unsigned fds_taken = 0;
	struct keep_frame f;
	int rc;
	while ((rc = keep_reader_next(&r, &f)) == 1) {
		struct keep_hdr hdr, again;
		check(pos + sizeof(hdr) + f.len <= size);
		memcpy(&hdr, data + pos, sizeof(hdr));
		check(keep_hdr_make(&again, f.op, f.key, f.len, f.nfds) == 0);
		again.reserved = hdr.reserved;
		check(memcmp(&hdr, &again, sizeof(hdr)) == 0);
		check(memcmp(f.blob, data + pos + sizeof(hdr), f.len) == 0 && f.blob[f.len] == '\0');
		for (unsigned i = 0; i < KEEP_MAX_FDS; i++)
			check((i < f.nfds) == (f.fds[i] >= 0));
		fds_taken += f.nfds;
		pos += sizeof(hdr) + f.len;
		keep_frame_free(&f);
	}
	check(rc == 0 || rc == -EPROTO);
	check(fds_taken + r.nfds == nfds);
	keep_reader_free(&r);
	return 0;
}
