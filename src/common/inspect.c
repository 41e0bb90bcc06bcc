/*
 * inspect.c — Node's inspector options (inspect.h).
 */
#include "common/inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const flags[] = {"--inspect-brk", "--inspect-wait", "--inspect-port",
    "--inspect"};

/* The flag a[0..len) starts with, and where its value starts (after '=');
 * NULL when it is none of them. */
static const char *
match_flag(const char *a, size_t len, const char **value)
{
	for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
		size_t n = strlen(flags[i]);
		if (len < n || strncmp(a, flags[i], n) != 0)
			continue;
		if (len == n) {
			*value = NULL;
			return flags[i];
		}
		if (a[n] == '=') {
			*value = a + n + 1;
			return flags[i];
		}
	}
	return NULL;
}

/* The port of a "[host:]port" value a[0..len); -1 when it is not one. */
static int
value_port(const char *v, size_t len, size_t *host_len)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (v[i] == ':')
			colon = v + i;
	const char *num = colon ? colon + 1 : v;
	size_t nlen = len - (size_t)(num - v);
	*host_len = colon ? (size_t)(colon - v) : 0;
	if (nlen == 0 || nlen > 5)
		return colon ? -1 : -2;     /* a bare host: the default port */
	int port = 0;
	for (size_t i = 0; i < nlen; i++) {
		if (num[i] < '0' || num[i] > '9')
			return colon ? -1 : -2;
		port = port * 10 + (num[i] - '0');
	}
	return port <= 65535 ? port : -1;
}

bool
inspect_option(const char *a, size_t len, int *port)
{
	const char *value;
	if (!match_flag(a, len, &value))
		return false;
	*port = INSPECT_DEFAULT_PORT;
	if (value) {
		size_t host_len;
		int p = value_port(value, len - (size_t)(value - a), &host_len);
		if (p >= 0)
			*port = p;
	}
	return true;
}

char *
inspect_option_for_instance(const char *a, int index)
{
	size_t len = strlen(a);
	const char *value;
	const char *flag = match_flag(a, len, &value);
	if (!flag)
		return NULL;
	int port = INSPECT_DEFAULT_PORT;
	size_t host_len = 0;
	const char *host = value;
	if (value) {
		int p = value_port(value, len - (size_t)(value - a), &host_len);
		if (p == -2)            /* "--inspect=host": host, default port */
			host_len = len - (size_t)(value - a);
		else if (p < 0)
			return NULL;
		else
			port = p;
	}
	long want = (long)port + index;
	if (want > 65535)
		return NULL;
	if (host_len)
		return xasprintf("%s=%.*s:%ld", flag, (int)host_len, host, want);
	return xasprintf("%s=%ld", flag, want);
}
