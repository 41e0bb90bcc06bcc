/*
 * test_logframe.c — app output → log lines. Whole lines come out whole; a
 * partial line waits for its end; a line longer than the 64 KiB buffer comes
 * out as several segments, in order, first with line_start and last with
 * line_end; a refused segment stays buffered and comes out again, exactly
 * once, when the destination accepts; at EOF the unterminated rest is a
 * final line. A randomized run feeds random lines (some far longer than the
 * buffer) in random read sizes with random refusals and checks that the
 * reassembled lines are exactly the lines written.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/logframe.h"

struct seg {
	char *data;
	size_t n;
	bool start, end;
};

/* What the emit callback saw; refuse_at makes call number k (0-based,
 * counting every call) return false. */
struct sink {
	struct seg segs[256];
	size_t nsegs;
	size_t calls;
	long refuse_at;
	bool refuse_all;
};

static bool
collect(void *arg, const char *data, size_t n, bool line_start, bool line_end)
{
	struct sink *s = arg;
	size_t call = s->calls++;
	if (s->refuse_all || (long)call == s->refuse_at)
		return false;
	assert_true(s->nsegs < 256);
	struct seg *g = &s->segs[s->nsegs++];
	g->data = malloc(n + 1);
	memcpy(g->data, data, n);
	g->data[n] = '\0';
	g->n = n;
	g->start = line_start;
	g->end = line_end;
	return true;
}

static void
sink_reset(struct sink *s)
{
	for (size_t i = 0; i < s->nsegs; i++)
		free(s->segs[i].data);
	memset(s, 0, sizeof(*s));
	s->refuse_at = -1;
}

/* Copy bytes into the frame the way logpipe does (space, tail, commit). */
static void
put(struct logframe *f, const char *data, size_t n)
{
	while (n > 0) {
		size_t space = logframe_space(f);
		assert_true(space > 0);
		size_t k = n < space ? n : space;
		memcpy(logframe_tail(f), data, k);
		logframe_commit(f, k);
		data += k;
		n -= k;
	}
}

static void
expect_seg(struct sink *s, size_t i, const char *data, bool start, bool end)
{
	assert_true(i < s->nsegs);
	assert_int_equal(s->segs[i].n, strlen(data));
	assert_string_equal(s->segs[i].data, data);
	assert_int_equal(s->segs[i].start, start);
	assert_int_equal(s->segs[i].end, end);
}

static void
test_whole_lines(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	put(&f, "one\ntwo\n\nfour\n", 14);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 4);
	expect_seg(&s, 0, "one", true, true);
	expect_seg(&s, 1, "two", true, true);
	expect_seg(&s, 2, "", true, true);
	expect_seg(&s, 3, "four", true, true);
	assert_int_equal(f.len, 0);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_partial_line_waits_for_its_end(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	put(&f, "a\npart", 6);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	expect_seg(&s, 0, "a", true, true);
	assert_int_equal(f.len, 4);
	put(&f, "ial\n", 4);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "partial", true, true);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_eof_flushes_last_line(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	put(&f, "x\nno newline", 12);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	assert_true(logframe_drain(&f, collect, &s, true));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "no newline", true, true);
	assert_int_equal(f.len, 0);
	/* Nothing held: EOF emits nothing more. */
	assert_true(logframe_drain(&f, collect, &s, true));
	assert_int_equal(s.nsegs, 2);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_buffer_grows_to_the_cap(void **state)
{
	struct logframe f;
	logframe_init(&f);
	size_t first = logframe_space(&f);
	assert_true(first > 0 && first <= LOGFRAME_BUF);
	size_t total = 0;
	char *junk = calloc(1, LOGFRAME_BUF);
	memset(junk, 'q', LOGFRAME_BUF);
	for (;;) {
		size_t space = logframe_space(&f);
		if (space == 0)
			break;
		memcpy(logframe_tail(&f), junk, space);
		logframe_commit(&f, space);
		total += space;
		assert_true(total <= LOGFRAME_BUF);
	}
	assert_int_equal(total, LOGFRAME_BUF);
	assert_int_equal(f.cap, LOGFRAME_BUF);
	free(junk);
	logframe_free(&f);
}

static void
test_long_line_in_segments(void **state)
{
	/* 200 KiB + a bit: four segments, in order, flagged start/middle/end. */
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	size_t n = 3 * LOGFRAME_BUF + 1000;
	char *line = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		line[i] = (char)('a' + i % 26);
	line[n] = '\n';
	size_t off = 0;
	while (off < n + 1) {
		size_t space = logframe_space(&f);
		if (space == 0) {
			assert_true(logframe_drain(&f, collect, &s, false));
			continue;
		}
		size_t k = n + 1 - off < space ? n + 1 - off : space;
		memcpy(logframe_tail(&f), line + off, k);
		logframe_commit(&f, k);
		off += k;
	}
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 4);
	size_t pos = 0;
	for (size_t i = 0; i < s.nsegs; i++) {
		assert_int_equal(s.segs[i].start, i == 0);
		assert_int_equal(s.segs[i].end, i == s.nsegs - 1);
		assert_memory_equal(s.segs[i].data, line + pos, s.segs[i].n);
		pos += s.segs[i].n;
	}
	assert_int_equal(pos, n);
	free(line);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_refusal_keeps_data(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	put(&f, "first\nsecond\nthird\n", 19);
	s.refuse_at = 1; /* accept "first", refuse "second" */
	assert_false(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	expect_seg(&s, 0, "first", true, true);
	/* The refused line and what follows are still there, once. */
	assert_int_equal(f.len, 13);
	s.refuse_at = -1;
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 3);
	expect_seg(&s, 1, "second", true, true);
	expect_seg(&s, 2, "third", true, true);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_refusal_inside_a_long_line(void **state)
{
	/* The destination refuses the middle of a long line: the segment is
	 * kept and still flagged as a continuation when it is accepted. */
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	char *junk = malloc(LOGFRAME_BUF);
	memset(junk, 'L', LOGFRAME_BUF);
	put(&f, junk, LOGFRAME_BUF);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	assert_true(s.segs[0].start);
	assert_false(s.segs[0].end);
	put(&f, "tail\n", 5);
	s.refuse_all = true;
	assert_false(logframe_drain(&f, collect, &s, false));
	assert_int_equal(f.len, 5);
	s.refuse_all = false;
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "tail", false, true);
	free(junk);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_refused_at_eof_is_retried(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	put(&f, "last words", 10);
	s.refuse_all = true;
	assert_false(logframe_drain(&f, collect, &s, true));
	assert_int_equal(f.len, 10);
	s.refuse_all = false;
	assert_true(logframe_drain(&f, collect, &s, true));
	assert_int_equal(s.nsegs, 1);
	expect_seg(&s, 0, "last words", true, true);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_eof_in_the_middle_of_a_long_line(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	char *junk = malloc(LOGFRAME_BUF);
	memset(junk, 'M', LOGFRAME_BUF);
	put(&f, junk, LOGFRAME_BUF);
	assert_true(logframe_drain(&f, collect, &s, false));
	put(&f, "end", 3);
	assert_true(logframe_drain(&f, collect, &s, true));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "end", false, true);
	assert_false(f.mid_line);
	free(junk);
	sink_reset(&s);
	logframe_free(&f);
}

static void
test_eof_right_after_a_full_segment(void **state)
{
	/* The last line is unterminated and exactly as long as the buffer: it
	 * went out as a segment when the buffer filled, and EOF must still end
	 * it, or the next writer's output is glued onto it. */
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	sink_reset(&s);
	char *junk = malloc(LOGFRAME_BUF);
	memset(junk, 'E', LOGFRAME_BUF);
	put(&f, junk, LOGFRAME_BUF);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	assert_false(s.segs[0].end);
	assert_int_equal(f.len, 0);
	assert_true(logframe_drain(&f, collect, &s, true));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "", false, true);
	assert_false(f.mid_line);
	free(junk);
	sink_reset(&s);
	logframe_free(&f);
}

/* ---- randomized: what comes out is exactly what went in ---- */

struct reassembly {
	char *cur;          /* the line being rebuilt */
	size_t cur_len, cur_cap;
	bool in_line;
	char **lines;
	size_t *lens;
	size_t nlines;
	unsigned seed;
	int refusals;
};

static void
append(struct reassembly *r, const char *data, size_t n, bool line_end)
{
	if (r->cur_len + n > r->cur_cap) {
		r->cur_cap = (r->cur_len + n) * 2 + 16;
		r->cur = realloc(r->cur, r->cur_cap);
	}
	memcpy(r->cur + r->cur_len, data, n);
	r->cur_len += n;
	r->in_line = !line_end;
	if (line_end) {
		r->lines[r->nlines] = malloc(r->cur_len + 1);
		memcpy(r->lines[r->nlines], r->cur, r->cur_len);
		r->lens[r->nlines] = r->cur_len;
		r->nlines++;
		r->cur_len = 0;
	}
}

static bool
rebuild(void *arg, const char *data, size_t n, bool line_start, bool line_end)
{
	struct reassembly *r = arg;
	/* About one call in eight is refused. */
	if (rand_r(&r->seed) % 8 == 0) {
		r->refusals++;
		return false;
	}
	/* A segment starts a line exactly when no line is in progress. */
	assert_int_equal(line_start, !r->in_line);
	/* In batch mode a segment may hold several lines (the random lines
	 * never contain a newline, so any inside a segment separates two). */
	const char *nl;
	while ((nl = memchr(data, '\n', n)) != NULL) {
		append(r, data, (size_t)(nl - data), true);
		n -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	append(r, data, n, line_end);
	return true;
}

static void
random_streams(bool batch)
{
	for (unsigned round = 1; round <= 20; round++) {
		unsigned seed = round * 7919;
		size_t nlines = 50 + rand_r(&seed) % 150;
		char **want = calloc(nlines, sizeof(*want));
		size_t *want_len = calloc(nlines, sizeof(*want_len));
		size_t total = 0;
		for (size_t i = 0; i < nlines; i++) {
			unsigned kind = rand_r(&seed) % 20;
			size_t len = kind == 0 ? LOGFRAME_BUF + rand_r(&seed) % (3 * LOGFRAME_BUF)
			    : kind == 1 ? LOGFRAME_BUF - 1 + rand_r(&seed) % 3
			    : rand_r(&seed) % 300;
			want[i] = malloc(len + 1);
			for (size_t k = 0; k < len; k++) {
				/* Any byte but the newline, including NUL and 0xff. */
				char c = (char)(rand_r(&seed) % 256);
				want[i][k] = c == '\n' ? '\r' : c;
			}
			want_len[i] = len;
			total += len + 1;
		}
		/* The last line has no newline: EOF must flush it. */
		bool last_open = round % 2 == 0;
		char *stream = malloc(total);
		size_t off = 0;
		for (size_t i = 0; i < nlines; i++) {
			memcpy(stream + off, want[i], want_len[i]);
			off += want_len[i];
			if (!(last_open && i == nlines - 1))
				stream[off++] = '\n';
		}
		size_t stream_len = off;

		struct logframe f;
		logframe_init(&f);
		f.batch = batch;
		struct reassembly r = {0};
		r.seed = seed;
		r.lines = calloc(nlines + 1, sizeof(*r.lines));
		r.lens = calloc(nlines + 1, sizeof(*r.lens));
		off = 0;
		int stalls = 0;
		while (off < stream_len) {
			size_t space = logframe_space(&f);
			if (space == 0) {
				/* Full: the pipe is not read until a drain succeeds. */
				logframe_drain(&f, rebuild, &r, false);
				assert_true(++stalls < 100000);
				continue;
			}
			size_t chunk = 1 + rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 70000 : 200);
			if (chunk > space)
				chunk = space;
			if (chunk > stream_len - off)
				chunk = stream_len - off;
			memcpy(logframe_tail(&f), stream + off, chunk);
			logframe_commit(&f, chunk);
			off += chunk;
			logframe_drain(&f, rebuild, &r, false);
		}
		while (!logframe_drain(&f, rebuild, &r, true))
			assert_true(++stalls < 100000);
		assert_false(r.in_line);
		assert_int_equal(r.nlines, nlines);
		for (size_t i = 0; i < nlines; i++) {
			assert_int_equal(r.lens[i], want_len[i]);
			assert_memory_equal(r.lines[i], want[i], want_len[i]);
		}
		assert_true(r.refusals > 0);
		for (size_t i = 0; i < nlines; i++) {
			free(want[i]);
			free(r.lines[i]);
		}
		free(want);
		free(want_len);
		free(r.lines);
		free(r.lens);
		free(r.cur);
		free(stream);
		logframe_free(&f);
	}
}

static void
test_random_streams(void **state)
{
	random_streams(false);
}

/* Batch mode: the same streams, where a segment may carry several lines. */
static void
test_random_streams_batched(void **state)
{
	random_streams(true);
}

static void
test_batch_joins_whole_lines(void **state)
{
	struct logframe f;
	struct sink s = {0};
	logframe_init(&f);
	f.batch = true;
	sink_reset(&s);
	put(&f, "one\ntwo\n\nfour\npart", 18);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 1);
	expect_seg(&s, 0, "one\ntwo\n\nfour", true, true);
	/* The partial line waits, then leads the next batch. */
	assert_int_equal(f.len, 4);
	put(&f, "ial\nfive\n", 9);
	assert_true(logframe_drain(&f, collect, &s, false));
	assert_int_equal(s.nsegs, 2);
	expect_seg(&s, 1, "partial\nfive", true, true);
	sink_reset(&s);
	logframe_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_lines),
		cmocka_unit_test(test_partial_line_waits_for_its_end),
		cmocka_unit_test(test_eof_flushes_last_line),
		cmocka_unit_test(test_buffer_grows_to_the_cap),
		cmocka_unit_test(test_long_line_in_segments),
		cmocka_unit_test(test_refusal_keeps_data),
		cmocka_unit_test(test_refusal_inside_a_long_line),
		cmocka_unit_test(test_refused_at_eof_is_retried),
		cmocka_unit_test(test_eof_in_the_middle_of_a_long_line),
		cmocka_unit_test(test_eof_right_after_a_full_segment),
		cmocka_unit_test(test_random_streams),
		cmocka_unit_test(test_batch_joins_whole_lines),
		cmocka_unit_test(test_random_streams_batched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
