/*
 * test_keepproto.c — frames between the daemon and its keeper
 * (common/keepproto.h) over a real socketpair: blobs and descriptors arrive
 * together and in order, a big blob crosses in pieces, descriptors come
 * out of the right frame when frames are read in odd chunks, and a stream
 * that is not this protocol is refused.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/keepproto.h"

/* The inode of fd, to tell that a received descriptor is the one sent. */
static ino_t
inode(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/* Read frames until want of them came; returns how many. */
static size_t
read_frames(int sock, struct keep_reader *r, struct keep_frame *out, size_t want)
{
	size_t n = 0;
	while (n < want) {
		int rc = keep_reader_next(r, &out[n]);
		assert_true(rc >= 0);
		if (rc == 1) {
			n++;
			continue;
		}
		ssize_t got = keep_reader_fill(r, sock);
		if (got <= 0)
			break;
	}
	return n;
}

static void
test_frames_carry_blobs_and_descriptors(void **state)
{
	int sv[2], p1[2], p2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
	assert_int_equal(pipe2(p2, O_CLOEXEC), 0);
	int fds[] = {p1[0], p2[1]};
	assert_int_equal(keep_send(sv[0], KEEP_PUT, 42, "{\"a\":1}", 7, fds, 2), 0);
	assert_int_equal(keep_send(sv[0], KEEP_TAG, 43, "x", 1, NULL, 0), 0);
	assert_int_equal(keep_send(sv[0], KEEP_DEL, 44, NULL, 0, NULL, 0), 0);
	assert_int_equal(keep_send(sv[0], KEEP_PUT, 45, "y", 1, &p1[1], 1), 0);
	close(sv[0]);
	struct keep_reader r;
	keep_reader_init(&r);
	struct keep_frame f[4];
	assert_int_equal(read_frames(sv[1], &r, f, 4), 4);
	assert_int_equal(f[0].op, KEEP_PUT);
	assert_int_equal(f[0].key, 42);
	assert_string_equal(f[0].blob, "{\"a\":1}");
	assert_int_equal(f[0].nfds, 2);
	assert_int_equal(inode(f[0].fds[0]), inode(p1[0]));
	assert_int_equal(inode(f[0].fds[1]), inode(p2[1]));
	/* Received descriptors are close-on-exec. */
	assert_true(fcntl(f[0].fds[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(f[1].op, KEEP_TAG);
	assert_int_equal(f[1].nfds, 0);
	assert_int_equal(f[2].op, KEEP_DEL);
	assert_int_equal(f[2].len, 0);
	assert_int_equal(f[3].nfds, 1);
	assert_int_equal(inode(f[3].fds[0]), inode(p1[1]));
	for (int i = 0; i < 4; i++)
		keep_frame_free(&f[i]);
	/* End of stream, nothing left over. */
	assert_int_equal(keep_reader_fill(&r, sv[1]), 0);
	assert_int_equal(keep_reader_next(&r, &f[0]), 0);
	keep_reader_free(&r);
	close(sv[1]);
	int all[] = {p1[0], p1[1], p2[0], p2[1]};
	for (size_t i = 0; i < ARRAY_LEN(all); i++)
		close(all[i]);
}

/* A blob bigger than the socket's buffers: the sender blocks in pieces
 * while a child reads; the descriptor still comes with its frame. */
static void
test_a_big_blob_crosses_whole(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	size_t len = 3u << 20;
	char *blob = malloc(len);
	for (size_t i = 0; i < len; i++)
		blob[i] = (char)('a' + i % 26);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		int ok = keep_send(sv[0], KEEP_ITEM, 7, blob, len, &sv[0], 1) == 0 &&
		    keep_send(sv[0], KEEP_END, KEEP_VERSION, NULL, 0, NULL, 0) == 0;
		_exit(ok ? 0 : 1);
	}
	close(sv[0]);
	struct keep_reader r;
	keep_reader_init(&r);
	struct keep_frame f[2];
	assert_int_equal(read_frames(sv[1], &r, f, 2), 2);
	assert_int_equal(f[0].op, KEEP_ITEM);
	assert_int_equal(f[0].len, len);
	assert_memory_equal(f[0].blob, blob, len);
	assert_int_equal(f[0].nfds, 1);
	assert_int_equal(f[1].op, KEEP_END);
	assert_int_equal(f[1].key, KEEP_VERSION);
	keep_frame_free(&f[0]);
	keep_frame_free(&f[1]);
	keep_reader_free(&r);
	close(sv[1]);
	free(blob);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_a_foreign_stream_is_refused(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	const char junk[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
	assert_int_equal(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	struct keep_reader r;
	keep_reader_init(&r);
	assert_true(keep_reader_fill(&r, sv[1]) > 0);
	struct keep_frame f;
	assert_int_equal(keep_reader_next(&r, &f), -EPROTO);
	keep_reader_free(&r);
	/* A frame that cannot travel is not sent. */
	assert_int_equal(keep_send(sv[0], KEEP_PUT, 1, "x", 1, (int[]){0, 1, 2, 0, 1}, 5),
	    -EINVAL);
	assert_int_equal(keep_send(sv[0], (enum keep_op)99, 1, NULL, 0, NULL, 0), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_carry_blobs_and_descriptors),
		cmocka_unit_test(test_a_big_blob_crosses_whole),
		cmocka_unit_test(test_a_foreign_stream_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
