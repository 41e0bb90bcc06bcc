"""`corral runtime`: the daemon in the foreground as a container's entry
point (docs/runtime.md).

Most tests run it as a container would: PID 1 of a new pid namespace
(`unshare --pid --fork --mount-proc`, as root), with the test talking to it
through the control socket in its CORRAL_HOME, signalling it from outside,
and reading its stdout (the apps' lines) and exit code."""
import json
import os
import shutil
import signal
import subprocess
import threading

import pytest

from clusterapp import copy_app
from conftest import APPS, CORRAL, SLOW, free_port, http_get, wait_for, write
from fhelpers import children, proc_state, read_text

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="a pid namespace needs root and unshare")

# Forks children that fork grandchildren and exit at once: each grandchild
# is an orphan, reparented to the namespace's reaper, and exits later. On
# SIGINT (the default kill_signal) it says goodbye in $MARKER and exits 0.
ZOMBIE_WORKER = """import os, signal, sys, time
def bye(*_):
    with open(os.environ["MARKER"], "a") as f:
        f.write("bye %s\\n" % os.environ["name"])
    print("worker shutting down", flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, bye)
for i in range(20):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(0.05)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("forked 20 orphans", flush=True)
while True:
    time.sleep(1)
"""

# On SIGINT: waits $DELAY seconds, appends its name to $MARKER, exits 0.
STOP_ORDER = """import os, signal, sys, time
def bye(*_):
    time.sleep(float(os.environ.get("DELAY", "0")))
    with open(os.environ["MARKER"], "a") as f:
        f.write(os.environ["name"] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, bye)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(1)
"""


class Runtime:
    """`corral runtime <args>` in the background, in a new pid namespace
    unless namespace=False; its stdout and stderr read into lists."""

    def __init__(self, corral, args, namespace=True, cwd=None, env=None, program=None):
        cmd = [program or CORRAL] + ([] if program else ["runtime"]) + [str(a) for a in args]
        if namespace:
            cmd = ["unshare", "--pid", "--fork", "--mount-proc"] + cmd
        self.namespace = namespace
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env={**corral.env, **(env or {})}, cwd=cwd)
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(self.p.stdout, self.out)),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, into):
        for line in iter(stream.readline, b""):
            into.append(line.decode("utf-8", "replace").rstrip("\n"))

    def pid(self):
        """The runtime's pid as the host sees it."""
        if not self.namespace:
            return self.p.pid
        return wait_for(lambda: children(self.p.pid) and children(self.p.pid)[0], 10,
                        what="unshare's child")

    def signal(self, sig):
        os.kill(self.pid(), sig)

    def wait(self, timeout=30):
        code = self.p.wait(timeout * SLOW)
        for t in self.threads:
            t.join(10)
        return code

    def stdout(self):
        return "\n".join(self.out)

    def stderr(self):
        return "\n".join(self.err)

    def kill(self):
        if self.p.poll() is None:
            try:
                self.signal(signal.SIGKILL)
            except (ProcessLookupError, AssertionError):
                pass
            self.p.kill()
            self.wait()


@pytest.fixture
def runtimes():
    started = []
    yield started
    for r in started:
        r.kill()
    # The runtime's stderr is where a sanitizer build reports (the daemon
    # in the background writes to daemon.log, which conftest checks).
    for r in started:
        assert "Sanitizer" not in r.stderr() and "runtime error:" not in r.stderr(), r.stderr()


def run(corral, runtimes, *args, **kw):
    """Start a runtime; return once its control socket listens (or it
    exited). Until then a `corral` command would start a daemon of its own
    (nothing tells it a runtime is on its way), which the runtime would
    then find in its home and refuse to run next to."""
    r = Runtime(corral, args, **kw)
    runtimes.append(r)
    wait_for(lambda: r.p.poll() is not None or "starting the apps" in r.stderr(), 20,
             what="the runtime's socket")
    return r


def pid_ns(pid):
    return os.readlink(f"/proc/{pid}/ns/pid")


def proc_state_in(pid_in_ns, ns):
    """The state of the process that is pid_in_ns inside namespace ns (its
    NSpid's last field), or None when it is gone."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if pid_ns(d) != ns:
                continue
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and int(line.split()[-1]) == pid_in_ns:
                        return proc_state(d)
        except (OSError, ValueError):
            pass
    return None


def zombies_in(ns):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if pid_ns(d) == ns and proc_state(d) == "Z":
                found.append(int(d))
        except OSError:
            pass
    return found


def listed(corral):
    """jlist, or [] while the runtime's socket does not listen yet (a
    command then tries to start a daemon, which the runtime's lock
    refuses: an error, never a second daemon)."""
    r = corral.run("jlist")
    return json.loads(r.stdout) if r.returncode == 0 else []


def online(corral, names, r=None):
    """Every app of names online and ready; fails at once, with what the
    runtime said, if it exited meanwhile."""
    if r is not None and r.p.poll() is not None:
        r.wait()
        raise AssertionError(f"the runtime exited with {r.p.returncode}:\n{r.stderr()}")
    ps = listed(corral)
    return len(ps) >= len(names) and all(p["status"] == "online" and p["ready"] for p in ps) \
        and {p["name"] for p in ps} == set(names) and ps


def test_runtime_as_pid1_reaps_stops_in_reverse_and_exits_0(corral, runtimes, tmp_path):
    """As PID 1 of a pid namespace: `corral list` works through the socket,
    the cluster app serves, no zombie is left (neither the apps' orphans nor
    those of a process entered from outside, as `docker exec` does), and
    SIGTERM stops the apps gracefully, the last started first, exit 0."""
    port = free_port()
    server = copy_app(tmp_path, "pid_server.js")
    worker = write(str(tmp_path / "worker.py"), ZOMBIE_WORKER)
    marker = str(tmp_path / "marker")
    eco = write(str(tmp_path / "ecosystem.config.js"), f"""module.exports = {{apps: [
  {{name: "web", script: {json.dumps(server)}, instances: 2, exec_mode: "cluster",
    env: {{PORT: "{port}"}}}},
  {{name: "worker", script: {json.dumps(worker)}, interpreter: "python3",
    env: {{MARKER: {json.dumps(marker)}}}}},
]}};
""")
    r = run(corral, runtimes, eco)
    pid1 = r.pid()
    wait_for(lambda: online(corral, ["web", "worker"], r), 20, what="web and worker online")
    procs = corral.jlist()
    assert len([p for p in procs if p["name"] == "web"]) == 2
    assert http_get(port).startswith(b"pid=")
    # The daemon is PID 1 of the namespace.
    assert corral.daemon_pid() == 1
    ns = pid_ns(pid1)
    assert ns != pid_ns(os.getpid())
    wait_for(lambda: "0|web | " in r.stdout() or "1|web | " in r.stdout(), 10,
             what="web's lines on stdout")
    wait_for(lambda: "worker | forked 20 orphans" in r.stdout(), 10, what="the orphans")
    # A process entered from outside leaves an orphan: it goes to PID 1.
    mark = tmp_path / "orphan.pid"
    subprocess.run(["nsenter", "-t", str(pid1), "-p", "-m", "--", "sh", "-c",
                    f"sleep 0.2 & echo $! > {mark}; exit 0"], check=True, timeout=10 * SLOW)
    # The orphan exits (a zombie until PID 1 reaps it), then is reaped.
    orphan = int(wait_for(lambda: mark.exists() and mark.read_text().strip(), 5,
                          what="the orphan's pid"))
    wait_for(lambda: proc_state_in(orphan, ns) in (None, "Z"), 5, what="the orphan to exit")
    wait_for(lambda: not zombies_in(ns), 2, what="no zombie in the namespace")

    r.signal(signal.SIGTERM)
    code = r.wait()
    assert code == 0, r.stderr()
    assert read_text(marker) == "bye worker\n"
    out = r.stdout()
    # The worker (started last) finished its stop before web began its own.
    bye = out.index("worker | worker shutting down")
    assert bye < out.index("shutting down (SIGINT)"), out
    assert out.count("shutting down (SIGINT)") == 2
    assert "exiting with code 0" in r.stderr()


def test_runtime_stops_apps_one_at_a_time_last_started_first(corral, runtimes, tmp_path):
    """`first` stops at once, `second` takes 0.5 s: stopped together, first
    would finish first; stopped in reverse start order, second does."""
    script = write(str(tmp_path / "stop_order.py"), STOP_ORDER)
    marker = str(tmp_path / "order")
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "first", "script": script, "interpreter": "python3",
         "env": {"MARKER": marker}},
        {"name": "second", "script": script, "interpreter": "python3",
         "env": {"MARKER": marker, "DELAY": "0.5"}},
    ]}))
    r = run(corral, runtimes, eco)
    wait_for(lambda: online(corral, ["first", "second"], r), 20, what="both online")
    wait_for(lambda: r.stdout().count("| up ") == 2, 10, what="both printing")
    r.signal(signal.SIGTERM)
    assert r.wait() == 0, r.stderr()
    assert read_text(marker) == "second\nfirst\n"


def test_runtime_app_ignoring_sigterm_is_killed_exit_2(corral, runtimes, tmp_path):
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "stubborn", "script": os.path.join(APPS, "ignore_sigint.py"),
         "interpreter": "python3", "kill_timeout": 500}]}))
    r = run(corral, runtimes, eco)
    wait_for(lambda: online(corral, ["stubborn"], r), 20, what="online")
    wait_for(lambda: "ignoring SIGINT" in r.stdout(), 10, what="the app's line")
    r.signal(signal.SIGTERM)
    assert r.wait() == 2, r.stderr()
    assert "exiting with code 2: 1 process had to be killed (SIGKILL)" in r.stderr()


def test_runtime_second_signal_kills_at_once(corral, runtimes, tmp_path):
    """kill_timeout is a minute: the first SIGTERM begins the stop, the
    second SIGKILLs what is left without waiting for it."""
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "stubborn", "script": os.path.join(APPS, "ignore_sigint.py"),
         "interpreter": "python3", "kill_timeout": "60s"}]}))
    r = run(corral, runtimes, eco)
    wait_for(lambda: online(corral, ["stubborn"], r), 20, what="online")
    wait_for(lambda: "ignoring SIGINT" in r.stdout(), 10, what="the app's line")
    r.signal(signal.SIGTERM)
    wait_for(lambda: corral.proc("stubborn")["status"] == "stopping", 10, what="stopping")
    r.signal(signal.SIGTERM)
    assert r.wait(timeout=15) == 2, r.stderr()
    assert "second signal: SIGKILL to the 1 process left" in r.stderr()


def test_runtime_exits_non_zero_when_every_app_errored(corral, runtimes, tmp_path):
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "crasher", "script": os.path.join(APPS, "crash.py"), "interpreter": "python3",
         "max_restarts": 2, "min_uptime": 5000}]}))
    r = run(corral, runtimes, eco)
    assert r.wait(timeout=30) == 3, r.stderr()
    assert "every app has stopped for good" in r.stderr()
    assert r.stdout().count("crasher | start ") == 2


def test_runtime_no_auto_exit_keeps_running(corral, runtimes, tmp_path):
    """--no-auto-exit: the errored app stays listed; a SIGTERM then exits 3
    (an app had failed)."""
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "crasher", "script": os.path.join(APPS, "crash.py"), "interpreter": "python3",
         "max_restarts": 1, "min_uptime": 5000}]}))
    r = run(corral, runtimes, eco, "--no-auto-exit")
    wait_for(lambda: [p for p in listed(corral) if p["status"] == "errored"], 20,
             what="errored")
    assert r.p.poll() is None
    r.signal(signal.SIGTERM)
    assert r.wait() == 3, r.stderr()
    # Code 3 by the stop, not by an auto-exit (which also exits 3).
    assert "every app has stopped for good" not in r.stderr()
    assert "exiting with code 3: an app had failed before the stop" in r.stderr()


def test_runtime_exits_4_when_every_app_ended_by_itself(corral, runtimes, tmp_path):
    eco = write(str(tmp_path / "apps.json"), json.dumps({"apps": [
        {"name": "job", "script": os.path.join(APPS, "crash.py"), "interpreter": "python3",
         "autorestart": False, "env": {"CRASH_CODE": "0"}}]}))
    r = run(corral, runtimes, eco)
    assert r.wait(timeout=30) == 4, r.stderr()
    assert "every app has stopped for good (1 instance): exiting" in r.stderr()


def test_runtime_json_lines(corral, runtimes, tmp_path):
    """--json: every stdout line is one JSON object with the time, the app,
    the instance, the stream and the message; not as PID 1 here (a
    subreaper under another init)."""
    script = write(str(tmp_path / "say.py"), """import sys, time
print("hello \\"quoted\\" out", flush=True)
print("to stderr", file=sys.stderr, flush=True)
sys.stdout.buffer.write(b"bad \\xff byte\\n"); sys.stdout.flush()
while True:
    time.sleep(1)
""")
    r = run(corral, runtimes, script, "--name", "say", "-i", "2", "-x", "--interpreter", "python3",
            "--json", namespace=False)
    wait_for(lambda: len(r.out) >= 6, 20, what="six lines")
    records = [json.loads(line) for line in r.out]
    for rec in records:
        assert set(rec) == {"time", "app", "instance", "pm_id", "stream", "message"}
        assert rec["app"] == "say"
    assert {(rec["instance"], rec["stream"], rec["message"]) for rec in records} == {
        (i, s, m) for i in (0, 1) for s, m in (("out", 'hello "quoted" out'),
                                                ("err", "to stderr"),
                                                ("out", "bad \ufffd byte"))}
    assert records[0]["time"][:2] == "20"
    # corral start's own output went to stderr, not among the JSON lines.
    r.signal(signal.SIGINT)
    assert r.wait() == 0, r.stderr()


def test_runtime_raw_and_format(corral, runtimes, tmp_path):
    script = write(str(tmp_path / "say.py"), """import time
print("plain words", flush=True)
while True:
    time.sleep(1)
""")
    raw = run(corral, runtimes, script, "--name", "say", "--interpreter", "python3", "--raw")
    wait_for(lambda: raw.out, 20, what="a line")
    assert raw.out == ["plain words"]
    raw.signal(signal.SIGTERM)
    assert raw.wait() == 0
    fmt = run(corral, runtimes, script, "--name", "say", "--interpreter", "python3", "--format")
    wait_for(lambda: fmt.out, 20, what="a line")
    line = fmt.out[0]
    assert line.startswith("timestamp=") and line.endswith(
        " app=say id=0 type=out message=plain words"), line
    fmt.signal(signal.SIGTERM)
    assert fmt.wait() == 0


def test_runtime_start_failure_exits_1(corral, runtimes, tmp_path):
    r = run(corral, runtimes, str(tmp_path / "missing.js"))
    assert r.wait() == 1
    err = r.stderr()
    assert "missing.js" in err
    assert "the apps could not all start" in err
    bad = run(corral, runtimes, "app.js", "--json", "--raw", namespace=False)
    assert bad.wait() == 1
    assert "--json and --raw cannot go together" in bad.stderr()


def test_corral_runtime_by_its_name_and_ready(corral, runtimes, tmp_path):
    """Installed as corral-runtime it is the runtime; `corral ready` says
    when every instance that should run is online and bound."""
    link = str(tmp_path / "corral-runtime")
    os.symlink(CORRAL, link)
    helped = subprocess.run([link, "--help"], capture_output=True, text=True, env=corral.env)
    assert helped.returncode == 0 and "usage: corral runtime" in helped.stdout
    nothing = corral.run("ready")
    assert nothing.returncode == 1 and "no corral daemon runs" in nothing.stderr
    assert corral.daemon_pid() == 0
    port = free_port()
    server = copy_app(tmp_path, "pid_server.js")
    r = run(corral, runtimes, server, "--name", "web", "-i", "2", "--wait-ready",
            "--no-auto-exit", env={"PORT": str(port), "SEND_READY": "1",
                                   "READY_DELAY_MS": "1500"}, program=link)
    wait_for(lambda: [p for p in listed(corral) if p["name"] == "web"], 20, what="web listed")
    first = corral.run("ready")
    wait_for(lambda: corral.run("ready").returncode == 0, 20, what="ready")
    assert first.returncode == 1, first.stdout
    assert "not ready" in first.stderr or "no app runs" in first.stderr
    assert corral.ok("ready", "web") == "ready: 2 instances online and ready\n"
    missing = corral.run("ready", "nope")
    assert missing.returncode == 1
    corral.ok("stop", "web")
    stopped = corral.run("ready")
    assert stopped.returncode == 1 and "every instance is stopped" in stopped.stderr
    r.signal(signal.SIGTERM)
    assert r.wait() == 0, r.stderr()


def test_runtime_counts_the_lines_a_slow_stdout_dropped(corral, tmp_path):
    """Nobody reads stdout while an app writes more than the runtime
    queues (1 MiB): the lines that did not fit are dropped, and their count
    shows as soon as stdout drains, though no line follows."""
    total = 40000
    script = write(str(tmp_path / "burst.py"), f"""import sys, time
for i in range({total}):
    sys.stdout.write("line %06d %s\\n" % (i, "x" * 60))
sys.stdout.flush()
open({str(tmp_path / "done")!r}, "w").close()
time.sleep(600)
""")
    with open(tmp_path / "stderr", "wb") as err:
        p = subprocess.Popen([CORRAL, "runtime", script, "--name", "burst", "--interpreter",
                              "python3", "--raw"], stdout=subprocess.PIPE, stderr=err,
                             env=corral.env)
    try:
        wait_for(lambda: os.path.exists(tmp_path / "done"), 30, what="the burst")
        wait_for(lambda: f"line {total - 1:06d}" in read_text(corral.log_path("burst")), 30,
                 what="the daemon to read it all")
        os.set_blocking(p.stdout.fileno(), False)
        got = []

        def drained():
            chunk = p.stdout.read()
            if chunk:
                got.append(chunk)
            return b"stdout did not keep up" in b"".join(got)
        wait_for(drained, 10, what="the count of dropped lines")
        lines = b"".join(got).decode().splitlines()
        notes = [ln for ln in lines if ln.startswith("[corral] ")]
        kept = [ln for ln in lines if ln.startswith("line ")]
        assert len(notes) == 1, notes
        dropped = int(notes[0].split()[1])
        assert dropped > 0 and len(kept) + dropped == total, (len(kept), notes)
        assert kept == [f"line {i:06d} {'x' * 60}" for i in range(len(kept))]
        p.send_signal(signal.SIGTERM)
        assert p.wait(30 * SLOW) == 0, read_text(str(tmp_path / "stderr"))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
