/*
 * profile.h — profiles and heap snapshots of Node instances (control
 * plane; profile.c says how).
 */
#ifndef CORRAL_PROFILE_H
#define CORRAL_PROFILE_H

#include <jansson.h>

struct client;
struct event;
struct inst;

/* The "profile" request: {"op": "profile_start"|"profile_stop"|"heapdump",
 * or "note" with "paths": files the CLI wrote for the one instance named,
 * "kind": "cpu"|"heap", "targets": [...], "file": absolute path (one
 * instance only), "timeout_ms": how long to wait for the agents}; answers {"results": [{pm_id, name, pid, path, bytes} or
 * {pm_id, name, pid, error}]} once every agent answered (docs/protocol.md). */
void profile_request(struct client *c, json_t *id, json_t *req);
/* The files written for in that are still there, as jlist shows them:
 * [{"path", "bytes", "at"}] (new reference). The last PROFILES_KEPT are
 * remembered. */
#define PROFILES_KEPT 16
json_t *profile_files(struct inst *in);
/* Kill the perf recordings still running (daemon exit). */
void profile_perf_kill_all(void);
/* EV_AGENT_MSG: an agent's answer; EV_REAPED: perf (profile start of a
 * program without the agent) ended; EV_INST_REMOVE: its recording is let
 * go. */
void profile_on_event(const struct event *ev, void *arg);

#endif
