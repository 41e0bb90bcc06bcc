/*
 * exec.c — what an app runs, where, and as whom: cwd, script, interpreter,
 * name, arguments, version, user and group.
 *
 * A script is a file (resolved against cwd), else a program on PATH, else,
 * when it contains a space, a command line for /bin/sh -c, as PM2 runs it.
 * Without an interpreter the extension picks one (PM2's table), then a
 * "#!" line naming node or bun; other files run themselves. Everything is
 * checked now, so that a wrong path is one message at start rather than a
 * failure at every restart.
 */
#include "config/normalize_int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/units.h"

/* An absolute path in its plain form: no "//", "." or ".." parts, as
 * node's path.resolve gives PM2 (symlinks are left alone). Taken. */
static char *
clean_path(char *path)
{
	char *out = path;
	size_t n = 0;
	/* Compacting in place is safe because each part written is preceded
	 * by at least one '/' read. */
	if (path[0] != '/')
		return path;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memmove(out + n, p, len);
			n += len;
		}
		p += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

char *
exec_abs_path(const char *base, const char *p)
{
	if (p[0] == '/')
		return clean_path(xstrdup(p));
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		const char *home = getenv("HOME");
		if (home)
			return clean_path(xasprintf("%s%s", home, p + 1));
	}
	return clean_path(xasprintf("%s/%s", base, p));
}

bool
exec_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool
exec_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool
exec_is_place(const char *path)
{
	if (access(path, F_OK) == 0)
		return true;
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	bool is_dir = slash && exec_is_dir(dir);
	free(dir);
	return is_dir;
}

static bool
same_dir(const char *a, const char *b)
{
	char *ca = exec_abs_path(a, "."), *cb = exec_abs_path(b, ".");
	bool same = strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return same;
}

/* Whether p, relative to base, may be looked for from the directory
 * corral runs in too: base is the file's directory, and that is another. */
static bool
may_fall_back(struct app_ctx *a, const char *base, const char *p)
{
	const char *here = a->ctx->invoke_dir;
	bool absolute = p[0] == '/' || (p[0] == '~' && (p[1] == '/' || p[1] == '\0'));
	return here && !absolute && same_dir(base, a->ctx->base_dir) && !same_dir(here, base);
}

char *
exec_resolve(struct app_ctx *a, const struct found *f, const char *base, const char *p,
    bool (*found)(const char *path))
{
	char *path = exec_abs_path(base, p);
	if (found(path) || !may_fall_back(a, base, p))
		return path;
	char *alt = exec_abs_path(a->ctx->invoke_dir, p);
	if (!found(alt)) {
		free(alt);
		return path;
	}
	fields_warn_at(a, f, "%s is not in %s; using %s, relative to the current directory "
	    "(as PM2 resolves it)", p, base, alt);
	free(path);
	return alt;
}

char *
normalize_which(const char *prog, char **environ_)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = NULL;
	for (size_t i = 0; environ_ && environ_[i]; i++)
		if (str_starts(environ_[i], "PATH="))
			path = environ_[i] + 5;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path);
	char *save = NULL, *found = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/%s", *dir ? dir : ".", prog);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(copy);
	return found;
}

static const struct {
	const char *ext;
	const char *interpreter;
} by_extension[] = {
	{".js", "node"}, {".cjs", "node"}, {".mjs", "node"}, {".ts", "bun"}, {".tsx", "bun"},
	{".py", "python3"}, {".rb", "ruby"}, {".php", "php"}, {".pl", "perl"},
	{".sh", "bash"}, {".coffee", "coffee"}, {".ls", "lsc"},
};

/*
 * The program a script's "#!" line names when that is node or bun
 * ("#!/usr/bin/env node", "#!/usr/local/bin/node"), else NULL. PM2 runs
 * every text file without a known extension with node, so bin/www and
 * npm's own launcher get node's arguments and the IPC channel there.
 */
static char *
node_shebang(const char *path)
{
	char buf[256];
	FILE *fp = fopen(path, "re");
	if (!fp)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	char *save = NULL;
	char *prog = strtok_r(buf + 2, " \t", &save);
	const char *base = prog ? (strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog) : "";
	if (strcmp(base, "env") == 0) {
		/* env's options (-S, -i, -u NAME) come before the program. */
		while ((prog = strtok_r(NULL, " \t", &save)) && prog[0] == '-')
			if (strcmp(prog, "-u") == 0 || strcmp(prog, "--unset") == 0)
				strtok_r(NULL, " \t", &save);
		base = prog ? (strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog) : "";
	}
	if (strcmp(base, "node") != 0 && strcmp(base, "nodejs") != 0 && strcmp(base, "bun") != 0)
		return NULL;
	return xstrdup(base);
}

int
exec_cwd(struct app_ctx *a)
{
	const struct found *f = fields_find(a, FID_cwd);
	if (!f) {
		a->cwd = xstrdup(a->ctx->base_dir);
	} else {
		char *t;
		if (fields_string(a, f, &t) < 0)
			return -EINVAL;
		a->cwd = exec_resolve(a, f, a->ctx->base_dir, t, exec_is_dir);
		free(t);
		struct stat st;
		if (stat(a->cwd, &st) < 0 || !S_ISDIR(st.st_mode))
			return fields_fail(a, f, "%s is not a directory", a->cwd);
	}
	json_object_set_new(a->out, "cwd", json_string(a->cwd));
	return 0;
}

/* The interpreter the app names into a->interp: a program on PATH, or a
 * path, which like the script's is relative to cwd (./venv/bin/python);
 * "none" leaves it NULL. */
static int
given_interpreter(struct app_ctx *a, const struct found *fi)
{
	char *t;
	int rc = 0;
	if (fields_string(a, fi, &t) < 0)
		return -EINVAL;
	if (strcmp(t, "none") == 0) {
		/* the script runs itself */
	} else if (!strchr(t, '/')) {
		a->interp = normalize_which(t, a->ctx->environ);
		if (!a->interp)
			rc = fields_fail(a, fi, "\"%s\" not found (not on PATH, or not executable)", t);
	} else {
		a->interp = exec_resolve(a, fi, a->cwd, t, exec_is_file);
		if (!exec_is_file(a->interp) || access(a->interp, X_OK) < 0) {
			rc = fields_fail(a, fi, "%s: %s", a->interp, access(a->interp, F_OK) < 0
			    ? "no such program" : "not an executable file");
			free(a->interp);
			a->interp = NULL;
		}
	}
	free(t);
	return rc;
}

/* Where a->script is: a file in cwd, a program on PATH, or a command line,
 * into a->resolved (and a->shell). *is_file: a file that exists. */
static int
locate_script(struct app_ctx *a, const struct found *f, bool *is_file)
{
	const char *script = a->script;
	char *resolved = exec_resolve(a, f, a->cwd, script, exec_is_file);
	struct stat st;
	int st_rc = stat(resolved, &st);
	int st_errno = st_rc < 0 ? errno : 0;
	*is_file = st_rc == 0 && S_ISREG(st.st_mode);
	if (*is_file) {
		a->resolved = resolved;
		return 0;
	}
	free(resolved);
	if (!strchr(script, '/') && !strchr(script, ' ') &&
	    (a->resolved = normalize_which(script, a->ctx->environ)) != NULL)
		return 0;
	if (strchr(script, ' ')) {
		/* A command line: run through the shell, as PM2 does. */
		a->resolved = xstrdup(script);
		a->shell = true;
		return 0;
	}
	if (st_rc == 0)
		return fields_fail(a, f, "%s: not a file that can be run", script);
	if (st_errno != ENOENT && st_errno != ENOTDIR)
		return fields_fail(a, f, "%s: %s", script, strerror(st_errno));
	const char *here = may_fall_back(a, a->cwd, script) ? a->ctx->invoke_dir : NULL;
	return fields_fail(a, f, "%s: no such file (looked in %s%s%s%s)", script, a->cwd,
	    here ? (strchr(script, '/') ? " and " : ", ") : "", here ? here : "",
	    strchr(script, '/') ? "" : " and on PATH");
}

/* No interpreter given for a file or a program on PATH: the one the
 * extension names, else node or bun when the file's "#!" line names them. */
static int
default_interpreter(struct app_ctx *a, const struct found *f)
{
	char **environ_ = a->ctx->environ;
	for (size_t i = 0; i < ARRAY_LEN(by_extension); i++) {
		if (!str_ends(a->resolved, by_extension[i].ext))
			continue;
		a->interp = normalize_which(by_extension[i].interpreter, environ_);
		if (!a->interp && strcmp(by_extension[i].interpreter, "python3") == 0)
			a->interp = normalize_which("python", environ_);
		if (!a->interp)
			return fields_fail(a, f, "%s needs %s, which is not on PATH (set interpreter)",
			    a->script, by_extension[i].interpreter);
		break;
	}
	char *bang = a->interp ? NULL : node_shebang(a->resolved);
	if (!bang)
		return 0;
	a->interp = normalize_which(bang, environ_);
	if (!a->interp && strcmp(bang, "nodejs") == 0)
		a->interp = normalize_which("node", environ_);
	if (!a->interp)
		fields_fail(a, f, "%s starts with #!...%s, which is not on PATH (set interpreter)",
		    a->script, bang);
	free(bang);
	return a->interp ? 0 : -EINVAL;
}

/* A script found only from the directory corral runs in (the project root
 * of a file kept in a subfolder) runs from there too, unless the file sets
 * cwd: as under PM2, where that is every app's cwd, so what the app opens
 * by relative path (.env, ./public) is where the user expects it. */
static void
follow_script_home(struct app_ctx *a)
{
	if (fields_find(a, FID_cwd) || !may_fall_back(a, a->cwd, a->script))
		return;
	char *from_here = exec_abs_path(a->ctx->invoke_dir, a->script);
	bool fell_back = strcmp(from_here, a->resolved) == 0;
	free(from_here);
	if (!fell_back)
		return;
	free(a->cwd);
	a->cwd = exec_abs_path(a->ctx->invoke_dir, ".");
	json_object_set_new(a->out, "cwd", json_string(a->cwd));
}

int
exec_script(struct app_ctx *a)
{
	const struct found *f = fields_find(a, FID_script);
	if (!f)
		return fields_fail(a, NULL, "no script: every app needs \"script\" (the file or "
		    "command to run)");
	if (fields_string(a, f, &a->script) < 0)
		return -EINVAL;
	if (!*a->script)
		return fields_fail(a, f, "must not be empty");
	if (!a->ctx->from_cli && strcmp(a->script, "serve") == 0) {
		/* PM2 swaps in its own static file server for this name. */
		return fields_fail(a, f, "\"serve\" is PM2's built-in static file server "
		    "(PM2_SERVE_PATH), which corral does not have: run a static server of your "
		    "own as the script");
	}
	const struct found *fi = fields_find(a, FID_interpreter);
	if (fi && given_interpreter(a, fi) < 0)
		return -EINVAL;
	bool is_file;
	if (locate_script(a, f, &is_file) < 0)
		return -EINVAL;
	if (is_file)
		follow_script_home(a);
	if (a->shell) {
		free(a->interp);
		a->interp = xstrdup("/bin/sh");
		json_object_set_new(a->out, "interpreter_args", json_pack("[s]", "-c"));
	} else if (!fi && default_interpreter(a, f) < 0) {
		return -EINVAL;
	}
	/* An interpreter would start and fail on every restart: say it now. */
	if (is_file && a->interp && !a->shell && access(a->resolved, R_OK) < 0)
		return fields_fail(a, f, "%s: cannot read it: %s", a->resolved, strerror(errno));
	json_object_set_new(a->out, "script", json_string(a->resolved));
	json_object_set_new(a->out, "interpreter", a->interp ? json_string(a->interp) : json_null());
	const char *ib = a->interp ? strrchr(a->interp, '/') + 1 : "";
	if (str_starts(ib, "node") || strcmp(ib, "bun") == 0)
		json_object_set_new(a->out, "node_ipc", json_true());
	if (str_starts(ib, "python"))
		json_object_set_new(a->app_env, "PYTHONUNBUFFERED", json_string("1"));
	return 0;
}

/* Version from the package.json next to the script or in cwd. */
static void
find_version(struct app_ctx *a)
{
	char *dir = xstrdup(a->resolved);
	char *slash = strrchr(dir, '/');
	const char *dirs[2] = {a->cwd, NULL};
	if (slash && slash != dir) {
		*slash = '\0';
		dirs[1] = dir;
	}
	for (int i = 1; i >= 0; i--) {
		if (!dirs[i])
			continue;
		char *path = xasprintf("%s/package.json", dirs[i]);
		json_t *pkg = json_load_file(path, 0, NULL);
		free(path);
		const char *v = json_string_value(json_object_get(pkg, "version"));
		if (v) {
			json_object_set_new(a->out, "version", json_string(v));
			json_decref(pkg);
			break;
		}
		json_decref(pkg);
	}
	free(dir);
}

int
exec_name(struct app_ctx *a)
{
	const struct found *f;
	char *name = NULL;
	if ((f = fields_find(a, FID_name)) && fields_string(a, f, &name) < 0)
		return -EINVAL;
	if (name && !*name) {
		/* "name": "" gets the default name, as in PM2. */
		free(name);
		name = NULL;
	}
	if (name) {
		/* given */
	} else if (a->shell) {
		name = xstrdup(a->script);
	} else {
		const char *r = a->resolved;
		const char *base = strrchr(r, '/') ? strrchr(r, '/') + 1 : r;
		const char *dot = strrchr(base, '.');
		name = dot && dot != base ? xstrndup(base, (size_t)(dot - base)) : xstrdup(base);
	}
	if (a->ctx->env_name && (f = fields_find(a, FID_append_env_to_name))) {
		bool b;
		/* A wrong value fails the app at the end, not here. */
		if (fields_bool(a, f, &b) == 0 && b) {
			char *n2 = xasprintf("%s-%s", name, a->ctx->env_name);
			free(name);
			name = n2;
		}
	}
	json_object_set_new(a->out, "name", json_string(name));
	a->app_name = json_string_value(json_object_get(a->out, "name"));
	free(name);
	find_version(a);
	return 0;
}

int
exec_args(struct app_ctx *a)
{
	const struct found *f;
	if ((f = fields_find(a, FID_args))) {
		json_t *arr = fields_list(a, f);
		if (!arr)
			return -EINVAL;
		if (!a->shell) {
			json_object_set_new(a->out, "args", arr);
		} else {
			/* PM2 runs a command line as written (bash -c) and drops args. */
			if (json_array_size(arr) > 0)
				fields_warn_at(a, f, "ignored: script is a command line, which runs as "
				    "it is written, as in PM2 (put the arguments in script)");
			json_decref(arr);
		}
	}
	if ((f = fields_find(a, FID_interpreter_args))) {
		json_t *arr = fields_list(a, f);
		if (!arr)
			return -EINVAL;
		if (!a->shell && a->interp) {
			json_object_set_new(a->out, "interpreter_args", arr);
		} else {
			/* PM2 drops them too; say so rather than lose them quietly. */
			if (json_array_size(arr) > 0)
				fields_warn_at(a, f, "ignored: the script runs without an interpreter");
			json_decref(arr);
		}
	}
	return 0;
}

/* A user or group field: *is_id when it is a number (an id), else a name. */
static int
id_or_name(struct app_ctx *a, const struct found *f, char **text, int64_t *id, bool *is_id)
{
	if (fields_string(a, f, text) < 0)
		return -EINVAL;
	*is_id = units_parse_int(*text, 0, UINT32_MAX - 1, id) == 0;
	return 0;
}

int
exec_user(struct app_ctx *a)
{
	const struct found *fu = fields_find(a, FID_uid), *fg = fields_find(a, FID_gid);
	char *t = NULL;
	int64_t n;
	bool is_id;
	if (!fu && !fg)
		return 0;
	if (geteuid() != 0)
		return fields_fail(a, fu ? fu : fg, "only root can run an app as another user or group");
	if (fu) {
		if (id_or_name(a, fu, &t, &n, &is_id) < 0)
			return -EINVAL;
		struct passwd *pw = is_id ? getpwuid((uid_t)n) : getpwnam(t);
		if (!pw) {
			fields_fail(a, fu, "no user \"%s\"", t);
			free(t);
			return -EINVAL;
		}
		free(t);
		json_object_set_new(a->out, "uid", json_integer(pw->pw_uid));
		json_object_set_new(a->out, "user", json_string(pw->pw_name));
		if (!fg)
			json_object_set_new(a->out, "gid", json_integer(pw->pw_gid));
		/* PM2 sets HOME for the user it switches to. */
		json_object_set_new(a->app_env, "HOME", json_string(pw->pw_dir));
	}
	if (fg) {
		if (id_or_name(a, fg, &t, &n, &is_id) < 0)
			return -EINVAL;
		struct group *gr = is_id ? getgrgid((gid_t)n) : getgrnam(t);
		if (!gr) {
			fields_fail(a, fg, "no group \"%s\"", t);
			free(t);
			return -EINVAL;
		}
		free(t);
		json_object_set_new(a->out, "gid", json_integer(gr->gr_gid));
	}
	return 0;
}
