/*
 * signame.h — signal names as users type them ("SIGINT", "INT", "sigterm",
 * "9") and as corral prints them.
 */
#ifndef CORRAL_SIGNAME_H
#define CORRAL_SIGNAME_H

/* Signal number for a name or number, or -EINVAL. The real-time signals
 * are "SIGRTMIN+n" / "SIGRTMAX-n" or their numbers. */
int signame_parse(const char *s);
/* "SIGINT" for 2, "SIGRTMIN+6" for SIGRTMIN + 6; "SIGUNKNOWN" for a number
 * no signal has. */
const char *signame_name(int sig);

#endif
