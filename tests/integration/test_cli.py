"""The CLI's listings and its answers to bad input: list and its aliases
(PM2's columns, plain when piped, coloured on a terminal unless NO_COLOR),
jlist/describe/env/pid and --json, prettylist and id as PM2 prints them
(Node's util.inspect), help that lists only the options a verb takes; and
for every kind of bad input (unknown verb or flag, missing argument,
unknown target, malformed number or duration, unreadable script) a
one-line message and a non-zero exit, never a crash or a hang."""
import fcntl
import json
import os
import pty
import re
import shutil
import socket
import struct
import subprocess
import termios
import threading

import pytest

from conftest import CORRAL, SLOW, wait_for, write
from fhelpers import app, run_in_pty, wait_log

COLUMNS = ["id", "name", "namespace", "version", "mode", "pid", "uptime", "↺", "status",
           "cpu", "mem", "user", "watching"]


@pytest.fixture
def two(corral):
    corral.ok("start", app("loop.py"), "--name", "alpha", "--namespace", "team")
    corral.ok("start", app("crash.py"), "--name", "beta", "--no-autorestart")
    corral.wait_status("alpha", "online")
    corral.wait_status("beta", "stopped")
    return corral


def table_rows(out):
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()
            if line.startswith("│")]
    return rows[0], rows[1:]


def test_list_and_aliases(two):
    c = two
    out = c.ok("list")
    assert "\x1b[" not in out  # plain when piped
    head, rows = table_rows(out)
    assert head == COLUMNS
    by_name = {r[1]: dict(zip(head, r)) for r in rows}
    alpha = by_name["alpha"]
    assert alpha["id"] == "0" and alpha["namespace"] == "team" and alpha["mode"] == "fork"
    assert alpha["status"] == "online" and alpha["pid"] == str(c.proc("alpha")["pid"])
    assert alpha["↺"] == "0" and alpha["watching"] == "disabled" and alpha["user"] == "root"
    assert by_name["beta"]["status"] == "stopped" and by_name["beta"]["pid"] == "0"
    def stable(rows):  # uptime, cpu and mem move
        return [[v for k, v in zip(head, r) if k not in ("uptime", "cpu", "mem")] for r in rows]
    for alias in ("ls", "l", "ps", "status"):
        h, r = table_rows(c.ok(alias))
        assert h == head and stable(r) == stable(rows), alias
    # A target narrows the list.
    head, rows = table_rows(c.ok("list", "team"))
    assert [r[1] for r in rows] == ["alpha"]


def test_list_sort(corral):
    # PM2's `list --sort field[:asc|desc]`; corral had no --sort (and
    # proposed --port for it).
    for name, ns in (("bravo", "x"), ("alpha", "z"), ("charlie", "y")):
        corral.ok("start", app("loop.py"), "--name", name, "--namespace", ns)
    corral.ok("stop", "alpha")
    corral.ok("restart", "charlie")
    corral.ok("restart", "charlie")
    corral.wait_status("charlie", "online")
    wait_for(lambda: all(p["monit"]["memory"] > 0 for p in corral.jlist() if p["pid"]),
             what="the memory of the running apps")

    def names(*args):
        return [r[1] for r in table_rows(corral.ok("list", *args))[1]]
    assert names() == ["bravo", "alpha", "charlie"]  # by id
    assert names("--sort", "name") == ["alpha", "bravo", "charlie"]
    assert names("--sort", "name:desc") == ["charlie", "bravo", "alpha"]
    assert names("--sort", "namespace") == ["bravo", "charlie", "alpha"]
    assert names("--sort", "id:desc") == ["charlie", "alpha", "bravo"]
    assert names("--sort", "restarts:desc")[0] == "charlie"
    assert names("--sort", "status:desc")[0] == "alpha"  # stopped after online
    assert names("--sort", "pid")[0] == "alpha"  # a stopped app has no pid
    for field in ("mem", "memory", "uptime:asc"):
        assert names("--sort", field)[0] == "alpha", field  # stopped: 0
    assert names("--sort", "mem:desc")[-1] == "alpha"
    assert sorted(names("--sort", "cpu")) == ["alpha", "bravo", "charlie"]
    j = json.loads(corral.ok("list", "--json", "--sort", "name:desc"))
    assert [p["name"] for p in j] == ["charlie", "bravo", "alpha"]
    err = one_line_error(corral, "list", "--sort", "size")
    assert 'no field "size"' in err and "restarts" in err, err
    err = one_line_error(corral, "list", "--sort", "name:up")
    assert "asc or desc" in err, err


def test_empty_list(corral):
    out = corral.ok("list")
    head, rows = table_rows(out)
    assert head == COLUMNS and rows == []
    assert corral.jlist() == []


def test_all_with_nothing_running(corral):
    # `all` on an empty table sorted a NULL array (undefined behaviour: the
    # sanitizer build aborted, and the CLI blamed a daemon that was "stuck").
    dpid = corral.daemon_pid() or int(corral.ok("ping").split("pid ")[1].rstrip(")\n"))
    for verb in ("stop", "restart", "reload", "delete", "reset", "describe", "flush"):
        corral.run(verb, "all")
    corral.run("logs", "all", "--nostream")
    assert corral.ok("ping").startswith(f"pong (daemon pid {dpid})")
    assert corral.jlist() == []


def test_all_with_no_process_fails_as_in_pm2(corral):
    # PM2 says "No process found" and exits 1; corral exited 0 having done
    # nothing.
    for verb in ("stop", "restart", "reload", "delete"):
        err = one_line_error(corral, verb, "all")
        assert err == f"corral {verb}: all: no process found (the process list is empty)", err
    corral.ok("reset", "all")  # PM2 resets nothing, successfully
    corral.ok("start", app("loop.py"))
    corral.ok("stop", "all")
    corral.ok("delete", "all")


def test_colour_on_a_terminal_unless_no_color(two):
    out = run_in_pty(two, ["list"], {})
    assert "\x1b[" in out and "alpha" in out
    out = run_in_pty(two, ["list"], {"NO_COLOR": "1"})
    assert "\x1b[" not in out and "alpha" in out


def test_narrow_terminal_gets_fewer_columns(two):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    p = subprocess.run([CORRAL, "list"], stdout=slave, env=two.env, timeout=10)
    os.close(slave)
    out = os.read(master, 65536).decode()
    os.close(master)
    head, _ = table_rows(out)
    assert head == ["id", "name", "mode", "↺", "status", "cpu", "mem"]
    assert all(len(line) <= 80 for line in out.splitlines())


def test_jlist_prettylist_json(two):
    c = two
    j = json.loads(c.ok("jlist"))
    assert [p["name"] for p in j] == ["alpha", "beta"]
    a = j[0]
    for k in ("pid", "name", "pm_id", "monit", "pm2_env", "status", "restarts"):
        assert k in a
    assert a["pm2_env"]["status"] == "online" and a["pm2_env"]["namespace"] == "team"
    assert "env" not in a["spec"]  # the environment is not listed
    # Fields of PM2's pm2_env that scripts read.
    e, b = a["pm2_env"], j[1]["pm2_env"]
    assert e["NODE_APP_INSTANCE"] == 0 and e["version"] == "N/A"
    assert e["args"] == [] and e["node_args"] == [] and e["exec_interpreter"].endswith("python3")
    assert e["autorestart"] is True and b["autorestart"] is False and e["watch"] is False
    assert e["username"] and len(e["unique_id"]) == 16 and e["unique_id"] != b["unique_id"]
    assert b["status"] == "stopped" and b["pm_uptime"] > 0  # the last start, as in PM2
    assert len(c.ok("jlist").strip().splitlines()) == 1
    assert [p["name"] for p in json.loads(c.ok("list", "--json"))] == ["alpha", "beta"]
    # Actions print JSON with --json too.
    started = json.loads(c.ok("start", app("loop.py"), "--name", "gamma", "--json"))
    assert [p["name"] for p in started] == ["gamma"] and started[0]["status"] == "online"
    stopped = json.loads(c.ok("stop", "gamma", "--json"))
    assert [(p["name"], p["status"]) for p in stopped] == [("gamma", "stopped")]
    out = json.loads(c.ok("restart", "alpha", "--json"))
    assert [p["name"] for p in out] == ["alpha"]
    assert out[0]["restarts"] == 1


NODE_INSPECT = ("process.stdout.write(require('util').inspect("
                "JSON.parse(require('fs').readFileSync(0, 'utf8')), false, null, false) + '\\n')")


def node_inspect(value):
    """What Node's util.inspect() prints for value (PM2's prettylist, id)."""
    node = shutil.which("node")
    if not node:
        pytest.skip("needs node")
    return subprocess.run([node, "-e", NODE_INSPECT], input=json.dumps(value), text=True,
                          capture_output=True, check=True, timeout=30).stdout


def test_prettylist_is_pm2s_layout(corral):
    # PM2 prints util.inspect() of its list, {pid, name, pm2_env, pm_id,
    # monit} per process. prettylist printed indented JSON of corral's own
    # list instead, with status, name and others at the top level and again
    # in pm2_env. Apps that never started keep every field still.
    corral.ok("start", app("loop.py"), "--name", "alpha", "--no-autostart")
    corral.ok("start", app("crash.py"), "--name", "beta", "--no-autostart", "--", "it's", "x")
    pm2_shape = [{k: p[k] for k in ("pid", "name", "pm2_env", "pm_id", "monit")}
                 for p in corral.jlist()]
    out = corral.ok("prettylist")
    assert out == node_inspect(pm2_shape)
    assert out.count("status: 'stopped'") == 2 and out.count("status:") == 2
    assert "args: [ \"it's\", 'x' ]" in out


def test_id_prints_pm2s_array(corral):
    corral.ok("start", app("loop.py"), "--name", "one", "--no-autostart")
    corral.ok("start", app("crash.py"), "--name", "two", "-i", "2", "-x", "--no-autostart")
    assert corral.ok("id", "two") == "[ 1, 2 ]\n" == node_inspect([1, 2])
    assert corral.ok("id", "one") == "[ 0 ]\n"
    assert corral.ok("id", app("crash.py")) == "[ 1, 2 ]\n"  # PM2 matches the script too
    assert corral.ok("id", "nosuch") == "[]\n"  # as PM2: an empty list, not an error


def test_help_lists_only_options_that_apply(corral):
    # stop and delete listed --update-env, --parallel and --force, which do
    # nothing for them (and delete listed --watch).
    def options(verb):
        out = corral.ok("help", verb)
        return set(re.findall(r"^ +(?:-\w, +)?(--[a-z-]+)", out.split("options:")[-1], re.M))
    assert options("stop") == {"--watch", "--env", "--only", "--json", "--attach"}
    assert options("delete") == {"--env", "--only", "--json"}
    assert {"--update-env", "--parallel", "--watch"} <= options("restart")
    for verb, opt in (("stop", "--update-env"), ("delete", "--watch"), ("stop", "--parallel")):
        err = one_line_error(corral, verb, "all", opt, *(["2"] if opt == "--parallel" else []))
        assert f"option {opt} does not apply to {verb}" in err, err


def test_describe(two):
    c = two
    for verb in ("describe", "desc", "info", "show"):
        out = c.ok(verb, "alpha")
        for key in ("status", "namespace", "restarts", "script path", "exec cwd",
                    "out log path", "error log path", "pid path", "created at"):
            assert key in out, (verb, key)
        assert app("loop.py") in out and "team" in out
    out = c.ok("describe", "beta")
    assert "last exit" in out
    j = json.loads(c.ok("describe", "beta", "--json"))
    assert j[0]["exit_code"] == 1


def test_env_and_pid_and_id(two, tmp_path):
    c = two
    pid = c.proc("alpha")["pid"]
    out = c.ok("env", "0")
    assert "pm_id: 0" in out and "name: alpha" in out and "namespace: team" in out
    env = json.loads(c.ok("env", "alpha", "--json"))
    assert env["NODE_APP_INSTANCE"] == "0" and env["PYTHONUNBUFFERED"] == "1"
    assert c.ok("pid", "alpha").split() == [str(pid)]
    assert c.ok("pid").split() == [str(pid)]  # stopped beta has no pid
    # A stopped app's env comes from its spec: the environment it was started with.
    assert json.loads(c.ok("env", "beta", "--json"))["CORRAL_HOME"] == c.home


def test_env_with_odd_bytes(corral):
    # The protocol carries text: an environment variable that is not UTF-8
    # cannot reach the app. The app starts without it, and the user is told
    # which one (it used to vanish silently).
    env = {k.encode(): v.encode() for k, v in corral.env.items()}
    code = "import time; time.sleep(300)"
    r = subprocess.run([CORRAL, "start", "python3", "--name", "odd", "--", "-c", code],
                       env=env | {b"ODD": b"\xff\xfe"}, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"warning: environment variable ODD is not UTF-8" in r.stderr, r.stderr
    corral.wait_status("odd", "online")
    out = corral.run("env", "odd")
    assert out.returncode == 0 and "pm_id: 0" in out.stdout and "ODD" not in out.stdout
    r = subprocess.run([CORRAL, "restart", "odd", "--update-env"],
                       env=env | {b"ODD2": b"\xfe"}, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"variable ODD2 is not UTF-8 text: odd does not get it" in r.stderr, r.stderr


def test_env_right_after_each_restart_shows_the_instance_variables(corral, tmp_path):
    # Just after the exec, /proc/<pid>/environ reads empty until the kernel
    # has set up the new stack; `env` used to fall back to the spec's env
    # then, which has no pm_id. The app execs through two programs, each
    # exec another such instant, and `env` runs as soon as restart returns.
    script = write(tmp_path / "hops.sh", "#!/bin/sh\nexec /usr/bin/env /bin/sleep 300\n",
                   0o755)
    corral.ok("start", script, "--name", "hops", "--interpreter", "none")
    for _ in range(20):
        corral.ok("restart", "hops")
        out = corral.run("env", "hops")
        assert out.returncode == 0 and "pm_id: 0" in out.stdout.splitlines(), out.stdout


# ---- bad input ----

def one_line_error(corral, *args, **kw):
    r = corral.run(*args, **kw)
    assert r.returncode != 0, f"corral {args} succeeded: {r.stdout}"
    err = r.stderr.strip()
    assert err and len(err.splitlines()) == 1, f"corral {args}: {r.stderr!r}"
    assert "Traceback" not in err and "Sanitizer" not in err
    return err


def test_unknown_verb(corral):
    assert 'did you mean "start"' in one_line_error(corral, "strat")
    assert 'did you mean "restart"' in one_line_error(corral, "restrat")
    assert 'did you mean "list"' in one_line_error(corral, "lsit")
    err = one_line_error(corral, "frobnicate")
    assert "frobnicate" in err and "did you mean" not in err
    # Never a command that does something else, least of all a destructive
    # one: heapdump was taken for cleardump (which empties the saved list),
    # plus for flush. PM2's commands that corral lacks say what to use
    # instead.
    for typed, instead in (("snapshot", "corral heapdump"), ("plus", "PM2 Plus"),
                           ("imonit", "corral monit")):
        err = one_line_error(corral, typed)
        assert err.startswith(f"corral {typed}: not in corral; ") and instead in err, err
        assert "did you mean" not in err
    # A destructive verb only for a one-edit typo of that very verb.
    assert 'did you mean "delete"' in one_line_error(corral, "delte")
    assert "did you mean" not in one_line_error(corral, "dlte")
    # No daemon was started for a typo.
    assert not os.path.exists(os.path.join(corral.home, "corral.sock"))


def test_unknown_flag(corral):
    err = one_line_error(corral, "start", app("loop.py"), "--nmae", "x")
    assert "--nmae" in err and "--name" in err
    err = one_line_error(corral, "list", "--frobnicate")
    assert "--frobnicate" in err
    # Only the verb's own options are suggested: --port belongs to start.
    err = one_line_error(corral, "list", "--prot")
    assert "--prot" in err and "--port" not in err, err
    assert "did you mean --lines?" in one_line_error(corral, "logs", "--lnies")
    err = one_line_error(corral, "stop", "all", "--lines", "3")
    assert "does not apply" in err
    assert corral.jlist() == []


def test_missing_arguments(corral):
    cases = [
        (("stop",), "missing target"),
        (("restart",), "missing target"),
        (("delete",), "missing target"),
        (("describe",), "missing target"),
        (("env",), "missing"),
        (("sendSignal",), "usage"),
        (("sendSignal", "SIGUSR1"), "usage"),
        (("scale", "x"), "usage"),
        (("start", app("loop.py"), "--name"), "needs a value"),
        (("logs", "--lines"), "needs a value"),
    ]
    for args, want in cases:
        err = one_line_error(corral, *args)
        assert want in err, (args, err)


def test_arguments_that_are_not_utf8(corral):
    # The protocol carries text: an argument that is not UTF-8 was silently
    # dropped (an app started with a default name, or without one of its
    # arguments; `stop <it>` said no target was given).
    bad = os.fsdecode(b"b\xffc")
    for args in (("start", app("loop.py"), "--name", bad),
                 ("start", app("loop.py"), "--name", "x", "--", "a", bad, "d"),
                 ("start", app("loop.py"), "--cwd", "/tmp/" + bad),
                 ("stop", bad)):
        err = one_line_error(corral, *args)
        where = next(i for i, a in enumerate(args) if bad in a)
        assert "UTF-8" in err and f"argument {where}" in err, (args, err)
    assert corral.jlist() == []


def test_daemon_that_hangs_up_without_answering(corral):
    # A daemon that dies in the middle of a request (a crash) closes the
    # connection: the CLI said "no answer from the daemon within 600 s", at
    # once, instead of saying that it hung up.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(corral.home, "corral.sock"))
    sock.listen(1)

    def fake():
        c, _ = sock.accept()
        f = c.makefile("rb")
        hello = json.loads(f.readline())
        c.sendall(json.dumps({"id": hello["id"], "ok": True, "v": 1, "version": "0.1.0",
                              "pid": os.getpid()}).encode() + b"\n")
        f.readline()
        f.close()
        c.close()
    t = threading.Thread(target=fake)
    t.start()
    try:
        err = one_line_error(corral, "list", timeout=20)
        assert "closed the connection" in err and "within" not in err, err
    finally:
        t.join(10)
        sock.close()
        os.unlink(os.path.join(corral.home, "corral.sock"))


def test_start_without_anything_to_start(corral, tmp_path):
    err = one_line_error(corral, "start", cwd=str(tmp_path))
    assert "nothing to start" in err
    err = one_line_error(corral, "start", "-", "extra.py")
    assert "extra.py" in err


def test_unknown_target(corral):
    corral.ok("start", app("loop.py"))
    for args in (("stop", "42"), ("restart", "nosuch"), ("delete", "nope"), ("reset", "x"),
                 ("describe", "9"), ("logs", "nosuch", "--nostream"), ("env", "nosuch"),
                 ("pid", "nosuch"), ("flush", "nosuch")):
        err = one_line_error(corral, *args)
        assert args[1] in err, (args, err)
    assert corral.proc("loop")["status"] == "online"


@pytest.mark.parametrize("opt,value", [
    ("--max-restarts", "abc"), ("--max-restarts", "-1"), ("--max-restarts", "1.5"),
    ("--kill-timeout", "5x"), ("--kill-timeout", "-100"), ("--restart-delay", "soon"),
    ("--min-uptime", ""), ("--exp-backoff-restart-delay", "1e3"),
    ("--stop-exit-codes", "0,abc"), ("--stop-exit-codes", "300"),
    ("--instances", "lots"), ("--kill-signal", "SIGNOPE"),
])
def test_malformed_numbers_and_durations(corral, opt, value):
    err = one_line_error(corral, "start", app("loop.py"), opt, value)
    assert any(part in err for part in value.split(",")) or opt in err, err
    assert corral.jlist() == []


def test_malformed_numbers_elsewhere(corral):
    corral.ok("start", app("loop.py"))
    assert "ten" in one_line_error(corral, "logs", "--lines", "ten", "--nostream")
    assert "abc" in one_line_error(corral, "scale", "loop", "abc")
    assert "0" in one_line_error(corral, "restart", "loop", "--parallel", "0")


def test_directory_as_script(corral, tmp_path):
    err = one_line_error(corral, "start", str(tmp_path))
    assert str(tmp_path) in err and "no such file" not in err


def test_unreadable_script(corral, tmp_path):
    # Run the CLI as nobody with a home of its own; the scripts belong to
    # root: one in a directory nobody cannot enter, one with mode 0600.
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    os.chmod(corral.home, 0o711)
    home = os.path.join(corral.home, "nobody")
    os.mkdir(home, 0o700)
    os.chown(home, 65534, 65534)
    shared = os.path.join(corral.home, "scripts")
    os.mkdir(shared, 0o755)
    unreadable = write(os.path.join(shared, "secret.py"), "print('x')\n", mode=0o600)
    hidden = write(str(tmp_path / "hidden.py"), "print('x')\n", mode=0o644)
    env = dict(corral.env, CORRAL_HOME=home)
    try:
        for script in (unreadable, hidden):
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                CORRAL, "start", script], env=env, capture_output=True, text=True,
                               timeout=30 * SLOW, cwd="/")
            assert r.returncode != 0, r.stdout
            err = r.stderr.strip()
            assert len(err.splitlines()) == 1 and script in err, err
            assert "Permission denied" in err, err
    finally:
        subprocess.run([CORRAL, "kill"], env=env, capture_output=True, timeout=30)
        os.chmod(corral.home, 0o700)


def test_home_path_too_long(corral):
    env = {"CORRAL_HOME": "/tmp/" + "x" * 120}
    err = one_line_error(corral, "ping", env=env)
    assert "too long" in err


def test_help_and_version(corral):
    out = corral.ok("help")
    assert "start" in out and "resurrect" in out
    assert "--max-restarts" in corral.ok("start", "--help")
    assert corral.ok("--version").startswith("corral ")
    r = corral.run()
    assert r.returncode != 0 and "usage" in r.stderr


def test_pm2_start_flags(corral, tmp_path):
    """PM2's start flags: those that change nothing in corral are accepted
    with a warning saying so; -s silences corral's own output; --no-color
    turns colours off; --no-daemon says what to do instead."""
    r = corral.run("start", app("loop.py"), "--name", "a", "--no-vizion", "--no-pmx",
                   "--no-automation", "--ext", "js,json", "--deep-monitoring",
                   "--source-map-support")
    assert r.returncode == 0, r.stderr
    for flag in ("no-vizion", "ext", "deep-monitoring", "source-map-support"):
        assert f"--{flag} is accepted but has no effect in corral" in r.stderr, r.stderr
    # --no-pmx and --no-automation are PM2's --disable-agent.
    assert "no-pmx" not in r.stderr and "no-automation" not in r.stderr, r.stderr
    corral.wait_status("a", "online")
    assert corral.proc("a")["spec"]["disable_agent"] is True
    r = corral.run("start", app("loop.py"), "--name", "b", "-s")
    assert r.returncode == 0 and r.stdout == "", r.stdout
    corral.wait_status("b", "online")
    r = corral.run("stop", "b", "--silent")
    assert r.returncode == 0 and r.stdout == "", r.stdout
    assert corral.run("stop", "nothing-here", "-s").stderr.strip(), "errors still show"
    out = run_in_pty(corral, ["list", "--no-color"], {})
    assert "\x1b[" not in out and "online" in out
    err = corral.fail("start", app("loop.py"), "--name", "c", "--no-daemon")
    assert "--no-daemon" in err and "--attach" in err, err
    assert "c" not in {p["name"] for p in corral.jlist()}


def test_start_attach_follows_the_logs(corral):
    """--attach: start, then follow the app's logs; leaving the command
    leaves the app running."""
    p = corral.popen("start", app("show.py"), "--name", "talk", "--attach",
                     env={"SHOW_VARS": "pm_id"})
    try:
        lines = []
        wait_for(lambda: lines.append(p.stdout.readline()) or any('"pm_id"' in l for l in lines),
                 20, what="the app's output through --attach")
    finally:
        p.terminate()
        p.wait(timeout=10)
    corral.wait_status("talk", "online")


def test_restart_applies_start_options(corral):
    """restart (and reload) take the start options PM2 applies on restart;
    those a restart cannot change are refused with what to do instead."""
    corral.ok("start", app("loop.py"), "--name", "w", "--kill-timeout", "900")
    corral.wait_status("w", "online")
    corral.ok("restart", "w", "--max-memory-restart", "300M", "--cron-restart", "0 3 * * *",
              "--interpreter-args=-u")
    spec = corral.proc("w")["spec"]
    assert spec["max_memory_restart"] == 300 << 20
    assert spec["cron_restart"] == "0 3 * * *"
    assert spec["interpreter_args"] == ["-u"]
    assert spec["kill_timeout"] == 900, "what was not given stays"
    corral.wait_status("w", "online")
    err = corral.fail("restart", "w", "-i", "3")
    assert "--instances does not apply to restart: use corral scale" in err, err
    err = corral.fail("reload", "w", "--name", "x")
    assert "--name does not apply to reload" in err, err
