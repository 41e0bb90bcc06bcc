/*
 * agent.h — corral's agent for Node apps (src/daemon/agent.js, built into
 * the binary): CPU and heap profiles, heap snapshots and in-app metrics,
 * over the Node IPC channel (docs/profiling.md).
 */
#ifndef CORRAL_AGENT_H
#define CORRAL_AGENT_H

#include <stdbool.h>

struct spec;

/* Write the agent to $CORRAL_HOME/agent.js (at start-up). 0, or -errno
 * after a line in the log: Node apps then start without it. */
int agent_install(void);
/* Do this app's processes get the agent (`node --require <it>`)? */
bool agent_for(const struct spec *s);

#endif
