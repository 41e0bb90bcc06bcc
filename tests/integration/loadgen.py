"""A small load client for cluster-mode tests.

Threads send HTTP/1.0 GETs, each on a NEW connection (the worst case for a
balancer: every request is a new SYN that the steering program places), and
record who answered. The test apps answer "pid=<pid> instance=<n> ...".

    with Load(port) as load:
        ...  # reload, kill, scale
    # leaving the block stops the threads; then:
    assert load.failures == []
    load.pids            # Counter: pid -> answers
    load.results         # [(t_connect, t_done, pid)] for every success
    load.paths           # with numbered=True: the path of every success

With numbered=True each request asks for its own path ("/1", "/2", ...), so
an app that logs every request can be checked line by line.

Bounded: every request has a timeout and the whole load stops by itself
after max_seconds even if nobody calls stop(). Performance is not measured
here (tests never assert a timing); a short pause between requests keeps the
2-core test machine usable for the daemon and the apps.
"""
import collections
import socket
import threading
import time

from conftest import SLOW


def parse_answer(data):
    """The key=value words of an answer's body, or None."""
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0]:
        return None
    words = dict(w.split(b"=", 1) for w in body.split() if b"=" in w)
    return {k.decode(): v.decode() for k, v in words.items()}


def request(port, host="127.0.0.1", family=socket.AF_INET, source=None, timeout=10.0,
            path="/"):
    """One GET on a new connection; the parsed answer (dict). Raises OSError."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    ans = parse_answer(data)
    if ans is None or "pid" not in ans:
        raise OSError(f"bad answer: {data[:120]!r}")
    return ans


class Load:
    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET, threads=4,
                 pause=0.002, timeout=10.0, max_seconds=60.0, numbered=False):
        self.port, self.host, self.family = port, host, family
        self.nthreads, self.pause, self.timeout = threads, pause, timeout
        self.max_seconds = max_seconds * SLOW
        self.lock = threading.Lock()
        self.results = []            # (t_connect, t_done, pid)
        self.failures = []           # (t_connect, t_fail, repr(error))
        self.pids = collections.Counter()
        self.numbered = numbered
        self.paths = []
        self._next = 0
        self._stop = threading.Event()
        self._threads = []
        self.t0 = None

    def _run(self):
        deadline = self.t0 + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            path = "/"
            if self.numbered:
                with self.lock:
                    self._next += 1
                    path = f"/{self._next}"
            try:
                ans = request(self.port, self.host, self.family, timeout=self.timeout, path=path)
            except (OSError, ValueError) as e:
                with self.lock:
                    self.failures.append((t, time.monotonic(), repr(e)))
            else:
                pid = int(ans["pid"])
                with self.lock:
                    self.results.append((t, time.monotonic(), pid))
                    self.pids[pid] += 1
                    if self.numbered:
                        self.paths.append(path)
            if self.pause:
                time.sleep(self.pause)

    def start(self):
        self.t0 = time.monotonic()
        for _ in range(self.nthreads):
            th = threading.Thread(target=self._run, daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(self.timeout * SLOW + 5)
        return self

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_more(self, n, timeout=10.0):
        """Wait until n more requests than now have succeeded."""
        from conftest import wait_for
        target = self.count() + n
        wait_for(lambda: self.count() >= target, timeout, what=f"{n} more answers")

    def pids_since(self, t):
        """Pids that answered requests started at or after monotonic time t."""
        with self.lock:
            return {pid for (tc, _, pid) in self.results if tc >= t}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def burst(port, n, threads=4, host="127.0.0.1", family=socket.AF_INET):
    """n requests, each on a new connection, from `threads` threads; a
    Counter of answering pids. Raises if any request fails."""
    counts = collections.Counter()
    errors = []
    lock = threading.Lock()

    def run(k):
        mine = collections.Counter()
        try:
            for _ in range(k):
                mine[int(request(port, host, family)["pid"])] += 1
        except (OSError, ValueError) as e:
            errors.append(e)
        with lock:
            counts.update(mine)
    ths = [threading.Thread(target=run, args=(n // threads + (i < n % threads),))
           for i in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errors:
        raise errors[0]
    return counts
