/*
 * startup.c — generate, install and remove the systemd unit of
 * `corral startup` / `corral unstartup`.
 *
 * As root: write the unit atomically (temp file + rename, 0644), then
 * `systemctl daemon-reload` and `systemctl enable` (not start, as PM2).
 * Otherwise (or with --print): print the unit and the one command that
 * installs it as root, like PM2's "copy/paste the following command".
 */
#include "cli/startup.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/complain.h"
#include "common/paths.h"
#include "common/util.h"

extern char **environ;

#define DEFAULT_UNIT_DIR "/etc/systemd/system"

/* PM2's systemd aliases: a `pm2 startup ubuntu` line keeps working. */
static const char *const systemd_names[] = {"systemd", "ubuntu", "centos", "arch", "oracle"};

/* Directories a boot-time PATH should have, whatever the shell had. */
static const char *const system_path[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
    "/usr/bin", "/sbin", "/bin"};

/* Everything resolved for one unit; all strings owned. */
struct target {
	char *user;
	char *home;        /* the user's home (--hp, or the passwd entry) */
	char *corral_home;
	char *pidfile;
	char *service;     /* unit name without ".service" */
	char *unit_dir;
	char *unit_path;
	char *exe;
	char *path_env;
	unsigned uid;
	bool wait_ip;
};

static void
target_free(struct target *t)
{
	char **all[] = {&t->user, &t->home, &t->corral_home, &t->pidfile, &t->service,
	    &t->unit_dir, &t->unit_path, &t->exe, &t->path_env};
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		free(*all[i]);
		*all[i] = NULL;
	}
}

/* ---- the unit text ---- */

enum quoting {
	Q_PLAIN, /* User=, PIDFile=, Description=: specifiers only */
	Q_ENV,   /* Environment=: quoted when needed, C escapes */
	Q_EXEC,  /* Exec*=: as Q_ENV, and $ would expand a variable */
};

/* v as a unit file value (caller frees): % doubled (specifiers), $ doubled
 * in Exec lines, and for Q_ENV/Q_EXEC quoted when it has blanks, quotes,
 * backslashes or ';' (systemd unquotes and unescapes those words). NULL
 * when v has a control character: a newline would start a new unit line. */
static char *
unit_escape(const char *v, enum quoting q)
{
	bool quote = false;
	for (const char *c = v; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return NULL;
		if (strchr(" \"'\\;", *c))
			quote = true;
	}
	quote = quote && q != Q_PLAIN;
	struct sbuf b = SBUF_INIT;
	if (quote)
		sbuf_addc(&b, '"');
	for (const char *c = v; *c; c++) {
		if (*c == '%' || (*c == '$' && q == Q_EXEC))
			sbuf_addc(&b, *c);
		else if (quote && (*c == '"' || *c == '\\'))
			sbuf_addc(&b, '\\');
		sbuf_addc(&b, *c);
	}
	if (quote)
		sbuf_addc(&b, '"');
	return sbuf_take(&b);
}

/* Append "key=<value>\n"; false when the value cannot be written. */
static bool
add_setting(struct sbuf *b, const char *key, const char *value, enum quoting q)
{
	char *v = unit_escape(value, q);
	if (!v)
		return false;
	sbuf_addf(b, "%s=%s\n", key, v);
	free(v);
	return true;
}

/* "Exec...=<exe> <verb>", prefix ("-": failure ignored) glued to the path. */
static bool
add_exec(struct sbuf *b, const char *key, const char *prefix, const char *exe, const char *verb)
{
	char *word = xasprintf("%s%s", prefix, exe);
	char *v = unit_escape(word, Q_EXEC);
	free(word);
	if (!v)
		return false;
	sbuf_addf(b, "%s=%s %s\n", key, v, verb);
	free(v);
	return true;
}

char *
startup_unit_text(const struct startup_unit *u, char **err)
{
	/* systemd refuses these in an executable's path, escaped or not. */
	if (strpbrk(u->exe, "\"'\\")) {
		*err = xasprintf("%s: systemd does not run a program whose path has a quote or "
		    "a backslash (install corral elsewhere)", u->exe);
		return NULL;
	}
	struct sbuf b = SBUF_INIT;
	char *desc = xasprintf("corral process manager for %s", u->user);
	char *path = xasprintf("PATH=%s", u->path_env);
	char *home = xasprintf("CORRAL_HOME=%s", u->corral_home);
	const char *bad = NULL;
	sbuf_adds(&b, "# Written by `corral startup`; `corral unstartup` removes it.\n"
	    "[Unit]\n");
	if (!add_setting(&b, "Description", desc, Q_PLAIN))
		bad = "Description";
	sbuf_adds(&b, "Documentation=man:corral(1)\n");
	if (u->wait_ip)
		sbuf_adds(&b, "Wants=network-online.target\nAfter=network-online.target\n");
	else
		sbuf_adds(&b, "After=network.target\n");
	sbuf_adds(&b, "\n[Service]\nType=forking\n");
	if (!bad && !add_setting(&b, "User", u->user, Q_PLAIN))
		bad = "User";
	sbuf_adds(&b, "LimitNOFILE=infinity\nLimitNPROC=infinity\n");
	if (!bad && !add_setting(&b, "Environment", path, Q_ENV))
		bad = "PATH";
	if (!bad && !add_setting(&b, "Environment", home, Q_ENV))
		bad = "CORRAL_HOME";
	if (!bad && !add_setting(&b, "PIDFile", u->pidfile, Q_PLAIN))
		bad = "PIDFile";
	sbuf_adds(&b, "Restart=on-failure\n"
	    "# ping starts the daemon even when nothing is saved yet; the '-' keeps\n"
	    "# the service up when one saved app cannot be brought back.\n");
	if (!bad && (!add_exec(&b, "ExecStartPre", "", u->exe, "ping") ||
	    !add_exec(&b, "ExecStart", "-", u->exe, "resurrect") ||
	    !add_exec(&b, "ExecReload", "", u->exe, "reload all") ||
	    !add_exec(&b, "ExecStop", "", u->exe, "kill")))
		bad = "the corral binary's path";
	sbuf_adds(&b, "\n[Install]\nWantedBy=multi-user.target\n");
	free(desc);
	free(path);
	free(home);
	if (bad) {
		*err = xasprintf("%s contains a newline or a control character: it cannot be "
		    "written into a unit file", bad);
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_take(&b);
}

/* ---- resolving the options ---- */

static int
check_platform(const struct args *a, char **err)
{
	const char *platform = a->pos[0];
	if (platform && a->pos[1]) {
		*err = xasprintf("one platform at most (\"%s\" is extra)", a->pos[1]);
		return -EINVAL;
	}
	if (!platform)
		return 0;
	for (size_t i = 0; i < ARRAY_LEN(systemd_names); i++)
		if (strcmp(platform, systemd_names[i]) == 0)
			return 0;
	*err = xasprintf("unsupported platform \"%s\": corral writes systemd units only "
	    "(corral %s systemd)", platform, a->verb);
	return -EINVAL;
}

/* The user (-u, or whoever runs us) and that user's home: --hp, else
 * $HOME when the user is us (the home our own `corral save` writes to),
 * else the passwd entry. */
static int
resolve_user(const struct args *a, struct target *t, char **err)
{
	const char *name = args_get(a, "user");
	struct passwd *pw = name ? getpwnam(name) : getpwuid(geteuid());
	if (!pw) {
		if (name)
			*err = xasprintf("unknown user \"%s\" (not in the user database)", name);
		else
			*err = xasprintf("cannot find uid %u in the user database (give -u)",
			    (unsigned)geteuid());
		return -ENOENT;
	}
	t->user = xstrdup(pw->pw_name);
	t->uid = (unsigned)pw->pw_uid;
	const char *hp = args_get(a, "hp");
	if (hp && hp[0] != '/') {
		*err = xasprintf("--hp %s: the home must be an absolute path", hp);
		return -EINVAL;
	}
	const char *env_home = getenv("HOME");
	if (!hp && pw->pw_uid == geteuid() && env_home && env_home[0] == '/')
		hp = env_home;
	t->home = xstrdup(hp ? hp : pw->pw_dir);
	size_t n = strlen(t->home);
	while (n > 1 && t->home[n - 1] == '/')
		t->home[--n] = '\0';
	return 0;
}

/* The service's CORRAL_HOME: the one set here, else <home>/.corral; the
 * pid file keeps the name paths.c gives it. */
static void
resolve_home(const struct paths *p, struct target *t)
{
	const char *env = getenv("CORRAL_HOME");
	if (env && *env)
		t->corral_home = xstrdup(p->home);
	else
		t->corral_home = xasprintf("%s%s.corral", t->home, strcmp(t->home, "/") ? "/" : "");
	/* The keeper is the service's main process: it outlives a daemon that
	 * dies (and starts the next one), which systemd must not take for the
	 * service failing. */
	const char *slash = strrchr(p->keeper_pid, '/');
	t->pidfile = xasprintf("%s/%s", t->corral_home, slash ? slash + 1 : p->keeper_pid);
}

/* systemd unit names: letters, digits and ":-_.\" (no '@': not a template). */
static bool
valid_service_name(const char *s)
{
	if (!*s || strlen(s) > 200)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\", *s))
			return false;
	return true;
}

static int
resolve_service(const struct args *a, struct target *t, char **err)
{
	const char *given = args_get(a, "service-name");
	t->service = given ? xstrdup(given) : xasprintf("corral-%s", t->user);
	if (str_ends(t->service, ".service"))
		t->service[strlen(t->service) - strlen(".service")] = '\0';
	if (!valid_service_name(t->service)) {
		*err = given ? xasprintf("invalid --service-name \"%s\" (letters, digits, ':', '-', "
		    "'_', '.' only)", given)
		    : xasprintf("\"%s\" is not a valid unit name (give --service-name)", t->service);
		return -EINVAL;
	}
	const char *dir = getenv("CORRAL_SYSTEMD_DIR");
	t->unit_dir = xstrdup(dir && *dir ? dir : DEFAULT_UNIT_DIR);
	t->unit_path = xasprintf("%s/%s.service", t->unit_dir, t->service);
	return 0;
}

/* $PATH as it is now, plus the system directories it lacks: what the
 * apps will find at boot. */
static char *
frozen_path(void)
{
	const char *env = getenv("PATH");
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, env ? env : "");
	for (size_t i = 0; i < ARRAY_LEN(system_path); i++) {
		char *padded = xasprintf(":%s:", b.s ? b.s : "");
		char *needle = xasprintf(":%s:", system_path[i]);
		if (!strstr(padded, needle)) {
			if (b.len > 0)
				sbuf_addc(&b, ':');
			sbuf_adds(&b, system_path[i]);
		}
		free(padded);
		free(needle);
	}
	return sbuf_take(&b);
}

static int
self_exe(struct target *t, char **err)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0) {
		*err = xasprintf("cannot find this program's path in /proc/self/exe: %s",
		    n < 0 ? strerror(errno) : "empty link");
		return -EIO;
	}
	buf[n] = '\0';
	t->exe = xstrdup(buf);
	return 0;
}

static int
resolve_target(const struct args *a, const struct paths *p, struct target *t, char **err)
{
	memset(t, 0, sizeof(*t));
	int rc = check_platform(a, err);
	if (rc == 0)
		rc = resolve_user(a, t, err);
	if (rc == 0)
		rc = resolve_service(a, t, err);
	if (rc == 0)
		rc = self_exe(t, err);
	if (rc < 0)
		return rc;
	resolve_home(p, t);
	t->path_env = frozen_path();
	t->wait_ip = args_has(a, "wait-ip");
	return 0;
}

/* ---- printing ---- */

static void
add_quoted(struct sbuf *b, const char *s)
{
	char *q = shell_quote(s);
	sbuf_addc(b, ' ');
	sbuf_adds(b, q);
	free(q);
}

/* The command line that does the same as root (caller frees). It carries
 * PATH and CORRAL_HOME across sudo, which resets the environment. */
static char *
root_command(const struct target *t, bool install)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, geteuid() == 0 ? "" : "sudo ");
	if (install) {
		char *path = xasprintf("PATH=%s", t->path_env);
		sbuf_adds(&b, "env");
		add_quoted(&b, path);
		free(path);
		const char *home = getenv("CORRAL_HOME");
		if (home && *home) {
			char *assign = xasprintf("CORRAL_HOME=%s", t->corral_home);
			add_quoted(&b, assign);
			free(assign);
		}
		sbuf_addc(&b, ' ');
	}
	char *exe = shell_quote(t->exe);
	sbuf_addf(&b, "%s %s systemd", exe, install ? "startup" : "unstartup");
	free(exe);
	sbuf_adds(&b, " -u");
	add_quoted(&b, t->user);
	if (install) {
		sbuf_adds(&b, " --hp");
		add_quoted(&b, t->home);
	}
	sbuf_adds(&b, " --service-name");
	add_quoted(&b, t->service);
	if (install && t->wait_ip)
		sbuf_adds(&b, " --wait-ip");
	return sbuf_take(&b);
}

/* A home that exists but belongs to someone else: the daemon would refuse
 * it at boot, long after this command said all was well. */
static void
warn_foreign_home(const struct target *t)
{
	struct stat st;
	if (stat(t->corral_home, &st) == 0 && (unsigned)st.st_uid != t->uid)
		fprintf(stderr, "corral startup: warning: %s belongs to uid %u, not to %s: the "
		    "daemon will refuse it at boot\n", t->corral_home, (unsigned)st.st_uid, t->user);
}

/* ---- installing ---- */

/* Write text to path through a temp file in the same directory, so a
 * crash never leaves a half unit behind; mode 0644 whatever the umask. */
static int
write_atomic(const struct target *t, const char *text, char **err)
{
	char *tmp = xasprintf("%s/.%s.service.XXXXXX", t->unit_dir, t->service);
	int rc = 0;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		*err = xasprintf("cannot write %s: %s", t->unit_path, strerror(-rc));
		goto out;
	}
	rc = write_all(fd, text, strlen(text));
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, t->unit_path) < 0)
		rc = -errno;
	if (rc < 0) {
		*err = xasprintf("cannot write %s: %s", t->unit_path, strerror(-rc));
		unlink(tmp);
	}
out:
	free(tmp);
	return rc;
}

/* Run `systemctl <verb> [unit]` (or $CORRAL_SYSTEMCTL), its output on
 * ours. 0, or -errno with *err naming the command and how it failed. */
static int
systemctl(const char *verb, const char *unit, char **err)
{
	const char *cmd = getenv("CORRAL_SYSTEMCTL");
	if (!cmd || !*cmd)
		cmd = "systemctl";
	char *argv[] = {(char *)cmd, (char *)verb, (char *)unit, NULL};
	posix_spawnattr_t attr;
	sigset_t dfl;
	/* We ignore SIGPIPE; systemctl should not inherit that. */
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	fflush(stdout);
	fflush(stderr);
	pid_t pid;
	int e = posix_spawnp(&pid, cmd, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		*err = xasprintf("cannot run %s: %s", cmd, strerror(e));
		return -e;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		int e2 = errno;
		if (e2 != EINTR) {
			*err = xasprintf("waiting for %s %s: %s", cmd, verb, strerror(e2));
			return -e2;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *what = xasprintf("%s %s%s%s", cmd, verb, unit ? " " : "", unit ? unit : "");
	if (WIFEXITED(status))
		*err = xasprintf("`%s` failed (exit status %d)", what, WEXITSTATUS(status));
	else
		*err = xasprintf("`%s` was killed by signal %d", what, WTERMSIG(status));
	free(what);
	return -EIO;
}

static int
install(const struct target *t, const char *unit)
{
	char *err = NULL;
	if (write_atomic(t, unit, &err) < 0) {
		cli_complain("startup", "%s", err);
		free(err);
		return 1;
	}
	printf("corral: wrote %s\n", t->unit_path);
	if (systemctl("daemon-reload", NULL, &err) < 0 || systemctl("enable", t->service, &err) < 0) {
		cli_complain("startup", "%s; the unit is written at %s", err, t->unit_path);
		free(err);
		return 1;
	}
	warn_foreign_home(t);
	printf("corral: %s is enabled: at boot it runs `corral resurrect` as %s with "
	    "CORRAL_HOME=%s\n", t->service, t->user, t->corral_home);
	printf("corral: `corral save` (as %s) sets what comes back; `systemctl start %s` "
	    "starts it now\n", t->user, t->service);
	return 0;
}

static int
do_startup(const struct args *a, const struct target *t)
{
	char *err = NULL;
	char *unit = startup_unit_text(&(struct startup_unit){
	    .user = t->user, .corral_home = t->corral_home, .pidfile = t->pidfile,
	    .path_env = t->path_env, .exe = t->exe, .wait_ip = t->wait_ip}, &err);
	if (!unit) {
		cli_complain("startup", "%s", err);
		free(err);
		return 1;
	}
	int rc;
	if (args_has(a, "print") || geteuid() != 0) {
		char *cmd = root_command(t, true);
		fputs(unit, stdout);
		/* --print keeps stdout to the unit, so it can go to a file; the
		 * other case ends like PM2's, with the line to copy and paste. */
		FILE *how = args_has(a, "print") ? stderr : stdout;
		fprintf(how, "\ncorral: to install it as %s, run this command as root:\n%s\n",
		    t->unit_path, cmd);
		free(cmd);
		rc = args_has(a, "print") ? 0 : 1;
		if (rc)
			cli_complain("startup", "not root: nothing installed (run the command above)");
	} else {
		rc = install(t, unit);
	}
	free(unit);
	return rc;
}

static int
do_unstartup(const struct target *t)
{
	char *err = NULL;
	if (geteuid() != 0) {
		char *cmd = root_command(t, false);
		printf("corral: to remove %s, run this command as root:\n%s\n", t->unit_path, cmd);
		free(cmd);
		cli_complain("unstartup", "not root: nothing removed (run the command above)");
		return 1;
	}
	if (access(t->unit_path, F_OK) < 0) {
		cli_complain("unstartup", "no unit at %s (nothing to remove; --service-name?)",
		    t->unit_path);
		return 1;
	}
	if (systemctl("disable", t->service, &err) < 0) {
		cli_complain("unstartup", "%s; %s is left in place", err, t->unit_path);
		free(err);
		return 1;
	}
	if (unlink(t->unit_path) < 0) {
		cli_complain("unstartup", "cannot remove %s: %s", t->unit_path, strerror(errno));
		return 1;
	}
	printf("corral: disabled %s and removed %s (a daemon running now keeps running; "
	    "corral kill stops it)\n", t->service, t->unit_path);
	if (systemctl("daemon-reload", NULL, &err) < 0) {
		cli_complain("unstartup", "%s", err);
		free(err);
		return 1;
	}
	return 0;
}

int
startup_command(const struct args *a, const struct paths *p, bool install_it)
{
	const char *verb = install_it ? "startup" : "unstartup";
	struct target t;
	char *err = NULL;
	int rc = resolve_target(a, p, &t, &err);
	if (rc < 0) {
		cli_complain(verb, "%s", err);
		free(err);
		target_free(&t);
		return rc == -EINVAL ? 2 : 1;
	}
	int code = install_it ? do_startup(a, &t) : do_unstartup(&t);
	target_free(&t);
	return code;
}
