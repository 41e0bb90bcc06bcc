/*
 * paths.c — $CORRAL_HOME layout.
 */
#include "common/paths.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

int
paths_init(struct paths *p, char **err)
{
	memset(p, 0, sizeof(*p));
	const char *home = getenv("CORRAL_HOME");
	char *base;
	if (home && *home) {
		base = xstrdup(home);
	} else {
		const char *h = getenv("HOME");
		if (!h || !*h) {
			struct passwd *pw = getpwuid(getuid());
			h = pw ? pw->pw_dir : NULL;
		}
		if (!h) {
			*err = xstrdup("cannot find a home directory: set CORRAL_HOME");
			return -ENOENT;
		}
		base = xasprintf("%s/.corral", h);
	}
	if (base[0] != '/') {
		char cwd[4096];
		if (!getcwd(cwd, sizeof(cwd))) {
			*err = xasprintf("CORRAL_HOME %s: cannot resolve the current directory", base);
			free(base);
			return -errno;
		}
		char *abs = xasprintf("%s/%s", cwd, base);
		free(base);
		base = abs;
	}
	while (strlen(base) > 1 && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	p->home = base;
	p->sock = xasprintf("%s/corral.sock", base);
	p->pidfile = xasprintf("%s/daemon.pid", base);
	p->lock = xasprintf("%s/daemon.lock", base);
	p->log = xasprintf("%s/daemon.log", base);
	p->notify = xasprintf("%s/notify.sock", base);
	p->keeper_sock = xasprintf("%s/keeper.sock", base);
	p->keeper_pid = xasprintf("%s/keeper.pid", base);
	p->logs_dir = xasprintf("%s/logs", base);
	p->pids_dir = xasprintf("%s/pids", base);
	p->dump = xasprintf("%s/dump.json", base);
	p->dump_bak = xasprintf("%s/dump.json.bak", base);
	p->settings = xasprintf("%s/settings.json", base);
	p->settings_lock = xasprintf("%s/settings.lock", base);
	p->agent = xasprintf("%s/agent.js", base);
	p->profiles_dir = xasprintf("%s/profiles", base);
	if (strlen(p->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		*err = xasprintf("CORRAL_HOME %s is too long for a unix socket path "
		    "(at most %zu bytes)", base,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 13);
		paths_free(p);
		return -ENAMETOOLONG;
	}
	return 0;
}

int
paths_prepare(const struct paths *p, char **err)
{
	int rc = mkdir_p(p->home, 0700);
	if (rc < 0) {
		*err = xasprintf("cannot create %s: %s", p->home, strerror(-rc));
		return rc;
	}
	struct stat st;
	/* A home that is a symlink must be our own link: otherwise someone
	 * could point a CORRAL_HOME in /tmp at a directory of ours that we
	 * would then chmod and fill. */
	if (lstat(p->home, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != geteuid()) {
		*err = xasprintf("%s is a symbolic link owned by uid %u, not by you: refusing to "
		    "use it", p->home, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (stat(p->home, &st) < 0) {
		*err = xasprintf("cannot use %s: %s", p->home, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err = xasprintf("%s is not a directory", p->home);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		*err = xasprintf("%s belongs to uid %u, not to you (uid %u): "
		    "set CORRAL_HOME to a directory of your own",
		    p->home, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if ((st.st_mode & 077) != 0 && chmod(p->home, st.st_mode & 0700) < 0) {
		*err = xasprintf("cannot make %s private: %s", p->home, strerror(errno));
		return -errno;
	}
	const char *dirs[] = {p->logs_dir, p->pids_dir};
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST) {
			*err = xasprintf("cannot create %s: %s", dirs[i], strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int
paths_profiles_dir(const struct paths *p, char **err)
{
	struct stat st;
	if (mkdir(p->profiles_dir, 0700) < 0 && errno != EEXIST) {
		*err = xasprintf("cannot create %s: %s", p->profiles_dir, strerror(errno));
		return -errno;
	}
	int e = stat(p->profiles_dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (e) {
		*err = xasprintf("cannot use %s: %s", p->profiles_dir, strerror(e));
		return -e;
	}
	return 0;
}

void
paths_free(struct paths *p)
{
	char **all[] = {&p->home, &p->sock, &p->pidfile, &p->lock, &p->log,
	    &p->notify, &p->keeper_sock, &p->keeper_pid, &p->logs_dir, &p->pids_dir,
	    &p->dump, &p->dump_bak, &p->settings, &p->settings_lock, &p->agent, &p->profiles_dir};
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		free(*all[i]);
		*all[i] = NULL;
	}
}
