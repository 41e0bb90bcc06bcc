"""The keeper stops reading (SIGSTOP, as a debugger or a wedged process
would) while the daemon keeps sending it records: what waits for it is
bounded. Past the bound the daemon gives that keeper up, kills it, starts a
fresh one that gets every record anew, and that keeper can hand the apps
over to the next daemon."""
import os
import signal

from conftest import figures, wait_for
from daemondeath import keeper_pid, new_daemon
from fhelpers import alive


def test_a_keeper_that_stops_reading_is_replaced(corral, tmp_path):
    # A small bound, so that a few hundred records past the socket's own
    # buffer are enough.
    corral.env["CORRAL_KEEP_QUEUE_MAX"] = "65536"
    corral.ok("start", "/bin/sleep", "--name", "nap", "-i", "16", "--", "100000")
    corral.wait_status("nap", "online", count=16)
    old = keeper_pid(corral)
    assert old and alive(old)
    os.kill(old, signal.SIGSTOP)
    rounds = 0

    def replaced():
        nonlocal rounds
        rounds += 1
        corral.ok("restart", "nap")
        return "stopped reading" in corral.daemon_log()
    try:
        wait_for(replaced, 60, what="the daemon to give up the stopped keeper")
    finally:
        if alive(old):
            os.kill(old, signal.SIGCONT)
    wait_for(lambda: not alive(old), 10, what="the stopped keeper to be killed")
    new = wait_for(lambda: keeper_pid(corral) not in (0, old) and keeper_pid(corral), 15,
                   what="a new keeper")
    assert alive(new)
    corral.wait_status("nap", "online", count=16)
    pids = {p["pid"] for p in corral.procs("nap")}
    # The new keeper has everything: the daemon's death loses nothing.
    daemon = corral.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    second = new_daemon(corral, daemon)
    corral.wait_status("nap", "online", count=16)
    assert {p["pid"] for p in corral.procs("nap")} == pids
    assert keeper_pid(corral) == new
    figures("keeper_wedged", restarts_until_replaced=rounds, new_daemon=second)
    corral.ok("kill")
    wait_for(lambda: not alive(new), 10, what="the keeper to exit")
    assert not corral.leftovers()
