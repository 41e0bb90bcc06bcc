/*
 * lines — a fast, checkable log writer for the integration tests.
 *
 *   lines COUNT TAG [WIDTH]
 *
 * Writes COUNT lines "TAG SEQ PAD\n" to stdout (SEQ = 0..COUNT-1, zero
 * padded to 7 digits; PAD = SEQ % 61 'x' characters, or exactly WIDTH
 * bytes per line when WIDTH is given), through a 64 KiB stdio buffer so
 * that writes cut lines at arbitrary places. Then, if LINES_HOLD is set, it
 * waits for a signal; otherwise it exits 0. On stderr it prints
 * "TAG done" once everything was written. With LINES_GO=<path>, it starts
 * writing only once that file exists (so a test can set the stage first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: lines COUNT TAG [WIDTH]\n");
		return 2;
	}
	long count = atol(argv[1]);
	const char *tag = argv[2];
	long width = argc > 3 ? atol(argv[3]) : 0;
	const char *go = getenv("LINES_GO");
	while (go && access(go, F_OK) != 0)
		usleep(1000);
	static char buf[65536];
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	char pad[4096];
	memset(pad, 'x', sizeof(pad));
	for (long i = 0; i < count; i++) {
		int head = printf("%s %07ld ", tag, i);
		long n = width > 0 ? width - head - 1 : i % 61;
		while (n > 0) {
			long k = n < (long)sizeof(pad) ? n : (long)sizeof(pad);
			fwrite(pad, 1, (size_t)k, stdout);
			n -= k;
		}
		putchar('\n');
	}
	fflush(stdout);
	fprintf(stderr, "%s done\n", tag);
	if (getenv("LINES_HOLD"))
		for (;;)
			pause();
	return 0;
}
