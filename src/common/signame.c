/*
 * signame.c — signal name table.
 */
#include "common/signame.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/units.h"
#include "common/util.h"

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT},
	{"SIGILL", SIGILL}, {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},
	{"SIGBUS", SIGBUS}, {"SIGFPE", SIGFPE}, {"SIGKILL", SIGKILL},
	{"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
	{"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},
	{"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},
	{"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN},
	{"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG}, {"SIGXCPU", SIGXCPU},
	{"SIGXFSZ", SIGXFSZ}, {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF},
	{"SIGWINCH", SIGWINCH}, {"SIGIO", SIGIO}, {"SIGPWR", SIGPWR},
	{"SIGSYS", SIGSYS},
};

/* SIGRTMIN is a run-time value (glibc keeps the first two for itself):
 * the real-time signals are named by their offset from it, as kill(1)
 * and bash name them. */
static const char *const rt_names[] = {
	"SIGRTMIN", "SIGRTMIN+1", "SIGRTMIN+2", "SIGRTMIN+3", "SIGRTMIN+4",
	"SIGRTMIN+5", "SIGRTMIN+6", "SIGRTMIN+7", "SIGRTMIN+8", "SIGRTMIN+9",
	"SIGRTMIN+10", "SIGRTMIN+11", "SIGRTMIN+12", "SIGRTMIN+13",
	"SIGRTMIN+14", "SIGRTMIN+15", "SIGRTMIN+16", "SIGRTMIN+17",
	"SIGRTMIN+18", "SIGRTMIN+19", "SIGRTMIN+20", "SIGRTMIN+21",
	"SIGRTMIN+22", "SIGRTMIN+23", "SIGRTMIN+24", "SIGRTMIN+25",
	"SIGRTMIN+26", "SIGRTMIN+27", "SIGRTMIN+28", "SIGRTMIN+29",
	"SIGRTMIN+30", "SIGRTMIN+31", "SIGRTMIN+32",
};

static bool
is_rt(int64_t n)
{
	return n >= SIGRTMIN && n <= SIGRTMAX && n - SIGRTMIN < (int64_t)ARRAY_LEN(rt_names);
}

/* "RTMIN", "RTMIN+3", "RTMAX", "RTMAX-2" (after an optional "SIG"). */
static int
rt_parse(const char *s)
{
	int64_t k = 0;
	const char *rest;
	int base;
	if (strncasecmp(s, "RTMIN", 5) == 0)
		base = SIGRTMIN, rest = s + 5;
	else if (strncasecmp(s, "RTMAX", 5) == 0)
		base = SIGRTMAX, rest = s + 5;
	else
		return -EINVAL;
	if (*rest) {
		if (*rest != (base == SIGRTMIN ? '+' : '-') || !isdigit((unsigned char)rest[1]) ||
		    units_parse_int(rest + 1, 0, SIGRTMAX - SIGRTMIN, &k) < 0)
			return -EINVAL;
	}
	int64_t n = base == SIGRTMIN ? base + k : base - k;
	return is_rt(n) ? (int)n : -EINVAL;
}

int
signame_parse(const char *s)
{
	int64_t n;
	if (units_parse_int(s, 1, 64, &n) == 0) {
		/* Numbers glibc keeps to itself (32, 33) are no one's to send. */
		for (size_t i = 0; i < ARRAY_LEN(signals); i++)
			if (signals[i].sig == n)
				return (int)n;
		return is_rt(n) ? (int)n : -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_LEN(signals); i++) {
		if (strcasecmp(s, signals[i].name) == 0 ||
		    strcasecmp(s, signals[i].name + 3) == 0)
			return signals[i].sig;
	}
	return rt_parse(strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s);
}

const char *
signame_name(int sig)
{
	for (size_t i = 0; i < ARRAY_LEN(signals); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	if (is_rt(sig))
		return rt_names[sig - SIGRTMIN];
	return "SIGUNKNOWN";
}
