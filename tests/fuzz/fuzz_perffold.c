/*
 * fuzz_perffold.c — libFuzzer target for folding `perf script` output
 * into collapsed stacks (cli/perffold.h).
 *
 * Input: perf script text, split at newlines. The result must be lines of
 * "<stack> <count>" with a positive count, sorted, each stack distinct, and
 * the counts must add up to the samples read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/perffold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perffold f;
	perffold_init(&f);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		perffold_line(&f, p, len);
		p += len + 1;
	}
	char *out = perffold_result(&f);
	size_t total = 0;
	char *prev = NULL;
	for (char *line = out; *line;) {
		char *eol = strchr(line, '\n');
		if (!eol)
			abort();
		*eol = '\0';
		char *sp = strrchr(line, ' ');
		if (!sp || sp[1] == '\0')
			abort();
		char *e;
		unsigned long count = strtoul(sp + 1, &e, 10);
		if (*e || count == 0)
			abort();
		total += count;
		*sp = '\0';
		if (prev && strcmp(prev, line) >= 0)
			abort();
		prev = line;
		line = eol + 1;
	}
	if (total != f.n)
		abort();
	free(out);
	perffold_free(&f);
	return 0;
}
