/*
 * signame.h — signal names as users type them ("SIGINT", "INT", "sigterm",
 * "9") and as corral prints them.
 */
#ifndef CORRAL_SIGNAME_H
#define CORRAL_SIGNAME_H

/* Signal number for a name or number, or -EINVAL. */
int signame_parse(const char *s);
/* "SIGINT" for 2; "SIG<n>" buffer-free form for unknown numbers. */
const char *signame_name(int sig);

#endif
