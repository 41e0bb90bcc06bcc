"""Helpers for the tests of the daemon's death (tests/integration/test_keeper.py,
tests/chaos/test_daemon_death.py): the keeper's pid, killing the daemon and
its keeper together, waiting for a new daemon, and reading what a logging
cluster app wrote."""
import os
import re
import signal

from conftest import wait_for
from fhelpers import alive


def keeper_pid(corral):
    try:
        with open(os.path.join(corral.home, "keeper.pid")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def kill_both(corral):
    """SIGKILL the daemon and its keeper at once: stopped first, neither can
    see the other go and start a replacement."""
    pids = [p for p in (corral.daemon_pid(), keeper_pid(corral)) if p > 0]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    daemon, keeper = (pids + [0, 0])[:2]
    wait_for(lambda: not alive(daemon) and not alive(keeper), 10, what="both to die")


def new_daemon(corral, old):
    """Wait for a daemon other than pid old to answer (ping starts one if
    nobody else does); its pid."""
    def check():
        if corral.run("ping", timeout=20).returncode != 0:
            return 0
        pid = corral.daemon_pid()
        return pid if pid not in (0, old) and alive(pid) else 0
    return wait_for(check, 20, what="a new daemon")


APP_LINE = re.compile(r"pid \d+ (listening on \d+|shutting down \(\w+\))")


def request_lines(corral, name, pm_ids):
    """The paths in the "req <path> pid=<pid>" lines of the instances' out
    logs, and every line that is neither one nor the app's own (a cut or
    glued line shows up there)."""
    reqs, other = [], []
    for pm_id in pm_ids:
        with open(corral.log_path(name, "out", pm_id), errors="replace") as f:
            for line in f.read().split("\n"):
                if re.fullmatch(r"req /\d+ pid=\d+", line):
                    reqs.append(line.split()[1])
                elif line and not APP_LINE.fullmatch(line):
                    other.append(line)
    return reqs, other
