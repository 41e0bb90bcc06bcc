/*
 * verbs_deploy.c — `corral deploy [file] <env> [command]`: PM2's deploy
 * section run over the system's ssh and git (docs/deploy.md).
 *
 * The host side is a POSIX sh script, src/cli/deploy-remote.sh, compiled
 * into the binary and sent to `ssh <host> sh -s` on stdin after a header of
 * quoted variables; nothing is installed on the hosts. corral runs one ssh
 * per host (at most max_parallel at a time), prefixes each line of their
 * output with the host, and reads the script's "@corral ..." lines to know
 * the step each host is at.
 *
 * A deploy has two phases: `prepare` (pre-deploy, fetch, a new release
 * checked out beside the others) on every host, then `activate` (post-deploy
 * in the new release, then `current` switched to it by one rename). With
 * --stop-on-failure (the default with more than one host) activation goes
 * one host at a time and a failure anywhere discards the prepared releases
 * of the hosts not yet switched, so they stay on their old one.
 */
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/remote.h"
#include "cli/verbs.h"
#include "common/spec.h"
#include "config/deploy.h"
#include "config/doc.h"
#include "config/normalize.h"

extern char **environ;

/* deploy-remote.sh, NUL-terminated, from the assembler's .incbin. */
__asm__(".section .rodata\n"
    ".global corral_deploy_script\n"
    "corral_deploy_script:\n"
    ".incbin \"src/cli/deploy-remote.sh\"\n"
    ".byte 0\n"
    ".previous\n");
extern const char corral_deploy_script[];

#define LAST_LINES 5

struct hostrun {
	const char *host;
	pid_t pid;
	int fd;                  /* ssh's stdout and stderr, -1 when done */
	int in_fd;               /* ssh's stdin while the script is written, or -1 */
	struct sbuf script;      /* what is left of the script to write */
	struct sbuf partial;     /* a line not yet ended */
	char *last[LAST_LINES];  /* the last lines of the step's output, a ring */
	size_t n_last;
	char *step;              /* the step it is at */
	char *failed;            /* the step that failed, or NULL */
	char *release, *commit;  /* after prepare */
	int status;              /* exit status (-1 killed or not run) */
	int64_t started, ms;     /* wall time of all its runs */
	bool skipped;            /* prepared, then its release discarded */
};

struct deploy {
	struct ctx *x;
	struct deploy_target t;
	const char *file;
	const char *ref;         /* the ref to deploy (the file's or the command's) */
	struct hostrun *h;
	size_t n;
	bool stop;               /* stop at the first failed host */
};

/* ---- ssh ---- */

/* ssh [options of the section] [user@]host sh -s */
static char **
ssh_argv(const struct deploy_target *t, const char *host)
{
	char **v;
	size_t n = remote_ssh_command(&v);
	if (t->forward_agent)
		remote_argv_push(&v, &n, "-A");
	if (t->port) {
		char p[16];
		snprintf(p, sizeof(p), "%d", t->port);
		remote_argv_push(&v, &n, "-p");
		remote_argv_push(&v, &n, p);
	}
	if (t->key) {
		remote_argv_push(&v, &n, "-i");
		remote_argv_push(&v, &n, t->key);
	}
	for (size_t i = 0; t->ssh_options[i]; i++) {
		remote_argv_push(&v, &n, "-o");
		remote_argv_push(&v, &n, t->ssh_options[i]);
	}
	remote_argv_push(&v, &n, "-T");
	char *dest = t->user ? xasprintf("%s@%s", t->user, host) : xstrdup(host);
	remote_argv_push(&v, &n, "--");
	remote_argv_push(&v, &n, dest);
	free(dest);
	remote_argv_push(&v, &n, "sh -s");
	return v;
}

/* Who deploys, for the log: user@machine. */
static char *
who(void)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	return xasprintf("%s@%s", pw ? pw->pw_name : "?", host);
}

static void
assign(struct sbuf *b, const char *name, const char *value)
{
	char *q = shell_quote(value ? value : "");
	sbuf_addf(b, "%s=%s\n", name, q);
	free(q);
}

/* The script with its header: the section's values, its env, the command. */
static char *
script_for(const struct deploy *d, char *const *args)
{
	const struct deploy_target *t = &d->t;
	struct sbuf b = SBUF_INIT;
	assign(&b, "d_path", t->path);
	assign(&b, "d_repo", t->repo);
	assign(&b, "d_ref", d->ref);
	assign(&b, "d_depth", t->fetch_fast ? "--depth=5" : "");
	char keep[16];
	snprintf(keep, sizeof(keep), "%d", t->keep_releases);
	assign(&b, "d_keep", keep);
	char *w = who();
	assign(&b, "d_who", w);
	free(w);
	assign(&b, "d_env", t->env);
	assign(&b, "d_pre_setup", t->pre_setup);
	assign(&b, "d_post_setup", t->post_setup);
	assign(&b, "d_pre_deploy", t->pre_deploy);
	assign(&b, "d_post_deploy", t->post_deploy);
	for (size_t i = 0; t->env_vars[i]; i++) {
		const char *eq = strchr(t->env_vars[i], '=');
		char *q = shell_quote(eq + 1);
		sbuf_addf(&b, "export %.*s=%s\n", (int)(eq - t->env_vars[i]), t->env_vars[i], q);
		free(q);
	}
	sbuf_adds(&b, "set --");
	for (size_t i = 0; args[i]; i++) {
		char *q = shell_quote(args[i]);
		sbuf_addf(&b, " %s", q);
		free(q);
	}
	sbuf_addc(&b, '\n');
	sbuf_adds(&b, corral_deploy_script);
	return sbuf_take(&b);
}

/* ---- running on hosts ---- */

/* Wait for a child: its exit code, 128 + the signal that killed it, or -1
 * for no child. */
static int
reap(pid_t pid)
{
	int st = 0;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
host_line(struct deploy *d, struct hostrun *h, const char *line)
{
	if (str_starts(line, "@corral ")) {
		const char *m = line + 8;
		if (str_starts(m, "step ")) {
			free(h->step);
			h->step = xstrdup(m + 5);
			h->n_last = 0;          /* the last lines are the step's */
		} else if (str_starts(m, "failed ")) {
			free(h->failed);
			h->failed = xstrdup(m + 7);
		} else if (str_starts(m, "release ")) {
			char rel[256], commit[128];
			if (sscanf(m + 8, "%255s %127s", rel, commit) == 2) {
				free(h->release);
				free(h->commit);
				h->release = xstrdup(rel);
				h->commit = xstrdup(commit);
			}
		}
		return;
	}
	free(h->last[h->n_last % LAST_LINES]);
	h->last[h->n_last++ % LAST_LINES] = xstrdup(line);
	if (d->n > 1)
		printf("%s | %s\n", h->host, line);
	else
		printf("%s\n", line);
	fflush(stdout);
}

static const char *
last_line(const struct hostrun *h)
{
	return h->n_last ? h->last[(h->n_last - 1) % LAST_LINES] : "";
}

/* Write what ssh takes of the rest of the script; its stdin is closed
 * once all is written, or when ssh will take no more (it exited: its
 * status tells why). */
static void
host_feed(struct hostrun *h)
{
	if (h->in_fd < 0)
		return;
	int rc = sbuf_write(&h->script, h->in_fd);
	if (rc == -EAGAIN && h->script.len)
		return;
	close(h->in_fd);
	h->in_fd = -1;
	sbuf_reset(&h->script);
}

static int
host_start(struct deploy *d, struct hostrun *h, char *const *args)
{
	int out[2], in[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(in, O_CLOEXEC) < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return -e;
	}
	char **argv = ssh_argv(&d->t, h->host);
	char *script = script_for(d, args);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		child_signals_reset();
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int e = errno;
	close(in[0]);
	close(out[1]);
	strv_free(argv);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		free(script);
		return -e;
	}
	/* Written as ssh takes it, from run_hosts()'s poll: a script larger
	 * than the pipe (long hooks, a big env) must not stop us reading the
	 * output of this host or starting the next one. */
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	sbuf_reset(&h->script);
	sbuf_adds(&h->script, script);
	free(script);
	h->in_fd = in[1];
	host_feed(h);
	h->pid = pid;
	h->fd = out[0];
	h->status = -1;
	free(h->failed);
	h->failed = NULL;
	return 0;
}

static void
host_read(struct deploy *d, struct hostrun *h)
{
	char buf[4096];
	ssize_t n = read_retry(h->fd, buf, sizeof(buf));
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				sbuf_adds(&h->partial, "");
				host_line(d, h, h->partial.s);
				sbuf_reset(&h->partial);
			} else if (buf[i] != '\r') {
				sbuf_addc(&h->partial, buf[i]);
			}
		}
		return;
	}
	if (h->partial.len) {
		host_line(d, h, h->partial.s);
		sbuf_reset(&h->partial);
	}
	close(h->fd);
	h->fd = -1;
	h->status = reap(h->pid);
}

/* The step a host failed at: the script's word, or ssh's own failure. */
static const char *
failed_step(const struct hostrun *h)
{
	if (h->failed)
		return h->failed;
	if (h->status == 255)
		return "ssh";
	return h->step ? h->step : "ssh";
}

/* Run the command built by args_of() on the hosts selected (sel[i]), at
 * most `parallel` at a time (0: all). When stop is set, no host starts
 * once one has failed. Each host's status is in h->status. */
static void
run_hosts(struct deploy *d, const bool *sel, size_t parallel, bool stop,
    char **(*args_of)(struct deploy *, struct hostrun *, void *), void *arg)
{
	size_t next = 0, running = 0;
	bool failed = false;
	struct pollfd *pfd = xcalloc(2 * d->n, sizeof(*pfd));   /* ssh's stdin and stdout */
	size_t *idx = xcalloc(2 * d->n, sizeof(*idx));
	for (;;) {
		while (next < d->n && (!parallel || running < parallel) && !(stop && failed)) {
			struct hostrun *h = &d->h[next];
			if (!sel[next++])
				continue;
			char **args = args_of(d, h, arg);
			int64_t t0 = wall_ms();
			if (!h->started)
				h->started = t0;
			int rc = host_start(d, h, args);
			strv_free(args);
			if (rc < 0) {
				/* Not started: what failed is ours, not a step's. */
				h->status = 127;
				free(h->failed);
				h->failed = xasprintf("start (%s)", strerror(-rc));
				h->n_last = 0;
				failed = true;
				continue;
			}
			running++;
		}
		if (!running)
			break;
		size_t np = 0;
		for (size_t i = 0; i < d->n; i++) {
			if (!sel[i] || d->h[i].pid <= 0)
				continue;
			if (d->h[i].in_fd >= 0) {
				pfd[np] = (struct pollfd){.fd = d->h[i].in_fd, .events = POLLOUT};
				idx[np++] = i;
			}
			if (d->h[i].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = d->h[i].fd, .events = POLLIN};
				idx[np++] = i;
			}
		}
		if (poll(pfd, np, -1) < 0 && errno != EINTR)
			break;
		for (size_t k = 0; k < np; k++) {
			if (!pfd[k].revents)
				continue;
			struct hostrun *h = &d->h[idx[k]];
			if (pfd[k].events == POLLOUT) {
				host_feed(h);
				continue;
			}
			host_read(d, h);
			if (h->fd < 0 && h->in_fd >= 0) {
				close(h->in_fd);   /* ssh is gone: the rest of the script too */
				h->in_fd = -1;
				sbuf_reset(&h->script);
			}
			if (h->fd < 0) {
				running--;
				h->pid = 0;
				h->ms = wall_ms() - h->started;
				failed |= h->status != 0;
			}
		}
	}
	free(pfd);
	free(idx);
}

/* ---- the commands ---- */

static char **
args_list(const char *a, const char *b, const char *c)
{
	char **v = NULL;
	size_t n = 0;
	remote_argv_push(&v, &n, a);
	if (b)
		remote_argv_push(&v, &n, b);
	if (c)
		remote_argv_push(&v, &n, c);
	return v;
}

static char **
fixed_args(struct deploy *d, struct hostrun *h, void *arg)
{
	char *const *a = arg;
	return args_list(a[0], a[1], a[1] ? a[2] : NULL);
}

static char **
activate_args(struct deploy *d, struct hostrun *h, void *arg)
{
	return args_list("activate", h->release, "new");
}

static char **
discard_args(struct deploy *d, struct hostrun *h, void *arg)
{
	return args_list("discard", h->release, NULL);
}

static size_t
parallelism(const struct deploy *d)
{
	if (args_has(&d->x->a, "serial"))
		return 1;
	return (size_t)d->t.max_parallel;
}

/* One line on stderr per failed host among sel; the number of them. */
static size_t
report_failures(struct deploy *d, const bool *sel)
{
	size_t failed = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct hostrun *h = &d->h[i];
		if (!sel[i] || h->status == 0)
			continue;
		fflush(stdout);
		if (h->status == -1 && h->pid == 0) {
			/* Never started in this phase: an earlier host failed. */
			cli_fail(d->x, "%s: not run (stopped after an earlier failure)", h->host);
			continue;
		}
		failed++;
		if (h->status == 255 && !h->failed)
			cli_fail(d->x, "%s: ssh failed: %s", h->host, last_line(h));
		else
			cli_fail(d->x, "%s: %s failed (exit %d)%s%s", h->host, failed_step(h),
			    h->status, h->n_last ? ": " : "", last_line(h));
	}
	return failed;
}

static void
summary(struct deploy *d)
{
	printf("\n%-24s %-22s %-9s %-28s %s\n", "host", "release", "commit", "result", "time");
	for (size_t i = 0; i < d->n; i++) {
		struct hostrun *h = &d->h[i];
		char result[64];
		if (h->skipped)
			snprintf(result, sizeof(result), "skipped: old release kept");
		else if (h->status == 0)
			snprintf(result, sizeof(result), "ok");
		else
			snprintf(result, sizeof(result), "failed at %s", failed_step(h));
		bool ok = h->status == 0 && !h->skipped;
		printf("%-24s %-22s %-9.8s %-28s %.1fs\n", h->host,
		    ok && h->release ? h->release : "-", ok && h->commit ? h->commit : "-", result,
		    (double)h->ms / 1000.0);
	}
	/* With many hosts their lines were mixed: each failure's end again. */
	for (size_t i = 0; i < d->n; i++) {
		struct hostrun *h = &d->h[i];
		if (h->status == 0 || h->skipped || h->n_last == 0)
			continue;
		printf("\n%s: the last lines before %s failed:\n", h->host, failed_step(h));
		size_t first = h->n_last > LAST_LINES ? h->n_last - LAST_LINES : 0;
		for (size_t k = first; k < h->n_last; k++)
			printf("  %s\n", h->last[k % LAST_LINES]);
	}
}

/* Run a command in the file's directory: its exit status, its output in
 * *out (caller frees). */
static int
local_output(const char *dir, char *const *argv, char **out)
{
	int p[2];
	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		child_signals_reset();
		dup2(p[1], 1);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
		if (dir && chdir(dir) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	char buf[4096];
	ssize_t n;
	while ((n = read_retry(p[0], buf, sizeof(buf))) > 0)
		sbuf_add(&b, buf, (size_t)n);
	close(p[0]);
	*out = sbuf_take(&b);
	return reap(pid);
}

/* Whether a git command run in dir succeeds and prints something. */
static bool
git_prints(const char *dir, char *const *argv)
{
	char *out;
	int rc = local_output(dir, argv, &out);
	bool yes = rc == 0 && *out;
	free(out);
	return yes;
}

/* PM2 refuses to deploy from a working tree with changes not committed or
 * not pushed (unless --force): what is deployed is what the repo has. */
static int
check_local_tree(struct deploy *d, const char *dir)
{
	char *toplevel[] = {"git", "rev-parse", "--show-toplevel", NULL};
	char *status[] = {"git", "status", "--porcelain", "--untracked-files=no", NULL};
	char *ahead[] = {"git", "rev-list", "@{upstream}..HEAD", NULL};
	if (args_has(&d->x->a, "force") || !git_prints(dir, toplevel))
		return 0;
	if (git_prints(dir, status))
		return cli_fail(d->x, "%s has changes not committed (git status); commit and push "
		    "them, or --force to deploy the repo's %s anyway", dir, d->ref);
	if (git_prints(dir, ahead))
		return cli_fail(d->x, "%s has commits not pushed (git rev-list @{upstream}..); push "
		    "them, or --force to deploy the repo's %s anyway", dir, d->ref);
	return 0;
}

static int
run_local_hook(struct deploy *d, const char *dir)
{
	if (!d->t.pre_deploy_local)
		return 0;
	printf("--> pre-deploy-local: %s\n", d->t.pre_deploy_local);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		child_signals_reset();
		if (dir && chdir(dir) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", d->t.pre_deploy_local, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return cli_fail(d->x, "pre-deploy-local: cannot fork: %s", strerror(errno));
	int rc = reap(pid);
	if (rc != 0)
		return cli_fail(d->x, "pre-deploy-local failed (exit %d): %s", rc,
		    d->t.pre_deploy_local);
	return 0;
}

static bool *
all_hosts(const struct deploy *d)
{
	bool *sel = xcalloc(d->n, sizeof(bool));
	for (size_t i = 0; i < d->n; i++)
		sel[i] = true;
	return sel;
}

static int
do_update(struct deploy *d, const char *dir)
{
	if (check_local_tree(d, dir) || run_local_hook(d, dir))
		return 1;
	bool *sel = all_hosts(d);
	char *prepare[] = {"prepare", NULL, NULL};
	run_hosts(d, sel, parallelism(d), false, fixed_args, prepare);
	size_t failed = report_failures(d, sel);
	bool *act = xcalloc(d->n, sizeof(bool));
	for (size_t i = 0; i < d->n; i++)
		act[i] = d->h[i].status == 0 && !(d->stop && failed);
	if (d->stop) {
		/* One host at a time; the first failure stops the rollout. */
		bool *one = xcalloc(d->n, sizeof(bool));
		for (size_t i = 0; i < d->n; i++) {
			if (!act[i])
				continue;
			memset(one, 0, d->n * sizeof(bool));
			one[i] = true;
			run_hosts(d, one, 1, false, activate_args, NULL);
			failed += report_failures(d, one);
			if (d->h[i].status != 0) {
				for (size_t k = i + 1; k < d->n; k++)
					act[k] = false;
				break;
			}
		}
		free(one);
	} else {
		run_hosts(d, act, parallelism(d), false, activate_args, NULL);
		failed += report_failures(d, act);
	}
	/* Hosts prepared but not switched: their new release goes, current
	 * stays where it was. */
	bool *drop = xcalloc(d->n, sizeof(bool));
	size_t n_drop = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (d->h[i].status == 0 && d->h[i].release && !act[i]) {
			drop[i] = d->h[i].skipped = true;
			n_drop++;
		}
	}
	if (n_drop)
		run_hosts(d, drop, parallelism(d), false, discard_args, NULL);
	for (size_t i = 0; i < d->n; i++)
		if (drop[i])
			d->h[i].status = 0;
	summary(d);
	free(drop);
	free(act);
	free(sel);
	return failed ? 1 : 0;
}

/* setup, revert, curr, prev, list, exec: the same command on every host. */
static int
do_each(struct deploy *d, char **args, bool stop)
{
	bool *sel = all_hosts(d);
	run_hosts(d, sel, stop ? 1 : parallelism(d), stop, fixed_args, args);
	size_t failed = report_failures(d, sel);
	free(sel);
	return failed ? 1 : 0;
}

/* PM2's default files for `deploy <env>`, in its order. */
static const char *
default_file(void)
{
	static const char *const names[] = {"ecosystem.json", "ecosystem.yml", "ecosystem.yaml",
	    "ecosystem.config.js", "ecosystem.config.cjs", "ecosystem.config.mjs",
	    "ecosystem.json5", NULL};
	for (size_t i = 0; names[i]; i++)
		if (access(names[i], F_OK) == 0)
			return names[i];
	return NULL;
}

static bool
is_count(const char *s)
{
	if (!s || !*s || strlen(s) > 4)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return atoi(s) > 0;
}

/* The command cmd is one edit away from, or NULL: a ref is deployed as
 * the command, so a mistyped command must not be taken for one. */
static const char *
near_command(const char *cmd)
{
	static const char *const cmds[] = {"setup", "update", "deploy", "revert", "curr",
	    "current", "prev", "previous", "list", "exec", "run"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (str_distance(cmd, cmds[i]) == 1)
			return cmds[i];
	return NULL;
}

int
verb_deploy(struct ctx *x)
{
	char **pos = x->a.pos;
	const char *file = NULL;
	if (pos[0] && cli_is_config_arg(pos[0]))
		file = *pos++;
	if (!pos[0])
		return cli_usage_error(x);
	if (!file && !(file = default_file()))
		return cli_fail(x, "no ecosystem file here (ecosystem.config.js, ecosystem.json...): "
		    "corral deploy <file> %s", pos[0]);
	const char *env = pos[0];
	const char *cmd = pos[1] ? pos[1] : "update";
	const char *arg = pos[1] ? pos[2] : NULL;
	if (arg && pos[3])
		return cli_fail(x, "too many arguments after %s (quote the command: exec \"...\")",
		    cmd);

	struct deploy d = {.x = x, .file = file};
	struct config_doc *doc = NULL;
	char *err = NULL;
	json_t *warnings = NULL;
	if (config_doc_load(file, &doc, &warnings, &err) < 0) {
		cli_print_warnings(warnings);
		json_decref(warnings);
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	cli_print_warnings(warnings);
	json_decref(warnings);
	int rc = deploy_parse(doc, env, &d.t, &err);
	config_doc_free(doc);
	if (rc < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	d.ref = d.t.ref;
	for (d.n = 0; d.t.hosts[d.n]; d.n++)
		;
	d.h = xcalloc(d.n, sizeof(*d.h));
	for (size_t i = 0; i < d.n; i++)
		d.h[i] = (struct hostrun){.host = d.t.hosts[i], .fd = -1, .in_fd = -1,
		    .status = -1};
	char *dir_buf = realpath(file, NULL);
	char *dir = dir_buf ? dirname(dir_buf) : NULL;
	d.stop = d.n > 1 && !args_has(&x->a, "no-stop-on-failure");
	const char *near;

	if (strcmp(cmd, "update") == 0 || strcmp(cmd, "deploy") == 0) {
		/* `update <ref>`: that ref (also the way to deploy a ref that
		 * reads like a mistyped command). */
		if (arg)
			d.ref = arg;
		rc = do_update(&d, dir);
	} else if (strcmp(cmd, "setup") == 0 || strcmp(cmd, "list") == 0 ||
	    strcmp(cmd, "curr") == 0 || strcmp(cmd, "current") == 0 ||
	    strcmp(cmd, "prev") == 0 || strcmp(cmd, "previous") == 0) {
		char *args[] = {(char *)(strcmp(cmd, "current") == 0 ? "curr" :
		    strcmp(cmd, "previous") == 0 ? "prev" : cmd), NULL, NULL};
		rc = arg ? cli_fail(x, "%s takes no argument", cmd) : do_each(&d, args, false);
	} else if (strcmp(cmd, "revert") == 0) {
		if (arg && !is_count(arg))
			rc = cli_fail(x, "revert %s: expected a number of releases back (1, 2...)", arg);
		else
			rc = do_each(&d, (char *[]){"revert", (char *)(arg ? arg : "1"), NULL}, d.stop);
	} else if (strcmp(cmd, "exec") == 0 || strcmp(cmd, "run") == 0) {
		rc = arg ? do_each(&d, (char *[]){"exec", (char *)arg, NULL}, false) :
		    cli_fail(x, "%s needs a command: corral deploy %s %s \"<command>\"", cmd, file,
		    env);
	} else if (arg) {
		rc = cli_fail(x, "unknown command \"%s\" (setup, update, revert [n], curr, prev, "
		    "list, exec \"<cmd>\", or a ref)", cmd);
	} else if ((near = near_command(cmd)) != NULL) {
		/* A typo of a command would otherwise run every host's hooks
		 * before git says there is no such ref. */
		rc = cli_fail(x, "unknown command \"%s\" (did you mean %s?)", cmd, near);
	} else {
		d.ref = cmd;    /* a ref as the command: deploy that */
		rc = do_update(&d, dir);
	}
	for (size_t i = 0; i < d.n; i++) {
		struct hostrun *h = &d.h[i];
		sbuf_free(&h->partial);
		sbuf_free(&h->script);
		for (size_t k = 0; k < LAST_LINES; k++)
			free(h->last[k]);
		free(h->step);
		free(h->failed);
		free(h->release);
		free(h->commit);
	}
	free(d.h);
	free(dir_buf);
	deploy_target_free(&d.t);
	return rc;
}
