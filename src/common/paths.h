/*
 * paths.h — where corral keeps its state: $CORRAL_HOME (default ~/.corral).
 *
 *   corral.sock   control socket (0600)       daemon.pid   pid + lock
 *   daemon.lock   start-up lock for clients    daemon.log   the daemon's log
 *   notify.sock   sd_notify datagrams          logs/        app logs
 *   pids/         pid files                    dump.json    saved list (0600)
 *   keeper.sock   where a daemon finds the     keeper.pid   the keeper's pid
 *                 keeper (src/keeper)
 *   settings.json `corral set` (settings.h)    settings.lock  held while it is written
 *   agent.js      the Node agent (daemon/agent.c) profiles/  profiles, heap dumps (0700)
 */
#ifndef CORRAL_PATHS_H
#define CORRAL_PATHS_H

struct paths {
	char *home;
	char *sock;
	char *pidfile;
	char *lock;
	char *log;
	char *notify;
	char *keeper_sock;
	char *keeper_pid;
	char *logs_dir;
	char *pids_dir;
	char *dump;
	char *dump_bak;
	char *settings;
	char *settings_lock;
	char *agent;
	char *profiles_dir;
};

/* Fill p from the environment. 0 or -errno with *err set (caller frees). */
int paths_init(struct paths *p, char **err);
/* Create home (0700), logs/ and pids/; refuse a home that another user
 * owns or that others can write. 0 or -errno with *err. */
int paths_prepare(const struct paths *p, char **err);
/* Create profiles/ (0700) if it is not there. 0, or -errno with *err (one
 * line naming it; caller frees). */
int paths_profiles_dir(const struct paths *p, char **err);
void paths_free(struct paths *p);

#endif
