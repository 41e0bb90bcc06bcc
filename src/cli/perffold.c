/*
 * perffold.c — folding perf script's samples (perffold.h).
 */
#include "cli/perffold.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
perffold_init(struct perffold *f)
{
	memset(f, 0, sizeof(*f));
	f->frames = xcalloc(PERFFOLD_MAX_FRAMES, sizeof(*f->frames));
}

static void
drop_frames(struct perffold *f)
{
	for (size_t i = 0; i < f->nframes; i++)
		free(f->frames[i]);
	f->nframes = 0;
}

/* The sample read so far becomes a stack. */
static void
end_sample(struct perffold *f)
{
	if (f->in_sample && f->n < PERFFOLD_MAX_SAMPLES) {
		struct sbuf b = SBUF_INIT;
		sbuf_add(&b, f->comm.s ? f->comm.s : "", f->comm.len);
		for (size_t i = f->nframes; i > 0; i--) {
			sbuf_addc(&b, ';');
			sbuf_adds(&b, f->frames[i - 1]);
		}
		if (f->n == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 256;
			f->stacks = xrealloc(f->stacks, f->cap * sizeof(*f->stacks));
		}
		f->stacks[f->n++] = sbuf_take(&b);
	}
	drop_frames(f);
	sbuf_reset(&f->comm);
	f->in_sample = 0;
}

/* Copy s (n bytes) with ';' and control bytes made harmless. */
static void
add_clean(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		sbuf_addc(b, c == ';' ? ':' : c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
}

static bool
is_pid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && s[i] != '/')
			return false;
	return isdigit((unsigned char)s[0]);
}

/* "comm  1234/1234 [000] 12.34: ...": the command is what comes before
 * the first pid-like word after the first word. */
static void
header(struct perffold *f, const char *s, size_t n)
{
	end_sample(f);
	size_t i = 0, comm_end = n;
	while (i < n && s[i] != ' ' && s[i] != '\t')
		i++;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t w = i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		if (is_pid(s + w, i - w)) {
			comm_end = w;
			break;
		}
	}
	while (comm_end > 0 && (s[comm_end - 1] == ' ' || s[comm_end - 1] == '\t'))
		comm_end--;
	add_clean(&f->comm, s, comm_end);
	f->in_sample = 1;
}

/* "\t    55d5c8a0113d burn+0x1d (/tmp/a.out)" */
static void
frame(struct perffold *f, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < n && isxdigit((unsigned char)s[i]))
		i++;
	while (i < n && s[i] == ' ')
		i++;
	size_t end = n;
	for (size_t k = n; k > i && k >= 2; k--) {
		if (s[k - 1] == '(' && s[k - 2] == ' ') {
			end = k - 2;
			break;
		}
	}
	size_t sym_end = end;
	for (size_t k = i; k + 2 < end; k++) {
		if (s[k] == '+' && s[k + 1] == '0' && s[k + 2] == 'x') {
			sym_end = k;
			break;
		}
	}
	if (f->nframes >= PERFFOLD_MAX_FRAMES)
		return;
	struct sbuf b = SBUF_INIT;
	if (sym_end > i)
		add_clean(&b, s + i, sym_end - i);
	else
		sbuf_adds(&b, "[unknown]");
	f->frames[f->nframes++] = sbuf_take(&b);
}

void
perffold_line(struct perffold *f, const char *line, size_t len)
{
	if (len == 0)
		end_sample(f);
	else if (line[0] == ' ' || line[0] == '\t') {
		if (f->in_sample)
			frame(f, line, len);
	} else if (line[0] != '#')
		header(f, line, len);
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
perffold_result(struct perffold *f)
{
	end_sample(f);
	if (f->n > 1)
		qsort(f->stacks, f->n, sizeof(*f->stacks), cmp);
	struct sbuf b = SBUF_INIT;
	for (size_t i = 0; i < f->n;) {
		size_t k = i;
		while (k < f->n && strcmp(f->stacks[k], f->stacks[i]) == 0)
			k++;
		sbuf_addf(&b, "%s %zu\n", f->stacks[i], k - i);
		i = k;
	}
	return sbuf_take(&b);
}

void
perffold_free(struct perffold *f)
{
	drop_frames(f);
	free(f->frames);
	for (size_t i = 0; i < f->n; i++)
		free(f->stacks[i]);
	free(f->stacks);
	sbuf_free(&f->comm);
	memset(f, 0, sizeof(*f));
}

int
perffold_file(FILE *in, int fd)
{
	struct perffold f;
	perffold_init(&f);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, in)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		perffold_line(&f, line, (size_t)n);
	}
	free(line);
	char *out = perffold_result(&f);
	int rc = write_all(fd, out, strlen(out));
	free(out);
	perffold_free(&f);
	return rc;
}
