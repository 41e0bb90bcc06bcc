"""Log capture and the logs verbs: exact framing (4 processes × 100k lines
into one shared file, complete and in order per process; partial last lines;
lines far longer than the 64 KiB buffer; bytes that are not UTF-8), --time,
`logs` (tail with --lines, live follow, --raw/--err/--out, --json with
PM2's fields, --timestamp, --format, --highlight), flush,
reloadLogs and SIGUSR2 after a logrotate-style move, back-pressure while the
daemon is stopped, and a full disk."""
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import CORRAL, SLOW, wait_for, write
from fhelpers import alive, app, helper, read_bytes, read_text, rss_kb, run_in_pty, wait_log

LINE_RE = re.compile(rb"^(T\d) (\d{7}) (x*)$")


def check_lines(data, tags, count, width=None):
    """Every line of data is 'TAG SEQ PAD' and each tag's SEQs are exactly
    0..count-1 in order."""
    nxt = {t.encode(): 0 for t in tags}
    lines = data.split(b"\n")
    assert lines[-1] == b"", "the file does not end with a newline"
    for i, line in enumerate(lines[:-1]):
        m = LINE_RE.match(line)
        assert m, f"line {i} is mangled: {line[:120]!r}"
        tag, seq, pad = m.group(1), int(m.group(2)), m.group(3)
        assert seq == nxt[tag], f"line {i}: {tag!r} {seq} after {nxt[tag] - 1}"
        want_pad = seq % 61 if width is None else width - len(tag) - 10
        assert len(pad) == want_pad, f"line {i}: padding {len(pad)}, expected {want_pad}"
        nxt[tag] += 1
    assert all(n == count for n in nxt.values()), nxt


def test_four_writers_100k_lines_each_into_one_file(corral, tmp_path):
    shared = str(tmp_path / "shared.log")
    tags = ["T0", "T1", "T2", "T3"]
    # 16 MB in one file: not rotated at the default 10 MB (test_logrotate.py).
    for t in tags:
        corral.ok("start", helper("lines"), "--name", t, "-o", shared, "--no-autorestart",
                  "--log-max-size", "0", "--", "100000", t)
    for t in tags:
        corral.wait_status(t, "stopped", timeout=60)
    # Every line of every writer, whole, in order per writer.
    check_lines(read_bytes(shared), tags, 100000)
    for t in tags:
        assert read_text(corral.log_path(t, "error")) == f"{t} done\n"
        assert corral.proc(t)["exit_code"] == 0


def test_lines_are_not_lost_when_the_daemon_is_stopped(corral, tmp_path):
    # Back-pressure: the daemon is SIGSTOPped while an app writes 20 MB. The
    # app blocks on its full pipe; after SIGCONT every line lands and the
    # daemon's memory did not follow the data.
    corral.ok("ping")
    dpid = corral.daemon_pid()
    rss_before = rss_kb(dpid)
    # The writer starts only once the daemon is stopped: a daemon that
    # drains 20 MB faster than the test can stop it would leave nothing to
    # wait for.
    go = str(tmp_path / "go")
    # One file of 20 MB: not rotated at the default 10 MB.
    corral.ok("start", helper("lines"), "--name", "T7", "--no-autorestart", "--log-max-size", "0",
              "--", "400000", "T7", "50", env={"LINES_HOLD": "1", "LINES_GO": go})
    pid = corral.wait_status("T7", "online")[0]["pid"]
    os.kill(dpid, signal.SIGSTOP)
    open(go, "w").close()
    try:
        def wchar():
            with open(f"/proc/{pid}/io") as f:
                return int(f.read().split("wchar: ")[1].split()[0])
        last = [-1]

        def stalled():
            now = wchar()
            same = now == last[0]
            last[0] = now
            return same and now < 400000 * 50
        # The app writes until its pipe is full, then waits for the daemon:
        # its byte count stays put across polls.
        wait_for(stalled, 10, interval=0.25, what="the writer to block on its pipe")
    finally:
        os.kill(dpid, signal.SIGCONT)
    wait_for(lambda: os.path.getsize(corral.log_path("T7")) == 400000 * 50, 60 * SLOW,
             what="all 20 MB in the log")
    check_lines(read_bytes(corral.log_path("T7")), ["T7"], 400000, width=50)
    assert read_text(corral.log_path("T7", "error")) == "T7 done\n"
    grew = rss_kb(dpid) - rss_before
    assert grew < 16 * 1024, f"daemon RSS grew by {grew} kB for 20 MB of logs"


def run_python(corral, name, code, *opts):
    corral.ok("start", "python3", "--name", name, *opts, "--", "-c", code)


def test_partial_last_line_is_kept(corral):
    code = "import sys; sys.stdout.write('done\\nno newline at the end'); sys.stdout.flush()"
    run_python(corral, "part", code, "--no-autorestart")
    corral.wait_status("part", "stopped")
    assert read_text(corral.log_path("part")) == "done\nno newline at the end\n"


@pytest.mark.parametrize("size", [10, 65535, 65536, 65537, 3 * 65536])
def test_partial_last_line_of_any_length_stays_a_line(corral, size):
    # Each run writes a first line and an unterminated tail, then exits; the
    # next run's first line must start on a line of its own.
    code = f"import sys; sys.stdout.write('first\\n' + 'P' * {size}); sys.stdout.flush()"
    # Every run counts as unstable, however slow a loaded machine starts
    # python: exactly two runs, then errored.
    run_python(corral, "tail", code, "--max-restarts", "2", "--min-uptime", "1h")
    corral.wait_status("tail", "errored")
    want = ("first\n" + "P" * size + "\n") * 2
    got = read_text(corral.log_path("tail"))
    assert got == want, (len(got), len(want), got[:20], got[-20:])


def test_lines_longer_than_the_buffer_are_whole(corral):
    big = 300 * 1024 + 7
    code = (f"import sys\n"
            f"for i in range(3):\n"
            f"    sys.stdout.write(str(i) * {big} + '\\n')\n"
            f"    sys.stderr.write('e' + str(i) * {big} + '\\n')\n"
            f"    print('short', i)\n"
            f"sys.stdout.flush()\n")
    run_python(corral, "long", code, "--no-autorestart")
    corral.wait_status("long", "stopped")
    out = read_text(corral.log_path("long")).split("\n")
    assert out == [str(0) * big, "short 0", str(1) * big, "short 1", str(2) * big, "short 2", ""]
    err = read_text(corral.log_path("long", "error")).split("\n")
    assert err == ["e" + str(i) * big for i in range(3)] + [""]
    # The tail walks back over lines longer than its read size.
    tail = corral.ok("logs", "long", "--nostream", "--raw", "--out", "--lines", "3")
    assert tail.split("\n") == ["short 1", str(2) * big, "short 2", ""]


def test_bytes_that_are_not_utf8_are_kept_exactly(corral, tmp_path):
    payload = bytes(b for b in range(256) if b != 10) + b"\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc\xed\xa0\x80"
    blob = tmp_path / "blob"
    blob.write_bytes(payload + b"\n" + payload + b"\n" + payload)
    code = f"import sys; sys.stdout.buffer.write(open({str(blob)!r}, 'rb').read())"
    run_python(corral, "bin", code, "--no-autorestart")
    corral.wait_status("bin", "stopped")
    assert read_bytes(corral.log_path("bin")) == payload + b"\n" + payload + b"\n" + payload + b"\n"
    # logs shows them too (lossless through the live stream's base64).
    out = subprocess.run([CORRAL, "logs", "bin", "--raw", "--nostream", "--out", "--lines", "1"],
                         capture_output=True, env=corral.env, timeout=30).stdout
    assert out == payload + b"\n"


def test_time_prefix(corral):
    code = "import sys; print('alpha'); print('beta', file=sys.stderr); sys.stdout.write('gam'); sys.stdout.flush(); sys.stdout.write('ma\\n')"
    run_python(corral, "tm", code, "--time", "--no-autorestart")
    corral.wait_status("tm", "stopped")
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: "
    out = read_text(corral.log_path("tm")).splitlines()
    assert len(out) == 2
    assert re.fullmatch(stamp + "alpha", out[0]), out
    # A line written in two pieces gets one prefix.
    assert re.fullmatch(stamp + "gamma", out[1]), out
    assert re.fullmatch(stamp + "beta\n", read_text(corral.log_path("tm", "error")))


def test_output_error_and_combined_log_paths(corral, tmp_path):
    o, e, lg = (str(tmp_path / n) for n in ("o.log", "sub/e.log", "all.log"))
    code = "import sys; print('to out'); print('to err', file=sys.stderr)"
    run_python(corral, "paths", code, "--no-autorestart", "-o", o, "-e", e, f"--log={lg}")
    corral.wait_status("paths", "stopped")
    assert read_text(o) == "to out\n"
    assert read_text(e) == "to err\n"
    assert sorted(read_text(lg).splitlines()) == ["to err", "to out"]
    p = corral.proc("paths")
    assert (p["out_log"], p["err_log"], p["log"]) == (o, e, lg)


def test_logs_nostream_lines(corral):
    code = ("import sys\n"
            "for i in range(40): print('out', i)\n"
            "for i in range(40): print('err', i, file=sys.stderr)\n")
    run_python(corral, "lg", code, "--no-autorestart")
    corral.wait_status("lg", "stopped")
    out = corral.ok("logs", "lg", "--nostream", "--lines", "5")
    body = [l for l in out.splitlines() if l.startswith("0|lg | ")]
    assert body == [f"0|lg | out {i}" for i in range(35, 40)] + \
        [f"0|lg | err {i}" for i in range(35, 40)], out
    # Default: 15 lines of each.
    out = corral.ok("logs", "lg", "--nostream")
    assert [l for l in out.splitlines() if "| out" in l] == [f"0|lg | out {i}" for i in range(25, 40)]
    # --raw: no prefix, no header; --err / --out: one stream.
    out = corral.ok("logs", "lg", "--nostream", "--raw", "--err", "--lines", "3")
    assert out.splitlines() == ["err 37", "err 38", "err 39"]
    out = corral.ok("logs", "0", "--nostream", "--raw", "--out", "--lines", "2")
    assert out.splitlines() == ["out 38", "out 39"]
    out = corral.ok("logs", "--nostream", "--raw", "--out", "--lines", "0")
    assert out == ""
    out = corral.ok("logs", "--nostream", "--raw", "--out", "--lines", "1000")
    assert out.splitlines() == [f"out {i}" for i in range(40)]


class Follower:
    """`corral logs ...` running in the background, read line by line."""

    def __init__(self, corral, *args):
        self.p = subprocess.Popen([CORRAL, "logs", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=corral.env)
        self.buf = b""

    def wait_line(self, pred, timeout=10):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            lines = self.buf.split(b"\n")
            for i, line in enumerate(lines[:-1]):
                if pred(line.decode("utf-8", "replace")):
                    self.buf = b"\n".join(lines[i + 1:])
                    return line.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            assert left > 0, f"no matching line from corral logs; got {self.buf[-500:]!r}"
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                assert chunk, f"corral logs exited: {self.p.stderr.read()!r}"
                self.buf += chunk

    def poke_until(self, poke, pred, timeout=10):
        """Call poke() until a line matching pred comes (a subscription is
        live only some time after the command starts); return that line."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            poke()
            try:
                return self.wait_line(pred, timeout=1)
            except AssertionError:
                assert time.monotonic() < deadline, f"no matching line within {timeout}s"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def on_sigusr1(corral, tmp_path, name, body):
    """Start an app that runs the Python statements `body` on each SIGUSR1;
    return once it is ready."""
    code = write(str(tmp_path / f"{name}.py"),
                 "import signal, sys, time\n"
                 "def h(s, f):\n" + "".join(f"    {line}\n" for line in body.splitlines()) +
                 "signal.signal(signal.SIGUSR1, h)\n"
                 "print('ready', flush=True)\n"
                 "while True: time.sleep(1)\n")
    corral.ok("start", code, "--name", name)
    wait_log(corral, name, "ready")


@pytest.fixture
def talker(corral, tmp_path):
    """An app that prints 'ping N' (out) and 'pong N' (err) on SIGUSR1."""
    code = write(str(tmp_path / "talk.py"),
                 "import signal, sys, time\n"
                 "n = [0]\n"
                 "def h(s, f):\n"
                 "    n[0] += 1\n"
                 "    print('ping', n[0], flush=True)\n"
                 "    print('pong', n[0], file=sys.stderr, flush=True)\n"
                 "signal.signal(signal.SIGUSR1, h)\n"
                 "print('ready', flush=True)\n"
                 "while True: time.sleep(1)\n")
    corral.ok("start", code, "--name", "talk")
    corral.wait_status("talk", "online")
    wait_log(corral, "talk", "ready")
    return corral


def test_logs_follows_live(talker):
    c = talker
    f = Follower(c, "talk")
    try:
        f.wait_line(lambda l: l == "0|talk | ready")  # the tail first
        c.ok("sendSignal", "SIGUSR1", "talk")
        f.wait_line(lambda l: l == "0|talk | ping 1")
        f.wait_line(lambda l: l == "0|talk | pong 1")
        c.ok("sendSignal", "SIGUSR1", "talk")
        f.wait_line(lambda l: l == "0|talk | ping 2")
    finally:
        f.close()


def test_logs_follow_raw_err_only(talker):
    c = talker
    f = Follower(c, "talk", "--raw", "--err", "--lines", "0")
    try:
        first = f.poke_until(lambda: c.ok("sendSignal", "SIGUSR1", "talk"),
                             lambda l: l.startswith("pong "))
        n = int(first.split()[1])
        c.ok("sendSignal", "SIGUSR1", "talk")
        line = f.wait_line(lambda l: True)
        assert line == f"pong {n + 1}"
    finally:
        f.close()


def test_logs_follow_json(talker):
    c = talker
    f = Follower(c, "talk", "--json", "--out")
    try:
        # The last lines first: no time is recorded for them.
        o = json.loads(f.wait_line(lambda l: True))
        assert o == {"message": "ready", "timestamp": None, "type": "out", "process_id": 0,
                     "app_name": "talk"}, o
        line = f.poke_until(lambda: c.ok("sendSignal", "SIGUSR1", "talk"), lambda l: '"ping' in l)
        o = json.loads(line)
        assert o["process_id"] == 0 and o["app_name"] == "talk" and o["type"] == "out"
        assert re.fullmatch(r"ping \d+", o["message"])
        assert re.fullmatch(ISO_TIME, o["timestamp"]), o
    finally:
        f.close()


def test_logs_follow_json_with_bytes_that_are_not_utf8(corral, tmp_path):
    # A line that is not UTF-8 comes as base64; --json printed nothing for
    # it (the line was lost) instead of the text with U+FFFD in the holes.
    on_sigusr1(corral, tmp_path, "bytes",
               "sys.stdout.buffer.write(b'bad \\xff\\xfe line\\nafter\\n')\n"
               "sys.stdout.flush()")
    f = Follower(corral, "bytes", "--json", "--out")
    try:
        f.poke_until(lambda: corral.ok("sendSignal", "SIGUSR1", "bytes"),
                     lambda l: '"bad' in l or '"after"' in l)
        # From here on every signal prints the pair: both must show up.
        corral.ok("sendSignal", "SIGUSR1", "bytes")
        lines = [json.loads(f.wait_line(lambda l: True)) for _ in range(2)]
        if lines[0]["message"] == "after":  # the first pair's second half
            lines = [lines[1], json.loads(f.wait_line(lambda l: True))]
        assert [o["message"] for o in lines] == ["bad \ufffd\ufffd line", "after"], lines
    finally:
        f.close()


ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}"


def test_logs_json_prints_the_last_lines_too(corral):
    # --json printed only live lines, with fields of its own (pm_id, name,
    # stream, line); PM2's are message, timestamp, type, process_id and
    # app_name, which log_type: json files have too. Their lines come as
    # they are stored; a plain file's lines have no time.
    code = ("import sys\n"
            "for i in range(5): print('out', i)\n"
            "print('err 0', file=sys.stderr)\n")
    run_python(corral, "plain", code, "--no-autorestart")
    run_python(corral, "js", code, "--no-autorestart", "--log-type", "json")
    corral.wait_status("plain", "stopped")
    corral.wait_status("js", "stopped")
    out = corral.ok("logs", "plain", "--json", "--nostream", "--lines", "2")
    assert [json.loads(l) for l in out.splitlines()] == [
        {"message": f"out {i}", "timestamp": None, "type": "out", "process_id": 0,
         "app_name": "plain"} for i in (3, 4)] + [
        {"message": "err 0", "timestamp": None, "type": "err", "process_id": 0,
         "app_name": "plain"}]
    stored = read_text(corral.log_path("js")).splitlines()[-2:]
    out = corral.ok("logs", "js", "--json", "--nostream", "--lines", "2", "--out")
    assert out.splitlines() == stored
    objs = [json.loads(l) for l in stored]
    assert [(o["message"], o["type"], o["process_id"], o["app_name"]) for o in objs] == \
        [("out 3", "out", 1, "js"), ("out 4", "out", 1, "js")]
    assert all(re.fullmatch(ISO_TIME, o["timestamp"]) for o in objs), objs
    assert corral.ok("logs", "plain", "--json", "--nostream", "--lines", "0") == ""


def test_logs_timestamp_and_format(talker):
    c = talker
    poke = lambda: c.ok("sendSignal", "SIGUSR1", "talk")  # noqa: E731
    with Follower(c, "talk", "--timestamp", "--out", "--lines", "0") as f:
        line = f.poke_until(poke, lambda l: "ping" in l)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d 0\|talk \| ping \d+", line), line
    with Follower(c, "talk", "--timestamp=HH:mm:ss", "--err", "--lines", "1") as f:
        # The last lines have no recorded time: none is printed for them.
        assert f.wait_line(lambda l: "pong" in l).startswith("0|talk | pong ")
        line = f.poke_until(poke, lambda l: "pong" in l)
        assert re.fullmatch(r"\d\d:\d\d:\d\d 0\|talk \| pong \d+", line), line

    def settled():
        """The last ping and pong, once both files have the last poke's."""
        def last_pair():
            ping = read_text(c.log_path("talk")).splitlines()[-1]
            pong = read_text(c.log_path("talk", "error")).splitlines()[-1]
            return ping.split()[-1] == pong.split()[-1] and (ping, pong)
        return wait_for(last_pair, what="the last ping and pong in the files")
    last, _ = settled()
    with Follower(c, "talk", "--format", "--lines", "1", "--out") as f:
        assert f.wait_line(lambda l: True) == f"app=talk id=0 type=out message={last}"
        line = f.poke_until(poke, lambda l: "ping" in l)
        assert re.fullmatch(r"timestamp=\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d[+-]\d{4} app=talk id=0 "
                            r"type=out message=ping \d+", line), line
    _, last = settled()
    out = c.ok("logs", "talk", "--format", "--nostream", "--err", "--lines", "1")
    assert out.splitlines() == [f"app=talk id=0 type=error message={last}"]


def test_logs_highlight(corral):
    run_python(corral, "hl", "print('a needle in a needle stack')", "--no-autorestart")
    corral.wait_status("hl", "stopped")
    out = run_in_pty(corral, ["logs", "hl", "--nostream", "--out", "--highlight=needle"], {})
    mark = "\x1b[100mneedle\x1b[49m"
    assert f"a {mark} in a {mark} stack" in out, repr(out)
    # Piped, the text is left alone.
    out = corral.ok("logs", "hl", "--nostream", "--out", "--highlight=needle")
    assert "0|hl | a needle in a needle stack" in out.splitlines()
    err = corral.fail("logs", "hl", "--nostream", "--highlight")
    assert err.strip() == "corral logs: --highlight needs a word: --highlight=word", err


def test_logs_follow_line_with_a_nul_byte(corral, tmp_path):
    # The daemon sends such a line as JSON with \u0000 in it; the CLI
    # decoded it without allowing NUL and dropped the whole line, while
    # the file on disk had it. Every reader gets it as the file has it.
    on_sigusr1(corral, tmp_path, "nul",
               "sys.stdout.buffer.write(b'nul \\x00 inside\\n')\n"
               "sys.stdout.flush()")
    with Follower(corral, "nul", "--raw", "--out", "--lines", "0") as f:
        line = f.poke_until(lambda: corral.ok("sendSignal", "SIGUSR1", "nul"),
                            lambda l: l.startswith("nul"))
        assert line == "nul \x00 inside", repr(line)
    assert b"nul \x00 inside\n" in read_bytes(corral.log_path("nul"))
    out = corral.run("logs", "nul", "--raw", "--out", "--nostream", "--lines", "2").stdout
    assert "nul \x00 inside" in out.splitlines(), repr(out)


def test_flush(talker):
    c = talker
    c.ok("sendSignal", "SIGUSR1", "talk")
    wait_log(c, "talk", "ping 1")
    out = c.ok("flush", "talk")
    assert c.log_path("talk") in out
    assert read_text(c.log_path("talk")) == ""
    assert read_text(c.log_path("talk", "error")) == ""
    c.ok("sendSignal", "SIGUSR1", "talk")
    wait_log(c, "talk", "ping 2")
    assert read_text(c.log_path("talk")) == "ping 2\n"
    c.ok("flush")
    assert os.path.getsize(c.log_path("talk")) == 0
    assert c.fail("flush", "nosuch")


def test_flush_names_a_merged_file_once(corral):
    corral.ok("start", app("loop.py"), "--name", "m", "-i", "3", "-x", "--merge-logs")
    corral.wait_status("m", "online", count=3)
    out = corral.ok("flush", "m")
    path = corral.log_path("m")
    assert out.count(path) == 1, out


@pytest.mark.parametrize("how", ["reloadLogs", "SIGUSR2"])
def test_reopen_after_logrotate(talker, how):
    c = talker
    path = c.log_path("talk")
    c.ok("sendSignal", "SIGUSR1", "talk")
    wait_log(c, "talk", "ping 1")
    os.rename(path, path + ".1")
    if how == "reloadLogs":
        c.ok("reloadLogs")
    else:
        os.kill(c.daemon_pid(), signal.SIGUSR2)
        wait_for(lambda: os.path.exists(path), what="the log file to be reopened")
    c.ok("sendSignal", "SIGUSR1", "talk")
    wait_for(lambda: "ping 2" in read_text(path), what="ping 2 in the new file")
    assert read_text(path) == "ping 2\n"
    assert read_text(path + ".1") == "ready\nping 1\n"
    assert "pong 2" in read_text(c.log_path("talk", "error"))


@pytest.mark.parametrize("how", ["reloadLogs", "SIGUSR2"])
def test_reopen_moves_on_to_a_new_daemon_log(corral, how):
    # logrotate moves daemon.log too: what the daemon says next must go to
    # the new file, not to the one rotated away.
    corral.ok("ping")
    log = os.path.join(corral.home, "daemon.log")
    os.rename(log, log + ".1")
    if how == "reloadLogs":
        corral.ok("reloadLogs")
    else:
        os.kill(corral.daemon_pid(), signal.SIGUSR2)
    wait_for(lambda: "reopened" in read_text(log), what="a new daemon.log")
    corral.ok("start", app("loop.py"), "--name", "after")
    wait_for(lambda: "started app after" in read_text(log), what="the next line in it")
    assert "started app after" not in read_text(log + ".1")


def test_reload_logs_that_cannot_reopen_says_so(corral, tmp_path):
    """logrotate scripts rely on the exit code: a log that cannot be
    reopened (its directory replaced by a file) is an error naming it."""
    logs = tmp_path / "mlogs"
    corral.ok("start", app("loop.py"), "--name", "m", "-o", str(logs / "c.out"))
    shutil.rmtree(logs)
    logs.write_text("")
    err = corral.fail("reloadLogs")
    assert f"cannot reopen {logs}/c.out: Not a directory; output still goes to the old " \
        "file" in err, err
    logs.unlink()
    logs.mkdir()
    corral.ok("reloadLogs")
    wait_for(lambda: (logs / "c.out").exists(), what="the log file again")


def test_full_disk_drops_lines_and_keeps_going(corral, tmp_path):
    # A 256 KiB tmpfs in a private mount namespace holds the app's log. The
    # daemon (started inside the namespace) sees ENOSPC, keeps serving, does
    # not block the app, and says how many lines were lost once there is
    # room again.
    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare")
    mnt = tmp_path / "small"
    mnt.mkdir()
    out = str(mnt / "out.log")
    script = (f"mount -t tmpfs -o size=256k tmpfs {mnt} && "
              f"exec {CORRAL} start {helper('lines')} --name full -o {out} --no-autorestart "
              f"-- 20000 T5 40")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], env=corral.env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "mount" in r.stderr:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
    assert r.returncode == 0, r.stderr
    corral.wait_status("full", "stopped", timeout=30)
    assert corral.proc("full")["exit_code"] == 0
    assert "T5 done" in read_text(corral.log_path("full", "error"))
    assert "write failed" in corral.daemon_log()
    corral.ok("ping")
    # Make room, write again: the loss is reported in the file.
    corral.ok("flush", "full")
    corral.ok("restart", "full")
    corral.wait_status("full", "stopped", timeout=30)
    dpid = corral.daemon_pid()
    with open(f"/proc/{dpid}/root{out}", "rb") as f:
        head = f.read(200)
    assert head.startswith(b"[corral] ") and b"log lines lost" in head, head


def test_log_files_are_created_group_readable(corral, tmp_path):
    """A log file corral creates is 0640 (and its new folder 0750), whatever
    the daemon's private umask; one that exists keeps its mode."""
    out = tmp_path / "new" / "out.log"
    kept = tmp_path / "kept.log"
    kept.write_text("")
    os.chmod(kept, 0o600)
    run_python(corral, "modes", "print('hi')", "--no-autorestart", "--output", str(out),
               "--error", str(kept))
    corral.wait_status("modes", "stopped")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(out.parent).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600


def test_follow_is_by_app_not_by_pm_id(corral, tmp_path):
    """`corral logs app` follows the app itself: instances scale adds are
    followed too; once the app is deleted the follower says so and ends, and
    a new app that gets its pm_ids is not shown under its name."""
    talk = tmp_path / "talk.py"
    talk.write_text("import os, sys, time\n"
                    "while True:\n"
                    "    print(os.environ['NAME_TAG'], os.environ['NODE_APP_INSTANCE'], flush=True)\n"
                    "    time.sleep(0.2)\n")
    corral.ok("start", str(talk), "--name", "appa", "-x", env={"NAME_TAG": "A"})
    with Follower(corral, "appa", "--raw", "--lines", "0") as f:
        f.wait_line(lambda l: l == "A 0", timeout=20)
        corral.ok("scale", "appa", "2")
        f.wait_line(lambda l: l == "A 1", timeout=20)
        corral.ok("delete", "appa")
        corral.ok("start", str(talk), "--name", "appb", "-x", env={"NAME_TAG": "B"})
        # The follower ends by itself, saying why, and never printed B.
        f.p.wait(timeout=20 * SLOW)
        rest = f.buf + f.p.stdout.read()
        err = f.p.stderr.read().decode()
        assert f.p.returncode == 0, err
        assert "corral logs: app appa was deleted; nothing left to follow" in err, err
        assert b"B " not in rest, rest


def test_a_quiet_apps_log_files_appear_after_its_start(corral, tmp_path):
    """Log files are not created while the start runs (a thousand apps made
    a thousand inodes on its path) but right after it, in batches, so that
    `tail -f` of a quiet app's log works as with PM2; they are 0640, take
    the app's first line, and a log that could never be created still
    fails the start."""
    logs = tmp_path / "later"
    out, err = logs / "q.out", logs / "q.err"
    go = tmp_path / "go"
    corral.ok("start", "/bin/sh", "--name", "q", "--interpreter", "none", "-o", str(out),
              "-e", str(err), "--", "-c",
              f"while [ ! -e {go} ]; do sleep 0.05; done; echo said hi; sleep 1000")
    corral.wait_status("q", "online")
    wait_for(lambda: out.exists() and err.exists(), what="q's two log files")
    assert read_text(str(out)) == "" and read_text(str(err)) == ""
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    go.write_text("")
    wait_for(lambda: "said hi" in read_text(str(out)), what="the first line in q.out")
    corral.ok("flush", "q")
    corral.ok("reloadLogs")
    assert out.exists() and err.exists()
    # A directory that is a file: the start fails, naming the log.
    (tmp_path / "flat").write_text("")
    r = corral.fail("start", "/bin/sleep", "--name", "bad", "--interpreter", "none",
                    "-o", str(tmp_path / "flat" / "b.out"), "--", "1000")
    assert f"cannot open log file {tmp_path}/flat/b.out: Not a directory" in r, r
