/*
 * signame.c — signal name table.
 */
#include "common/signame.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
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

int
signame_parse(const char *s)
{
	int64_t n;
	if (units_parse_int(s, 1, 64, &n) == 0)
		return (int)n;
	for (size_t i = 0; i < ARRAY_LEN(signals); i++) {
		if (strcasecmp(s, signals[i].name) == 0 ||
		    strcasecmp(s, signals[i].name + 3) == 0)
			return signals[i].sig;
	}
	return -EINVAL;
}

const char *
signame_name(int sig)
{
	static const char *rt[] = {"SIGRT"};
	for (size_t i = 0; i < ARRAY_LEN(signals); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return rt[0];
}
