"""The daemon dies (kill -9, the OOM killer, a bug) and nothing else does.

The keeper (src/keeper) holds a copy of every descriptor the apps depend on
and the records of the table, starts a new daemon, and hands everything
over: the apps keep serving and logging, the new daemon lists them with
their pids and manages them. Without the keeper (both killed) the new
daemon finds the orphans, says so, refuses to start duplicates next to
them, and `delete`/`kill` stop them. Each test prints its figures."""
import json
import os
import signal
import time

from clusterapp import listeners, live_pids, start_node, wait_ready
from conftest import APPS, free_port, wait_for
from fhelpers import alive, app, children, proc_environ
from daemondeath import keeper_pid, kill_both, new_daemon
from loadgen import request


def test_adopted_instances_are_managed(corral, tmp_path):
    """After adoption: the same pids in list; stop, restart and delete act on
    the adopted processes; a crash of one is seen (status unknown) and
    restarted; start of the same app is what it is for a running app."""
    corral.ok("start", app("loop.py"), "--name", "f", "-i", "2")
    procs = corral.wait_status("f", "online", count=2)
    pids = sorted(p["pid"] for p in procs)
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    after = corral.procs("f")
    assert sorted(p["pid"] for p in after) == pids
    assert all(p["status"] == "online" for p in after)
    # The pid files are there, even one the dead daemon had not written yet.
    pid_files = [f"{corral.home}/pids/f-{i}.pid" for i in range(2)]
    for f in pid_files:
        os.unlink(f)
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    wait_for(lambda: all(os.path.exists(f) for f in pid_files), what="the pid files")
    assert sorted(int(open(f).read()) for f in pid_files) == pids
    # Starting it again finds it running.
    err = corral.fail("start", app("loop.py"), "--name", "f")
    assert "already running" in err
    # One adopted process dies: it restarts, its status unknown.
    os.kill(pids[0], signal.SIGKILL)
    p = wait_for(lambda: corral.procs("f")[0]["pid"] not in (0, pids[0]) and
                 corral.procs("f")[0]["status"] == "online" and corral.procs("f")[0],
                 15, what="the crashed instance to restart")
    assert p["restarts"] == 1
    assert "exit status unknown" in corral.daemon_log()
    corral.ok("stop", "1")
    assert not alive(pids[1])
    corral.ok("delete", "f")
    assert corral.jlist() == []


def test_a_new_daemon_removes_the_pid_file_of_a_stopped_instance(corral):
    """A pid file of an instance that is not running, left behind (its
    daemon died with the removal still queued), is removed by the daemon
    that takes over, and so is one a removal had renamed out of the way
    (pidfiles.c); the running one's stays."""
    corral.ok("start", app("loop.py"), "--name", "g", "-i", "2")
    corral.wait_status("g", "online", count=2)
    corral.ok("stop", "0")
    stale = f"{corral.home}/pids/g-0.pid"
    live = f"{corral.home}/pids/g-1.pid"
    assert not os.path.exists(stale)
    hidden = f"{corral.home}/pids/.g-0.pid.99999-7.gone"
    for path in (stale, hidden):
        with open(path, "w") as f:
            f.write("12345\n")
    wait_for(lambda: os.path.exists(live), what="the running instance's pid file")
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    wait_for(lambda: not os.path.exists(stale), what="the stale pid file to go")
    wait_for(lambda: not os.path.exists(hidden), what="the half-removed pid file to go")
    assert int(open(live).read()) == corral.procs("g")[1]["pid"]
    corral.ok("delete", "g")


LATE_BINDER = """const fs = require('fs');
const http = require('http');
// As under npm start: no inherited broker channel, only the address.
try { fs.closeSync(Number(process.env.CORRAL_BROKER_FD)); } catch (e) {}
delete process.env.CORRAL_BROKER_FD;
require(process.env.SERVER);
const t = setInterval(() => {
  if (!fs.existsSync(process.env.TRIGGER)) return;
  clearInterval(t);
  http.createServer((q, s) => s.end(`late pid=${process.pid}\\n`))
      .listen(Number(process.env.PORT2), '127.0.0.1');
}, 20);
"""


def test_a_broker_address_outlives_the_daemon(corral, tmp_path):
    """A server that reaches the broker by its address (npm start) and binds
    a port after the daemon died binds it through the next daemon: the
    address's socket went to the keeper and was taken over."""
    port, port2 = free_port(), free_port()
    script, trigger = tmp_path / "late.js", tmp_path / "bind-now"
    script.write_text(LATE_BINDER)
    corral.ok("start", str(script), "-i", 1, "--name", "web",
              env={"PORT": str(port), "PORT2": str(port2), "TRIGGER": str(trigger),
                   "SERVER": os.path.join(APPS, "pid_server.js")})
    wait_ready(corral, "web", 1)
    pid = corral.proc("web")["pid"]
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    trigger.write_text("")
    wait_for(lambda: any(g["address"].endswith(f":{port2}")
                         for g in listeners(corral, "web")), 10,
             what="the late port in the daemon's groups")
    assert request(port2)["pid"] == str(pid)
    # The error log is created by its first line, if any.
    err_log = corral.proc("web")["err_log"]
    err = open(err_log).read() if os.path.exists(err_log) else ""
    assert "corral-preload" not in err, err


def test_fallback_without_the_keeper(corral, tmp_path):
    """Daemon and keeper killed: the next daemon finds the apps still
    running, lists them as orphans, starts no duplicate next to them, and
    delete stops them; then resurrect brings the app back."""
    port = free_port()
    start_node(corral, tmp_path, port, 2)
    pids = live_pids(corral, "web")
    corral.ok("save")
    kill_both(corral)
    # The apps still answer (they log nothing per request).
    assert int(request(port)["pid"]) in pids
    out = corral.ok("list")
    print("\n" + out)
    for pid in pids:
        assert str(pid) in out
    assert "orphan" in out.lower()
    assert "found 2 processes left running" in corral.daemon_log()
    # No duplicate: resurrect refuses web while its orphans run.
    r = corral.run("resurrect")
    assert r.returncode != 0
    assert "web" in r.stderr and "left its processes running" in r.stderr, r.stderr
    assert corral.procs("web") == []
    t0 = time.monotonic()
    corral.ok("delete", "web")
    print(f"  delete of the orphans took {time.monotonic() - t0:.2f} s")
    for pid in pids:
        assert not alive(pid)
    corral.ok("resurrect")
    wait_ready(corral, "web", 2)
    assert int(request(port)["pid"]) in live_pids(corral, "web")


def test_kill_stops_orphans_without_the_keeper(corral, tmp_path):
    corral.ok("start", app("loop.py"), "--name", "f")
    pid = corral.wait_status("f", "online")[0]["pid"]
    kill_both(corral)
    corral.ok("kill")
    assert not alive(pid)
    assert not corral.leftovers()


DAEMONIZER = """import os, signal, sys, time
# A child leaves the group (setsid) and, when told to stop, daemonizes:
# forks a grandchild that keeps running, and exits.
if os.fork() == 0:
    os.setsid()
    def go(*_):
        if os.fork() == 0:
            # The stop's next look may signal it at once: its pid is
            # written first (the test waits for it), then the signal kills.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            with open(os.environ["GRANDCHILD"], "w") as f:
                f.write(str(os.getpid()))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    signal.signal(signal.SIGINT, go)
    print("child", os.getpid(), flush=True)
    while True:
        time.sleep(1)
time.sleep(300)
"""


def test_delete_kills_a_grandchild_that_daemonized_during_the_stop(corral, tmp_path):
    """Issue 11.9: the stop looked for the tree once; a child that forked
    its daemon after that look left it running."""
    script = tmp_path / "daemonizer.py"
    script.write_text(DAEMONIZER)
    mark = tmp_path / "grandchild.pid"
    corral.ok("start", str(script), "--name", "dz", env={"GRANDCHILD": str(mark)})
    corral.wait_status("dz", "online")
    wait_for(lambda: "child" in open(corral.log_path("dz")).read(), 10, what="the child")
    corral.ok("delete", "dz")
    gc = int(wait_for(lambda: mark.exists() and mark.read_text(), 10, what="the grandchild"))
    try:
        wait_for(lambda: not alive(gc), 5, what="the grandchild to be gone")
    finally:
        if alive(gc):
            os.kill(gc, signal.SIGKILL)


ESCAPER = """import os, sys, time
# A grandchild leaves the group, wipes its environment (no pm_id, no name)
# and is orphaned: the daemon (child subreaper) adopts it.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["sleep", "300"], {})
    os._exit(0)
os.wait()
print("escaped", flush=True)
time.sleep(300)
"""


def test_kill_stops_an_adopted_orphan_without_markers(corral, tmp_path):
    """Issue 11.9: found by the process tree (the daemon's own children),
    not by the environment marker it wiped."""
    script = tmp_path / "escaper.py"
    script.write_text(ESCAPER)
    corral.ok("start", str(script), "--name", "esc")
    corral.wait_status("esc", "online")
    wait_for(lambda: "escaped" in open(corral.log_path("esc")).read(), 10, what="the escape")
    daemon = corral.daemon_pid()
    sleepers = wait_for(lambda: [p for p in children(daemon) if alive(p) and
                                 open(f"/proc/{p}/comm").read().strip() == "sleep"],
                        10, what="the orphan to be adopted")
    try:
        corral.ok("kill")
        for pid in sleepers:
            assert not alive(pid)
    finally:
        for pid in sleepers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_keeper_gives_up_restarting_and_a_command_takes_over(corral):
    """A daemon that keeps dying is started at most 5 times a minute; then
    the keeper waits, and the daemon the next `corral` command starts finds
    it through keeper.sock and adopts the apps."""
    corral.ok("start", app("loop.py"), "--name", "f")
    pid = corral.wait_status("f", "online")[0]["pid"]
    keeper = keeper_pid(corral)
    for _ in range(5):
        daemon = corral.daemon_pid()
        os.kill(daemon, signal.SIGKILL)
        wait_for(lambda: corral.daemon_pid() != daemon and alive(corral.daemon_pid()), 20,
                 what="the keeper to start a daemon")
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    wait_for(lambda: "not starting it again" in corral.daemon_log(), 10,
             what="the keeper to give up")
    assert not alive(daemon) and alive(keeper) and alive(pid)
    assert corral.proc("f")["pid"] == pid
    assert corral.daemon_pid() not in (0, daemon)
    assert "adopted 1 app" in corral.daemon_log().rsplit("not starting it again", 1)[1]
    corral.ok("kill")
    wait_for(lambda: not alive(keeper), 10, what="the keeper to exit")


def test_a_dead_keeper_is_replaced(corral):
    """The keeper dies: the daemon starts another and hands it everything,
    so a kill -9 of the daemon afterwards still loses nothing."""
    corral.ok("start", app("loop.py"), "--name", "f")
    pid = corral.wait_status("f", "online")[0]["pid"]
    keeper = keeper_pid(corral)
    os.kill(keeper, signal.SIGKILL)
    second = wait_for(lambda: keeper_pid(corral) not in (0, keeper) and
                      alive(keeper_pid(corral)) and keeper_pid(corral), 15,
                      what="a new keeper")
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    assert corral.proc("f")["pid"] == pid and alive(pid)
    corral.ok("kill")
    wait_for(lambda: not alive(second), 10, what="the keeper to exit")


def test_sigterm_stops_the_keeper_too(corral):
    corral.ok("start", app("loop.py"), "--name", "f")
    pid = corral.wait_status("f", "online")[0]["pid"]
    daemon, keeper = corral.daemon_pid(), keeper_pid(corral)
    os.kill(daemon, signal.SIGTERM)
    wait_for(lambda: not alive(daemon) and not alive(pid) and not alive(keeper), 15,
             what="the app, the daemon and the keeper to exit")
    assert not corral.leftovers()


def test_a_launch_in_progress_completes_after_adoption(corral):
    """The daemon dies while an instance waits to say READY=1 on
    NOTIFY_SOCKET: the next daemon has the same socket, hears it, and the
    instance goes online."""
    port = free_port()
    start = corral.popen("start", app("notify_server.py"), "--name", "n", "--wait-ready",
                         "--listen-timeout", "30000",
                         env={"PORT": str(port), "READY_DELAY_MS": "2000"})
    wait_for(lambda: corral.procs("n") and corral.proc("n")["pid"], 10, what="the launch")
    assert corral.proc("n")["status"] == "launching"
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    start.communicate(timeout=30)
    new_daemon(corral, daemon)
    p = corral.wait_status("n", "online", timeout=20)[0]
    assert p["status_text"] == f"serving on port {port}"
    assert corral.procs("n")[0]["pid"] == p["pid"]


HALF_LINE = """import os, sys, time
sys.stdout.write("ready\\nfirst half, ")
sys.stdout.flush()
open(os.environ["WROTE"], "w").close()
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.05)
sys.stdout.write("second half\\n")
sys.stdout.flush()
time.sleep(300)
"""


def test_a_line_half_written_when_the_daemon_dies_is_not_cut(corral, tmp_path):
    """The daemon reads a pipe up to its last complete line: the unfinished
    one stays in the pipe, which the keeper holds, and the next daemon
    writes it whole."""
    script = tmp_path / "half.py"
    script.write_text(HALF_LINE)
    wrote, go = tmp_path / "wrote", tmp_path / "go"
    corral.ok("start", str(script), "--name", "half",
              env={"WROTE": str(wrote), "GO": str(go)})
    log = corral.log_path("half")
    wait_for(lambda: wrote.exists() and "ready" in open(log).read(), 10,
             what="the first half")
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    go.touch()
    wait_for(lambda: "second half" in open(log).read(), 10, what="the second half")
    assert open(log).read().split("\n")[:2] == ["ready", "first half, second half"]


def test_a_reload_in_progress_is_undone(corral, tmp_path):
    """The daemon dies while a reload waits for a successor to be ready: the
    next daemon kills the successor (its client is gone) and the old
    processes keep serving."""
    port = free_port()
    start_node(corral, tmp_path, port, 2, args=("--wait-ready", "--listen-timeout", "60000"),
               env={"SEND_READY": "1"})
    old = live_pids(corral, "web")
    # The successors take a minute to be ready.
    reload = corral.popen("reload", "web", "--update-env",
                          env={"READY_DELAY_MS": "60000", "SEND_READY": "1"})
    daemon = corral.daemon_pid()
    successors = wait_for(lambda: set(children(daemon)) - old - {keeper_pid(corral)}, 20,
                          what="a successor")
    os.kill(daemon, signal.SIGKILL)
    reload.communicate(timeout=30)
    new_daemon(corral, daemon)
    wait_for(lambda: not any(alive(p) for p in successors), 15, what="the successor to go")
    assert live_pids(corral, "web") == old
    assert {int(request(port)["pid"]) for _ in range(20)} <= old


def test_a_stop_in_progress_goes_on(corral):
    """The daemon dies while an instance that ignores SIGINT is stopping: the
    next daemon goes on with the stop (SIGKILL after kill_timeout)."""
    corral.ok("start", app("ignore_sigint.py"), "--name", "s", "--kill-timeout", "1500")
    pid = corral.wait_status("s", "online")[0]["pid"]
    wait_for(lambda: "ignoring SIGINT" in open(corral.log_path("s")).read(), 10,
             what="the app to ignore SIGINT")
    stop = corral.popen("stop", "s")
    wait_for(lambda: corral.proc("s")["status"] == "stopping", 10, what="the stop")
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    stop.communicate(timeout=30)
    new_daemon(corral, daemon)
    corral.wait_status("s", "stopped", timeout=20)
    assert not alive(pid)


def test_a_restart_delay_in_progress_is_kept(corral):
    """The next daemon restarts the instance when the delay the previous one
    started ends, not at once."""
    delay = 6.0
    began = time.monotonic()  # the delay started after this
    corral.ok("start", app("crash.sh"), "--name", "c", "--restart-delay", str(int(delay * 1000)))
    corral.wait_status("c", "waiting restart")
    restarts = corral.proc("c")["restarts"]
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    p = corral.proc("c")
    # A daemon that lost the delay would have restarted it already. (On a
    # machine too slow to get here within the delay this cannot be told.)
    if time.monotonic() - began < delay - 1:
        assert (p["status"], p["restarts"]) == ("waiting restart", restarts), p
    wait_for(lambda: corral.proc("c")["restarts"] > restarts, 15, what="the delayed restart")
    corral.ok("delete", "c")


def test_the_node_channel_is_adopted(corral, tmp_path):
    """shutdown_with_message after adoption: the message goes through the
    Node IPC channel the previous daemon opened."""
    port = free_port()
    corral.ok("start", app("pid_server.js"), "--name", "n", "--shutdown-with-message",
              env={"PORT": str(port)})
    pid = corral.wait_status("n", "online")[0]["pid"]
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    new_daemon(corral, daemon)
    corral.ok("stop", "n")
    assert not alive(pid)
    assert f"pid {pid} shutting down (message)" in open(corral.log_path("n")).read()


def test_the_shared_environment_survives_the_daemon(corral, tmp_path):
    """The keeper holds the environment apps share once, and each app's record
    names it: after the daemon's death, restarted processes still get their
    whole environment, the shared part, each app's own and its removals."""
    sleeper = {"script": "/bin/sleep", "args": ["300"], "interpreter": "none"}
    cfg = {"apps": [{**sleeper, "name": f"e{i}", "env": {"OWN": f"own-{i}"}} for i in range(4)]
           + [{**sleeper, "name": "filtered", "filter_env": ["SHARED_SECRET"]}]}
    path = tmp_path / "eco.json"
    path.write_text(json.dumps(cfg))
    shared = {"SHARED_MARK": "one-for-all", "SHARED_SECRET": "s3"}
    corral.ok("start", str(path), env=shared)
    corral.wait_status("filtered", "online")
    for _ in range(2):      # twice: the second daemon's records too
        daemon = corral.daemon_pid()
        os.kill(daemon, signal.SIGKILL)
        new_daemon(corral, daemon)
    corral.ok("restart", "all")
    for i in range(4):
        env = proc_environ(corral.proc(f"e{i}")["pid"])
        assert env["SHARED_MARK"] == "one-for-all" and env["OWN"] == f"own-{i}"
        assert env["SHARED_SECRET"] == "s3"
    env = proc_environ(corral.proc("filtered")["pid"])
    assert env["SHARED_MARK"] == "one-for-all" and "SHARED_SECRET" not in env
    assert "OWN" not in env
    assert "cannot be read" not in corral.daemon_log()


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("RssAnon:")).split()[1])


def test_the_keeper_holds_a_shared_environment_once(corral, tmp_path):
    """200 apps started from one shell with 20 kB of environment: the keeper
    holds those variables once, not once per app's record (4 MB)."""
    corral.ok("ping")
    keeper = keeper_pid(corral)
    before = rss_anon_kb(keeper)
    cfg = {"apps": [{"name": f"b{i}", "script": "/bin/sleep", "args": ["300"],
                     "interpreter": "none"} for i in range(200)]}
    path = tmp_path / "eco.json"
    path.write_text(json.dumps(cfg))
    corral.ok("start", str(path), env={"BIG_SHARED": "x" * 20000})
    wait_for(lambda: len([p for p in corral.jlist() if p["status"] == "online"]) == 200,
             what="200 apps online")
    corral.ok("ping")       # the records are sent by now
    grown = rss_anon_kb(keeper) - before
    print(f"keeper RssAnon grew by {grown} kB for 200 apps with 20 kB of shared environment")
    assert grown < 2000, grown
    corral.ok("delete", "all")
