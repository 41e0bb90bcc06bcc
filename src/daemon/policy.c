/*
 * policy.c — restart decisions.
 */
#include "daemon/policy.h"

int64_t
policy_backoff_next(int64_t base_ms, int64_t prev_ms)
{
	if (prev_ms <= 0)
		return base_ms;
	int64_t next = prev_ms * 3 / 2;
	return next > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : next;
}

void
policy_on_exit(const struct spec *s, int64_t run_ms, int exit_code,
    int *unstable_restarts, int64_t *prev_delay_ms, struct exit_outcome *out)
{
	out->delay_ms = 0;
	out->unstable = run_ms < s->min_uptime;
	if (!s->autorestart) {
		out->action = EXIT_STOP;
		return;
	}
	for (size_t i = 0; exit_code >= 0 && i < s->stop_exit_codes.n; i++) {
		if (s->stop_exit_codes.v[i] == exit_code) {
			out->action = EXIT_STOP;
			return;
		}
	}
	if (out->unstable)
		(*unstable_restarts)++;
	else
		*unstable_restarts = 0;
	if (*unstable_restarts >= s->max_restarts) {
		out->action = EXIT_ERRORED;
		return;
	}
	out->action = EXIT_RESTART;
	if (s->exp_backoff_restart_delay > 0) {
		if (run_ms >= BACKOFF_RESET_MS)
			*prev_delay_ms = 0;
		*prev_delay_ms = policy_backoff_next(s->exp_backoff_restart_delay, *prev_delay_ms);
		out->delay_ms = *prev_delay_ms;
	} else {
		out->delay_ms = s->restart_delay;
	}
	if (run_ms < SPIN_RUN_MS && out->delay_ms < SPIN_DELAY_MS)
		out->delay_ms = SPIN_DELAY_MS;
}
