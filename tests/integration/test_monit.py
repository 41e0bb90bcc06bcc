"""`corral monit`, the ncurses dashboard, driven for real inside tmux: a
private tmux server (its own socket in the test's CORRAL_HOME) runs a shell
in a 160x48 window, the test types `corral monit` and keys into it with
send-keys and reads the screen with capture-pane.

Covered: the rows of a 2-instance cluster app and a fork app with their
statuses and lb state; the selected instance's new log lines, stdout and
stderr told apart, and the whole app's with `l`; the `/` filter; `r` + `y`
restarting the selection (its pid changes) and `r` + `n` not; `R` + `y`
reloading a cluster instance under load without a failed request; a resize
to 80x24 redrawn whole; `q`, SIGTERM and a crash signal leaving the shell's
terminal exactly as it was; the daemon stopped (`corral kill`) and SIGKILLed while monit
runs; 300 instances scrolled page by page, sorted; no colour; no terminal.
"""
import os
import re
import shutil
import signal
import subprocess

import pytest

from clusterapp import start_node
from conftest import CORRAL, free_port, wait_for, write
from fhelpers import alive, app
from loadgen import Load

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROW_RE = re.compile(r"^\s*(\d+)\s+(\S+)\s+(fork|cluster)\s+(\S+(?: \S+)?)\s+(\d+|-)\s")


class Tmux:
    """A tmux server of the test's own, one window running sh."""

    def __init__(self, corral, cols=160, rows=48, env=None):
        self.corral = corral
        self.sock = os.path.join(corral.home, "tmux.sock")
        e = dict(corral.env)
        e.pop("NO_COLOR", None)
        e.update({"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                  "PS1": "$ ", "ENV": "", "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        e.update(env or {})
        self.env = e
        self.tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), "-c", corral.home, "sh")
        self.tmux("set-option", "-g", "status", "off")
        wait_for(lambda: self.screen().strip(), 10, what="the shell's prompt")

    def tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, env=self.env, timeout=20)
        if check:
            assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def type(self, text):
        self.tmux("send-keys", "-l", text)
        self.tmux("send-keys", "Enter")

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def lines(self):
        return self.screen().split("\n")

    def wait_screen(self, cond, what, timeout=10):
        last = [""]

        def check():
            last[0] = self.screen()
            return cond(last[0])
        try:
            return wait_for(check, timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}; the screen:\n{last[0]}") from None

    def wait_text(self, text, timeout=10):
        return self.wait_screen(lambda s: text in s, f"{text!r} on the screen", timeout)

    def kill(self):
        self.tmux("kill-server", check=False)
        wait_for(lambda: not os.path.exists(self.sock) or not self.alive(), 10,
                 what="the tmux server to exit")

    def alive(self):
        r = subprocess.run(["tmux", "-S", self.sock, "has-session"], capture_output=True,
                           env=self.env)
        return r.returncode == 0


@pytest.fixture
def tmux(corral):
    made = []

    def make(**kw):
        t = Tmux(corral, **kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.kill()


def rows(screen):
    """The process rows on a screen: [(pm_id, name, mode, status, pid)]."""
    out = []
    for line in screen.split("\n"):
        m = ROW_RE.match(line)
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3), m.group(4).strip(),
                        m.group(5)))
    return out


def open_monit(t, *args):
    """Type `corral monit` in the shell, with the shell's terminal settings
    saved before and after it, and its exit code printed."""
    t.type(f"stty -g > before.tty; {CORRAL} monit {' '.join(args)}; echo EXIT=$?; "
           "stty -g > after.tty")
    t.wait_text("connected to the daemon")


def quit_monit(t, key="q"):
    t.keys(key)
    # The line the shell prints (the typed one says EXIT=$?).
    t.wait_screen(lambda s: re.search(r"^EXIT=\d+", s, re.M), "monit's exit code")


def monit_pid(corral):
    out = subprocess.run(["pgrep", "-f", f"^{CORRAL} monit"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    mine = []
    for p in pids:
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if corral.home.encode() in f.read():
                    mine.append(p)
        except OSError:
            pass
    return mine[0] if mine else 0


def same_tty(t):
    home = t.corral.home
    with open(os.path.join(home, "before.tty")) as a, open(os.path.join(home, "after.tty")) as b:
        return a.read() == b.read()


def test_rows_of_a_cluster_app_and_a_fork_app_then_q_restores_the_shell(corral, tmux,
                                                                         tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    port = free_port()
    start_node(corral, tmp_path, port, instances=2, name="web")
    corral.ok("start", app("loop.py"), "--name", "worker")
    pids = {p["pm_id"]: p["pid"] for p in corral.jlist()}
    t = tmux()
    open_monit(t)

    def all_rows(s):
        got = {r[0]: r for r in rows(s)}
        return len(got) == 3 and all(r[3] == "online" for r in got.values()) and got
    got = t.wait_screen(all_rows, "three online rows")
    assert {got[i][1] for i in (0, 1)} == {"web"} and got[2][1] == "worker"
    assert got[0][2] == got[1][2] == "cluster" and got[2][2] == "fork"
    assert {i: int(got[i][4]) for i in got} == pids
    # The cluster rows say whether the instance takes connections.
    t.wait_screen(lambda s: sum(1 for line in s.split("\n")
                                if ROW_RE.match(line) and " cluster " in line
                                and re.search(r"(?<!not) ready ", line)) == 2,
                  "both cluster rows ready")
    # The detail pane describes the selection (the first row).
    t.wait_text("mode         cluster, 2 instances")
    t.wait_text("2/2 in rotation")
    quit_monit(t)
    screen = t.screen()
    assert "EXIT=0" in screen, screen
    # The shell's screen is back (no dashboard left on it), and its
    # terminal settings are exactly those it had.
    assert "processes (" not in screen, screen
    wait_for(lambda: os.path.exists(os.path.join(corral.home, "after.tty")), 10,
             what="stty after monit")
    assert same_tty(t)


def test_selected_instance_logs_live_then_the_whole_app(corral, tmux):
    corral.ok("start", app("ticker.py"), "--name", "tick", "-i", "2")
    corral.wait_status("tick", "online", count=2)
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: len(rows(s)) == 2, "two rows")
    # The first row is selected: its lines only, stdout and stderr apart.
    t.wait_screen(lambda s: re.search(r" 0 out tick 0 \d+", s) and
                  re.search(r" 0 err oops 0 \d+", s), "instance 0's lines")
    t.keys("Down")
    t.wait_text("logs: tick [1]")
    t.wait_screen(lambda s: re.search(r" 1 out tick 1 \d+", s) and
                  re.search(r" 1 err oops 1 \d+", s), "instance 1's lines")
    # New lines keep coming (the numbers grow), and none of instance 0.
    first = int(re.findall(r" 1 out tick 1 (\d+)", t.screen())[-1])
    t.wait_screen(lambda s: int(re.findall(r" 1 out tick 1 (\d+)", s)[-1]) > first + 3,
                  "newer lines of instance 1")
    assert not re.search(r" 0 out tick 0 ", t.screen()), t.screen()
    # Tab: the log pane has the keys; scrolled back, it holds still. A
    # page up does nothing until the pane has more than a page of lines (a
    # loaded machine may not have sent them yet): press it until it does.
    t.keys("Tab")

    def scrolled(s):
        if "logs: tick [1] [scrolled]" in s:
            return True
        t.keys("PPage")
        return False
    t.wait_screen(scrolled, "the log pane scrolled back")
    t.keys("End")
    t.wait_screen(lambda s: "logs: tick [1]" in s and "[scrolled]" not in s, "following again")
    t.keys("Tab", "Tab")   # back to the processes
    # l: the whole app's lines.
    t.keys("l")
    t.wait_text("logs: tick (every instance)")
    t.wait_screen(lambda s: re.search(r" 0 out tick 0 \d+", s) and
                  re.search(r" 1 out tick 1 \d+", s), "both instances' lines")
    quit_monit(t)
    assert "EXIT=0" in t.screen()


def test_filter_by_name_and_namespace(corral, tmux):
    for name in ("alpha", "beta", "gamma"):
        corral.ok("start", app("loop.py"), "--name", name,
                  *(["--namespace", "backend"] if name == "gamma" else []))
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: {r[1] for r in rows(s)} == {"alpha", "beta", "gamma"}, "3 rows")
    t.keys("/")
    t.tmux("send-keys", "-l", "bet")
    t.wait_screen(lambda s: {r[1] for r in rows(s)} == {"beta"}, "only beta")
    t.keys("Enter")
    t.wait_text("filter: bet")
    # By namespace too.
    t.keys("/")
    t.keys("BSpace", "BSpace", "BSpace")
    t.tmux("send-keys", "-l", "backend")
    t.wait_screen(lambda s: {r[1] for r in rows(s)} == {"gamma"}, "only gamma (namespace)")
    # Esc while typing clears the filter.
    t.keys("Escape")
    t.wait_screen(lambda s: {r[1] for r in rows(s)} == {"alpha", "beta", "gamma"},
                  "all rows again")
    quit_monit(t, "C-c")
    assert re.search(r"^EXIT=0", t.screen(), re.M), t.screen()


def test_r_then_y_restarts_the_selection_and_n_does_not(corral, tmux):
    corral.ok("start", app("loop.py"), "--name", "first")
    corral.ok("start", app("loop.py"), "--name", "second")
    corral.wait_status("second", "online")
    before = {p["name"]: p["pid"] for p in corral.jlist()}
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: len(rows(s)) == 2, "two rows")
    t.keys("j")
    t.wait_text("logs: second [1]")
    t.keys("r")
    t.wait_text("restart second [1]? [y/n]")
    t.keys("n")
    t.wait_text("cancelled")
    assert corral.proc("second")["pid"] == before["second"]
    t.keys("r")
    t.wait_text("restart second [1]? [y/n]")
    t.keys("y")
    wait_for(lambda: corral.proc("second")["pid"] not in (0, before["second"]) and
             corral.proc("second")["status"] == "online", 10, what="second restarted")
    new = corral.proc("second")["pid"]
    # The row shows the new pid; the other app was not touched.
    t.wait_screen(lambda s: any(r[1] == "second" and r[4] == str(new) for r in rows(s)),
                  "the new pid on the row")
    assert corral.proc("first")["pid"] == before["first"]
    # s stops it, S starts it again, each after y.
    t.keys("s")
    t.wait_text("stop second [1]? [y/n]")
    t.keys("y")
    corral.wait_status("second", "stopped")
    t.wait_screen(lambda s: any(r[1] == "second" and r[3] == "stopped" for r in rows(s)),
                  "the row stopped")
    t.keys("S")
    t.wait_text("start second [1]? [y/n]")
    t.keys("y")
    corral.wait_status("second", "online")
    t.wait_screen(lambda s: any(r[1] == "second" and r[3] == "online" for r in rows(s)),
                  "the row online again")
    quit_monit(t)


def test_scale_and_restart_update_the_rows_in_place(corral, tmux):
    corral.ok("start", app("loop.py"), "--name", "grow")
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: [r[1] for r in rows(s)] == ["grow"], "one row")
    corral.ok("scale", "grow", "3")
    t.wait_screen(lambda s: [(r[1], r[3]) for r in rows(s)] == [("grow", "online")] * 3,
                  "three online rows")
    pids = {p["pm_id"]: p["pid"] for p in corral.jlist()}
    shown = {r[0]: int(r[4]) for r in rows(t.screen())}
    assert shown == pids
    corral.ok("restart", "grow")
    new = {p["pm_id"]: p["pid"] for p in corral.jlist()}
    assert not set(new.values()) & set(pids.values())
    t.wait_screen(lambda s: {r[0]: r[4] for r in rows(s)} == {k: str(v) for k, v in new.items()},
                  "the new pids on the same rows")
    corral.ok("scale", "grow", "1")
    t.wait_screen(lambda s: len(rows(s)) == 1, "one row again")
    quit_monit(t)


def test_resize_to_80x24_redraws_without_garbage(corral, tmux):
    for i in range(3):
        corral.ok("start", app("loop.py"), "--name", f"app{i}")
    t = tmux()
    open_monit(t)
    # Wide: the gauges are drawn.
    t.wait_screen(lambda s: len(rows(s)) == 3 and ("\u2588" in s or "\u00b7" in s),
                  "rows with gauges")
    t.tmux("resize-window", "-x", "80", "-y", "24")

    def redrawn(s):
        lines = s[:-1].split("\n") if s.endswith("\n") else s.split("\n")
        return (len(rows(s)) == 3 and lines[0].startswith(" processes (3)")
                and lines[23].startswith("connected to the daemon")) and lines
    lines = t.wait_screen(redrawn, "the dashboard redrawn at 80x24")
    assert len(lines) == 24 and all(len(line) <= 80 for line in lines), lines
    text = "\n".join(lines)
    # Nothing of the 160-column screen is left: no gauge, and each title once.
    row_lines = [line for line in lines if ROW_RE.match(line)]
    assert not any("\u2588" in line or "\u00b7" in line for line in row_lines), text
    assert text.count(" processes (") == 1 and text.count(" detail") == 1, text
    assert sum(1 for line in lines if line.lstrip().startswith("id ")) == 1, text
    quit_monit(t)


def test_daemon_stopped_and_killed_while_monit_runs(corral, tmux):
    corral.ok("start", app("loop.py"), "--name", "survivor")
    first = corral.daemon_pid()
    t = tmux()
    open_monit(t)
    t.wait_text(f"connected to the daemon (pid {first})")
    # corral kill: the daemon is gone until somebody starts one.
    corral.ok("kill")
    t.wait_text(f"disconnected from the daemon (pid {first}): reconnecting")
    assert monit_pid(corral), "monit exited with the daemon"
    corral.ok("ping")
    second = corral.daemon_pid()
    assert second != first
    t.wait_text(f"connected to the daemon (pid {second})")
    corral.ok("start", app("loop.py"), "--name", "newcomer")
    t.wait_screen(lambda s: any(r[1] == "newcomer" and r[3] == "online" for r in rows(s)),
                  "the app started on the new daemon")
    # SIGKILL: the keeper brings the next daemon up; monit follows it.
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: corral.daemon_pid() not in (0, second) and alive(corral.daemon_pid()),
             20, what="the keeper's next daemon")
    third = corral.daemon_pid()
    t.wait_text(f"connected to the daemon (pid {third})", timeout=20)
    t.wait_screen(lambda s: any(r[1] == "newcomer" and r[3] == "online" for r in rows(s)),
                  "the adopted app's row")
    quit_monit(t)
    assert "EXIT=0" in t.screen()


def test_300_instances_scroll_and_stay_sorted(corral, tmux):
    corral.ok("start", "/bin/sleep", "--name", "many", "-i", "300", "--interpreter", "none",
              "--", "86400", timeout=120)
    corral.wait_status("many", "online", count=300, timeout=60)
    t = tmux()
    open_monit(t)
    first = t.wait_screen(lambda s: rows(s) if [r[0] for r in rows(s)] ==
                          list(range(len(rows(s)))) and len(rows(s)) > 10 else None,
                          "the first rows, sorted from 0")
    ids = [r[0] for r in first]
    assert "processes (300)" in t.screen()
    seen = set(ids)
    # Page by page to the end: each screen's rows sorted and contiguous
    # (a capture taken while the terminal is being redrawn may show the
    # rows of two pages: the next capture has the whole page).
    def contiguous(ids):
        return ids == list(range(ids[0], ids[0] + len(ids)))
    last = ids[-1]
    while last < 299:
        t.keys("NPage")
        page = t.wait_screen(lambda s: rows(s) if rows(s) and rows(s)[-1][0] > last
                             and contiguous([r[0] for r in rows(s)]) else None,
                             "the next page, sorted")
        page_ids = [r[0] for r in page]
        assert page_ids[0] == last + 1 or page_ids[-1] == 299, (last, page_ids)
        assert all(r[3] == "online" for r in page)
        seen.update(page_ids)
        last = page_ids[-1]
    assert seen == set(range(300))
    t.keys("PPage")
    t.wait_screen(lambda s: rows(s) and rows(s)[-1][0] < 299, "a page up")
    t.keys("Home")
    t.wait_screen(lambda s: rows(s) and rows(s)[0][0] == 0, "back at the top")
    t.keys("End")
    t.wait_screen(lambda s: rows(s) and rows(s)[-1][0] == 299, "at the end")
    # The rows on screen are measured: their CPU shows as a figure.
    t.wait_screen(lambda s: sum(1 for line in s.split("\n")
                                if ROW_RE.match(line) and "%" in line) >= 10,
                  "CPU figures on the rows shown")
    quit_monit(t)


def test_no_colour_stays_readable_and_help(corral, tmux):
    corral.ok("start", app("loop.py"), "--name", "plain")
    t = tmux(env={"NO_COLOR": "1"})
    open_monit(t)
    t.wait_screen(lambda s: any(r[1] == "plain" and r[3] == "online" for r in rows(s)),
                  "the row")
    t.keys("?")
    t.wait_text("restart, reload, stop, start")
    t.keys("x")
    t.wait_screen(lambda s: "restart, reload, stop, start" not in s, "the help closed")
    quit_monit(t, "Escape")
    assert "EXIT=0" in t.screen()
    assert same_tty(t)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGSEGV])
def test_a_signal_restores_the_terminal(corral, tmux, sig):
    """SIGTERM, and a crash signal as a bug would raise: the handler puts
    the terminal back, then monit dies of the signal itself (the shell sees
    128 + its number)."""
    corral.ok("start", app("loop.py"), "--name", "x")
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: len(rows(s)) == 1, "the row")
    pid = wait_for(lambda: monit_pid(corral), 10, what="monit's pid")
    os.kill(pid, sig)
    t.wait_screen(lambda s: re.search(rf"^EXIT={128 + sig}", s, re.M),
                  f"monit's exit code ({sig.name})")
    assert "processes (" not in t.screen()
    wait_for(lambda: os.path.exists(os.path.join(corral.home, "after.tty")), 10,
             what="stty after monit")
    assert same_tty(t)


def test_monit_needs_a_terminal_and_help_lists_the_keys(corral):
    r = corral.run("monit", input="")
    assert r.returncode == 1 and r.stderr.startswith("corral monit: needs a terminal"), r.stderr
    out = corral.ok("help", "monit")
    for k in ("PgUp/PgDn", "Tab", "/", "restart, reload, stop, start", "q, Esc, Ctrl-C"):
        assert k in out, out
    assert corral.ok("help", "dash") == out


class Raw:
    """A protocol client of the test's own (docs/protocol.md)."""

    def __init__(self, corral):
        import socket
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(os.path.join(corral.home, "corral.sock"))
        self.buf = b""
        self.call({"cmd": "hello", "v": 1})

    def call(self, req):
        import json
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, "the daemon closed the connection"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


def test_sample_measures_only_the_instances_named(corral, tmp_path):
    for name in ("a0", "a1", "a2"):
        corral.ok("start", app("loop.py"), "--name", name)
    corral.wait_status("a2", "online")
    ids = {p["name"]: p["pm_id"] for p in corral.jlist()}
    c = Raw(corral)
    try:
        # A process sampled in its first instants may show no memory yet:
        # the next sample, a second later, does.
        r = wait_for(lambda: (lambda r: r["ok"] and [p for p in r["procs"] if p["name"] == "a1"
                                                     and p["memory"]] and r)(
            c.call({"id": 1, "cmd": "sample", "pm_ids": [ids["a1"]]})), 10,
            what="a1's memory")
        assert r["ok"] is True and r["id"] == 1 and r["at"] > 0
        by_name = {p["name"]: p for p in r["procs"]}
        assert set(by_name) == {"a0", "a1", "a2"}
        for p in by_name.values():
            assert p["status"] == "online" and p["pid"] > 0 and p["mode"] == "fork"
            assert p["namespace"] == "default" and p["restarts"] == 0
            assert "lb" not in p   # fork mode
        assert isinstance(by_name["a1"]["cpu"], float) and by_name["a1"]["memory"] > 0
        assert by_name["a0"]["cpu"] is None and by_name["a0"]["memory"] is None
        assert by_name["a2"]["cpu"] is None and by_name["a2"]["memory"] is None
        # Without pm_ids: every instance is measured.
        r = wait_for(lambda: (lambda r: all(p["memory"] for p in r["procs"]) and r)(
            c.call({"id": 2, "cmd": "sample"})), 10, what="every instance measured")
        # Bad requests are refused with a reason, and the connection stays.
        for bad, what in (("x", "must be an array"), ([1, "2"], '"pm_ids"[1]'),
                          ([-1], '"pm_ids"[0]'), (list(range(5000)), "at most 4096")):
            r = c.call({"id": 3, "cmd": "sample", "pm_ids": bad})
            assert r["ok"] is False and r["error"]["code"] == "bad_request", r
            assert what in r["error"]["message"], r
        # A pm_id that names nothing is no error.
        r = c.call({"id": 4, "cmd": "sample", "pm_ids": [999]})
        assert r["ok"] is True and len(r["procs"]) == 3
    finally:
        c.close()


def test_sample_says_the_lb_state_of_cluster_instances(corral, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    start_node(corral, tmp_path, free_port(), instances=2, name="web")
    c = Raw(corral)
    try:
        r = c.call({"id": 1, "cmd": "sample", "pm_ids": [0, 1]})
        assert [(p["mode"], p["lb"], p["queued"]) for p in r["procs"]] == \
            [("cluster", "ready", 0)] * 2, r
        r = c.call({"id": 2, "cmd": "sample", "pm_ids": [0]})
        procs = sorted(r["procs"], key=lambda p: p["pm_id"])
        assert [(p["lb"], p["queued"]) for p in procs] == [("ready", 0), (None, None)], r
    finally:
        c.close()


def test_R_then_y_reloads_a_cluster_app_under_load(corral, tmux, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    port = free_port()
    start_node(corral, tmp_path, port, instances=2, name="web")
    before = {p["pm_id"]: p["pid"] for p in corral.procs("web")}
    t = tmux()
    open_monit(t)
    t.wait_screen(lambda s: len(rows(s)) == 2, "two rows")
    with Load(port, threads=2) as load:
        load.wait_more(20)
        t.keys("R")
        t.wait_text("reload web [0]? [y/n]")
        t.keys("y")
        # The selected instance is replaced (gracefully: no request fails),
        # its sibling is not.
        wait_for(lambda: corral.procs("web")[0]["pid"] not in (0, before[0]) and
                 corral.procs("web")[0]["status"] == "online", 30,
                 what="instance 0 reloaded")
        load.wait_more(20)
    assert load.failures == [], load.failures[:5]
    now = {p["pm_id"]: p["pid"] for p in corral.procs("web")}
    assert now[1] == before[1]
    t.wait_screen(lambda s: {r[4] for r in rows(s)} == {str(now[0]), str(now[1])},
                  "the new pid on the row")
    quit_monit(t)


def test_sample_of_the_named_only_leaves_the_others_out(corral):
    """`others: false`: what monit asks for between changes, the rows on
    its screen and nothing of the rest."""
    for name in ("b0", "b1", "b2", "b3"):
        corral.ok("start", app("loop.py"), "--name", name)
    corral.wait_status("b3", "online")
    ids = {p["name"]: p["pm_id"] for p in corral.jlist()}
    c = Raw(corral)
    try:
        want = [ids["b3"], ids["b1"], ids["b3"], 999]   # unsorted, twice, unknown
        r = wait_for(lambda: (lambda r: all(p["memory"] for p in r["procs"]) and r)(
            c.call({"id": 1, "cmd": "sample", "pm_ids": want, "others": False})), 10,
            what="b1 and b3 measured")
        assert r["ok"] is True and r["at"] > 0
        assert [p["name"] for p in r["procs"]] == ["b1", "b3"], r
        assert all(isinstance(p["cpu"], float) and p["status"] == "online"
                   for p in r["procs"]), r
        # others: true (the default) lists every instance, as before.
        r = c.call({"id": 2, "cmd": "sample", "pm_ids": [ids["b1"]], "others": True})
        assert len(r["procs"]) == 4, r
        # Without pm_ids, every instance is named.
        r = c.call({"id": 3, "cmd": "sample", "others": False})
        assert len(r["procs"]) == 4, r
        r = c.call({"id": 4, "cmd": "sample", "pm_ids": [], "others": False})
        assert r["ok"] is True and r["procs"] == [], r
        r = c.call({"id": 5, "cmd": "sample", "pm_ids": [0], "others": "no"})
        assert r["ok"] is False and r["error"]["code"] == "bad_request", r
        assert '"others"' in r["error"]["message"], r
    finally:
        c.close()


def proc_files_open(dpid):
    """The /proc/<pid>/... files the daemon holds open, by pid."""
    held = {}
    fd_dir = f"/proc/{dpid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"^/proc/(\d+)/(?:task/\d+/)?(stat|children)$", target)
        if m:
            held.setdefault(int(m.group(1)), set()).add(m.group(2))
    return held


def test_sampling_keeps_proc_files_open_until_the_process_exits(corral):
    """A process sampled again is read through the descriptors of the sample
    before (no open() each second), and they go with the process."""
    corral.ok("start", app("loop.py"), "--name", "kept")
    corral.wait_status("kept", "online")
    dpid = corral.daemon_pid()
    pid = corral.jlist()[0]["pid"]
    corral.jlist()   # samples it
    assert proc_files_open(dpid).get(pid) == {"stat", "children"}
    corral.ok("restart", "kept")
    corral.wait_status("kept", "online")
    new = corral.jlist()[0]["pid"]
    assert new != pid
    held = proc_files_open(dpid)
    assert pid not in held and held.get(new) == {"stat", "children"}, held
    corral.ok("stop", "kept")
    wait_for(lambda: new not in proc_files_open(dpid), 10, what="the descriptors closed")
    assert proc_files_open(dpid) == {}
