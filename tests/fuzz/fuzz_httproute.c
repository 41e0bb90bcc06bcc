/*
 * fuzz_httproute.c — libFuzzer target for what `corral web` reads of an
 * HTTP request itself (common/httproute.c): the route of a path, the
 * Accept header, the bearer token, and a listen address. The input is
 * split at its first two NUL bytes: a method, a path and a header value.
 * A route found names a known kind with a clean target; a token matches
 * only itself; an address accepted has a port in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httproute.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 3);
	memcpy(text, data, size);
	text[size] = text[size + 1] = text[size + 2] = '\0';
	const char *method = text;
	const char *path = method + strlen(method) + 1;
	if (path > text + size)
		path = text + size;
	const char *value = path + strlen(path) + 1;
	if (value > text + size)
		value = text + size;

	struct route r;
	const char *allow;
	int status = route_parse(method, path, &r, &allow);
	if (status == 200) {
		if (r.kind == ROUTE_NONE || strlen(r.target) > ROUTE_TARGET_MAX ||
		    strchr(r.target, '/'))
			abort();
		for (const char *p = r.target; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
		if (r.kind == ROUTE_ACTION && !r.action)
			abort();
	} else if (status == 405) {
		if (!allow)
			abort();
	} else if (status != 404) {
		abort();
	}

	(void)accept_wants_openmetrics(value);
	if (bearer_matches(value, path) && *path) {
		/* Only "Bearer <path>" (spaces after the scheme) may match. */
		if (strncasecmp(value, "Bearer ", 7) != 0)
			abort();
		const char *g = value + 7;
		while (*g == ' ')
			g++;
		if (strcmp(g, path) != 0)
			abort();
	}
	if (host_header_is_loopback(value) && !strchr(value, '[') && strncasecmp(value,
	    "localhost", 9) != 0 && strncmp(value, "127.", 4) != 0)
		abort();
	char host[64];
	int port;
	char *err = NULL;
	if (listen_parse(value, host, sizeof(host), &port, &err) == 0) {
		if (port < 1 || port > 65535 || err)
			abort();
		(void)listen_is_loopback(host);
	} else {
		if (!err || strchr(err, '\n'))
			abort();
		free(err);
	}
	free(text);
	return 0;
}
