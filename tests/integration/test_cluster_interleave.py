"""Cluster operations that overlap: a reload interrupted by `kill`, SIGTERM,
`stop` or a failing instance; a release that moves to another port. The
daemon must leave no process and no listener behind, and must never kill a
process it has just promoted."""
import os
import signal
import subprocess

from clusterapp import copy_app, live_pids, port_is_free
from conftest import CORRAL, free_port, wait_for

SLOW_EXIT = "server.close(() => setTimeout(() => process.exit(0), 2500));"
FAST_EXIT = "server.close(() => process.exit(0));"


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new))


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
    proc = subprocess.Popen([CORRAL, "reload", "web"], env=corral.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
