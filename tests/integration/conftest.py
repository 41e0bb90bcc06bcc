"""Shared fixtures for corral's integration tests.

Every test gets its own CORRAL_HOME in a short temp directory (unix socket
paths are limited to 108 bytes) and drives the real `corral` binary. At the
end the daemon is killed and the test FAILS if any process that belongs to
its home is still alive: the daemon and every app carry the home path in
their environment (CORRAL_HOME, NOTIFY_SOCKET), so /proc tells us.

Waiting is always on a condition with a deadline (wait_for), never a bare
sleep.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORRAL = os.environ.get("CORRAL_BIN", os.path.join(ROOT, "build", "corral"))
BUILD = os.path.dirname(CORRAL)
HELPERS = os.path.join(ROOT, "build", "helpers")
APPS = os.path.join(ROOT, "tests", "apps")
# Sanitizer builds are slower: scale every deadline.
SLOW = float(os.environ.get("CORRAL_TEST_SLOW", "1"))


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # the thing we wait for may not exist yet
            last = e
            if isinstance(e, AssertionError):
                raise
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what}")


def pids_with(marker):
    """Pids of live processes whose environment mentions marker."""
    found = []
    mark = marker.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{d}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if mark in env and state != b"Z":
            found.append(int(d))
    return found


class Corral:
    def __init__(self, home):
        self.home = home
        self.env = dict(os.environ)
        self.env["CORRAL_HOME"] = home
        self.env.pop("NO_COLOR", None)
        self.env["NO_COLOR"] = "1"

    # -- running the CLI --

    def run(self, *args, timeout=60, cwd=None, env=None, input=None):
        e = dict(self.env)
        if env:
            e.update(env)
        return subprocess.run([CORRAL, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout * SLOW, cwd=cwd, env=e, input=input)

    def popen(self, *args, env=None):
        """Run corral in the background (text pipes), for commands that
        wait while the test does something else."""
        return subprocess.Popen([CORRAL, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**self.env, **(env or {})})

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"corral {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}{r.stdout}"
        return r.stdout

    def fail(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode != 0, f"corral {' '.join(map(str, args))} should have failed:\n{r.stdout}"
        return r.stderr

    def jlist(self):
        return json.loads(self.ok("jlist"))

    def procs(self, name):
        return [p for p in self.jlist() if p["name"] == name or str(p["pm_id"]) == str(name)]

    def proc(self, name):
        ps = self.procs(name)
        assert ps, f"no process {name}"
        return ps[0]

    def wait_status(self, name, status, timeout=10.0, count=None):
        def check():
            ps = self.procs(name)
            if count is not None and len(ps) != count:
                return False
            return ps and all(p["status"] == status for p in ps) and ps
        return wait_for(check, timeout, what=f"{name} to be {status}")

    # -- the daemon --

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, "daemon.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def daemon_log(self):
        try:
            with open(os.path.join(self.home, "daemon.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_path(self, name, stream="out", pm_id=None):
        suffix = f"-{pm_id}" if pm_id is not None else ""
        return os.path.join(self.home, "logs", f"{name}-{stream}{suffix}.log")

    def leftovers(self):
        return [p for p in pids_with(self.home) if p != os.getpid()]

    def cleanup(self):
        """Stop everything; return the pids that had to be killed by force."""
        if os.path.exists(os.path.join(self.home, "corral.sock")):
            try:
                self.run("kill", timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            wait_for(lambda: not self.leftovers(), timeout=5, what="processes to exit")
            return []
        except AssertionError:
            left = self.leftovers()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return left


@pytest.fixture
def corral():
    home = tempfile.mkdtemp(prefix="corral-", dir="/tmp")
    c = Corral(home)
    yield c
    left = c.cleanup()
    log = c.daemon_log()
    shutil.rmtree(home, ignore_errors=True)
    assert "Sanitizer" not in log, "the daemon reported a sanitizer error:\n" + log[-4000:]
    assert not left, f"processes left behind: {left}"


def free_port():
    """A TCP port nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, host="127.0.0.1", path="/", timeout=5.0, family=socket.AF_INET, source=None):
    """One request on a new connection; returns the body (bytes)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        raise OSError(f"bad response: {data[:80]!r}")
    return body


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path
