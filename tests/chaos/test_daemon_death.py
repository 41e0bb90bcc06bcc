"""The daemon dies under load (kill -9, as the OOM killer would) while a
cluster app serves and logs every request: nothing else dies. The keeper
hands the apps over to the next daemon; no request fails, every answered
request is in the log once and whole, the new daemon reloads the app, and
resurrect starts nothing twice."""
import os
import signal
import time

from clusterapp import live_pids, start_node
from conftest import figures, free_port, wait_for
from daemondeath import keeper_pid, new_daemon, request_lines
from fhelpers import alive
from loadgen import Load


def test_daemon_kill_9_under_load_loses_nothing(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 2, env={"LOG_REQUESTS": "1"})
    procs = corral.procs("web")
    pids = live_pids(corral, "web")
    pm_ids = [p["pm_id"] for p in procs]
    corral.ok("save")
    daemon, keeper = corral.daemon_pid(), keeper_pid(corral)
    with Load(port, threads=4, numbered=True) as load:
        load.wait_more(300)
        t_kill = time.monotonic()
        os.kill(daemon, signal.SIGKILL)
        second = new_daemon(corral, daemon)
        t_back = time.monotonic()
        load.wait_more(300)
        # A reload by the new daemon, under the same load.
        corral.ok("reload", "web")
        load.wait_more(200)
    assert load.failures == [], load.failures[:5]
    assert keeper and keeper_pid(corral) == keeper and second != daemon
    # The apps were adopted, then reloaded: new pids, as many.
    assert len(corral.procs("web")) == 2
    assert live_pids(corral, "web").isdisjoint(pids)
    # Every answered request was logged, whole, once; nothing else is there.
    reqs, other = request_lines(corral, "web", pm_ids)
    answered = set(load.paths)
    missing = answered - set(reqs)
    dups = len(reqs) - len(set(reqs))
    figures("daemon_kill_9", answered=len(load.results), failed=len(load.failures),
            back_s=f"{t_back - t_kill:.2f}", logged=len(reqs), not_logged=len(missing),
            twice=dups, cut_or_foreign=len(other))
    assert not missing, sorted(missing)[:10]
    assert dups == 0 and other == [], other[:5]
    # resurrect after all that starts nothing twice.
    r = corral.run("resurrect")
    assert r.returncode == 0, r.stderr
    assert len(corral.procs("web")) == 2
    # kill stops the apps, the daemon and the keeper.
    corral.ok("kill")
    wait_for(lambda: not alive(keeper), 10, what="the keeper to exit")
    assert not corral.leftovers()
    assert not os.path.exists(os.path.join(corral.home, "keeper.sock"))
