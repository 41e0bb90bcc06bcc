"""Process lifecycle through the real CLI: every form of `start`, the start
options, stop/restart/delete/reset/sendSignal on every kind of target,
statuses and counters, PM2's restart rules measured on real processes
(restart_delay, exponential backoff, max_restarts, stop_exit_codes,
autorestart), stop killing the whole process tree, kill_timeout, and exec
failures that fail at once instead of looping."""
import json
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import CORRAL, SLOW, free_port, http_get, wait_for, write
from fhelpers import (alive, app, group_members, helper, read_text, start_times,
                      wait_log)


# ---- start in all its forms ----

def test_start_node_script(corral):
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    out = corral.ok("start", app("hello.js"), "--", "a1", "b2")
    assert "hello" in out
    p = corral.wait_status("hello", "online")[0]
    log = wait_log(corral, "hello", "hello from node")
    assert f"hello from node {p['pid']} a1 b2" in log
    assert os.path.basename(p["spec"]["interpreter"]).startswith("node")


def test_start_node_with_node_args(corral):
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    corral.ok("start", app("hello.js"), "--name", "na", "--node-args", "--max-old-space-size=64")
    p = corral.wait_status("na", "online")[0]
    wait_log(corral, "na", "hello from node")
    with open(f"/proc/{p['pid']}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    # Node's options, then corral's agent (docs/profiling.md), then the script.
    assert argv[1] == b"--max-old-space-size=64" and argv[2] == b"--require"
    assert argv[3].endswith(b"/agent.js") and argv[4].endswith(b"hello.js")


def test_start_python_is_unbuffered(corral):
    # loop.py never flushes: its line shows up only if python runs unbuffered.
    corral.ok("start", app("loop.py"))
    p = corral.wait_status("loop", "online")[0]
    wait_log(corral, "loop", f"up {p['pid']}")
    assert alive(p["pid"])


def test_start_shell_script_runs_with_bash(corral, tmp_path):
    script = str(tmp_path / "s.sh")
    shutil.copy(app("loop.sh"), script)
    os.chmod(script, 0o644)  # no exec bit, no shebang: bash runs it
    corral.ok("start", script, "--", "x", "y")
    p = corral.wait_status("s", "online")[0]
    wait_log(corral, "s", f"bash 5")
    assert f"{p['pid']} x y" in read_text(corral.log_path("s"))


def test_start_executable_path(corral, tmp_path):
    exe = write(str(tmp_path / "runme"), "#!/bin/sh\necho \"direct $0 $1\"\nexec sleep 300\n",
                mode=0o755)
    corral.ok("start", exe, "--", "arg1")
    corral.wait_status("runme", "online")
    wait_log(corral, "runme", f"direct {exe} arg1")
    assert corral.proc("runme")["spec"]["interpreter"] is None


def test_start_program_on_path_with_args(corral):
    code = "import sys,time; print('argv', sys.argv[1:], flush=True); time.sleep(300)"
    corral.ok("start", "python3", "--name", "py", "--", "-c", code, "--port", "7000")
    corral.wait_status("py", "online")
    wait_log(corral, "py", "argv ['--port', '7000']")
    assert corral.proc("py")["spec"]["script"] == shutil.which("python3")


def test_start_command_string_through_shell(corral):
    port = free_port()
    cmd = f"python3 -m http.server {port} --bind 127.0.0.1"
    corral.ok("start", cmd, "--name", "web")
    p = corral.wait_status("web", "online")[0]
    assert p["spec"]["interpreter"] == "/bin/sh"
    assert p["spec"]["interpreter_args"] == ["-c"]
    body = wait_for(lambda: http_get(port), 10, what="the http server")
    assert b"Directory listing" in body
    corral.ok("stop", "web")
    assert not group_members(p["pid"])


def test_command_string_without_name_is_named_after_it(corral):
    corral.ok("start", "sleep 300")
    p = corral.wait_status("sleep 300", "online")[0]
    assert p["name"] == "sleep 300"
    # File names get PM2's sanitized form of the name.
    assert p["out_log"].endswith("/logs/sleep-300-out.log")
    # Created by its first line (sleep says nothing); its directory is there.
    assert os.path.isdir(os.path.dirname(p["out_log"]))


def test_start_options_reach_the_process(corral, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    corral.ok("start", app("show.py"), "--name", "opts", "--cwd", str(work), "--namespace",
              "team", "--interpreter", "python3", "--interpreter-args", "-X foo=bar",
              env={"SHOW_VARS": "name,namespace,pm_id,NODE_APP_INSTANCE,PYTHONUNBUFFERED"})
    p = corral.wait_status("opts", "online")[0]
    assert p["namespace"] == "team"
    line = wait_log(corral, "opts", "argv").splitlines()[0]
    shown = json.loads(line)
    assert shown["cwd"] == str(work)
    assert shown["env"] == {"name": "opts", "namespace": "team", "pm_id": "0",
                            "NODE_APP_INSTANCE": "0", "PYTHONUNBUFFERED": "1"}
    with open(f"/proc/{p['pid']}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert b"-X" in argv and b"foo=bar" in argv


def test_interpreter_none_runs_binary(corral):
    corral.ok("start", helper("lines"), "--interpreter", "none", "--no-autorestart", "--",
              "3", "bin")
    corral.wait_status("lines", "stopped")
    assert read_text(corral.log_path("lines")).splitlines() == [
        "bin 0000000 ", "bin 0000001 x", "bin 0000002 xx"]


def test_same_script_twice_is_refused_without_force(corral):
    corral.ok("start", app("loop.py"))
    corral.wait_status("loop", "online")
    err = corral.fail("start", app("loop.py"))
    assert "already" in err and "-f" in err
    assert len(err.strip().splitlines()) == 1
    assert len(corral.procs("loop")) == 1
    corral.ok("start", app("loop.py"), "-f")
    corral.wait_status("loop", "online", count=2)
    pids = {p["pid"] for p in corral.procs("loop")}
    assert len(pids) == 2
    # A name addresses both copies.
    corral.ok("stop", "loop")
    assert all(p["status"] == "stopped" for p in corral.procs("loop"))


def test_start_of_a_stopped_app_restarts_it(corral):
    # PM2: starting a script (or a name) that is known but stopped starts it
    # again instead of refusing or duplicating it.
    corral.ok("start", app("loop.py"))
    corral.wait_status("loop", "online")
    corral.ok("stop", "loop")
    corral.ok("start", app("loop.py"))
    corral.wait_status("loop", "online", count=1)
    corral.ok("stop", "loop")
    corral.ok("start", "loop")
    corral.wait_status("loop", "online", count=1)


# ---- control verbs on every kind of target ----

@pytest.fixture
def three(corral, tmp_path):
    """Apps a (ns1), b (ns1), c (ns2): pm_ids 0, 1, 2."""
    sig = write(str(tmp_path / "sig.py"),
                "import signal, time, os\n"
                "def h(n, f): print('got', signal.Signals(n).name, flush=True)\n"
                "for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP): signal.signal(s, h)\n"
                "print('up', os.getpid(), flush=True)\n"
                "while True: time.sleep(1)\n")
    for name, ns in (("a", "ns1"), ("b", "ns1"), ("c", "ns2")):
        corral.ok("start", sig, "--name", name, "--namespace", ns, "-f")
    for name in "abc":
        corral.wait_status(name, "online")
        wait_log(corral, name, "up")
    return corral


def statuses(corral):
    return {p["name"]: p["status"] for p in corral.jlist()}


def test_stop_and_restart_by_id_name_namespace_all(three):
    c = three
    assert [p["pm_id"] for p in c.jlist()] == [0, 1, 2]
    c.ok("stop", "0")
    assert statuses(c) == {"a": "stopped", "b": "online", "c": "online"}
    c.ok("restart", "a")
    assert statuses(c) == {"a": "online", "b": "online", "c": "online"}
    c.ok("stop", "ns1")
    assert statuses(c) == {"a": "stopped", "b": "stopped", "c": "online"}
    c.ok("restart", "all")
    assert statuses(c) == {"a": "online", "b": "online", "c": "online"}
    c.ok("stop", "0", "c")
    assert statuses(c) == {"a": "stopped", "b": "online", "c": "stopped"}
    c.ok("stop", "all")
    assert set(statuses(c).values()) == {"stopped"}
    for p in c.jlist():
        assert p["pid"] == 0


def test_overlapping_targets(three):
    # "a" and "0" name the same process; "ns1" covers both a and b.
    c = three
    c.ok("stop", "a", "0")
    assert statuses(c) == {"a": "stopped", "b": "online", "c": "online"}
    c.ok("restart", "ns1", "a", "b")
    assert statuses(c) == {"a": "online", "b": "online", "c": "online"}
    c.ok("stop", "all", "c")
    assert set(statuses(c).values()) == {"stopped"}


def test_restart_counts_and_new_pid(three):
    c = three
    old = c.proc("b")["pid"]
    c.ok("restart", "b")
    p = c.proc("b")
    assert p["status"] == "online" and p["pid"] != old and not alive(old)
    assert p["restarts"] == 1 and p["pm2_env"]["restart_time"] == 1
    c.ok("restart", "1")
    assert c.proc("b")["restarts"] == 2
    # A restart of a stopped app starts it without counting (PM2).
    c.ok("stop", "c")
    c.ok("restart", "c")
    assert c.proc("c")["restarts"] == 0 and c.proc("c")["status"] == "online"


def test_reset_counters(three):
    c = three
    c.ok("restart", "a")
    c.ok("restart", "b")
    c.ok("restart", "c")
    c.ok("reset", "a")
    assert {p["name"]: p["restarts"] for p in c.jlist()} == {"a": 0, "b": 1, "c": 1}
    c.ok("reset", "all")
    assert {p["restarts"] for p in c.jlist()} == {0}


def test_send_signal(three):
    c = three
    out = c.ok("sendSignal", "SIGUSR1", "a")
    assert "1 process" in out
    wait_log(c, "a", "got SIGUSR1")
    c.ok("sendSignal", "USR2", "ns1")
    wait_log(c, "a", "got SIGUSR2")
    wait_log(c, "b", "got SIGUSR2")
    c.ok("sendSignal", "SIGHUP", "all")
    for name in "abc":
        wait_log(c, name, "got SIGHUP")
    assert "got" not in read_text(c.log_path("c")).replace("got SIGHUP", "")
    c.ok("send-signal", "SIGUSR1", "0", "2")
    wait_log(c, "c", "got SIGUSR1")
    err = c.fail("sendSignal", "SIGNOPE", "a")
    assert "SIGNOPE" in err
    c.ok("stop", "b")
    err = c.fail("sendSignal", "SIGUSR1", "b")
    assert "no running process" in err
    assert statuses(c) == {"a": "online", "b": "stopped", "c": "online"}


def test_delete_by_namespace_then_all(three):
    c = three
    pids = {p["name"]: p["pid"] for p in c.jlist()}
    c.ok("delete", "ns1")
    assert [p["name"] for p in c.jlist()] == ["c"]
    assert not alive(pids["a"]) and not alive(pids["b"])
    c.ok("del", "c")
    assert c.jlist() == []
    # The table is empty: pm_ids start from 0 again (PM2).
    c.ok("start", app("loop.py"))
    assert c.proc("loop")["pm_id"] == 0


def test_unknown_target(three):
    c = three
    for verb in ("stop", "restart", "delete", "reset", "describe"):
        err = c.fail(verb, "nosuch")
        assert "nosuch" in err and len(err.strip().splitlines()) == 1, err
    err = c.fail("stop", "a", "nosuch")
    assert "nosuch" in err
    # Nothing was stopped by the failed request.
    assert set(statuses(c).values()) == {"online"}
    err = c.fail("stop", "99")
    assert "99" in err


def test_restart_update_env(corral):
    env = {"SHOW_VARS": "FOO", "FOO": "one"}
    corral.ok("start", app("show.py"), "--name", "e", env=env)
    wait_log(corral, "e", '"FOO": "one"')
    env["FOO"] = "two"
    corral.ok("restart", "e", env=env)
    wait_for(lambda: read_text(corral.log_path("e")).count("argv") == 2)
    assert '"FOO": "two"' not in read_text(corral.log_path("e"))
    corral.ok("restart", "e", "--update-env", env=env)
    wait_log(corral, "e", '"FOO": "two"')


# ---- statuses, counters and the restart policy ----

def test_crash_counters_and_status(corral):
    # --min-uptime 1h: every run is unstable however slow the machine (a
    # run over the default second under load counted as stable and made a
    # fourth run).
    corral.ok("start", app("crash.py"), "--name", "c", "--max-restarts", "3",
              "--min-uptime", "1h", env={"CRASH_CODE": "7"})
    p = corral.wait_status("c", "errored")[0]
    # Three unstable runs in a row: started three times, restarted twice.
    # (The status can change before the last run's output is in the file.)
    wait_for(lambda: len(start_times(corral, "c")) == 3, what="three runs logged")
    assert p["restarts"] == 2
    assert p["exit_code"] == 7 and p["pm2_env"]["exit_code"] == 7
    assert p["pid"] == 0
    assert "unstable" in p["error"]
    # errored stays errored: no further start.
    assert corral.daemon_log().count("c[0]: started pid") == 3
    # A restart clears it.
    corral.ok("restart", "c")
    wait_for(lambda: len(start_times(corral, "c")) >= 4)


def test_killed_by_signal_is_recorded(corral):
    corral.ok("start", app("loop.py"), "--name", "k", "--no-autorestart")
    p = corral.wait_status("k", "online")[0]
    os.kill(p["pid"], signal.SIGKILL)
    p = corral.wait_status("k", "stopped")[0]
    assert p["exit_signal"] == "SIGKILL"
    assert p["restarts"] == 0


def test_autorestart_restarts_with_new_pid(corral):
    corral.ok("start", app("loop.py"), "--name", "r")
    p = corral.wait_status("r", "online")[0]
    os.kill(p["pid"], signal.SIGTERM)
    q = wait_for(lambda: (lambda x: x["pid"] not in (0, p["pid"]) and x["status"] == "online"
                          and x)(corral.proc("r")), what="a new process")
    assert q["restarts"] == 1
    assert q["exit_signal"] == "SIGTERM"
    wait_log(corral, "r", f"up {q['pid']}")


def test_no_autorestart(corral):
    corral.ok("start", app("crash.py"), "--name", "n", "--no-autorestart")
    p = corral.wait_status("n", "stopped")[0]
    assert p["exit_code"] == 1 and p["restarts"] == 0
    wait_for(lambda: len(start_times(corral, "n")) == 1)
    assert corral.daemon_log().count("started pid") == 1


def test_stop_exit_codes(corral):
    corral.ok("start", app("crash.py"), "--name", "s", "--stop-exit-codes", "0,3",
              env={"CRASH_CODE": "3"})
    p = corral.wait_status("s", "stopped")[0]
    assert p["exit_code"] == 3 and p["restarts"] == 0
    assert corral.daemon_log().count("s[0]: started pid") == 1
    # Another code restarts.
    corral.ok("start", app("crash.py"), "--name", "s2", "--stop-exit-codes", "0",
              "--max-restarts", "2", "--min-uptime", "1h", env={"CRASH_CODE": "4"})
    corral.wait_status("s2", "errored")
    assert corral.daemon_log().count("s2[1]: started pid") == 2


def test_restart_delay_measured(corral):
    corral.ok("start", app("crash.sh"), "--name", "d", "--restart-delay", "500",
              "--max-restarts", "50")
    seen_waiting = wait_for(lambda: corral.proc("d")["status"] == "waiting restart",
                            what="status waiting restart", interval=0.01)
    assert seen_waiting
    wait_for(lambda: len(start_times(corral, "d")) >= 4, 15, what="four runs")
    corral.ok("stop", "d")
    runs = start_times(corral, "d")
    gaps = [b[0] - a[0] for a, b in zip(runs, runs[1:])]
    assert len({pid for _, pid in runs}) == len(runs)
    for g in gaps:
        assert 0.5 <= g <= 1.5 * SLOW, gaps


def test_exp_backoff_grows(corral):
    corral.ok("start", app("crash.sh"), "--name", "b", "--exp-backoff-restart-delay", "100",
              "--max-restarts", "100")
    wait_for(lambda: len(start_times(corral, "b")) >= 6, 20, what="six runs")
    corral.ok("stop", "b")
    runs = start_times(corral, "b")
    gaps = [b[0] - a[0] for a, b in zip(runs, runs[1:])][:5]
    expected = [0.100, 0.150, 0.225, 0.337, 0.505]
    for g, e in zip(gaps, expected):
        assert e <= g <= e + 1.0 * SLOW, (gaps, expected)
    assert gaps[3] + gaps[4] > gaps[0] + gaps[1] + 0.3, gaps
    assert corral.proc("b")["restarts"] >= 5


def test_stop_waits_for_waiting_restart(corral):
    # Stopping an app that waits for its restart cancels the restart.
    corral.ok("start", app("crash.sh"), "--name", "w", "--restart-delay", "1000")
    corral.wait_status("w", "waiting restart")
    corral.ok("stop", "w")
    assert corral.proc("w")["status"] == "stopped"
    # Past the moment the restart was due, still one run.
    time.sleep(1.2)  # not synchronization: the restart must NOT happen
    assert corral.daemon_log().count("w[0]: started pid") == 1
    assert corral.proc("w")["status"] == "stopped"


# ---- stop: the whole tree, kill_timeout ----

def tree_pids(corral, name, n):
    try:
        log = wait_for(lambda: (lambda t: t.count("tree ") >= n and t)(
            read_text(corral.log_path(name))), what=f"{n} tree processes")
    except AssertionError:
        raise AssertionError(f"{n} tree processes: out={read_text(corral.log_path(name))!r} "
                             f"err={read_text(corral.log_path(name, 'error'))!r} "
                             f"{corral.jlist()}")
    rows = [line.split() for line in log.splitlines() if line.startswith("tree ")]
    return [(r[1], int(r[2]), int(r[3])) for r in rows]


def test_stop_kills_the_whole_tree_through_sh(corral):
    # sh -c → python → 2 children → 2 grandchildren, one process group.
    corral.ok("start", f"python3 {app('tree.py')}", "--name", "tree")
    p = corral.wait_status("tree", "online")[0]
    procs = tree_pids(corral, "tree", 5)
    pgid = p["pid"]
    assert {g for _, _, g in procs} == {pgid}
    assert len(group_members(pgid)) >= 5
    t0 = time.monotonic()
    corral.ok("stop", "tree")
    assert time.monotonic() - t0 < 1.5 * SLOW  # SIGINT was enough
    assert group_members(pgid) == []
    assert not any(alive(pid) for _, pid, _ in procs)


def test_stop_signals_each_process_of_the_tree_once(corral, tmp_path):
    # A real-time signal queues: every kill(2) is one delivery, so a signal
    # sent both to the group and to the main process would show as two.
    # (An app whose SIGINT handler is not idempotent ran its shutdown twice.)
    marker = tmp_path / "got"
    code = ("import os, signal, sys\n"
            "sig = int(sys.argv[1])\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, [sig])\n"
            "who = 'main' if os.fork() else 'child'\n"
            # One write each: print() writes its pieces one by one, and
            # the two processes' lines would mix.
            "os.write(1, b'up ' + who.encode() + b'\\n')\n"
            "signal.sigwaitinfo([sig])\n"
            "while True:\n"
            "    with open(sys.argv[2], 'a') as f:\n"
            "        f.write(who + '\\n')\n"
            "    if signal.sigtimedwait([sig], 0.5) is None:\n"
            "        sys.exit(0)\n")
    rt = signal.SIGRTMIN + 6
    corral.ok("start", "python3", "--name", "rt", "--kill-signal", "SIGRTMIN+6",
              "--", "-c", code, str(rt), str(marker))
    assert corral.proc("rt")["spec"]["kill_signal"] == "SIGRTMIN+6"
    try:
        wait_for(lambda: (lambda t: "up main" in t and "up child" in t)(
            read_text(corral.log_path("rt"))), what="both up")
    except AssertionError:
        raise AssertionError(f"both up: out={read_text(corral.log_path('rt'))!r} "
                             f"err={read_text(corral.log_path('rt', 'error'))!r} "
                             f"{corral.proc('rt')}")
    corral.ok("stop", "rt")
    assert sorted(read_text(str(marker)).split()) == ["child", "main"]


def test_tree_ignoring_sigint_is_killed_after_kill_timeout(corral):
    corral.ok("start", app("tree.py"), "--name", "stubborn", "--kill-timeout", "700",
              env={"TREE_IGNORE_INT": "1"})
    p = corral.wait_status("stubborn", "online")[0]
    procs = tree_pids(corral, "stubborn", 5)
    t0 = time.monotonic()
    corral.ok("stop", "stubborn")
    took = time.monotonic() - t0
    assert 0.7 <= took <= 0.7 + 2.0 * SLOW, took
    assert group_members(p["pid"]) == []
    assert not any(alive(pid) for _, pid, _ in procs)
    assert corral.proc("stubborn")["exit_signal"] == "SIGKILL"


def test_default_kill_timeout_is_1600ms(corral):
    corral.ok("start", app("ignore_sigint.py"), "--name", "ign")
    p = corral.wait_status("ign", "online")[0]
    wait_log(corral, "ign", "ignoring SIGINT")
    t0 = time.monotonic()
    corral.ok("stop", "ign")
    took = time.monotonic() - t0
    assert 1.6 <= took <= 1.6 + 2.0 * SLOW, took
    assert not alive(p["pid"])
    q = corral.proc("ign")
    assert q["status"] == "stopped" and q["exit_signal"] == "SIGKILL"
    assert "SIGKILL" in corral.daemon_log()


def test_children_left_by_a_dead_main_process_are_killed(corral):
    # The main process exits; its children (same group) are stopped before
    # the restart, so a new run never races the old one's leftovers.
    script = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    print('child', os.getpid(), flush=True)\n"
              "    time.sleep(300)\n"
              "time.sleep(0.5)\n")
    corral.ok("start", "python3", "--name", "orph", "--no-autorestart", "--", "-c", script)
    log = wait_log(corral, "orph", "child")
    child = int(log.split()[1])
    corral.wait_status("orph", "stopped")
    assert not alive(child)


# ---- exec failures fail at once ----

def assert_no_trace(corral, name):
    assert all(p["name"] != name for p in corral.jlist())
    assert corral.daemon_log().count("started pid") == 0


def test_missing_script(corral, tmp_path):
    r = corral.run("start", str(tmp_path / "missing.py"))
    assert r.returncode == 1
    assert "no such file" in r.stderr.lower()
    assert len(r.stderr.strip().splitlines()) == 1


def test_script_without_permission(corral, tmp_path):
    exe = write(str(tmp_path / "noexec"), "#!/bin/sh\necho hi\n", mode=0o644)
    r = corral.run("start", exe)
    assert r.returncode == 1
    assert "Permission denied" in r.stderr and exe in r.stderr
    assert_no_trace(corral, "noexec")


def test_shebang_interpreter_missing(corral, tmp_path):
    exe = write(str(tmp_path / "badbang"), "#!/nonexistent/interp\n", mode=0o755)
    r = corral.run("start", exe)
    assert r.returncode == 1
    assert "No such file or directory" in r.stderr
    assert_no_trace(corral, "badbang")


def test_interpreter_not_found(corral):
    r = corral.run("start", app("loop.py"), "--interpreter", "no-such-interp")
    assert r.returncode == 1
    assert "no-such-interp" in r.stderr and "not found" in r.stderr
    r = corral.run("start", app("loop.py"), "--interpreter", "/nonexistent/python")
    assert r.returncode == 1
    assert "/nonexistent/python" in r.stderr


def test_cwd_missing(corral, tmp_path):
    r = corral.run("start", app("loop.py"), "--cwd", str(tmp_path / "nope"))
    assert r.returncode == 1
    assert "not a directory" in r.stderr


def test_statuses_launching_stopping_stopped(corral):
    # The status column moves through PM2's names; `stopping` lasts while
    # an app that ignores SIGINT waits for its SIGKILL.
    seen = set()
    corral.ok("start", app("ignore_sigint.py"), "--name", "st", "--kill-timeout", "1000")
    corral.wait_status("st", "online")
    wait_log(corral, "st", "ignoring SIGINT")
    stop = subprocess.Popen([CORRAL, "stop", "st"], env=corral.env, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: corral.proc("st")["status"] == "stopping", what="status stopping",
                 interval=0.01)
        seen.add("stopping")
    finally:
        stop.wait(30)
    assert stop.returncode == 0
    assert corral.proc("st")["status"] == "stopped"
    assert seen == {"stopping"}


def test_uptime_grows_and_resets(corral):
    corral.ok("start", app("loop.py"), "--name", "up")
    first = corral.wait_status("up", "online")[0]["uptime_ms"]
    later = wait_for(lambda: (lambda u: u > first + 300 and u)(corral.proc("up")["uptime_ms"]))
    assert later > first
    corral.ok("restart", "up")
    assert corral.proc("up")["uptime_ms"] < later
    corral.ok("stop", "up")
    assert corral.proc("up")["uptime_ms"] == 0


def test_crash_loop_ends_errored_quickly(corral):
    # A program that exits at once: 16 unstable runs, then errored; the
    # daemon keeps answering meanwhile.
    t0 = time.monotonic()
    corral.ok("start", "false", "--name", "f")
    p = corral.wait_status("f", "errored")[0]
    assert p["restarts"] == 15 and p["exit_code"] == 1
    assert time.monotonic() - t0 < 5 * SLOW
    assert corral.daemon_log().count("f[0]: started pid") == 16
    corral.ok("ping")


def test_instances_have_their_own_logs_unless_merged(corral):
    corral.ok("start", app("loop.py"), "--name", "many", "-i", "2", "-x")
    ps = corral.wait_status("many", "online", count=2)
    for p in ps:
        assert p["mode"] == "fork"
        log = wait_log(corral, "many", f"up {p['pid']}", pm_id=p["pm_id"])
        assert log == f"up {p['pid']}\n"
        assert p["out_log"] == corral.log_path("many", "out", p["pm_id"])
    assert not os.path.exists(corral.log_path("many"))
    out = corral.ok("logs", "many", "--nostream", "--raw", "--out")
    assert sorted(out.splitlines()) == sorted(f"up {p['pid']}" for p in ps)
    corral.ok("start", app("loop.py"), "--name", "merged", "-i", "2", "-x", "--merge-logs")
    ps = corral.wait_status("merged", "online", count=2)
    for p in ps:
        wait_log(corral, "merged", f"up {p['pid']}")
        assert p["out_log"] == corral.log_path("merged")
    # The shared file is printed once, not once per instance.
    out = corral.ok("logs", "merged", "--nostream", "--raw", "--out")
    assert sorted(out.splitlines()) == sorted(f"up {p['pid']}" for p in ps)


def test_min_uptime_decides_what_is_unstable(corral):
    # Runs of ~0.4 s: stable with --min-uptime 200 (restarts go on past
    # max_restarts), unstable with --min-uptime 5s (errored after 2).
    env = {"CRASH_AFTER": "0.4"}
    corral.ok("start", app("crash.py"), "--name", "stable", "--min-uptime", "200",
              "--max-restarts", "2", env=env)
    corral.ok("start", app("crash.py"), "--name", "shaky", "--min-uptime", "5s",
              "--max-restarts", "2", env=env)
    p = corral.wait_status("shaky", "errored", timeout=20)[0]
    assert p["restarts"] == 1
    wait_for(lambda: corral.proc("stable")["restarts"] >= 3, 20, what="three restarts")
    assert corral.proc("stable")["status"] in ("online", "launching")
    assert corral.proc("stable")["unstable_restarts"] == 0


def test_stop_twice_and_delete_while_waiting(corral):
    corral.ok("start", app("loop.py"), "--name", "twice")
    corral.wait_status("twice", "online")
    corral.ok("stop", "twice")
    corral.ok("stop", "twice")
    assert corral.proc("twice")["status"] == "stopped"
    corral.ok("start", app("crash.sh"), "--name", "later", "--restart-delay", "5000")
    corral.wait_status("later", "waiting restart")
    corral.ok("delete", "later")
    assert [p["name"] for p in corral.jlist()] == ["twice"]


def test_stop_overtaken_by_a_restart_answers(corral):
    # A restart that arrives while a stop waits for the process to go takes
    # the instance over: it starts again and never shows "stopped". The stop
    # waited for "stopped" forever (`corral stop` hung).
    corral.ok("start", app("ignore_sigint.py"), "--name", "stubborn", "--kill-timeout", "1000")
    pid = corral.wait_status("stubborn", "online")[0]["pid"]
    wait_log(corral, "stubborn", "ignoring SIGINT")
    stop = corral.popen("stop", "stubborn")
    try:
        corral.wait_status("stubborn", "stopping")
        corral.ok("restart", "stubborn")
        new = corral.wait_status("stubborn", "online")[0]["pid"]
        assert new != pid
        out, err = stop.communicate(timeout=10 * SLOW)
        assert stop.returncode == 0, err
        assert "stubborn" in out
    finally:
        if stop.poll() is None:
            stop.kill()
            stop.wait()


def test_reload_of_a_fork_app_overtaken_by_a_stop_answers(corral):
    # A fork-mode reload is a restart: its reply waits for the new process.
    # A stop that overtakes it ends the instance for good, and that is the
    # answer too (the reload waited forever).
    corral.ok("start", app("ignore_sigint.py"), "--name", "slow", "--kill-timeout", "1000")
    corral.wait_status("slow", "online")
    wait_log(corral, "slow", "ignoring SIGINT")
    reload = corral.popen("reload", "slow")
    try:
        corral.wait_status("slow", "stopping")
        corral.ok("stop", "slow")
        assert corral.proc("slow")["status"] == "stopped"
        out, err = reload.communicate(timeout=10 * SLOW)
        assert "slow" in out + err
    finally:
        if reload.poll() is None:
            reload.kill()
            reload.wait()


def test_pid_files_follow_the_process(corral):
    # PM2's ~/.pm2/pids/<name>-<id>.pid: the running pid, gone once stopped.
    # Written just after the start's reply, a batch per turn of the loop.
    corral.ok("start", app("loop.py"), "--name", "pf", "-i", "3")
    path = [f"{corral.home}/pids/pf-{i}.pid" for i in range(3)]

    def pids_in_files():
        try:
            return sorted(int(read_text(p)) for p in path)
        except (OSError, ValueError):
            return None

    live = lambda: sorted(p["pid"] for p in corral.procs("pf"))  # noqa: E731
    no_files = lambda: not any(os.path.exists(p) for p in path)  # noqa: E731
    wait_for(lambda: pids_in_files() == live(), what="the pid files")
    before = live()
    corral.ok("restart", "pf")
    wait_for(lambda: pids_in_files() == live() and not set(live()) & set(before),
             what="the restarted pids in the files")
    corral.ok("stop", "pf")
    assert no_files()
    corral.ok("start", "pf")
    wait_for(lambda: pids_in_files() == live(), what="the pid files again")
    corral.ok("delete", "pf")
    assert no_files()
    # The table is empty: the same ids again, at once. The removals of the
    # deleted instances' files (by helper threads) come first, then the new
    # files, which no removal overtakes.
    corral.ok("start", app("loop.py"), "--name", "pf", "-i", "3")
    corral.ok("stop", "pf")
    assert no_files()
    corral.ok("restart", "pf")
    wait_for(lambda: pids_in_files() == live(), what="the pid files after delete, start, stop")
    corral.ok("delete", "pf")
    assert no_files()
    # A file on its way out is renamed first and removed after the reply:
    # nothing of them stays.
    wait_for(lambda: os.listdir(f"{corral.home}/pids") == [], what="an empty pids directory")


def test_pid_file_that_would_block(corral, tmp_path):
    # The pid file is a FIFO nobody reads: opening it for writing blocked the
    # daemon's loop for good (every later command hung).
    os.mkfifo(tmp_path / "fifo-0.pid")
    r = corral.run("start", app("loop.py"), "--name", "piped", "--pid", str(tmp_path / "fifo.pid"),
                   timeout=20)
    assert r.returncode == 0, r.stderr
    corral.wait_status("piped", "online")
    assert corral.ok("ping").startswith("pong")
    # Pid files are written once no process has started for a moment.
    wait_for(lambda: "fifo-0.pid is not a regular file" in corral.daemon_log(),
             what="the daemon's note on the FIFO")
    # A regular pid file next to it is written as before.
    corral.ok("start", app("loop.py"), "--name", "filed", "--pid", str(tmp_path / "filed.pid"))
    pid = corral.wait_status("filed", "online")[0]["pid"]
    wait_for(lambda: os.path.exists(tmp_path / "filed-1.pid"), what="filed's pid file")
    assert int(read_text(str(tmp_path / "filed-1.pid"))) == pid
    # A stop removes the file it wrote, and leaves the FIFO it did not.
    corral.ok("stop", "all")
    assert not os.path.exists(tmp_path / "filed-1.pid")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo-0.pid").st_mode)
    wait_for(lambda: sorted(os.listdir(tmp_path)) == ["fifo-0.pid"], what="only the FIFO left")


def test_kill_while_waiting_restart(corral):
    corral.ok("start", app("crash.sh"), "--name", "pending", "--restart-delay", "5000")
    corral.wait_status("pending", "waiting restart")
    dpid = corral.daemon_pid()
    t0 = time.monotonic()
    corral.ok("kill")
    assert time.monotonic() - t0 < 3 * SLOW
    assert not alive(dpid)


def test_stop_kills_a_descendant_that_left_the_group(corral):
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    print('escaped', os.getpid(), flush=True)\n"
            "    time.sleep(300)\n"
            "time.sleep(300)\n")
    corral.ok("start", "python3", "--name", "esc", "--", "-c", code)
    child = int(wait_log(corral, "esc", "escaped").split()[1])
    try:
        assert os.getpgid(child) != corral.proc("esc")["pid"]   # it did leave the group
        corral.ok("stop", "esc")
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
            wait_for(lambda: not alive(child))


def test_crash_kills_an_orphan_that_left_the_group(corral):
    """The main process dies; its setsid() child, now adopted by the daemon
    (child subreaper), is still found by its pm_id/name and killed before the
    restart, so it cannot hold on to the app's resources."""
    code = ("import os, sys, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    print('orphan', os.getpid(), flush=True)\n"
            "    time.sleep(300)\n"
            "time.sleep(0.5)\n"
            "sys.exit(1)\n")
    corral.ok("start", "python3", "--name", "orph", "--no-autorestart", "--", "-c", code)
    child = int(wait_log(corral, "orph", "orphan").split()[1])
    try:
        corral.wait_status("orph", "stopped", timeout=10)
        wait_for(lambda: not alive(child), timeout=5, what="the orphan to be killed")
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_crash_loop_never_spins(corral, tmp_path):
    """With the unstable-restart guard turned off (min_uptime 0), an app that
    dies at once still waits 100 ms between runs: at most 10 starts a second."""
    app = write(str(tmp_path / "die.sh"), "#!/bin/sh\ndate +%s%N\nexit 1\n", 0o755)
    corral.ok("start", app, "--name", "spin", "--min-uptime", "0")
    log = corral.log_path("spin")

    def stamps():
        with open(log) as f:
            return [int(x) for x in f.read().split()]
    got = wait_for(lambda: len(stamps()) >= 8 and stamps(), timeout=10, what="8 runs")
    gaps_ms = [(b - a) / 1e6 for a, b in zip(got, got[1:])]
    assert min(gaps_ms) >= 90, gaps_ms
    corral.ok("delete", "spin")


def test_pm_ids_are_not_reused_until_the_table_empties(corral):
    """As in PM2: deleting the newest app does not hand its pm_id to the next
    one (a script's `corral stop 2` must not hit another app)."""
    for name in ("a", "b", "c"):
        corral.ok("start", app("loop.py"), "--name", name)
    corral.ok("delete", "c")
    corral.ok("start", app("loop.py"), "--name", "d")
    assert corral.proc("d")["pm_id"] == 3
    assert "no process or namespace matches 2" in corral.fail("stop", "2")
    corral.ok("delete", "all")
    corral.ok("start", app("loop.py"), "--name", "e")
    assert corral.proc("e")["pm_id"] == 0


def test_an_instance_whose_main_process_died_is_not_shown_online(corral):
    """The main process dies, its children (ignoring SIGINT) are being
    stopped for up to kill_timeout: the instance shows `stopping` and no
    pid, never `online` with pid 0; then it restarts."""
    corral.ok("start", app("tree.py"), "--name", "t", "--kill-timeout", "3000",
              env={"TREE_IGNORE_INT": "1", "TREE_CHILDREN": "1"})
    first = corral.wait_status("t", "online")[0]["pid"]
    wait_log(corral, "t", "tree grandchild")
    os.kill(first, signal.SIGKILL)
    p = wait_for(lambda: corral.proc("t")["status"] != "online" and corral.proc("t"),
                 what="the instance to leave online")
    assert (p["status"], p["pid"]) == ("stopping", 0), p
    shown = {(q["status"], q["pid"]) for q in corral.jlist()}
    assert ("online", 0) not in shown
    p = wait_for(lambda: corral.proc("t")["pid"] not in (0, first) and
                 corral.proc("t")["status"] == "online" and corral.proc("t"),
                 timeout=15, what="the restart")
    assert p["restarts"] == 1


def test_a_new_process_does_not_inherit_the_old_ones_figures(corral, tmp_path):
    """After a restart, list/jlist show the new process from 0 until its first
    sample, never the old process's memory under the new pid."""
    marker = tmp_path / "grown-once"
    code = ("import os, time\n"
            f"if not os.path.exists({str(marker)!r}):\n"
            f"    open({str(marker)!r}, 'w').close()\n"
            "    hog = bytearray(80 << 20)\n"
            "    for i in range(0, len(hog), 4096): hog[i] = 1\n"
            "while True: time.sleep(1)\n")
    script = write(str(tmp_path / "hog.py"), code)
    corral.ok("start", script, "--name", "hog")
    wait_for(lambda: corral.proc("hog")["memory"] > 60 << 20, 20, what="the first process to grow")
    old_pid = corral.proc("hog")["pid"]
    corral.ok("restart", "hog")
    p = corral.proc("hog")
    assert p["pid"] != old_pid
    assert p["memory"] < 60 << 20, p["memory"]


def test_restart_that_cannot_spawn_fails(corral, tmp_path):
    """A restart whose new process cannot be started (its script was
    removed) exits non-zero with the reason, not 0 with an errored app."""
    script = tmp_path / "gone.py"
    script.write_text(open(app("loop.py")).read())
    corral.ok("start", str(script), "--name", "gone")
    corral.wait_status("gone", "online")
    script.unlink()
    err = corral.fail("restart", "gone")
    assert "gone (pm_id 0): cannot find the script" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert corral.proc("gone")["status"] == "errored"
