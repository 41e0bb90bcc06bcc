/*
 * policy.h — what happens when a process exits: PM2's restart rules as pure
 * arithmetic, so they can be tested without processes.
 *
 *   autorestart false, or an exit code in stop_exit_codes → stopped
 *   a run shorter than min_uptime is unstable; max_restarts consecutive
 *     unstable runs → errored (PM2 counts them only within its first
 *     min_uptime × max_restarts ms; corral counts consecutive ones, which is
 *     what PM2's documentation promises — docs/compat.md)
 *   delay: exp_backoff_restart_delay → base, then ×1.5 per crash, at most
 *     15 s, back to base after a run of 30 s; else restart_delay; else 0
 *   spin guard: a process that ran less than SPIN_RUN_MS waits at least
 *     SPIN_DELAY_MS before its restart, whatever the settings, so a crash loop
 *     (even with min_uptime 0 or a huge max_restarts) never spins a CPU: at
 *     most 10 starts a second per instance
 */
#ifndef CORRAL_POLICY_H
#define CORRAL_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/spec.h"

#define BACKOFF_CAP_MS 15000
#define BACKOFF_RESET_MS 30000
#define SPIN_RUN_MS 1000
#define SPIN_DELAY_MS 100

enum exit_action {
	EXIT_RESTART,   /* restart after delay_ms (0 = now) */
	EXIT_STOP,      /* stay stopped */
	EXIT_ERRORED,   /* give up */
};

struct exit_outcome {
	enum exit_action action;
	int64_t delay_ms;
	bool unstable;
};

/* Decide for a process of spec s that ran run_ms and exited with exit_code
 * (-1 when killed by a signal). Updates the instance's counters:
 * *unstable_restarts and *prev_delay_ms. */
void policy_on_exit(const struct spec *s, int64_t run_ms, int exit_code,
    int *unstable_restarts, int64_t *prev_delay_ms, struct exit_outcome *out);

/* The exponential backoff step alone: next delay after prev (0 = none yet). */
int64_t policy_backoff_next(int64_t base_ms, int64_t prev_ms);

#endif
