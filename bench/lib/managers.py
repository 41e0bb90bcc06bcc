"""Drivers for the process managers under test: corral and PM2.

Both are driven the way a user drives them: through their CLI, with a private
state home (CORRAL_HOME / PM2_HOME) under the run's work directory. Every
process either manager starts inherits BENCH_TAG=<marker>, so whatever is
left at the end can be found in /proc and killed (see common.kill_marked).
"""
import json
import os
import shutil
import subprocess
import time

from common import BenchError, PM2_PREFIX, ROOT, alive, kill_marked, log, pids_with, wait_for

CLI_TIMEOUT_S = 120


class Manager:
    name = "?"
    label = "?"

    def __init__(self, work, tag):
        self.home = os.path.join(work, self.name)
        self.marker = f"BENCH_TAG={tag}-{self.name}"
        self.env = dict(os.environ)
        self.env["BENCH_TAG"] = f"{tag}-{self.name}"
        self.env["NO_COLOR"] = "1"
        self.env.pop("NODE_APP_INSTANCE", None)

    # ---- the CLI ----

    def argv(self, *args):
        raise NotImplementedError

    def cli(self, *args, timeout=CLI_TIMEOUT_S, check=True, env=None, cwd=None):
        e = self.env if env is None else {**self.env, **env}
        try:
            r = subprocess.run(self.argv(*map(str, args)), capture_output=True, text=True,
                               timeout=timeout, env=e, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name} {' '.join(map(str, args))}: no answer in {timeout} s")
        if check and r.returncode != 0:
            raise BenchError(f"{self.name} {' '.join(map(str, args))} failed ({r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-600:]}")
        return r

    def procs(self):
        """The process list as [{name, pm_id, pid, status, out_log}]."""
        out = self.cli("jlist").stdout
        # PM2 may print a notice before the JSON: start at the first '['.
        start = out.find("[")
        if start < 0:
            raise BenchError(f"{self.name} jlist: no JSON in {out[:200]!r}")
        rows = []
        for p in json.loads(out[start:]):
            env = p.get("pm2_env") or {}
            rows.append({
                "name": p.get("name"),
                "pm_id": p.get("pm_id"),
                "pid": p.get("pid") or 0,
                "status": env.get("status") or p.get("status"),
                "out_log": env.get("pm_out_log_path") or p.get("out_log"),
            })
        return rows

    def wait_online(self, count, timeout=60, name=None):
        """Poll jlist until count processes (of name) are online; returns the rows."""
        def check():
            ps = [p for p in self.procs() if name is None or p["name"] == name]
            return len(ps) == count and all(p["status"] == "online" and p["pid"] for p in ps) and ps
        return wait_for(check, timeout, interval=0.005,
                        what=f"{count} {self.name} processes to be online")

    # ---- the daemon ----

    def daemon_pid(self):
        raise NotImplementedError

    def companion_pids(self):
        """Processes that run next to the daemon for as long as it does
        (corral's keeper); their memory is part of the footprint."""
        return []

    def fresh(self):
        """A newly started daemon with an empty home."""
        self.shutdown()
        shutil.rmtree(self.home, ignore_errors=True)
        os.makedirs(self.home, mode=0o700)
        self.cli("ping")
        pid = wait_for(self.daemon_pid, 20, what=f"the {self.name} daemon's pid")
        return pid

    def start_file(self, path):
        return self.cli("start", path)

    def can_rotate(self):
        """Whether log_rotation() can turn rotation on."""
        return False

    def log_rotation(self, max_size, compress):
        """Rotate the logs at max_size (None: no rotation) from now on."""
        if max_size:
            raise BenchError(f"{self.name} cannot rotate its logs here")

    def delete_all(self):
        return self.cli("delete", "all", check=False)

    def reload(self, name):
        return self.cli("reload", name)

    def start_cluster(self, script, name, instances, env, lb=None):
        raise NotImplementedError

    def start_binary(self, path, name, env):
        """One fork-mode instance of an executable, run without an interpreter."""
        return self.cli("start", path, "--name", name, "--interpreter", "none", env=env)

    def shutdown(self):
        """Stop the daemon and everything it runs; returns pids that had to be killed."""
        if os.path.isdir(self.home) and self.daemon_pid():
            try:
                self.cli("kill", check=False, timeout=60)
            except BenchError as e:
                log(f"{self.name} kill: {e}")
        try:
            wait_for(lambda: not pids_with(self.marker), 10, interval=0.05,
                     what=f"{self.name}'s processes to exit")
            return []
        except BenchError:
            left = kill_marked(self.marker)
            if left:
                log(f"{self.name}: had to kill {len(left)} leftover process(es): {left}")
            return left


class Corral(Manager):
    name = "corral"
    label = "corral"

    def __init__(self, work, tag):
        super().__init__(work, tag)
        self.bin = os.environ.get("CORRAL_BIN") or os.path.join(ROOT, "build", "corral")
        self.env["CORRAL_HOME"] = self.home

    def argv(self, *args):
        return [self.bin, *args]

    def version(self):
        return self.cli("version", check=False).stdout.strip()

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, "daemon.pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        return pid if pid and alive(pid) else 0

    def can_rotate(self):
        return True

    def log_rotation(self, max_size, compress):
        self.cli("set", "logrotate:max_size", max_size or "0")
        self.cli("set", "logrotate:rotateInterval", "0")
        self.cli("set", "logrotate:compress", "true" if compress and max_size else "false")

    def companion_pids(self):
        try:
            with open(os.path.join(self.home, "keeper.pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return []
        return [pid] if pid and alive(pid) else []

    def start_cluster(self, script, name, instances, env, lb=None):
        args = ["start", script, "--name", name, "-i", instances]
        if lb:
            args += ["--lb", lb]
        return self.cli(*args, env=env)


class PM2(Manager):
    name = "pm2"
    label = "PM2"

    def __init__(self, work, tag):
        super().__init__(work, tag)
        self.bin = os.path.join(PM2_PREFIX, "node_modules", "pm2", "bin", "pm2")
        self.env["PM2_HOME"] = self.home

    LOGROTATE = os.path.join(PM2_PREFIX, "node_modules", "pm2-logrotate")

    @staticmethod
    def installed():
        return os.access(os.path.join(PM2_PREFIX, "node_modules", "pm2", "bin", "pm2"), os.X_OK)

    @classmethod
    def can_rotate_here(cls):
        return os.path.isfile(os.path.join(cls.LOGROTATE, "package.json"))

    def can_rotate(self):
        return self.can_rotate_here()

    def log_rotation(self, max_size, compress):
        """pm2-logrotate from the copy npm put in bench/pm2, run as `pm2 install`
        runs a module (`pm2 install <path>` fails offline): its settings by
        `pm2 set pm2-logrotate:<key>`, which PM2 hands to the app of that name,
        then that app. It checks the sizes every second (workerInterval, its
        smallest) rather than every 30 s."""
        if not max_size:
            return
        for key, value in [("max_size", max_size), ("retain", "1000"), ("workerInterval", "1"),
                           ("compress", "true" if compress else "false"),
                           ("rotateInterval", "0 0 1 1 *")]:
            self.cli("set", f"pm2-logrotate:{key}", value)
        self.cli("start", os.path.join(self.LOGROTATE, "app.js"), "--name", "pm2-logrotate")
        wait_for(lambda: any(p["name"] == "pm2-logrotate" and p["status"] == "online"
                             for p in self.procs()), 60, what="pm2-logrotate to be online")

    def argv(self, *args):
        return [self.bin, *args]

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, "pm2.pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        return pid if pid and alive(pid) else 0

    def start_cluster(self, script, name, instances, env, lb=None):
        return self.cli("start", script, "--name", name, "-i", instances, env=env)


def make(names, work, tag):
    table = {"corral": Corral, "pm2": PM2}
    return [table[n](work, tag) for n in names]


def settle(seconds):
    """Let a daemon finish what a command started (timers, GC) before measuring."""
    time.sleep(seconds)
