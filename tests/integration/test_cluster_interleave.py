"""Cluster operations that overlap: a reload interrupted by `kill`, SIGTERM,
`stop`, `delete`, `restart`, a second reload or a failing instance; a
release that moves to another port (by reload or restart). The daemon must
leave no process and no listener behind, must never kill a process it has
just promoted, and a refused request must change nothing."""
import os
import re
import signal

import pytest

from clusterapp import answering, copy_app, live_pids, port_is_free, wait_port_free
from conftest import free_port, wait_for
from fhelpers import alive, edit
from loadgen import request

SLOW_EXIT = "server.close(() => setTimeout(() => process.exit(0), 2500));"
FAST_EXIT = "server.close(() => process.exit(0));"


def start_slow_exiting(corral, tmp_path, port, instances=2):
    """pid_server.js whose release takes 2.5 s to exit on SIGINT (well
    within its kill_timeout); the file is then edited back to a release
    that exits at once, for the reload."""
    app = copy_app(tmp_path, "pid_server.js")
    edit(app, FAST_EXIT, SLOW_EXIT)
    corral.ok("start", app, "-i", instances, "--name", "web", "--kill-timeout", "8000",
              env={"PORT": str(port), "HOST": "127.0.0.1"})
    corral.wait_status("web", "online", count=instances)
    edit(app, SLOW_EXIT, FAST_EXIT)
    return app


def reload_until_promoted(corral, n):
    """Run `corral reload web` in the background until n instances were
    promoted (the replaced processes are still draining then)."""
    proc = corral.popen("reload", "web")
    wait_for(lambda: corral.daemon_log().count("reload promotes") >= n, 15,
             what=f"{n} promotions")
    return proc


def test_kill_while_replaced_processes_drain_stops_them(corral, tmp_path):
    port = free_port()
    start_slow_exiting(corral, tmp_path, port)
    old = live_pids(corral, "web")
    reload = reload_until_promoted(corral, 2)
    corral.ok("kill")
    reload.communicate(timeout=30)
    # `kill` returns once every process of every app is gone, the replaced
    # ones included: nothing outlives the daemon.
    assert [p for p in old if alive(p)] == []
    assert port_is_free(port)


def test_sigterm_while_replaced_processes_drain_stops_them(corral, tmp_path):
    port = free_port()
    start_slow_exiting(corral, tmp_path, port)
    old = live_pids(corral, "web")
    reload = reload_until_promoted(corral, 2)
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGTERM)
    wait_for(lambda: not alive(daemon), 20, what="the daemon to exit")
    reload.communicate(timeout=30)
    assert [p for p in old if alive(p)] == []
    assert port_is_free(port)


def promoted_pids(corral):
    """pm_id -> the pid a reload promoted, from the daemon log."""
    return {int(m.group(1)): int(m.group(2)) for m in
            re.finditer(r"web\[(\d+)\]: reload promotes pid (\d+)", corral.daemon_log())}


def test_stop_after_the_promotions_is_graceful_and_waits_for_the_old_processes(corral, tmp_path):
    port = free_port()
    start_slow_exiting(corral, tmp_path, port)
    old = live_pids(corral, "web")
    reload = reload_until_promoted(corral, 2)
    new = set(promoted_pids(corral).values())
    corral.ok("stop", "web")
    alive_at_reply = [p for p in old | new if alive(p)]
    _, err = reload.communicate(timeout=30)
    assert reload.returncode != 0 and "cancelled" in err
    # The promoted processes got the stop signal, like any serving process:
    # the stop of the app must not SIGKILL one of them as a failed successor.
    log = corral.daemon_log()
    assert "killed by SIGKILL" not in log, log[-2000:]
    for pid in new:
        assert f"pid {pid} exited with code 0" in log, log[-2000:]
    # And `stop` answered once nothing of the app ran any more, the
    # processes the reload replaced included.
    assert alive_at_reply == []
    assert port_is_free(port)


def test_failed_reload_keeps_the_instances_it_already_promoted(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    corral.ok("start", app, "-i", "3", "--name", "web", "--listen-timeout", "10000",
              env={"PORT": str(port), "HOST": "127.0.0.1"})
    corral.wait_status("web", "online", count=3)
    old = {p["pm_id"]: p["pid"] for p in corral.procs("web")}
    # The new release works, except on instance 2, where it never binds and
    # exits after a while: instances 0 and 1 are promoted first.
    edit(app, "const http = require('http');",
         "if (process.env.NODE_APP_INSTANCE === '2') { setTimeout(() => process.exit(3), 3000); "
         "return; }\nconst http = require('http');")
    err = corral.fail("reload", "web", "--parallel", "2")
    assert "pm_id 2" in err and "exited with code 3" in err, err
    promoted = promoted_pids(corral)
    assert set(promoted) == {0, 1}, corral.daemon_log()[-2000:]
    # What was promoted keeps serving; the rest still runs the old release.
    procs = {p["pm_id"]: p for p in corral.procs("web")}
    assert {k: p["pid"] for k, p in procs.items()} == {0: promoted[0], 1: promoted[1], 2: old[2]}
    assert all(p["status"] == "online" for p in procs.values()), (procs, corral.daemon_log()[-2000:])
    assert all(alive(pid) for pid in promoted.values())
    for pid in promoted.values():
        assert f"pid {pid} killed by SIGKILL" not in corral.daemon_log(), corral.daemon_log()[-2000:]


def start_two_on_a_port(corral, tmp_path, lb):
    """Two pid_server.js instances online on a fresh port; returns that port
    and another free one to move them to."""
    port, moved = free_port(), free_port()
    app = copy_app(tmp_path, "pid_server.js")
    corral.ok("start", app, "-i", "2", "--name", "web", "--lb", lb,
              env={"PORT": str(port), "HOST": "127.0.0.1"})
    corral.wait_status("web", "online", count=2)
    return port, moved


@pytest.mark.parametrize("lb", ["even", "shared"])
def test_reload_to_another_port_frees_the_old_one(corral, tmp_path, lb):
    port, moved = start_two_on_a_port(corral, tmp_path, lb)
    corral.ok("reload", "web", "--update-env", env={"PORT": str(moved), "HOST": "127.0.0.1"})
    new = live_pids(corral, "web")
    assert answering(moved, 2) == new
    # Nobody serves the old port any more: the daemon must not keep it
    # listening (connections would wait there forever).
    wait_port_free(port)
    assert [g["address"] for g in corral.proc("web")["listeners"]] == [f"127.0.0.1:{moved}"]


@pytest.mark.parametrize("lb", ["even", "shared"])
def test_failed_reload_to_another_port_frees_the_new_one(corral, tmp_path, lb):
    port, moved = free_port(), free_port()
    app = copy_app(tmp_path, "pid_server.js")
    env = {"PORT": str(port), "HOST": "127.0.0.1", "SEND_READY": "1"}
    corral.ok("start", app, "-i", "2", "--name", "web", "--lb", lb, "--wait-ready",
              "--listen-timeout", "1500", env=env)
    corral.wait_status("web", "online", count=2)
    old = live_pids(corral, "web")
    # The new release binds another port but never says it is ready.
    env.update({"PORT": str(moved), "SEND_READY": ""})
    err = corral.fail("reload", "web", "--update-env", env=env)
    assert "not ready within listen_timeout" in err, err
    assert live_pids(corral, "web") == old
    assert answering(port, 2) == old
    wait_port_free(moved)
    assert [g["address"] for g in corral.proc("web")["listeners"]] == [f"127.0.0.1:{port}"]


def test_delete_mid_reload_returns_once_the_port_is_free(corral, tmp_path):
    port = free_port()
    start_slow_exiting(corral, tmp_path, port)
    old = live_pids(corral, "web")
    reload = reload_until_promoted(corral, 2)
    corral.ok("delete", "web")
    reload.communicate(timeout=30)
    # `delete` answers once nothing of the app runs, the processes the
    # reload replaced included: the port is free for another app at once.
    assert [p for p in old if alive(p)] == []
    assert port_is_free(port)
    other = copy_app(tmp_path, "pid_server.js")
    corral.ok("start", other, "-i", "2", "--name", "other",
              env={"PORT": str(port), "HOST": "127.0.0.1"})
    corral.wait_status("other", "online", count=2)
    assert "refused" not in corral.daemon_log()
    assert all(p["restarts"] == 0 for p in corral.procs("other"))



def test_refused_reload_changes_nothing(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    env = {"PORT": str(port), "HOST": "127.0.0.1", "SEND_READY": "1", "INCR": "1"}
    corral.ok("start", app, "-i", "2", "--name", "web", "--wait-ready", env=env)
    corral.wait_status("web", "online", count=2)
    # A slow release (ready 1.5 s after listening), one instance at a time.
    env.update({"INCR": "2", "READY_DELAY_MS": "1500"})
    first = corral.popen("reload", "web", "--update-env", env=env)
    wait_for(lambda: "reload of 2 instances" in corral.daemon_log(), 10,
             what="the first reload to begin")
    env.update({"INCR": "3", "READY_DELAY_MS": "0"})
    r = corral.run("reload", "web", "--update-env", env=env)
    assert r.returncode != 0 and "already in progress" in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    # Every instance runs what the first reload asked for: the refused one
    # did not change the app's environment behind its back.
    assert {a["incr"] for a in (request(port) for _ in range(40))} == {"2"}
    assert answering(port, 2) == live_pids(corral, "web")


@pytest.mark.parametrize("lb", ["even", "shared"])
def test_restart_to_another_port_frees_the_old_one(corral, tmp_path, lb):
    port, moved = start_two_on_a_port(corral, tmp_path, lb)
    corral.ok("restart", "web", "--update-env", env={"PORT": str(moved), "HOST": "127.0.0.1"})
    corral.wait_status("web", "online", count=2)
    assert answering(moved, 2) == live_pids(corral, "web")
    # The old port's sockets were kept for the instances' next processes,
    # which bound another port: they must not stay listening for nobody.
    wait_port_free(port)
    wait_for(lambda: [g["address"] for g in corral.proc("web")["listeners"]] ==
             [f"127.0.0.1:{moved}"], 10, what="only the new port in the listeners")


def test_restart_mid_reload_is_reported_as_such(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    env = {"PORT": str(port), "HOST": "127.0.0.1", "SEND_READY": "1"}
    corral.ok("start", app, "-i", "2", "--name", "web", "--wait-ready", env=env)
    corral.wait_status("web", "online", count=2)
    old = live_pids(corral, "web")
    slow = {**env, "READY_DELAY_MS": "2000"}
    reload = corral.popen("reload", "web", "--update-env", env=slow)
    wait_for(lambda: "reload of 2" in corral.daemon_log() and
             "web[0]: started pid" in corral.daemon_log().split("reload of 2")[1], 10,
             what="the first successor")
    corral.ok("restart", "web")
    _, err = reload.communicate(timeout=30)
    # The reload gave way to the restart, and says so: the old processes do
    # not keep serving, they were restarted.
    assert reload.returncode != 0
    assert "pm_id 0" in err and "restarted" in err and "keep serving" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    corral.wait_status("web", "online", count=2)
    assert not live_pids(corral, "web") & old
