"""Readiness in cluster mode: wait_ready with Node's process.send('ready')
and with sd_notify READY=1 on $NOTIFY_SOCKET (any language); an instance
gets no connections before it is ready; shutdown_with_message."""
import os
import pwd
import shutil
import sys
import tempfile

import pytest

from clusterapp import answering, copy_app, listeners, live_pids, start_node
from conftest import APPS, free_port, wait_for


def start_in_background(corral, *args, env):
    """`corral start` returns once the instances are ready: run it aside."""
    return corral.popen("start", *args, env=env)


def check_not_ready_yet(corral, starter, n):
    wait_for(lambda: corral.jlist() and len(listeners(corral, "web")[0]["members"]) == n, 10,
             what="the instances to bind")
    # Bound but not ready: launching, and not in rotation.
    assert {p["status"] for p in corral.procs("web")} == {"launching"}
    assert not any(m["gets_traffic"] for m in listeners(corral, "web")[0]["members"])
    assert starter.poll() is None
    out, err = starter.communicate(timeout=30)
    assert starter.returncode == 0, err
    corral.wait_status("web", "online", count=n)
    assert all(m["gets_traffic"] for m in listeners(corral, "web")[0]["members"])


def test_wait_ready_node_process_send(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    starter = start_in_background(corral, app, "-i", "2", "--name", "web", "--wait-ready",
                                  "--listen-timeout", "20000",
                                  env={"PORT": str(port), "SEND_READY": "1",
                                       "READY_DELAY_MS": "2500"})
    check_not_ready_yet(corral, starter, 2)
    assert answering(port, 2) == live_pids(corral, "web")
    assert "process.send('ready')" in corral.daemon_log()


def test_wait_ready_sd_notify_from_python(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "notify_server.py")
    starter = start_in_background(corral, app, "-i", "2", "--name", "web", "--wait-ready",
                                  "--listen-timeout", "20000",
                                  env={"PORT": str(port), "READY_DELAY_MS": "2500"})
    check_not_ready_yet(corral, starter, 2)
    for p in corral.procs("web"):
        assert p["status_text"] == f"serving on port {port}"
        assert p["ready"] is True
    assert answering(port, 2) == live_pids(corral, "web")
    assert f"serving on port {port}" in corral.ok("describe", "web")


def notify_socket_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    return env[b"NOTIFY_SOCKET"].decode()


def test_sd_notify_from_an_app_running_as_another_user(corral):
    """An app run as another user cannot reach the socket file inside the
    0700 home: it gets an abstract socket (NOTIFY_SOCKET=@...) instead."""
    if os.geteuid() != 0:
        pytest.skip("only root can run an app as another user")
    d = tempfile.mkdtemp(prefix="corral-notify-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        app = shutil.copy(os.path.join(APPS, "notify_server.py"), d)
        port = free_port()
        corral.ok("start", app, "--name", "web", "--uid", "nobody", "--interpreter", sys.executable,
                  "--wait-ready",
                  "--listen-timeout", "20000", env={"PORT": str(port)})
        p = corral.wait_status("web", "online")[0]
        assert p["ready"] is True and p["status_text"] == f"serving on port {port}", p
        assert notify_socket_of(p["pid"]).startswith("@corral-notify-")
        with open(f"/proc/{p['pid']}/status") as f:
            assert int([l.split()[1] for l in f if l.startswith("Uid:")][0]) == \
                pwd.getpwnam("nobody").pw_uid
        # The daemon's own user still gets the file.
        corral.ok("start", app, "--name", "mine", "--wait-ready", env={"PORT": str(free_port())})
        mine = corral.wait_status("mine", "online")[0]
        assert mine["ready"] is True
        assert notify_socket_of(mine["pid"]) == os.path.join(corral.home, "notify.sock")
        corral.ok("delete", "all")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_sd_notify_never_ready_is_reported(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "notify_server.py")
    corral.ok("start", app, "-i", "1", "--name", "web", "--wait-ready", "--listen-timeout", "1000",
              env={"PORT": str(port), "NEVER_READY": "1"})
    # PM2 calls it online after listen_timeout; corral says it never was ready.
    p = corral.wait_status("web", "online")[0]
    assert p["ready"] is False
    assert "not ready after listen_timeout (1000 ms)" in p["reason"]


def test_shutdown_with_message(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 2, args=("--shutdown-with-message",))
    pids = live_pids(corral, "web")
    corral.ok("stop", "web")
    for pm_id in (0, 1):
        text = open(corral.log_path("web", "out", pm_id)).read()
        assert "shutting down (message)" in text, text
    for p in corral.procs("web"):
        assert p["status"] == "stopped" and p["exit_code"] == 0 and p["exit_signal"] is None
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_a_worker_that_binds_no_port_is_online_once_it_runs(corral, tmp_path):
    """A cluster app whose instances never bind (a queue worker): online
    after min_uptime, as PM2 shows it, not `launching` until listen_timeout;
    `start` returns then. Taking traffic stays a separate fact: not ready."""
    r = corral.run("start", os.path.join(APPS, "loop.py"), "-i", "2", "--name", "worker",
                   "--listen-timeout", "120s", "--min-uptime", "500", timeout=60)
    assert r.returncode == 0, r.stderr
    ps = corral.procs("worker")
    assert [p["status"] for p in ps] == ["online", "online"], ps
    assert all(p["mode"] == "cluster" and p["pid"] for p in ps)
    assert not any(p["ready"] for p in ps)
    assert all("listen_timeout" not in (p["reason"] or "") for p in ps)
