/*
 * agent.c — installing corral's Node agent (agent.h).
 */
#include "daemon/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/spec.h"
#include "common/util.h"
#include "daemon/state.h"

/* agent.js, NUL-terminated, as it is in the source tree (the Makefile
 * rebuilds this object when it changes). */
__asm__(".section .rodata\n"
    ".global corral_agent_js\n"
    ".type corral_agent_js, @object\n"
    "corral_agent_js:\n"
    ".incbin \"src/daemon/agent.js\"\n"
    ".byte 0\n"
    ".previous\n");
extern const char corral_agent_js[];

static bool installed;

int
agent_install(void)
{
	char *tmp = xasprintf("%s.%d", D->paths.agent, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : write_all(fd, corral_agent_js, strlen(corral_agent_js));
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, D->paths.agent) < 0)
		rc = -errno;
	if (rc < 0) {
		dlog("cannot write %s: %s; Node apps start without corral's agent (no profiles, "
		    "no in-app metrics)", D->paths.agent, strerror(-rc));
		unlink(tmp);
	}
	free(tmp);
	installed = rc == 0;
	return rc;
}

bool
agent_for(const struct spec *s)
{
	/* An app that runs as another user cannot read it in the 0700 home
	 * (and node would not start): it goes without. */
	bool other_user = s->uid >= 0 && (uid_t)s->uid != geteuid();
	return installed && !other_user &&
	    spec_node_agent(s->interpreter, s->node_ipc, s->disable_agent);
}
