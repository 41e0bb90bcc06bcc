/*
 * perffold.h — `perf script` output folded into collapsed stacks: one line
 * per distinct stack, "comm;outermost;...;innermost count", sorted, the
 * text flame-graph tools and speedscope read.
 *
 * The input is perf's text: a sample is a header line (the command name,
 * then its pid and the rest) and its frames, one per indented line
 * ("<address> <symbol>+<offset> (<object>)", innermost first), ended by an
 * empty line. Anything else is skipped; a symbol's ';' becomes ':' so a
 * line stays one stack.
 */
#ifndef CORRAL_PERFFOLD_H
#define CORRAL_PERFFOLD_H

#include <stddef.h>
#include <stdio.h>

#include "common/util.h"

#define PERFFOLD_MAX_FRAMES 512
#define PERFFOLD_MAX_SAMPLES 2000000

struct perffold {
	char **stacks;          /* one per sample, root first */
	size_t n, cap;
	struct sbuf comm;       /* the current sample's command */
	char **frames;          /* its frames so far, innermost first */
	size_t nframes;
	int in_sample;
};

void perffold_init(struct perffold *f);
/* One line of perf script's output, without its newline. */
void perffold_line(struct perffold *f, const char *line, size_t len);
/* End the input; the collapsed stacks (caller frees). */
char *perffold_result(struct perffold *f);
void perffold_free(struct perffold *f);
/* Fold all of in into fd. 0 or -errno. */
int perffold_file(FILE *in, int fd);

#endif
