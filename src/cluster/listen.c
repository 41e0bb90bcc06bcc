/*
 * listen.c — socket activation: an app's `listen` addresses become
 * listening sockets passed at fds 3.. with LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES, as systemd passes them, for apps that take sockets that
 * way instead of binding (Go and static binaries, gunicorn, uvicorn...).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cluster/group.h"
#include "common/util.h"

/* Parse "host:port", "[v6]:port", ":port" or "port" into a key. */
static int
parse_listen(const char *text, struct group *key)
{
	char host[INET6_ADDRSTRLEN + 2] = "";
	const char *port_s;
	int family = AF_INET;
	if (text[0] == '[') {
		const char *close_b = strchr(text, ']');
		if (!close_b || close_b[1] != ':' || (size_t)(close_b - text - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, (size_t)(close_b - text - 1));
		host[close_b - text - 1] = '\0';
		port_s = close_b + 2;
		family = AF_INET6;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon) {
			if ((size_t)(colon - text) >= sizeof(host))
				return -EINVAL;
			memcpy(host, text, (size_t)(colon - text));
			host[colon - text] = '\0';
			port_s = colon + 1;
		} else {
			port_s = text;
		}
		if (!*host)
			strcpy(host, "0.0.0.0");
	}
	char *end;
	long port = strtol(port_s, &end, 10);
	if (*port_s == '\0' || *end || port < 1 || port > 65535)
		return -EINVAL;
	return group_key_make(key, family, host, (uint16_t)port, family == AF_INET6);
}

int
cluster_listen_fds(struct cluster *c, const struct cluster_slot *slot, int *fds, size_t max,
    char **names, char **err)
{
	const struct spec *s = slot->spec;
	size_t n = strv_len(s->listen);
	*names = NULL;
	if (n == 0)
		return 0;
	if (n > max) {
		*err = xasprintf("at most %zu listen addresses", max);
		return -1;
	}
	struct sbuf nb = SBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		struct group key;
		if (parse_listen(s->listen[i], &key) < 0) {
			*err = xasprintf("listen: \"%s\" is not an address (host:port, [v6]:port or port)",
			    s->listen[i]);
			sbuf_free(&nb);
			return -1;
		}
		struct group *g = group_find_or_create(c, slot, &key, err);
		/* The process does not exist yet: the socket is reserved as an
		 * orphan of the slot and claimed in cluster_peer_new. */
		int fd = g ? group_socket_for(g, slot, NULL, err) : -1;
		if (fd < 0) {
			sbuf_free(&nb);
			return -1;
		}
		fds[i] = fd;
		sbuf_addf(&nb, "%s%s", i ? ":" : "", g->label);
	}
	*names = sbuf_take(&nb);
	return (int)n;
}
