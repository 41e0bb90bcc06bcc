/*
 * httproute.c — routes, Accept, bearer tokens, listen addresses
 * (httproute.h).
 */
#include "common/httproute.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode the segment s[0..n) into out; false if it is empty, too long,
 * badly encoded, or holds a '/', a NUL or a control character. */
static bool
decode_segment(const char *s, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return false;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == '/' || c < 0x20 || c == 0x7f || k >= ROUTE_TARGET_MAX)
			return false;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return k > 0;
}

/* The path's segments after prefix ("/api/v1/"): up to 4, each [start, len). */
static size_t
split(const char *path, const char **seg, size_t *len, size_t max)
{
	size_t n = 0;
	const char *p = path;
	while (*p) {
		if (*p == '/') {
			p++;
			continue;
		}
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (n == max)
			return max + 1;
		seg[n] = p;
		len[n++] = l;
		p += l;
	}
	return n;
}

static bool
seg_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

static const char *const actions[] = {"restart", "reload", "stop", "start"};

int
route_parse(const char *method, const char *path, struct route *r, const char **allow)
{
	memset(r, 0, sizeof(*r));
	*allow = NULL;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	const char *want = "GET";
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		r->kind = ROUTE_DASHBOARD;
	else if (strcmp(path, "/healthz") == 0)
		r->kind = ROUTE_HEALTHZ;
	else if (strcmp(path, "/readyz") == 0)
		r->kind = ROUTE_READYZ;
	else if (strcmp(path, "/metrics") == 0)
		r->kind = ROUTE_METRICS;
	else if (str_starts(path, "/api/v1/")) {
		const char *seg[4];
		size_t len[4];
		size_t n = split(path + strlen("/api/v1/"), seg, len, 3);
		if (n == 1 && seg_is(seg[0], len[0], "processes")) {
			r->kind = ROUTE_PROCESSES;
		} else if (n == 1 && seg_is(seg[0], len[0], "events")) {
			r->kind = ROUTE_EVENTS;
		} else if (n == 1 && seg_is(seg[0], len[0], "samples")) {
			r->kind = ROUTE_SAMPLES;
		} else if (n == 2 && seg_is(seg[0], len[0], "processes")) {
			r->kind = ROUTE_PROCESS;
		} else if (n == 2 && seg_is(seg[0], len[0], "logs")) {
			r->kind = ROUTE_LOGS;
		} else if (n == 3 && seg_is(seg[0], len[0], "processes")) {
			for (size_t i = 0; i < ARRAY_LEN(actions); i++)
				if (seg_is(seg[2], len[2], actions[i]))
					r->action = actions[i];
			if (!r->action)
				return 404;
			r->kind = ROUTE_ACTION;
			want = "POST";
		} else if (n == 3 && seg_is(seg[0], len[0], "apps") &&
		    seg_is(seg[2], len[2], "scale")) {
			r->kind = ROUTE_SCALE;
			want = "POST";
		} else {
			return 404;
		}
		if (n >= 2 && !decode_segment(seg[1], len[1], r->target))
			return 404;
	} else {
		return 404;
	}
	if ((strcmp(want, "GET") == 0 && !get) || (strcmp(want, "POST") == 0 && !post)) {
		*allow = want;
		r->kind = ROUTE_NONE;
		return 405;
	}
	return 200;
}

bool
accept_wants_openmetrics(const char *accept)
{
	if (!accept)
		return false;
	const char *p = accept;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *semi = memchr(p, ';', n);
		size_t tl = semi ? (size_t)(semi - p) : n;
		while (tl && (p[tl - 1] == ' ' || p[tl - 1] == '\t'))
			tl--;
		static const char om[] = "application/openmetrics-text";
		if (tl == sizeof(om) - 1 && strncasecmp(p, om, tl) == 0) {
			/* Its quality, when given, must not be zero. */
			bool zero = false;
			for (const char *q = semi; q && q < p + n; q = memchr(q + 1, ';', (size_t)(p + n - q - 1))) {
				const char *v = q + 1;
				while (v < p + n && (*v == ' ' || *v == '\t'))
					v++;
				if (v + 2 <= p + n && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
					char num[16];
					size_t k = 0;
					for (v += 2; v < p + n && k < sizeof(num) - 1 && *v != ';'; v++)
						num[k++] = *v;
					num[k] = '\0';
					zero = strtod(num, NULL) <= 0.0;
				}
				if (q + 1 >= p + n)
					break;
			}
			if (!zero)
				return true;
		}
		p += n;
	}
	return false;
}

bool
bearer_matches(const char *authorization, const char *token)
{
	if (!authorization || !token || !*token)
		return false;
	static const char scheme[] = "Bearer ";
	if (strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
		return false;
	const char *given = authorization + sizeof(scheme) - 1;
	while (*given == ' ')
		given++;
	size_t gl = strlen(given), tl = strlen(token);
	/* Every byte of the token is compared, whatever the given one holds. */
	unsigned char diff = gl != tl;
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < gl ? given[i] : 0);
	return diff == 0;
}

int
listen_parse(const char *s, char *host, size_t cap, int *port, char **err)
{
	const char *colon;
	char h[64];
	const char *ps;
	/* The address as said in messages: one line, not too long. */
	char shown[65];
	size_t k = 0;
	for (const char *p = s ? s : ""; *p && k < sizeof(shown) - 1; p++)
		shown[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	shown[k] = '\0';
	if (!s || !*s) {
		*err = xstrdup("empty listen address (expected host:port, like 127.0.0.1:9615)");
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(h)) {
			*err = xasprintf("listen address \"%s\": expected [IPv6]:port", shown);
			return -1;
		}
		memcpy(h, s + 1, (size_t)(close - s - 1));
		h[close - s - 1] = '\0';
		ps = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if ((size_t)(colon - s) >= sizeof(h) || memchr(s, ':', (size_t)(colon - s))) {
			*err = xasprintf("listen address \"%s\": expected host:port (an IPv6 "
			    "address goes in brackets: [::1]:9615)", shown);
			return -1;
		}
		memcpy(h, s, (size_t)(colon - s));
		h[colon - s] = '\0';
		ps = colon + 1;
	} else {
		snprintf(h, sizeof(h), "127.0.0.1");
		ps = s;
	}
	char *end;
	long p = strtol(ps, &end, 10);
	if (!*ps || *end || p < 1 || p > 65535 || !isdigit((unsigned char)*ps)) {
		*err = xasprintf("listen address \"%s\": the port must be a number from 1 to "
		    "65535", shown);
		return -1;
	}
	if (!*h)
		snprintf(h, sizeof(h), "0.0.0.0");
	unsigned char buf[16];
	if (inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1) {
		*err = xasprintf("listen address \"%s\": the host is not a numeric IPv4 or IPv6 "
		    "address (no names: the daemon does not wait on DNS)", shown);
		return -1;
	}
	if (strlen(h) >= cap) {
		*err = xasprintf("listen address \"%s\" is too long", shown);
		return -1;
	}
	strcpy(host, h);
	*port = (int)p;
	return 0;
}

bool
listen_is_loopback(const char *host)
{
	unsigned char b[16];
	if (inet_pton(AF_INET, host, b) == 1)
		return b[0] == 127;
	if (inet_pton(AF_INET6, host, b) == 1) {
		static const unsigned char lo[16] = {[15] = 1};
		return memcmp(b, lo, 16) == 0;
	}
	return false;
}

bool
host_header_is_loopback(const char *host)
{
	if (!host)
		return false;
	char h[64];
	const char *end;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (size_t)(end - host - 1) >= sizeof(h))
			return false;
		memcpy(h, host + 1, (size_t)(end - host - 1));
		h[end - host - 1] = '\0';
		end++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
		if ((size_t)(end - host) >= sizeof(h))
			return false;
		memcpy(h, host, (size_t)(end - host));
		h[end - host] = '\0';
	}
	/* Nothing after the name but a port. */
	if (*end == ':') {
		const char *p = end + 1;
		if (!*p || strlen(p) > 5)
			return false;
		for (; *p; p++)
			if (!isdigit((unsigned char)*p))
				return false;
	} else if (*end) {
		return false;
	}
	if (strcasecmp(h, "localhost") == 0)
		return true;
	return listen_is_loopback(h);
}
