"""corral at scale (issue 12).

A thousand cheap apps (`/bin/sleep`) go through start, list, stop all and
delete all, and nothing of them is left running. What a verb costs the
daemon per app does not grow with the number of apps: `ping` reports the
daemon's "steps" (elements visited by its passes over its lists, files of
/proc read), and a verb's steps per app with 4x the apps stay where they
were, where an n^2 pass would make them 4x. A listing asked as a stream
comes in chunks the daemon makes as the client reads them, and a client
that stops reading in the middle holds the others up in nothing. A cluster
app of 256 instances answers on its port from every instance, and a reload
replaces all 256.
"""
import json
import os
import re
import socket

from conftest import HELPERS, free_port, wait_for
from daemondeath import keeper_pid


def sleepers(corral, n, prefix):
    path = os.path.join(corral.home, f"{prefix}.json")
    apps = [{"name": f"{prefix}{i}", "script": "/bin/sleep", "args": "86400",
             "interpreter": "none"} for i in range(n)]
    with open(path, "w") as f:
        json.dump({"apps": apps}, f)
    return path


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def steps(corral):
    return json.loads(corral.ok("ping", "--json"))["steps"]


def test_a_thousand_apps(corral):
    n = 1000
    eco = sleepers(corral, n, "s")
    corral.ok("start", eco, timeout=120)
    procs = corral.jlist()
    assert len(procs) == n
    assert {p["status"] for p in procs} == {"online"}
    pids = [p["pid"] for p in procs]
    assert all(alive(pid) for pid in pids)
    # The table has a row for each.
    listed = set(re.findall(r"│ (s\d+) +│", corral.ok("list")))
    assert listed == {f"s{i}" for i in range(n)}
    corral.ok("stop", "all", timeout=120)
    procs = corral.jlist()
    assert {p["status"] for p in procs} == {"stopped"} and len(procs) == n
    assert not any(alive(pid) for pid in pids)
    corral.ok("restart", "all", timeout=120)
    assert {p["status"] for p in corral.jlist()} == {"online"}
    corral.ok("delete", "all", timeout=120)
    assert corral.jlist() == []
    ours = {corral.daemon_pid(), keeper_pid(corral)}
    assert [pid for pid in corral.leftovers() if pid not in ours] == []


def per_app(corral, n, prefix):
    """Steps per app of each verb on n apps, on a daemon that holds them only."""
    eco = sleepers(corral, n, prefix)
    verbs = [("start", eco), ("list",), ("jlist",), ("stop", "all"), ("restart", "all"),
             ("stop", eco), ("start", eco), ("save", "--force"), ("delete", "all"),
             ("resurrect",), ("delete", eco)]
    cost = {}
    for i, verb in enumerate(verbs):
        # A listing reads /proc for the instances sampled over a second
        # ago (SAMPLE_PERIOD_MS), which depends on how long the verbs
        # before it took: the cheaper of two runs in a row is the listing's
        # own cost.
        runs = 2 if verb[0] in ("list", "jlist") else 1
        taken = []
        for _ in range(runs):
            before = steps(corral)
            corral.ok(*verb, timeout=120)
            taken.append((steps(corral) - before) / n)
        cost[f"{i}: " + " ".join(verb).replace(eco, "<file>")] = min(taken)
    assert corral.jlist() == []
    return cost


def test_the_daemons_work_per_app_does_not_grow_with_the_apps(corral):
    small = per_app(corral, 40, "a")
    large = per_app(corral, 160, "b")
    print("steps per app, 40 apps:", small)
    print("steps per app, 160 apps:", large)
    for verb, cost in small.items():
        assert large[verb] <= cost * 1.25 + 1, (verb, small, large)


class Lines:
    """A raw protocol client, reading line by line."""

    def __init__(self, corral):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(os.path.join(corral.home, "corral.sock"))
        self.s.settimeout(10)
        self.buf = b""
        self.send({"cmd": "hello", "v": 1})
        assert json.loads(self.line())["ok"]

    def send(self, req):
        self.s.sendall(json.dumps(req).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, "the daemon closed the connection"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def test_a_listing_comes_as_a_stream_of_chunks(corral):
    n = 300
    corral.ok("start", sleepers(corral, n, "s"), timeout=60)
    c = Lines(corral)
    # The stream, then the reply to the request sent after it, in order.
    c.send({"id": 1, "cmd": "list", "brief": True, "stream": True})
    c.send({"id": 2, "cmd": "ping"})
    assert json.loads(c.line()) == {"id": 1, "ok": True, "procs_follow": "chunks"}
    chunks = []
    while (chunk := json.loads(c.line())) != []:
        chunks.append(chunk)
    assert len(chunks) > 1
    names = [p["name"] for chunk in chunks for p in chunk]
    assert names == [f"s{i}" for i in range(n)]
    assert json.loads(c.line())["id"] == 2
    # A client that stops reading after the first chunk of a full listing
    # is sent no more of it meanwhile; the others are served as usual.
    stalled = Lines(corral)
    stalled.send({"id": 3, "cmd": "list", "raw": True, "stream": True})
    assert json.loads(stalled.line())["procs_follow"] == "chunks"
    assert json.loads(stalled.line())[0]["name"] == "s0"
    assert len(corral.jlist()) == n
    assert len(json.loads(corral.ok("list", "--json"))) == n
    # Read on: the rest comes whole.
    rest = []
    while (chunk := json.loads(stalled.line())) != []:
        rest.extend(chunk)
    assert rest[-1]["name"] == f"s{n - 1}"
    corral.ok("delete", "all", timeout=60)


def answering(port, want, tries):
    """The pids that answer on port over up to `tries` new connections,
    stopping once `want` different ones did."""
    seen = set()
    for _ in range(tries):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        seen.add(int(re.search(rb"pid=(\d+)", data).group(1)))
        if len(seen) >= want:
            break
    return seen


def test_a_cluster_app_of_256_instances(corral):
    n = 256
    port = free_port()
    corral.ok("start", os.path.join(HELPERS, "cserver"), "--name", "big", "-i", n, "--",
              "--bind", port, timeout=120)

    def bound():
        ps = corral.procs("big")
        return (len(ps) == n and all(p["status"] == "online" for p in ps) and
                all(g["members"] and all(m["gets_traffic"] for m in g["members"])
                    for p in ps for g in p["listeners"]) and ps)
    procs = wait_for(bound, 60, what=f"{n} instances bound and in rotation")
    assert {g["size"] for p in procs for g in p["listeners"]} == {n}
    old = {p["pid"] for p in procs}
    # Every instance answers: new connections are spread at random, so
    # 256 distinct answers come within a few thousand requests.
    assert answering(port, n, 20 * n) == old
    corral.ok("reload", "big", timeout=120)
    procs = corral.procs("big")
    new = {p["pid"] for p in procs}
    assert len(procs) == n and {p["status"] for p in procs} == {"online"}
    assert not new & old and not any(alive(pid) for pid in old)
    assert {p["restarts"] for p in procs} == {1}
    assert {g["size"] for p in procs for g in p["listeners"]} == {n}
    assert answering(port, n, 20 * n) == new
