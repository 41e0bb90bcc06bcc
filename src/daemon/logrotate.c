/*
 * logrotate.c — rotated files, retention and compression (logrotate.h).
 */
#include "daemon/logrotate.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/settings.h"
#include "common/units.h"
#include "common/util.h"
#include "daemon/logfile.h"
#include "daemon/spawn.h"
#include "daemon/state.h"

extern char **environ;

/* How often running compressors are looked at. */
#define ZIP_POLL_MS 50
/* A rotated file is compressed no sooner than this after its rotation: a
 * burst of output is written before its files are compressed, rather than
 * competing with the compressors for the CPU at its busiest. */
#define ZIP_DELAY_MS 2000

/* The global settings in force. */
static struct logrotate_conf G;
static bool G_set;

/* daemon.log: its rotated files and its schedule. */
static struct rotset daemon_set;
static struct timer daemon_timer;

/* Compressions waiting or running, in the order they were asked. */
struct zjob {
	TAILQ_ENTRY(zjob) link;
	char *path;               /* the rotated file (without .gz) */
	struct rotset *rs;        /* whose it is; NULL once that log is gone */
	pid_t pid;                /* 0 while waiting */
	int64_t due_mono;         /* not started before */
	int pidfd;                /* of pid: the daemon's reaper of orphans
	                           * may take it, and its pid be reused */
	bool doomed;              /* retention removed it meanwhile */
};
static TAILQ_HEAD(, zjob) zjobs = TAILQ_HEAD_INITIALIZER(zjobs);
static void job_free(struct zjob *j);
static int zrunning;
static struct timer zpoll;
static bool zpoll_ready;

/* ---- time zones ---- */

/* The schedule and the names follow logrotate:TZ: the daemon's zone is
 * switched for the computation and back (one thread). */
static char *tz_saved;
static bool tz_had, tz_switched;

static void
tz_enter(void)
{
	tz_switched = G.tz != NULL;
	if (!tz_switched)
		return;
	const char *cur = getenv("TZ");
	tz_had = cur != NULL;
	tz_saved = cur ? xstrdup(cur) : NULL;
	setenv("TZ", G.tz, 1);
	tzset();
}

static void
tz_leave(void)
{
	if (!tz_switched)
		return;
	if (tz_had)
		setenv("TZ", tz_saved, 1);
	else
		unsetenv("TZ");
	free(tz_saved);
	tz_saved = NULL;
	tzset();
	tz_switched = false;
}

/* ---- what applies ---- */

int64_t
logrotate_max_size(const struct rotset *rs)
{
	return rs->max_size >= 0 ? rs->max_size : G.max_size;
}

static int64_t
retain_of(const struct rotset *rs)
{
	return rs->retain >= 0 ? rs->retain : G.retain;
}

static bool
compress_of(const struct rotset *rs)
{
	return rs->compress >= 0 ? rs->compress != 0 : G.compress;
}

static const struct cron_expr *
cron_of(const struct rotset *rs)
{
	if (rs->interval)
		return *rs->interval ? &rs->cron : NULL;
	return G.interval ? &G.cron : NULL;
}

bool
logrotate_has_interval(const struct rotset *rs)
{
	return cron_of(rs) != NULL;
}

/* Milliseconds from now to the next time rotation, or -1 for none. */
static int64_t
next_ms(const struct rotset *rs)
{
	const struct cron_expr *ce = cron_of(rs);
	if (!ce)
		return -1;
	time_t next;
	tz_enter();
	int rc = cron_next(ce, (time_t)(wall_ms() / 1000), &next);
	tz_leave();
	if (rc < 0)
		return -1;
	int64_t ms = (int64_t)next * 1000 - wall_ms();
	return ms > 0 ? ms : 0;
}

/* Did the schedule fire (the second has come)? Otherwise *wait_ms is how
 * long the timer should wait still, -1 when rs has no schedule (any more). */
static bool
due(const struct rotset *rs, int64_t *wait_ms)
{
	*wait_ms = -1;
	const struct cron_expr *ce = cron_of(rs);
	if (!ce)
		return false;
	/* The timer may fire a little early on a clock step: wait for the
	 * second itself. */
	time_t now = (time_t)(wall_ms() / 1000), next;
	tz_enter();
	int rc = cron_next(ce, now - 1, &next);
	tz_leave();
	if (rc == 0 && next > now) {
		*wait_ms = (int64_t)next * 1000 - wall_ms();
		return false;
	}
	return true;
}

void
logrotate_arm(const struct rotset *rs, struct timer *t)
{
	timer_stop(D->loop, t);
	int64_t ms = next_ms(rs);
	if (ms >= 0)
		timer_start(D->loop, t, ms);
}

bool
logrotate_fired(const struct rotset *rs, struct timer *t)
{
	int64_t wait;
	if (!due(rs, &wait)) {
		if (wait >= 0)
			timer_start(D->loop, t, wait);
		return false;
	}
	int64_t ms = next_ms(rs);
	if (ms >= 0)
		timer_start(D->loop, t, ms < 1000 ? 1000 : ms);
	return true;
}

void
rotset_init(struct rotset *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->max_size = rs->retain = -1;
	rs->compress = -1;
}

void
rotset_configure(struct rotset *rs, int64_t max_size, int64_t retain, int compress,
    const char *interval)
{
	rs->max_size = max_size;
	rs->retain = retain;
	rs->compress = compress;
	free(rs->interval);
	rs->interval = NULL;
	if (interval) {
		char *err = NULL;
		if (!*interval || cron_parse(interval, &rs->cron, &err) == 0)
			rs->interval = xstrdup(interval);
		else
			dlog("log_rotate_interval \"%s\": %s (the global setting applies)", interval, err);
		free(err);
	}
}

static void
zjobs_forget(struct rotset *rs)
{
	struct zjob *j, *next;
	for (j = TAILQ_FIRST(&zjobs); j; j = next) {
		next = TAILQ_NEXT(j, link);
		if (j->rs != rs)
			continue;
		j->rs = NULL;
		if (j->pid == 0) {
			TAILQ_REMOVE(&zjobs, j, link);
			job_free(j);
		}
	}
}

void
rotset_free(struct rotset *rs)
{
	zjobs_forget(rs);
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].path);
	free(rs->v);
	free(rs->interval);
	free(rs->last_date);
	rotset_init(rs);
}

/* ---- names ---- */

/* path = <dir>/<stem><ext>: ext is the last ".xyz" of the file name (not a
 * leading dot), or "". */
static void
split_name(const char *path, size_t *stem_end)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	*stem_end = dot && dot > base ? (size_t)(dot - path) : strlen(path);
}

static bool
exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

int
logrotate_rename(struct rotset *rs, const char *path, char **moved)
{
	size_t stem_end;
	split_name(path, &stem_end);
	char date[128];
	tz_enter();
	units_format_time(G.date_format, wall_ms(), date, sizeof(date));
	tz_leave();
	if (!*date || strchr(date, '/'))
		snprintf(date, sizeof(date), "%lld", (long long)(wall_ms() / 1000));
	/* Within one second: the next number, never one used before (a name
	 * freed by the retention would sort wrong, and its compressor, stopped,
	 * cleans up by that name). */
	int k = 0;
	if (rs->last_date && strcmp(rs->last_date, date) == 0)
		k = rs->last_seq + 1;
	char *name = NULL;
	for (; k < 100000; k++) {
		free(name);
		char seq[16] = "";
		if (k > 0)
			snprintf(seq, sizeof(seq), "_%03d", k);
		name = xasprintf("%.*s__%s%s%s", (int)stem_end, path, date, seq, path + stem_end);
		char *gz = xasprintf("%s.gz", name);
		bool taken = exists(name) || exists(gz);
		free(gz);
		if (!taken)
			break;
	}
	free(rs->last_date);
	rs->last_date = xstrdup(date);
	rs->last_seq = k;
	if (rename(path, name) < 0) {
		int e = errno;
		dlog("rotate %s: cannot rename it to %s: %s (it keeps growing)", path, name,
		    strerror(e));
		free(name);
		return -e;
	}
	*moved = name;
	return 0;
}

/* ---- the list of rotated files ---- */

static void
list_add(struct rotset *rs, const char *path, int64_t size, enum rot_state st)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 8;
		rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
	}
	rs->v[rs->n++] = (struct rotated){xstrdup(path), size, st};
}

struct found_file {
	char *path;
	int64_t size;
	struct timespec mtime;
};

static int
by_mtime(const void *a, const void *b)
{
	const struct found_file *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void zip_queue(struct rotset *rs, struct rotated *r);
static struct rotated *entry_of(struct rotset *rs, const char *path);

/* The rotated files of path already in its directory (left by an earlier
 * daemon), oldest first. */
static void
scan(struct rotset *rs, const char *path)
{
	rs->scanned = true;
	size_t stem_end;
	split_name(path, &stem_end);
	char *dir = xstrdup(path);
	char *dname = dirname(dir);
	const char *slash = strrchr(path, '/');
	const char *stem = slash ? slash + 1 : path;
	size_t stem_len = (size_t)(path + stem_end - stem);
	const char *ext = path + stem_end;
	char *gzext = xasprintf("%s.gz", ext);
	DIR *d = opendir(dname);
	struct found_file *found = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		const char *nm = e->d_name;
		if (strncmp(nm, stem, stem_len) != 0 || strncmp(nm + stem_len, "__", 2) != 0)
			continue;
		if (!str_ends(nm, ext) && !str_ends(nm, gzext))
			continue;
		char *full = xasprintf("%s/%s", dname, nm);
		struct stat st;
		if (lstat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			found = xrealloc(found, cap * sizeof(*found));
		}
		found[n++] = (struct found_file){full, st.st_size, st.st_mtim};
	}
	if (d)
		closedir(d);
	qsort(found, n, sizeof(*found), by_mtime);
	/* Older than anything rotated since this daemon started. */
	struct rotated *mine = rs->v;
	size_t nmine = rs->n;
	rs->v = NULL;
	rs->n = rs->cap = 0;
	for (size_t i = 0; i < n; i++) {
		bool known = false;
		for (size_t k = 0; k < nmine && !known; k++)
			known = strcmp(mine[k].path, found[i].path) == 0;
		if (!known)
			list_add(rs, found[i].path, found[i].size,
			    str_ends(found[i].path, ".gz") ? ROT_ZIPPED : ROT_PLAIN);
		free(found[i].path);
	}
	free(found);
	for (size_t k = 0; k < nmine; k++) {
		list_add(rs, mine[k].path, mine[k].size, mine[k].state);
		free(mine[k].path);
	}
	free(mine);
	/* Files an earlier daemon left uncompressed (its compressor was
	 * killed) are compressed now. */
	if (compress_of(rs))
		for (size_t i = 0; i < rs->n; i++)
			if (rs->v[i].state == ROT_PLAIN)
				zip_queue(rs, &rs->v[i]);
	free(gzext);
	free(dir);
}

static struct zjob *
job_of(const char *path)
{
	struct zjob *j;
	TAILQ_FOREACH(j, &zjobs, link)
		if (strcmp(j->path, path) == 0)
			return j;
	return NULL;
}

/* Remove the i-th rotated file (retention). */
static void
list_remove(struct rotset *rs, size_t i, const char *why)
{
	struct rotated *r = &rs->v[i];
	struct zjob *j = r->state == ROT_QUEUED || r->state == ROT_ZIPPING ? job_of(r->path) : NULL;
	if (j && j->pid) {
		/* Its compressor cleans up when it is reaped. */
		j->doomed = true;
		j->rs = NULL;
		kill(j->pid, SIGTERM);
	} else if (j) {
		TAILQ_REMOVE(&zjobs, j, link);
		job_free(j);
	}
	int rc = unlink(r->path);
	if (rc < 0 && errno == ENOENT && !str_ends(r->path, ".gz")) {
		/* Compressed meanwhile by a compressor of an earlier daemon. */
		char *gz = xasprintf("%s.gz", r->path);
		rc = unlink(gz);
		free(gz);
	}
	if (rc < 0 && errno != ENOENT)
		dlog("cannot remove the rotated log %s: %s", r->path, strerror(errno));
	else
		dlog("removed the rotated log %s (%s)", r->path, why);
	free(r->path);
	memmove(rs->v + i, rs->v + i + 1, (rs->n - i - 1) * sizeof(*rs->v));
	rs->n--;
}

static void
trim(struct rotset *rs)
{
	int64_t retain = retain_of(rs);
	while (retain > 0 && (int64_t)rs->n > retain)
		list_remove(rs, 0, "logrotate:retain");
	if (G.max_total_size <= 0)
		return;
	int64_t total = 0;
	for (size_t i = 0; i < rs->n; i++)
		total += rs->v[i].size;
	while (rs->n > 0 && total > G.max_total_size) {
		total -= rs->v[0].size;
		list_remove(rs, 0, "logrotate:max_total_size");
	}
}

void
logrotate_added(struct rotset *rs, const char *path, const char *moved, int64_t bytes,
    const char *why)
{
	if (!rs->scanned)
		scan(rs, path);
	/* The scan may have found it already. */
	struct rotated *r = entry_of(rs, moved);
	if (r)
		r->size = bytes;
	else
		list_add(rs, moved, bytes, ROT_PLAIN);
	r = entry_of(rs, moved);
	if (compress_of(rs) && r->state == ROT_PLAIN)
		zip_queue(rs, r);
	trim(rs);
}

bool
logrotate_free_space(struct rotset *rs, const char *path)
{
	if (G.max_total_size <= 0)
		return false;
	if (!rs->scanned)
		scan(rs, path);
	if (rs->n == 0)
		return false;
	list_remove(rs, 0, "the disk is full");
	return true;
}

/* ---- compression ---- */

static void zip_next(void);

static void
zip_queue(struct rotset *rs, struct rotated *r)
{
	if (job_of(r->path))
		return;
	struct zjob *j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(r->path);
	j->rs = rs;
	j->pidfd = -1;
	j->due_mono = mono_ms() + ZIP_DELAY_MS;
	r->state = ROT_QUEUED;
	TAILQ_INSERT_TAIL(&zjobs, j, link);
	zip_next();
}

static struct rotated *
entry_of(struct rotset *rs, const char *path)
{
	for (size_t i = 0; rs && i < rs->n; i++)
		if (strcmp(rs->v[i].path, path) == 0)
			return &rs->v[i];
	return NULL;
}

static void
zip_done(struct zjob *j)
{
	char *gz = xasprintf("%s.gz", j->path);
	if (j->doomed) {
		unlink(j->path);
		unlink(gz);
		char *tmp = xasprintf("%s.tmp", gz);
		unlink(tmp);
		free(tmp);
	} else {
		struct rotated *r = entry_of(j->rs, j->path);
		struct stat st;
		bool ok = stat(gz, &st) == 0 && !exists(j->path);
		if (!ok)
			dlog("compressing %s failed; it stays uncompressed", j->path);
		if (r && ok) {
			free(r->path);
			r->path = xstrdup(gz);
			r->size = st.st_size;
			r->state = ROT_ZIPPED;
		} else if (r) {
			r->state = ROT_PLAIN;
		}
		if (j->rs)
			trim(j->rs);
	}
	free(gz);
}

/* Has the compressor exited? Reaps it when it is ours still. */
static bool
job_exited(struct zjob *j)
{
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	if (j->pidfd >= 0) {
		/* ECHILD: the daemon's reaper of orphans took it. */
		if (waitid((idtype_t)P_PIDFD, (id_t)j->pidfd, &info, WEXITED | WNOHANG) < 0)
			return errno == ECHILD;
		return info.si_pid != 0;
	}
	pid_t got = waitpid(j->pid, NULL, WNOHANG);
	return got > 0 || (got < 0 && errno == ECHILD);
}

static void
job_free(struct zjob *j)
{
	if (j->pidfd >= 0)
		close(j->pidfd);
	free(j->path);
	free(j);
}

static void
on_zpoll(struct loop *l, struct timer *t, void *arg)
{
	struct zjob *j, *next;
	for (j = TAILQ_FIRST(&zjobs); j; j = next) {
		next = TAILQ_NEXT(j, link);
		if (j->pid == 0 || !job_exited(j))
			continue;
		zrunning--;
		TAILQ_REMOVE(&zjobs, j, link);
		zip_done(j);
		job_free(j);
	}
	zip_next();
}

static void
zip_next(void)
{
	if (!zpoll_ready) {
		timer_init(&zpoll, on_zpoll, NULL);
		zpoll_ready = true;
	}
	struct zjob *j, *next;
	int64_t wait = -1;
	for (j = TAILQ_FIRST(&zjobs); j && zrunning < LOGROTATE_ZIPS_AT_ONCE &&
	    !D->shutting_down; j = next) {
		next = TAILQ_NEXT(j, link);
		if (j->pid)
			continue;
		/* Queued in order: the later ones are due later. */
		if (j->due_mono > mono_ms()) {
			wait = j->due_mono - mono_ms();
			break;
		}
		char *argv[] = {"corral", "logzip", j->path, D->paths.log, NULL};
		struct spawn_opts so = {
			.path = D->exe_path ? D->exe_path : "/proc/self/exe", .argv = argv,
			.envp = environ, .cwd = "/", .stdout_fd = -1, .stderr_fd = -1,
			.umask = 027,
		};
		char *err = NULL;
		pid_t pid;
		struct rotated *r = entry_of(j->rs, j->path);
		if (spawn_run(&so, &pid, &err) < 0) {
			dlog("cannot compress %s: %s", j->path, err);
			free(err);
			if (r)
				r->state = ROT_PLAIN;
			TAILQ_REMOVE(&zjobs, j, link);
			job_free(j);
			continue;
		}
		j->pid = pid;
#ifdef SYS_pidfd_open
		j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (j->pidfd >= 0)
			fd_set_cloexec(j->pidfd, true);
#endif
		zrunning++;
		if (r)
			r->state = ROT_ZIPPING;
	}
	if (zrunning > 0)
		wait = ZIP_POLL_MS;
	if (wait >= 0 && (!timer_armed(&zpoll) || zrunning > 0)) {
		if (timer_armed(&zpoll))
			timer_stop(D->loop, &zpoll);
		timer_start(D->loop, &zpoll, wait < ZIP_POLL_MS ? ZIP_POLL_MS : wait);
	}
}

/* ---- daemon.log ---- */

static void
rotate_daemon_log(const char *why)
{
	static int64_t retry_after;
	const char *path = D->paths.log;
	struct stat st;
	if (stat(path, &st) < 0 || st.st_size == 0 || mono_ms() < retry_after)
		return;
	char *moved = NULL;
	if (logrotate_rename(&daemon_set, path, &moved) < 0) {
		retry_after = mono_ms() + ROTATE_RETRY_MS;
		return;
	}
	int rc = log_reopen();
	if (rc < 0) {
		retry_after = mono_ms() + ROTATE_RETRY_MS;
		rename(moved, path);
		dlog("rotate %s: cannot open it again: %s", path, strerror(-rc));
		free(moved);
		return;
	}
	dlog("rotated %s to %s (%s, %lld bytes)", path, moved, why, (long long)st.st_size);
	logrotate_added(&daemon_set, path, moved, st.st_size, why);
	free(moved);
}

static void
on_daemon_log_full(void)
{
	rotate_daemon_log("logrotate:max_size");
}

static void
on_daemon_timer(struct loop *l, struct timer *t, void *arg)
{
	if (logrotate_fired(&daemon_set, t))
		rotate_daemon_log("logrotate:rotateInterval");
}

/* ---- settings ---- */

static int
load(struct logrotate_conf *c, char **err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(D->paths.settings, &text, &len, 1 << 20);
	if (rc == -ENOENT) {
		settings_conf_default(c);
		return 0;
	}
	if (rc < 0) {
		settings_conf_default(c);
		*err = xasprintf("cannot read %s: %s", D->paths.settings, strerror(-rc));
		return rc;
	}
	char *perr = NULL;
	rc = settings_parse(text, len, c, &perr);
	free(text);
	if (rc < 0) {
		*err = xasprintf("%s: %s", D->paths.settings, perr);
		free(perr);
	}
	return rc;
}

static void
apply(void)
{
	log_set_rotation(G.max_size, on_daemon_log_full);
	logrotate_arm(&daemon_set, &daemon_timer);
	logfile_settings_changed();
}

void
logrotate_init(void)
{
	rotset_init(&daemon_set);
	timer_init(&daemon_timer, on_daemon_timer, NULL);
	char *err = NULL;
	if (load(&G, &err) < 0) {
		dlog("%s; the default settings apply", err);
		free(err);
	}
	G_set = true;
	apply();
}

int
logrotate_reload(char **err)
{
	struct logrotate_conf c;
	int rc = load(&c, err);
	if (rc < 0) {
		settings_conf_free(&c);
		return rc;
	}
	settings_conf_free(&G);
	G = c;
	dlog("settings read from %s", D->paths.settings);
	apply();
	return 0;
}

json_t *
logrotate_settings_json(void)
{
	char size[32], total[32], retain[24];
	snprintf(size, sizeof(size), "%lld", (long long)G.max_size);
	snprintf(total, sizeof(total), "%lld", (long long)G.max_total_size);
	snprintf(retain, sizeof(retain), "%lld", (long long)G.retain);
	return json_pack("{s:s, s:s, s:b, s:s, s:s?, s:s?, s:s}",
	    "logrotate:max_size", size, "logrotate:retain", retain,
	    "logrotate:compress", G.compress, "logrotate:dateFormat", G.date_format,
	    "logrotate:rotateInterval", G.interval, "logrotate:TZ", G.tz,
	    "logrotate:max_total_size", total);
}

void
logrotate_shutdown(void)
{
	log_set_rotation(0, NULL);
	if (timer_armed(&daemon_timer))
		timer_stop(D->loop, &daemon_timer);
	if (zpoll_ready && timer_armed(&zpoll))
		timer_stop(D->loop, &zpoll);
	struct zjob *j;
	while ((j = TAILQ_FIRST(&zjobs)) != NULL) {
		/* A compressor stopped halfway leaves its source as it was (the
		 * next daemon compresses it again). */
		if (j->pid && !job_exited(j)) {
			kill(j->pid, SIGTERM);
			siginfo_t info;
			if (j->pidfd >= 0)
				while (waitid((idtype_t)P_PIDFD, (id_t)j->pidfd, &info, WEXITED) < 0 &&
				    errno == EINTR)
					;
			else
				while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
					;
			char *tmp = xasprintf("%s.gz.tmp", j->path);
			if (exists(j->path))
				unlink(tmp);
			free(tmp);
		}
		TAILQ_REMOVE(&zjobs, j, link);
		job_free(j);
	}
	zrunning = 0;
	rotset_free(&daemon_set);
	if (G_set)
		settings_conf_free(&G);
	G_set = false;
}
