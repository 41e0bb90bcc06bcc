"""Descriptor exhaustion: under a 1024 limit, a cluster app that binds 1100
ports gets its share of the daemon's descriptors and clear errors beyond;
another app still restarts, and new apps still start. When greedy apps
together do use every descriptor, the CLI still gets in, a start that fails
says "Too many open files", and an instance that could not start for lack
of descriptors starts once they are free."""
import os
import resource
import signal
import socket
import subprocess

from conftest import CORRAL, daemon_fds, figures, wait_for, write
from fhelpers import read_text

LIMIT = 1024
FDRESERVE_COUNT = 16        # src/daemon/fdreserve.h

GREEDY = """\
import errno, socket, sys, time
base, want, patience = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks, refused, port = [], {}, base
deadline = time.time() + patience
while len(socks) < want and port < base + want * 2:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen(8)
        socks.append(s)
        port += 1
    except OSError as e:
        s.close()
        refused[e.strerror] = refused.get(e.strerror, 0) + 1
        if e.errno not in (errno.EMFILE, errno.ENFILE) or time.time() > deadline:
            port += 1
        else:
            time.sleep(0.005)
print("bound", len(socks), "refused", sum(refused.values()), sorted(refused), flush=True)
while True:
    time.sleep(1)
"""


def start_daemon_with_limit(corral, limit):
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    subprocess.run([CORRAL, "ping"], env=corral.env, preexec_fn=lower, check=True,
                   capture_output=True)


def log(corral, name, stream):
    return read_text(corral.log_path(name, stream, corral.proc(name)["pm_id"]))


def bound(corral, name):
    out = log(corral, name, "out")
    return out.startswith("bound") and out


def test_a_greedy_app_leaves_descriptors_for_the_others(corral, tmp_path):
    start_daemon_with_limit(corral, LIMIT)
    greedy = write(str(tmp_path / "greedy.py"), GREEDY)
    corral.ok("start", "sleep", "--name", "other", "--", "1000")
    pid0 = corral.proc("other")["pid"]
    corral.ok("start", greedy, "--name", "greedy", "-i", "1", "--", 21000, 1100, 0)
    line = wait_for(lambda: bound(corral, "greedy"), timeout=60, what="greedy's binds")
    got = int(line.split()[1])
    # Its share: a quarter of the daemon's descriptors; the rest of its
    # binds fail with EMFILE and a line that says why.
    assert got == LIMIT // 4, line
    assert "Too many open files" in line, line
    err = log(corral, "greedy", "error")
    assert ("app greedy holds 256 listening sockets already, its share of the corral "
            "daemon's file descriptors") in err, err[-500:]
    fds = daemon_fds(corral)
    # The other app restarts, a new one starts.
    corral.ok("restart", "other")
    p = corral.proc("other")
    assert p["status"] == "online" and p["pid"] not in (0, pid0), p
    corral.ok("start", "sleep", "--name", "third", "--", "1000")
    corral.wait_status("third", "online")
    figures("greedy_app", fd_limit=LIMIT, greedy_bound=got, greedy_refused=1100 - got,
            daemon_fds=fds)


def devnull_fds(corral):
    """Descriptors of the daemon open on /dev/null: its standard ones and
    its reserve."""
    pid = corral.daemon_pid()
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
        except OSError:
            pass
    return n


def test_when_every_descriptor_is_used(corral, tmp_path):
    start_daemon_with_limit(corral, LIMIT)
    greedy = write(str(tmp_path / "greedy.py"), GREEDY)
    corral.ok("start", "sleep", "--name", "other", "--", "1000")
    spares = devnull_fds(corral)
    # Four greedy apps want their whole share each and keep asking for two
    # minutes: together more than the daemon has, and they take any
    # descriptor that comes free within milliseconds.
    names = [f"greedy{i}" for i in range(4)]
    for i, n in enumerate(names):
        corral.ok("start", greedy, "--name", n, "-i", "1", "--", 24000 + 600 * i, 256, 120)
    wait_for(lambda: daemon_fds(corral) >= LIMIT - 1, timeout=60,
             what="the daemon to run out of descriptors")
    peak = daemon_fds(corral)
    # The CLI still gets in. A start may still get the daemon's reserve;
    # once it is used up, a start that cannot get descriptors says so, and
    # never "Invalid argument".
    corral.ok("ping")
    starts = []
    for i in range(10):
        r = corral.run("start", "sleep", "--name", f"probe{i}", "--", "1000")
        starts.append(r)
        assert r.returncode == 0 or "Too many open files" in r.stderr, r.stderr
        assert "Invalid argument" not in r.stderr
        if r.returncode != 0 and devnull_fds(corral) <= spares - FDRESERVE_COUNT:
            break
    refused = sum(r.returncode != 0 for r in starts)
    assert refused, [r.stdout for r in starts]
    # An instance that crashes now never ends errored: the daemon's reserve
    # (which takes back whatever descriptors come free) starts it again, or,
    # when the reserve cannot, it waits for descriptors and says so. A start
    # drains the reserve before each crash, so that waiting shows up too.
    def waiting_for_fds():
        p = corral.proc("other")
        return p["status"] == "waiting restart" and "Too many open files" in (p["error"] or "") \
            and p

    def back(old_pid):
        p = corral.proc("other")
        return p["status"] == "online" and p["pid"] not in (0, old_pid) and p
    waited = 0
    for kills in range(1, 6):
        pid = corral.proc("other")["pid"]
        r = corral.run("start", "sleep", "--name", f"drain{kills}", "--", "1000")
        assert r.returncode == 0 or "Too many open files" in r.stderr, r.stderr
        os.kill(pid, signal.SIGKILL)
        p = wait_for(lambda: waiting_for_fds() or back(pid), timeout=20,
                     what="other to start again or to wait for descriptors")
        if p["status"] == "waiting restart":
            waited = kills
            break
    if waited:
        assert p["error"].endswith("; trying again every 1000 ms until file descriptors "
                                   "are free"), p["error"]
    restarts = p["restarts"]
    # Descriptors come back: it runs, and waiting did not count as restarts.
    for n in names:
        corral.ok("delete", n)
    p = corral.wait_status("other", "online", timeout=30)[0]
    assert p["restarts"] == restarts, p
    assert "Invalid argument" not in corral.daemon_log()
    figures("fd_exhaustion", fd_limit=LIMIT, daemon_fds_peak=peak, starts_tried=len(starts),
            starts_refused=refused, crashes=kills, waited_for_fds_at_crash=waited,
            daemon_fds_after=daemon_fds(corral))


def test_restart_near_the_limit(corral):
    """With only a few descriptors left — the app's own log files already
    open, so its restart needs just pipes — a restart works."""
    start_daemon_with_limit(corral, LIMIT)
    corral.ok("start", "sleep", "--name", "target", "--", "1000")
    corral.ok("start", "sleep", "--name", "many", "-x", "-i", "1", "--", "1000")
    corral.ok("scale", "many", "150")
    results = {}
    for free in (2, 3, 4, 5, 6):
        clients = []
        try:
            # Idle clients take descriptors until `free` are left (one more
            # goes to the CLI's connection).
            while daemon_fds(corral) < LIMIT - free - 1:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                clients.append(s)
                s.settimeout(20)
                s.connect(corral.home + "/corral.sock")
                s.sendall(b'{"cmd":"hello","v":1}\n')
                assert b'"ok":true' in s.recv(4096)  # accepted, and counted
            pid = corral.proc("target")["pid"]
            corral.ok("restart", "target")
            p = corral.wait_status("target", "online", timeout=20)[0]
            assert p["pid"] != pid and not p["error"], p
            results[free] = p["status"]
        finally:
            for s in clients:
                s.close()
        wait_for(lambda: daemon_fds(corral) < LIMIT - 100, what="the clients to be gone")
    figures("restart_near_limit", fd_limit=LIMIT, free_fds_tried="/".join(map(str, results)),
            restarts_online=len(results))
