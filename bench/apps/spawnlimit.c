/*
 * spawnlimit — the floor for starting and stopping many processes: what the
 * kernel needs, with no process manager. It starts N copies of a command,
 * each in its own session (as a manager starts an app), then sends each
 * process group SIGTERM and reaps them all, and prints the two times as
 * JSON:
 *
 *   spawnlimit 1000 /bin/sleep 86400
 *   {"n": 1000, "start_ms": 412.3, "stop_ms": 35.1}
 *
 * "start" ends when every child has exec'd (posix_spawn returns after the
 * exec, as vfork does); "stop" when the last one is reaped. Between the two
 * it waits for a line on stdin if given -w (the benchmark measures the
 * daemons' idle figures meanwhile), else 100 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	int wait_line = 0;
	if (argc > 1 && strcmp(argv[1], "-w") == 0) {
		wait_line = 1;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: spawnlimit [-w] N command [args...]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	if (n <= 0) {
		fprintf(stderr, "spawnlimit: N must be positive\n");
		return 2;
	}
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);

	double t0 = now_ms();
	for (int i = 0; i < n; i++) {
		int rc = posix_spawn(&pids[i], argv[2], &fa, &attr, argv + 2, environ);
		if (rc != 0) {
			fprintf(stderr, "spawnlimit: %s: %s\n", argv[2], strerror(rc));
			for (int k = 0; k < i; k++)
				kill(-pids[k], SIGKILL);
			return 1;
		}
	}
	double t1 = now_ms();
	if (wait_line) {
		printf("{\"started\": %d}\n", n);
		fflush(stdout);
		char buf[64];
		if (!fgets(buf, sizeof(buf), stdin))
			buf[0] = '\0';
	} else {
		usleep(100000);
	}
	double t2 = now_ms();
	for (int i = 0; i < n; i++)
		kill(-pids[i], SIGTERM);
	for (int left = n; left > 0;) {
		if (waitpid(-1, NULL, 0) > 0)
			left--;
		else if (errno != EINTR)
			break;
	}
	double t3 = now_ms();
	printf("{\"n\": %d, \"start_ms\": %.1f, \"stop_ms\": %.1f}\n", n, t1 - t0, t3 - t2);
	free(pids);
	return 0;
}
