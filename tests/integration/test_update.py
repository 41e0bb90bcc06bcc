"""`corral update`: the daemon replaced by the corral binary now on disk,
every app kept running (src/daemon/update.h).

Build A is the binary under test; build B is the same source built with
another version string (`make BUILD=build-update VERSION=...`). The daemon
runs from a copy of A in a directory of the test's own, which the test
then replaces with B, as an installation replaces its binary."""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from clusterapp import copy_app, wait_ready
from conftest import CORRAL, ROOT, SLOW, free_port, wait_for, write
from daemondeath import keeper_pid
from fhelpers import alive, read_text
from loadgen import Load, request

B_VERSION = "0.0.0-update-test"
A_VERSION = subprocess.run([CORRAL, "--version"], capture_output=True, text=True).stdout.split()[-1]

# Prints n=0, n=1, ... one line every 2 ms, for ever.
NUMBERED = """import sys, time
i = 0
while True:
    sys.stdout.write("n=%d\\n" % i)
    sys.stdout.flush()
    i += 1
    time.sleep(0.002)
"""


def last_number(corral):
    found = re.findall(r"^n=(\d+)$", read_text(corral.log_path("writer")), re.M)
    return int(found[-1]) if found else -1


@pytest.fixture(scope="module")
def build_b():
    """Build B (make keeps it up to date with the source); one build at a
    time when the tests run in parallel."""
    os.makedirs(os.path.join(ROOT, "build-update"), exist_ok=True)
    with open(os.path.join(ROOT, "build-update", ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=build-update",
                              f"VERSION={B_VERSION}", "build-update/corral",
                              "build-update/libcorral-preload.so"],
                             capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return os.path.join(ROOT, "build-update")


def install(src_dir_or_bin, bindir, preload_dir):
    """Put a corral binary at bindir/corral the way an installation does: a
    new file renamed over the old one (the running daemon keeps its
    deleted image)."""
    tmp = os.path.join(bindir, ".corral.new")
    shutil.copy(src_dir_or_bin, tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, os.path.join(bindir, "corral"))
    lib = os.path.join(preload_dir, "libcorral-preload.so")
    shutil.copy(lib, os.path.join(bindir, ".preload.new"))
    os.rename(os.path.join(bindir, ".preload.new"), os.path.join(bindir, "libcorral-preload.so"))


@pytest.fixture
def installed(corral, tmp_path):
    """corral A installed in tmp_path/bin, and a function running it."""
    bindir = str(tmp_path / "bin")
    os.makedirs(bindir)
    install(CORRAL, bindir, os.path.dirname(CORRAL))
    exe = os.path.join(bindir, "corral")

    def run(*args, timeout=60):
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True,
                              env=corral.env, timeout=timeout * SLOW)
    return bindir, run


def test_update_keeps_every_app_running(corral, installed, build_b, tmp_path):
    """Under a client opening a new connection per request to a 2-instance
    cluster app and an app writing numbered lines: 0 failed requests, the
    same pids, uptimes and restart counts before and after, every numbered
    line exactly once in the log, the daemon (same pid) answering as B, and
    the apps still its children (an exit status is known, not "unknown")."""
    bindir, run = installed
    port = free_port()
    server = copy_app(tmp_path, "pid_server.js")
    writer = write(str(tmp_path / "numbered.py"), NUMBERED)
    env = {**corral.env, "PORT": str(port)}
    r = subprocess.run([os.path.join(bindir, "corral"), "start", server, "-i", "2", "--name",
                        "web"], capture_output=True, text=True, env=env, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    r = run("start", writer, "--name", "writer", "--interpreter", "python3")
    assert r.returncode == 0, r.stderr
    wait_ready(corral, "web", 2)
    corral.wait_status("writer", "online")
    daemon, keeper = corral.daemon_pid(), keeper_pid(corral)
    assert f"daemon: corral {A_VERSION} (pid {daemon})" in run("version").stdout
    before = {p["pm_id"]: p for p in corral.jlist()}
    wait_for(lambda: "n=200\n" in read_text(corral.log_path("writer")), 20, what="lines")

    install(os.path.join(build_b, "corral"), bindir, build_b)
    with Load(port) as load:
        load.wait_more(50)
        written = last_number(corral)
        up = run("update")
        load.wait_more(50)
    assert up.returncode == 0, up.stderr + up.stdout
    assert f"-> {B_VERSION} (pid {daemon} kept)" in up.stdout
    assert load.failures == [], load.failures[:5]
    assert load.count() >= 100
    assert f"daemon: corral {B_VERSION} (pid {daemon})" in run("version").stdout
    assert corral.daemon_pid() == daemon and keeper_pid(corral) == keeper
    after = {p["pm_id"]: p for p in corral.jlist()}
    assert sorted(after) == sorted(before)
    for pm_id, p in before.items():
        q = after[pm_id]
        assert (q["pid"], q["restarts"], q["status"]) == (p["pid"], p["restarts"], "online")
        assert q["started_at"] == p["started_at"] and q["created_at"] == p["created_at"]
    # Every numbered line once, none lost, across the switch.
    wait_for(lambda: last_number(corral) > written + 200, 20, what="lines after the update")
    corral.ok("stop", "writer")
    numbers = [int(n) for n in re.findall(r"^n=(\d+)$", read_text(corral.log_path("writer")),
                                          re.M)]
    assert numbers == list(range(len(numbers))), "lines lost or repeated"
    # The new daemon manages them: an instance killed by a signal is seen as
    # such (it is still our child), and restarted.
    victim = after[0]["pid"]
    os.kill(victim, 15)
    wait_for(lambda: corral.proc("0")["pid"] not in (0, victim) and
             corral.proc("0")["status"] == "online", 15, what="web[0] to restart")
    log = corral.daemon_log()
    assert f"pid {victim} killed by SIGTERM" in log
    assert "exit status unknown" not in log
    assert request(port)["pid"]
    # Should the new daemon die, its keeper (still a process of A) starts
    # the binary the daemon ran, B, not its own image of A.
    os.kill(daemon, signal.SIGKILL)

    def restarted():
        pid = corral.daemon_pid()
        return pid not in (0, daemon) and alive(pid) and pid
    newpid = wait_for(restarted, 15, what="the keeper's new daemon")
    assert os.readlink(f"/proc/{newpid}/exe") == os.path.join(bindir, "corral")
    wait_for(lambda: run("ping").returncode == 0, 15, what="the new daemon to answer")
    assert f"daemon: corral {B_VERSION} (pid {newpid})" in run("version").stdout


def test_update_to_a_binary_that_cannot_start_keeps_the_daemon(corral, installed, tmp_path):
    bindir, run = installed
    port = free_port()
    server = copy_app(tmp_path, "pid_server.js")
    r = subprocess.run([os.path.join(bindir, "corral"), "start", server, "-i", "2", "--name",
                        "web"], capture_output=True, text=True,
                       env={**corral.env, "PORT": str(port)}, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    wait_ready(corral, "web", 2)
    pids = sorted(p["pid"] for p in corral.jlist())
    daemon = corral.daemon_pid()
    broken = write(str(tmp_path / "broken"), "#!/bin/sh\necho 'broken build: libfoo.so.1 "
                   "missing' >&2\nexit 3\n", mode=0o755)
    os.rename(broken, os.path.join(bindir, "corral"))
    # The CLI of the build under test asks; the daemon's binary is broken.
    up = corral.run("update")
    assert up.returncode == 1
    err = up.stderr
    assert f"the new binary {bindir}/corral cannot take over" in err
    assert "it exited with code 3" in err and "broken build: libfoo.so.1 missing" in err
    assert "carries on" in err
    assert corral.daemon_pid() == daemon
    assert f"daemon: corral {A_VERSION} (pid {daemon})" in corral.ok("version")
    assert sorted(p["pid"] for p in corral.jlist()) == pids
    assert all(p["status"] == "online" for p in corral.jlist())
    assert int(request(port)["pid"]) in pids


def test_clients_during_an_update_get_an_answer_or_an_error(corral, installed, build_b,
                                                            tmp_path):
    """A `corral logs` follower sees its connection end (it exits), and
    `corral jlist` calls made during the switch all return, none hangs."""
    bindir, run = installed
    writer = write(str(tmp_path / "numbered.py"), NUMBERED)
    assert run("start", writer, "--name", "writer", "--interpreter", "python3").returncode == 0
    corral.wait_status("writer", "online")
    follower = corral.popen("logs", "writer", "--lines", "0")
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")))
    reader.start()
    wait_for(lambda: lines, 10, what="a live line")
    install(os.path.join(build_b, "corral"), bindir, build_b)
    codes, stop = [], threading.Event()

    def ask():
        while not stop.is_set():
            r = corral.run("jlist", timeout=20)
            codes.append(r.returncode)
    t = threading.Thread(target=ask)
    t.start()
    try:
        wait_for(lambda: len(codes) >= 2, 20, what="some lists")
        up = run("update")
        n = len(codes)
        wait_for(lambda: len(codes) >= n + 2, 20, what="lists after the update")
    finally:
        stop.set()
        t.join(60)
    assert up.returncode == 0, up.stderr
    assert all(c in (0, 1) for c in codes)
    assert follower.wait(20 * SLOW) != 0
    reader.join(10)
    assert "the daemon went away" in follower.stderr.read()
    follower.stdout.close()
    follower.stderr.close()
