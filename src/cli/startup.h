/*
 * startup.h — `corral startup` and `corral unstartup`: a systemd unit that
 * brings one user's saved process list back at boot, as `pm2 startup` does.
 *
 * The unit is Type=forking: `corral resurrect` starts the daemon (which
 * detaches, writing $CORRAL_HOME/daemon.pid) and exits once the apps are
 * started; systemd then follows the daemon through PIDFile=. ExecStop is
 * `corral kill`, which does not save: what comes back is what `corral save`
 * wrote last.
 *
 * CORRAL_SYSTEMD_DIR replaces /etc/systemd/system and CORRAL_SYSTEMCTL the
 * systemctl program (tests point them at a temp dir and a fake script).
 */
#ifndef CORRAL_STARTUP_H
#define CORRAL_STARTUP_H

#include <stdbool.h>

struct args;
struct paths;

/* What a unit needs; every string is used as is (absolute paths). */
struct startup_unit {
	const char *user;        /* User= */
	const char *corral_home; /* CORRAL_HOME of the service */
	const char *pidfile;     /* the daemon's pid file in that home */
	const char *path_env;    /* PATH, frozen when the unit is generated */
	const char *exe;         /* this corral binary */
	bool wait_ip;            /* after network-online.target */
};

/* The unit file's text (caller frees), or NULL with *err (caller frees)
 * when a value cannot be written into a unit (a newline in a path). */
char *startup_unit_text(const struct startup_unit *u, char **err);

/* `corral startup` (install true) or `corral unstartup`, with the options
 * in a and the current paths p. Prints what it did or a one-line error;
 * returns the exit code: 0, 1 on failure, 2 for a usage error. */
int startup_command(const struct args *a, const struct paths *p, bool install);

#endif
