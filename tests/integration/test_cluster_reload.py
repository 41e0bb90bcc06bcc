"""Zero-downtime reload of a cluster app under continuous load (a new
connection per request), and reloads that must not promote a broken
release: the new version exits at start, never binds, or never says ready."""

from clusterapp import answering, live_pids, start_node
from conftest import free_port, wait_for
from fhelpers import alive, children, edit, read_text
from loadgen import Load


def test_reload_under_load_loses_nothing(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 4)
    old = live_pids(corral, "web")
    with Load(port) as load:
        load.wait_more(200)
        t_reload = load.count()
        corral.ok("reload", "web")
        # `reload` returns once the old processes are gone.
        assert not any(alive(p) for p in old)
        load.wait_more(200)
    assert load.failures == [], load.failures[:5]
    new = live_pids(corral, "web")
    assert len(new) == 4 and not new & old
    # The pid files follow a moment later (docs/config.md).
    def pid_files():
        try:
            return {int(read_text(f"{corral.home}/pids/web-{i}.pid")) for i in range(4)}
        except ValueError:
            return None
    wait_for(lambda: pid_files() == new, what="the new pids in the pid files")
    assert all(p["status"] == "online" for p in corral.procs("web"))
    # Every new process served during the test, and the load never paused.
    assert new <= set(load.pids), (new, load.pids)
    assert load.count() > t_reload + 200
    assert "queued connection" not in corral.daemon_log()


def check_failed_reload(corral, port, old, err, load, *expect):
    assert "reload" in err.lower() or "pm_id" in err
    for text in expect:
        assert text in err, err
    # The failed release's processes were killed and reaped before the
    # answer: the daemon's children are the old processes, nothing else.
    assert set(children(corral.daemon_pid())) == old
    # The old processes still serve, all of them, and nothing was lost.
    assert live_pids(corral, "web") == old
    assert all(p["status"] == "online" for p in corral.procs("web"))
    load.wait_more(100)
    assert answering(port, 4) == old
    assert load.failures == [], load.failures[:5]


def test_reload_of_a_release_that_exits_at_start_keeps_the_old_one(corral, tmp_path):
    port = free_port()
    app = start_node(corral, tmp_path, port, 4)
    old = live_pids(corral, "web")
    with Load(port) as load:
        load.wait_more(100)
        edit(app, "const http = require('http');",
             "console.error('broken release'); process.exit(3);\nconst http = require('http');")
        err = corral.fail("reload", "web")
        check_failed_reload(corral, port, old, err, load, "pm_id 0", "exited with code 3",
                            "before it was ready", "old processes keep serving")


def test_reload_of_a_release_that_never_binds_keeps_the_old_one(corral, tmp_path):
    port = free_port()
    app = start_node(corral, tmp_path, port, 4, args=("--listen-timeout", "1500"))
    old = live_pids(corral, "web")
    with Load(port) as load:
        load.wait_more(100)
        edit(app, "if (process.env.IPV6ONLY)", "setInterval(() => {}, 1000);\nif (false)")
        edit(app, "else if (process.env.HOST)", "else if (false)")
        edit(app, "else server.listen(port, onListening);", "")
        # A second reload while this one runs is refused.
        first = corral.popen("reload", "web")
        wait_for(lambda: "reload of 4 instances" in corral.daemon_log(), 10,
                 what="the first reload to begin")
        busy = corral.fail("reload", "web")
        assert "already in progress" in busy
        _, err = first.communicate(timeout=30)
        assert first.returncode != 0
        check_failed_reload(corral, port, old, err, load, "pm_id 0",
                            "not ready within listen_timeout (1500 ms)")


def test_a_failed_release_leaves_no_detached_child_behind(corral, tmp_path):
    """The killed new process had started a helper in its own session
    (detached: setsid). A signal to the process group misses it; the daemon
    kills it too before it answers that the reload failed."""
    port = free_port()
    app = start_node(corral, tmp_path, port, 1, args=("--listen-timeout", "1000"))
    old = live_pids(corral, "web")
    helper = tmp_path / "helper.pid"
    edit(app, "if (process.env.IPV6ONLY)",
         "const h = require('child_process').spawn('sleep', ['1000'], "
         "{detached: true, stdio: 'ignore'});\n"
         f"require('fs').writeFileSync({str(helper)!r}, String(h.pid));\n"
         "setInterval(() => {}, 1000);\nif (false)")
    edit(app, "else if (process.env.HOST)", "else if (false)")
    edit(app, "else server.listen(port, onListening);", "")
    err = corral.fail("reload", "web")
    assert "not ready within listen_timeout" in err, err
    pid = int(helper.read_text())
    assert not alive(pid), f"the failed release's helper {pid} survived"
    assert live_pids(corral, "web") == old
    # The pid file still names the process that serves, not the killed one.
    with open(f"{corral.home}/pids/web-0.pid") as f:
        assert {int(f.read())} == old


def test_reload_with_wait_ready_and_no_ready_message_keeps_the_old_one(corral, tmp_path):
    port = free_port()
    app = start_node(corral, tmp_path, port, 4, args=("--wait-ready", "--listen-timeout", "1500"),
                     env={"SEND_READY": "1"})
    old = live_pids(corral, "web")
    with Load(port) as load:
        load.wait_more(100)
        edit(app, "process.send('ready')", "0")
        err = corral.fail("reload", "web")
        check_failed_reload(corral, port, old, err, load, "pm_id 0",
                            "not ready within listen_timeout (1500 ms)")
    # Fixed again: the next reload goes through.
    edit(app, "setTimeout(() => 0,", "setTimeout(() => process.send('ready'),")
    corral.ok("reload", "web")
    assert not live_pids(corral, "web") & old


def test_reload_restarts_instances_that_were_not_online(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 3)
    stopped = corral.procs("web")[1]["pm_id"]
    corral.ok("stop", stopped)
    old = live_pids(corral, "web")
    assert len(old) == 2
    corral.ok("reload", "web")
    # When reload returns, every instance runs the new code and is online.
    procs = corral.procs("web")
    assert [p["status"] for p in procs] == ["online"] * 3
    assert len(live_pids(corral, "web")) == 3 and not live_pids(corral, "web") & old
    assert answering(port, 3) == live_pids(corral, "web")


def test_reload_all_waits_for_every_app(corral, tmp_path):
    ports = [free_port(), free_port()]
    start_node(corral, tmp_path, ports[0], 2, name="a")
    start_node(corral, tmp_path, ports[1], 2, name="b")
    old = live_pids(corral, "a") | live_pids(corral, "b")
    with Load(ports[1]) as load:
        corral.ok("reload", "all")
        # Both apps are done when the command returns.
        assert not any(alive(p) for p in old)
        assert len(live_pids(corral, "a") | live_pids(corral, "b")) == 4
        load.wait_more(50)
    assert load.failures == []


def test_max_memory_restart_reloads_cluster_instances_one_at_a_time(corral, tmp_path):
    """Both instances start over the limit (each holds 150 MB once). As in
    PM2, a cluster instance over max_memory_restart is reloaded, not
    restarted; the second waits for the first one's reload instead of being
    restarted in the middle of it. Nothing is lost under load."""
    port = free_port()
    mark = tmp_path / "marks"
    mark.mkdir()
    start_node(corral, tmp_path, port, 2, args=("--max-memory-restart", "100M"),
               env={"GROW_MB": "150", "GROW_MARK": str(mark)})
    first = {p["pm_id"]: int((mark / f"grew-{p['pm_id']}").read_text()) for p in corral.procs("web")}
    with Load(port) as load:
        def replaced():
            ps = corral.procs("web")
            return all(p["pid"] != first[p["pm_id"]] and p["status"] == "online" for p in ps) and ps
        procs = wait_for(replaced, timeout=20, what="both instances to be replaced")
        load.wait_more(50)
    assert load.failures == [], load.failures[:5]
    assert all("max_memory_restart" in p["reason"] for p in procs), procs
    assert all(p["restarts"] == 1 for p in procs), procs
    log = corral.daemon_log()
    assert log.count("over max_memory_restart 100.0mb: reloading") == 2, log
    assert log.count("reload of 1 instance,") == 2, log


WORKER = """setInterval(() => {}, 1000);  // a queue worker: no port, no 'ready'
"""


def test_reload_of_a_worker_that_never_binds_promotes_after_listen_timeout(corral, tmp_path):
    """A cluster app that binds no port never proves it is ready; as in PM2,
    its reload goes on after listen_timeout instead of failing forever."""
    app = tmp_path / "worker.js"
    app.write_text(WORKER)
    corral.ok("start", str(app), "-i", "2", "--name", "w", "--listen-timeout", "500")
    old = {p["pid"] for p in corral.wait_status("w", "online", count=2)}
    assert not any(p["ready"] for p in corral.procs("w"))
    corral.ok("reload", "w")
    procs = corral.procs("w")
    assert {p["status"] for p in procs} == {"online"}
    new = {p["pid"] for p in procs}
    assert len(new) == 2 and not new & old
    assert not any(alive(p) for p in old)
    assert corral.daemon_log().count("after listen_timeout (pid ") == 2


GROWER = """const fs = require('fs');
// The first process binds its port and holds 150 MB; every later one (the
// release that follows) never binds, so it never becomes ready.
if (!fs.existsSync(process.env.MARK)) {
  fs.writeFileSync(process.env.MARK, String(process.pid));
  globalThis.ballast = Buffer.alloc(150 * 1024 * 1024, 1);
  require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));
} else {
  setInterval(() => {}, 1000);
}
"""


def test_max_memory_restart_restarts_when_the_reload_fails(corral, tmp_path):
    """A cluster instance over max_memory_restart is reloaded; if that reload
    fails (the new process is never ready), the next sample restarts it
    instead of starting a failing reload every second."""
    app = tmp_path / "grower.js"
    app.write_text(GROWER)
    mark = tmp_path / "first"
    corral.ok("start", str(app), "-i", "1", "--name", "g", "--listen-timeout", "1000",
              "--max-memory-restart", "100M", env={"PORT": str(free_port()), "MARK": str(mark)})
    wait_for(lambda: mark.exists(), what="the first process")
    first = int(mark.read_text())

    def restarted():
        p = corral.procs("g")[0]
        return p["pid"] not in (None, first) and p["status"] == "online" and p
    p = wait_for(restarted, timeout=20, what="the instance to be restarted")
    # (Its reason now says the new process, which binds nothing, was not
    # ready after listen_timeout.)
    assert p["restarts"] == 1, p
    assert not alive(first)
    log = corral.daemon_log()
    assert log.count("reload failed:") == 1, log
    assert log.count("restarting (a reload of it failed)") == 1, log
