/*
 * remote.c — the ssh command line (remote.h), and `corral --host`: the
 * verb is run by the `corral` on the remote PATH, through ssh, with each
 * argument quoted for the remote shell. No listener on the host: ssh
 * carries the command and its output, the exit code comes back as ssh's.
 */
#include "cli/remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spec.h"
#include "common/util.h"
#include "config/normalize.h"

size_t
remote_ssh_command(char ***argv)
{
	const char *cmd = getenv("CORRAL_SSH_COMMAND");
	char *err = NULL;
	char **v = cmd && *cmd ? normalize_split_args(cmd, &err) : NULL;
	if (err) {
		/* Not plain ssh instead: the user's options (-F, -J, a key)
		 * would be lost without a word. */
		fprintf(stderr, "corral: CORRAL_SSH_COMMAND: %s\n", err);
		exit(2);
	}
	if (v && !v[0]) {
		free(v);
		v = NULL;
	}
	if (!v) {
		v = xcalloc(2, sizeof(char *));
		v[0] = xstrdup("ssh");
	}
	size_t n = 0;
	while (v[n])
		n++;
	*argv = v;
	return n;
}

void
remote_argv_push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

int
remote_parse_url(const char *url, char **dest, char **port, char **err)
{
	const char *s = str_starts(url, "ssh://") ? url + 6 : url;
	size_t len = strcspn(s, "/");
	if (s[len] == '/' && s[len + 1] != '\0') {
		*err = xasprintf("--host %s: a path is not allowed (ssh://user@host[:port])", url);
		return -1;
	}
	char *hostpart = xstrndup(s, len);
	char *at = strrchr(hostpart, '@');
	char *h = at ? at + 1 : hostpart;
	char *p = NULL;
	if (*h == '[') {                 /* [v6]:port */
		char *close = strchr(h, ']');
		if (close && close[1] == ':')
			p = close + 2;
		if (close) {
			memmove(h, h + 1, (size_t)(close - h - 1));
			h[close - h - 1] = '\0';
		}
	} else if (strchr(h, ':') && strchr(h, ':') == strrchr(h, ':')) {
		p = strchr(h, ':');
		*p++ = '\0';
	}
	bool bad_port = p && (!*p || strspn(p, "0123456789") != strlen(p) || atoi(p) < 1 ||
	    atoi(p) > 65535);
	if (!*h || *hostpart == '-' || bad_port || (at && at == hostpart)) {
		*err = xasprintf("--host %s: expected ssh://[user@]host[:port]", url);
		free(hostpart);
		return -1;
	}
	*port = xstrdup(p ? p : "");
	if (at) {
		*at = '\0';
		*dest = xasprintf("%s@%s", hostpart, h);
	} else {
		*dest = xstrdup(h);
	}
	free(hostpart);
	return 0;
}

int
remote_run(const char *url, int argc, char **argv)
{
	char *dest, *port, *err;
	if (remote_parse_url(url, &dest, &port, &err) < 0) {
		fprintf(stderr, "corral: %s\n", err);
		free(err);
		return 2;
	}
	char **v;
	size_t n = remote_ssh_command(&v);
	/* A terminal for monit, and for Ctrl-C to reach `logs` on the host. */
	remote_argv_push(&v, &n, isatty(0) && isatty(1) ? "-t" : "-T");
	if (*port) {
		remote_argv_push(&v, &n, "-p");
		remote_argv_push(&v, &n, port);
	}
	remote_argv_push(&v, &n, "--");
	remote_argv_push(&v, &n, dest);
	struct sbuf cmd = SBUF_INIT;
	sbuf_adds(&cmd, "corral");
	for (int i = 0; i < argc; i++) {
		char *q = shell_quote(argv[i]);
		sbuf_addf(&cmd, " %s", q);
		free(q);
	}
	remote_argv_push(&v, &n, cmd.s);
	sbuf_free(&cmd);
	free(dest);
	free(port);
	fflush(NULL);
	execvp(v[0], v);
	fprintf(stderr, "corral: --host %s: cannot run %s: %s\n", url, v[0], strerror(errno));
	strv_free(v);
	return 1;
}
