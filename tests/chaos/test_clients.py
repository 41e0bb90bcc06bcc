"""Floods of clients on the control socket: connections that never say
hello, that stop in the middle of a line, that say hello and then nothing,
more of them than the daemon takes. The owner's `corral` commands still get
in at once, and the daemon lets the idle ones go."""
import time

from conftest import connect, daemon_fds, figures, wait_for

HELLO = b'{"cmd":"hello","v":1}\n'


def closed_by_daemon(s):
    """True once the daemon closed s (what it said before is read away)."""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_1100_idle_clients_do_not_lock_the_cli_out(corral, sockets):
    corral.ok("ping")
    fds_before = daemon_fds(corral)
    kinds = {"silent": b"", "half-sent": b'{"cmd":"hel', "hello": HELLO,
             "half-request": HELLO + b'{"id":1,"cmd":"li'}
    socks = {k: [] for k in kinds}
    for i in range(1100):
        k = list(kinds)[i % len(kinds)]
        socks[k].append(connect(corral, sockets, kinds[k]))
    # Every slot was taken; the CLI gets in anyway, more than once.
    t0 = time.monotonic()
    for verb in ("ping", "list", "ping"):
        corral.ok(verb)
    cli_s = time.monotonic() - t0
    # The oldest idle connections made room, one per newcomer.
    evicted = sum(closed_by_daemon(s) for ss in socks.values() for s in ss)
    assert 1100 - 1024 <= evicted <= 1100 - 1024 + 3, evicted
    fds_full = daemon_fds(corral)
    # Those that never said hello are let go after the hello deadline; the
    # others stay until the idle timeout (a minute).
    for k in ("silent", "half-sent"):
        wait_for(lambda: all(closed_by_daemon(s) for s in socks[k]), timeout=20,
                 what=f"the {k} connections to be closed")
    fds_after = daemon_fds(corral)
    still_open = sum(not closed_by_daemon(s) for k in ("hello", "half-request")
                     for s in socks[k])
    assert still_open > 400
    assert fds_after <= fds_before + still_open
    corral.ok("ping")
    figures("idle_clients", clients=1100, evicted=evicted, daemon_fds_full=fds_full,
            daemon_fds_after_hello_deadline=fds_after, cli_seconds=round(cli_s, 2))


def test_subscribers_cannot_take_every_slot(corral, sockets):
    corral.ok("ping")
    subs = [connect(corral, sockets, HELLO + b'{"id":1,"cmd":"events"}\n') for _ in range(1000)]
    wait_for(lambda: sum(closed_by_daemon(s) for s in subs) >= 1000 - 960,
             timeout=20, what="the subscribers beyond 960 to be refused")
    refused = sum(closed_by_daemon(s) for s in subs)
    # Subscribers are never idle; the slots they may not take stay for commands.
    for _ in range(200):
        connect(corral, sockets, HELLO)
    for verb in ("ping", "list"):
        corral.ok(verb)
    assert "are subscribed already" in corral.daemon_log()
    figures("subscribers", asked=1000, refused=refused, daemon_fds=daemon_fds(corral))
