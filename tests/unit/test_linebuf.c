/*
 * test_linebuf.c — the control protocol's line framing: whole lines out of
 * arbitrary chunks, empty lines, a line split across many reads (down to one
 * byte at a time), the cap (a complete line over it, and an unterminated
 * tail over it, fed at once or read from a socket), memory that stays
 * bounded whatever garbage comes in, reads that take 4 KiB of short
 * requests but big slices of a long line, and a long line's buffer given
 * back once it is handled.
 */
#include <errno.h>
#include <fcntl.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/linebuf.h"

static void
expect_line(struct linebuf *lb, const char *want)
{
	size_t len = 12345;
	char *line = linebuf_next(lb, &len);
	if (!line)
		fail_msg("expected line \"%s\", got none", want);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
	assert_int_equal(line[len], '\0');
}

static void
test_lines_from_one_chunk(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 100);
	const char *in = "a\nbb\n\nccc\n";
	assert_int_equal(linebuf_feed(&lb, in, strlen(in)), 0);
	expect_line(&lb, "a");
	expect_line(&lb, "bb");
	expect_line(&lb, "");
	expect_line(&lb, "ccc");
	assert_null(linebuf_next(&lb, NULL));
	assert_int_equal(linebuf_pending(&lb), 0);
	assert_false(lb.overflow);
	linebuf_free(&lb);
}

static void
test_line_split_across_feeds(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 100);
	assert_int_equal(linebuf_feed(&lb, "{\"cmd\":", 7), 0);
	assert_null(linebuf_next(&lb, NULL));
	assert_int_equal(linebuf_pending(&lb), 7);
	assert_int_equal(linebuf_feed(&lb, "\"ping\"}", 7), 0);
	assert_null(linebuf_next(&lb, NULL));
	assert_int_equal(linebuf_feed(&lb, "\n{\"x\"", 5), 0);
	expect_line(&lb, "{\"cmd\":\"ping\"}");
	assert_null(linebuf_next(&lb, NULL));
	assert_int_equal(linebuf_pending(&lb), 4);
	assert_int_equal(linebuf_feed(&lb, ":1}\n", 4), 0);
	expect_line(&lb, "{\"x\":1}");
	assert_int_equal(linebuf_pending(&lb), 0);
	linebuf_free(&lb);
}

static void
test_one_byte_at_a_time(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 1000);
	char text[4000];
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "line %d\n", i);
	int got = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(linebuf_feed(&lb, text + i, 1), 0);
		size_t len;
		char *line;
		while ((line = linebuf_next(&lb, &len)) != NULL) {
			char want[32];
			snprintf(want, sizeof(want), "line %d", got++);
			assert_string_equal(line, want);
		}
	}
	assert_int_equal(got, 200);
	linebuf_free(&lb);
}

static void
test_line_at_the_cap_is_accepted(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 10);
	assert_int_equal(linebuf_feed(&lb, "0123456789\n", 11), 0);
	expect_line(&lb, "0123456789");
	assert_false(lb.overflow);
	linebuf_free(&lb);
}

static void
test_complete_line_over_the_cap(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 10);
	int rc = linebuf_feed(&lb, "0123456789A\n", 12);
	/* Either the feed refuses it or the next line reports the overflow. */
	if (rc == 0) {
		assert_null(linebuf_next(&lb, NULL));
		assert_true(lb.overflow);
	} else {
		assert_int_equal(rc, -EMSGSIZE);
	}
	linebuf_free(&lb);
}

static void
test_unterminated_tail_over_the_cap(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 100);
	char junk[64];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(linebuf_feed(&lb, junk, sizeof(junk)), 0);
	assert_null(linebuf_next(&lb, NULL));
	/* 128 bytes without a newline can never become an acceptable line. */
	assert_int_equal(linebuf_feed(&lb, junk, sizeof(junk)), -EMSGSIZE);
	linebuf_free(&lb);
}

static void
test_huge_feed_is_refused_before_it_is_buffered(void **state)
{
	struct linebuf lb;
	linebuf_init(&lb, 4096);
	size_t big = 64u << 20;
	char *junk = malloc(big);
	assert_non_null(junk);
	memset(junk, 'g', big);
	assert_int_equal(linebuf_feed(&lb, junk, big), -EMSGSIZE);
	/* Memory follows the cap, not the input. */
	assert_true(lb.cap <= 4096 + 2 * 65536 + 1);
	free(junk);
	linebuf_free(&lb);
}

static void
test_valid_line_then_huge_tail_is_refused(void **state)
{
	/* A good request followed by garbage in the same chunk: the good line
	 * must not exempt the garbage from the cap. */
	struct linebuf lb;
	linebuf_init(&lb, 4096);
	size_t big = 16u << 20;
	char *in = malloc(big);
	assert_non_null(in);
	memset(in, 'g', big);
	memcpy(in, "{\"cmd\":\"ping\"}\n", 15);
	int rc = linebuf_feed(&lb, in, big);
	assert_int_equal(rc, -EMSGSIZE);
	assert_true(lb.cap <= 4096 + 2 * 65536 + 1);
	free(in);
	linebuf_free(&lb);
}

static void
test_many_lines_keep_memory_flat(void **state)
{
	/* A long session of small requests: returned lines are compacted away,
	 * so the buffer does not creep. */
	struct linebuf lb;
	linebuf_init(&lb, 1024);
	char line[80];
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(line, sizeof(line), "{\"id\":%d,\"cmd\":\"list\"}\n", i);
		assert_int_equal(linebuf_feed(&lb, line, (size_t)n), 0);
		size_t len;
		assert_non_null(linebuf_next(&lb, &len));
		assert_int_equal(len, (size_t)n - 1);
	}
	assert_true(lb.cap <= 2 * 65536 + 1);
	linebuf_free(&lb);
}

static void
test_read_from_socket(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct linebuf lb;
	linebuf_init(&lb, 100);
	assert_int_equal(linebuf_read(&lb, sv[0]), -EAGAIN);
	assert_int_equal(write(sv[1], "hello\nwor", 9), 9);
	assert_int_equal(linebuf_read(&lb, sv[0]), 9);
	expect_line(&lb, "hello");
	assert_null(linebuf_next(&lb, NULL));
	assert_int_equal(write(sv[1], "ld\n", 3), 3);
	assert_int_equal(linebuf_read(&lb, sv[0]), 3);
	expect_line(&lb, "world");
	close(sv[1]);
	assert_int_equal(linebuf_read(&lb, sv[0]), 0);
	close(sv[0]);
	linebuf_free(&lb);
}

static void
test_read_refuses_endless_line(void **state)
{
	/* A peer streaming bytes without a newline is cut off after the cap. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct linebuf lb;
	linebuf_init(&lb, 100000);
	char junk[8192];
	memset(junk, 'z', sizeof(junk));
	ssize_t rc = 0;
	size_t fed = 0;
	for (int round = 0; round < 1000 && rc != -EMSGSIZE; round++) {
		ssize_t w = write(sv[1], junk, sizeof(junk));
		if (w > 0)
			fed += (size_t)w;
		do {
			rc = linebuf_read(&lb, sv[0]);
			assert_null(linebuf_next(&lb, NULL));
		} while (rc > 0);
	}
	assert_int_equal(rc, -EMSGSIZE);
	assert_true(fed < 100000 + 3 * 65536);
	assert_true(lb.cap <= 4 * 65536 + 100000);
	close(sv[0]);
	close(sv[1]);
	linebuf_free(&lb);
}

static void
test_short_requests_cost_a_small_buffer(void **state)
{
	/* 64 KiB of short requests waiting in the socket: a read takes 4 KiB,
	 * not everything, and the buffer stays that small. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char reqs[65536];
	for (size_t i = 0; i < sizeof(reqs); i++)
		reqs[i] = i % 32 == 31 ? '\n' : 'r';
	assert_int_equal(write(sv[1], reqs, sizeof(reqs)), (ssize_t)sizeof(reqs));
	struct linebuf lb;
	linebuf_init(&lb, 4 << 20);
	ssize_t n = linebuf_read(&lb, sv[0]);
	assert_true(n > 0 && n < 4096);
	assert_true(lb.cap <= 4096);
	size_t len;
	assert_non_null(linebuf_next(&lb, &len));
	assert_int_equal(len, 31);
	close(sv[0]);
	close(sv[1]);
	linebuf_free(&lb);
}

static void
test_a_long_line_reads_in_big_slices_and_gives_its_buffer_back(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int big = 1 << 20;
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0);
	static char line[300000];
	memset(line, 'l', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	struct linebuf lb;
	linebuf_init(&lb, 4 << 20);
	size_t written = 0, reads = 0;
	char *got = NULL;
	size_t len = 0;
	while (!got) {
		if (written < sizeof(line)) {
			ssize_t w = write(sv[1], line + written, sizeof(line) - written);
			if (w > 0)
				written += (size_t)w;
		}
		ssize_t n = linebuf_read(&lb, sv[0]);
		assert_true(n > 0 || n == -EAGAIN);
		reads += n > 0;
		got = linebuf_next(&lb, &len);
	}
	assert_int_equal(len, sizeof(line) - 1);
	/* 4 KiB, 4, 8, 16, 32, then 64 KiB slices: far fewer than 4 KiB each. */
	assert_true(reads < 20);
	assert_true(lb.cap > 65536);
	linebuf_shrink(&lb);
	assert_int_equal(lb.cap, 0);
	assert_null(lb.buf);
	assert_int_equal(lb.max, 4 << 20);
	close(sv[0]);
	close(sv[1]);
	linebuf_free(&lb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_from_one_chunk),
		cmocka_unit_test(test_line_split_across_feeds),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_line_at_the_cap_is_accepted),
		cmocka_unit_test(test_complete_line_over_the_cap),
		cmocka_unit_test(test_unterminated_tail_over_the_cap),
		cmocka_unit_test(test_huge_feed_is_refused_before_it_is_buffered),
		cmocka_unit_test(test_valid_line_then_huge_tail_is_refused),
		cmocka_unit_test(test_many_lines_keep_memory_flat),
		cmocka_unit_test(test_read_from_socket),
		cmocka_unit_test(test_read_refuses_endless_line),
		cmocka_unit_test(test_short_requests_cost_a_small_buffer),
		cmocka_unit_test(test_a_long_line_reads_in_big_slices_and_gives_its_buffer_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
