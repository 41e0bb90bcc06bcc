"""Cluster mode under package managers (issue 19.4): `npm start`, `yarn
start` and `pnpm start` run the start script through `sh -c` from Node,
whose child_process passes only stdio, so the real server does not inherit
the broker fd. It must reach the broker by its address, share the port with
the other instances, and reload without a failed request. A server that
cannot reach the broker says so on stderr and describe marks it.

yarn and pnpm come from the npm registry into tests/node_modules (pinned in
tests/package.json), installed once by the first test that needs them; when
that cannot be done the yarn and pnpm cases are skipped, saying why."""
import fcntl
import json
import os
import shutil
import subprocess

import pytest

from clusterapp import answering, wait_ready
from conftest import APPS, CORRAL, ROOT, free_port, wait_for, write
from loadgen import Load

TESTS = os.path.join(ROOT, "tests")
BIN = os.path.join(TESTS, "node_modules", ".bin")


def install_package_managers():
    """Install tests/package.json's package managers once (workers take
    turns on a lock); returns None, or why they cannot be had."""
    if shutil.which("npm") is None:
        return "npm is not installed"
    with open(os.path.join(TESTS, ".node_modules.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.access(os.path.join(BIN, t), os.X_OK) for t in ("yarn", "pnpm", "pm2")):
            return None
        try:
            r = subprocess.run(["npm", "install", "--prefix", TESTS, "--no-audit", "--no-fund",
                                "--no-package-lock", "--loglevel=error"],
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return "npm install of tests/package.json took more than 5 minutes"
        if r.returncode != 0:
            return f"npm install of tests/package.json failed: {r.stderr.strip()[-400:]}"
    return None


@pytest.fixture(scope="session")
def package_managers():
    return install_package_managers()


def project(tmp_path, extra=None):
    """A package whose start script runs tests/apps/pid_server.js."""
    d = tmp_path / "proj"
    d.mkdir()
    shutil.copy(os.path.join(APPS, "pid_server.js"), d / "server.js")
    pkg = {"name": "web", "version": "1.0.0", "private": True, "license": "MIT",
           "scripts": {"start": "node server.js"}}
    write(str(d / "package.json"), json.dumps(pkg))
    return d


def tool_env(tool, package_managers, port):
    env = {"PORT": str(port)}
    if tool != "npm":
        if package_managers:
            pytest.skip(f"{tool} is not available: {package_managers}")
        env["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")
    elif shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    return env


def start(corral, tmp_path, tool, package_managers, how="cli"):
    port = free_port()
    d = project(tmp_path)
    env = tool_env(tool, package_managers, port)
    # Starting npm and node twice on a busy machine can take seconds.
    if how == "cli":
        corral.ok("start", f"{tool} start", "-i", 2, "--name", "web", "--listen-timeout",
                  20000, cwd=str(d), env=env)
    else:
        write(str(d / "ecosystem.config.js"), "module.exports = {apps: [{name: 'web', "
              f"script: '{tool}', args: 'start', instances: 2, exec_mode: 'cluster', "
              "listen_timeout: 20000}]};\n")
        corral.ok("start", "ecosystem.config.js", cwd=str(d), env=env)
    wait_ready(corral, "web", 2, timeout=30)
    return port


def preload_lines(corral):
    text = ""
    for p in corral.procs("web"):
        with open(p["err_log"], errors="replace") as f:
            text += f.read()
    return [line for line in text.splitlines() if "corral-preload" in line]


@pytest.mark.parametrize("tool,how", [("npm", "cli"), ("npm", "ecosystem"), ("yarn", "cli"),
                                      ("pnpm", "cli")])
def test_start_script_instances_share_the_port_and_reload(corral, tmp_path, tool, how,
                                                          package_managers):
    port = start(corral, tmp_path, tool, package_managers, how)
    # Both servers answer on the one port: each is a grandchild (or deeper)
    # of its instance's process, not the process corral started.
    old = answering(port, 2)
    assert len(old) == 2, old
    assert not old & {p["pid"] for p in corral.procs("web")}
    assert [p["broker"] for p in corral.procs("web")] == ["reached", "reached"]
    assert preload_lines(corral) == []
    with Load(port) as load:
        load.wait_more(100)
        corral.ok("reload", "web", timeout=120)
        wait_ready(corral, "web", 2, timeout=30)
        new = wait_for(lambda: (lambda s: len(s) == 2 and s)(answering(port, 2)), 30,
                       what="two new servers to answer")
        load.wait_more(100)
    assert load.failures == [], load.failures[:5]
    assert not new & old
    assert all(p["status"] == "online" for p in corral.procs("web"))
    assert preload_lines(corral) == []


def test_server_that_cannot_reach_the_broker_says_so(corral, tmp_path):
    # It closes the inherited fd and drops both variables before it binds:
    # the port is not shared, and that must not go unnoticed.
    port = free_port()
    d = project(tmp_path)
    write(str(d / "lonely.js"), "const fs = require('fs');\n"
          "try { fs.closeSync(Number(process.env.CORRAL_BROKER_FD)); } catch (e) {}\n"
          "delete process.env.CORRAL_BROKER_FD;\n"
          "delete process.env.CORRAL_BROKER_SOCKET;\n"
          "require('./server.js');\n")
    corral.ok("start", str(d / "lonely.js"), "-i", 1, "--name", "web", "--listen-timeout",
              1000, env={"PORT": str(port)})
    p = wait_for(lambda: (lambda p: p["broker"] == "not reached" and p)(corral.proc("web")),
                 10, what="the instance to be marked")
    # It serves, alone: nobody else can bind its port.
    assert answering(port, 1) == {p["pid"]}
    lines = wait_for(lambda: preload_lines(corral), 10, what="the preload's line")
    assert lines == ["corral-preload: cannot reach the corral daemon's broker "
                     "(CORRAL_BROKER_FD and CORRAL_BROKER_SOCKET are not set): "
                     f"port {port} is not shared; binding [::]:{port} directly, so the "
                     "app's other instances will fail to bind it"]
    out = corral.ok("describe", "web")
    assert "not reached: nothing in this instance asked corral for a port within " \
           "listen_timeout (1000 ms)" in out
    assert f"web[0]: neither pid {p['pid']} nor a descendant asked the broker for a port " \
           "in 1000 ms" in corral.daemon_log()


def test_a_stranger_cannot_take_an_instance_sockets(corral, tmp_path):
    # Anyone on the host can see the broker's abstract address in
    # /proc/net/unix. A process that is not in the instance's process group
    # (here: the test's own child), or runs as another user, is refused:
    # its bind goes nowhere near the app's listeners.
    port = free_port()
    d = project(tmp_path)
    corral.ok("start", str(d / "server.js"), "-i", 1, "--name", "web", env={"PORT": str(port)})
    wait_ready(corral, "web", 1)
    pid = corral.proc("web")["pid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    address = env[b"CORRAL_BROKER_SOCKET"].decode()
    assert address.startswith("@corral-broker-")
    preload = os.path.join(os.path.dirname(CORRAL), "libcorral-preload.so")
    other = free_port()
    script = ("import socket, sys\n"
              "s = socket.socket()\n"
              "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
              "s.listen(1)\n"
              "print(s.getsockname()[1])\n")
    runs = [("not in the instance's process group", [])]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        runs.append(("another user", ["setpriv", "--reuid=65534", "--regid=65534",
                                      "--clear-groups"]))
    for why, prefix in runs:
        r = subprocess.run(prefix + ["/usr/bin/python3", "-c", script, str(other)],
                           env=dict(os.environ, LD_PRELOAD=preload,
                                    CORRAL_BROKER_SOCKET=address),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        # It bound its own socket, not one of the daemon's.
        assert r.stdout.strip() == str(other)
        # Refused before or after its request was sent, it says so in one line.
        assert r.stderr.count("\n") == 1, r.stderr
        assert r.stderr in (
            f"corral-preload: cannot get 127.0.0.1:{other} from the corral daemon "
            "(the daemon closed the reply channel); binding it directly\n",
            "corral-preload: cannot reach the corral daemon's broker (CORRAL_BROKER_FD: not "
            f"set; CORRAL_BROKER_SOCKET: cannot send on it: EPIPE): port {other} is not "
            f"shared; binding 127.0.0.1:{other} directly, so the app's other instances will "
            "fail to bind it\n"), r.stderr
        wait_for(lambda: "broker: refused a connection from pid" in corral.daemon_log()
                 and f"({why})" in corral.daemon_log(), 10, what=f"the refusal ({why})")
    assert [g["address"] for g in corral.proc("web")["listeners"]] == [f"[::]:{port}"]
    assert corral.proc("web")["broker"] == "reached"


def test_a_daemon_started_from_inside_a_cluster_app_does_not_use_its_broker(corral, tmp_path):
    # `corral start` run by a cluster app (a deploy hook, a shell in it)
    # starts a daemon with the app's environment: LD_PRELOAD naming the
    # library and the broker variables. That daemon must not load the
    # library: its own listeners would go looking for the other daemon's
    # broker (and say so on every bind).
    port = free_port()
    d = project(tmp_path)
    preload = os.path.join(os.path.dirname(CORRAL), "libcorral-preload.so")
    env = {"PORT": str(port), "LD_PRELOAD": preload, "CORRAL_BROKER_FD": "3",
           "CORRAL_BROKER_SOCKET": "@corral-broker-1-0000000000000000"}
    corral.ok("start", str(d / "server.js"), "-i", 2, "--name", "web", env=env)
    wait_ready(corral, "web", 2)
    assert len(answering(port, 2)) == 2
    with open(f"/proc/{corral.daemon_pid()}/environ", "rb") as f:
        daemon_env = f.read().split(b"\0")
    assert not [v for v in daemon_env if v.startswith((b"LD_PRELOAD=", b"CORRAL_BROKER_"))]
    with open(f"/proc/{corral.daemon_pid()}/maps") as f:
        assert "libcorral-preload" not in f.read()
    assert "corral-preload" not in corral.daemon_log()
