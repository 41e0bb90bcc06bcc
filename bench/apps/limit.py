#!/usr/bin/python3
"""The limit: N copies of an app on one port, no process manager, sockets set up by hand.

usage: limit.py reuseport|shared <instances> <port> -- <command...>

reuseport: one SO_REUSEPORT listening socket per copy (the kernel's own hash
           spreads connections, no steering program);
shared:    one listening socket inherited by every copy (one accept queue).

Each copy gets its socket as an inherited fd named in BENCH_LISTEN_FD. The
launcher waits for its children; SIGTERM or SIGINT kills them all, and it
exits once they are gone.
"""
import os
import signal
import socket
import subprocess
import sys


def listener(port, reuseport):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(511)  # Node's default backlog
    return s


def main():
    mode, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    if mode == "reuseport":
        socks = [listener(port, True) for _ in range(n)]
    else:
        socks = [listener(port, False)] * n
    kids = []

    def stop(*_):
        # Only signal here: the main loop below is inside Popen.wait(), whose
        # lock a second wait() from this handler would deadlock on.
        for k in kids:
            if k.returncode is None:
                try:
                    os.kill(k.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i, s in enumerate(socks):
        fd = s.fileno()
        env = {**os.environ, "BENCH_LISTEN_FD": str(fd), "NODE_APP_INSTANCE": str(i)}
        kids.append(subprocess.Popen(cmd, env=env, pass_fds=(fd,)))
    for k in kids:
        k.wait()


if __name__ == "__main__":
    main()
