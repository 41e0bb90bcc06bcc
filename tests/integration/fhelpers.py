"""Helpers shared by the foundation tests (lifecycle, logs, persistence,
daemon, CLI errors): /proc inspection, log reading, app start times."""
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios

from conftest import APPS, CORRAL, HELPERS, SLOW, wait_for


def app(name):
    """Path of a test app in tests/apps."""
    return os.path.join(APPS, name)


def helper(name):
    """Path of a C test helper in build/helpers."""
    return os.path.join(HELPERS, name)


def proc_environ(pid):
    """A process's environment as text. It reads empty for an instant after
    the exec, until the kernel has set up the new stack: waited for."""
    def read():
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    wait_for(read, what=f"pid {pid}'s environment")
    text = read().decode("utf-8", "surrogateescape")
    return dict(e.split("=", 1) for e in text.split("\0") if "=" in e)


def proc_state(pid):
    """The /proc state letter of pid, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


def alive(pid):
    """True while pid exists and is not a zombie."""
    st = proc_state(pid)
    return st is not None and st != "Z"


def edit(path, old, new):
    """Replace old (which must be there) with new in the file at path."""
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def _procs_where(field, value, zombies):
    """Pids whose /proc stat field (0 state, 1 ppid, 2 pgrp) is value."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value and (zombies or fields[0] != b"Z"):
            out.append(int(d))
    return out


def group_members(pgid):
    """Live pids whose process group is pgid."""
    return _procs_where(2, pgid, zombies=False)


def children(ppid):
    """Pids whose parent is ppid, zombies (exited, not yet reaped) included."""
    return _procs_where(1, ppid, zombies=True)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def read_text(path):
    return read_bytes(path).decode("utf-8", "replace")


def wait_log(corral, name, text, stream="out", timeout=10, pm_id=None):
    """Wait until the app's log file contains text; return the log."""
    path = corral.log_path(name, stream, pm_id)
    return wait_for(lambda: text in read_text(path) and read_text(path), timeout,
                    what=f"{text!r} in {path}")


START_RE = re.compile(r"^start (\d+\.\d+) (\d+)$", re.M)


def start_times(corral, name):
    """(time, pid) of every run of tests/apps/crash.py, from its log."""
    return [(float(t), int(p)) for t, p in START_RE.findall(read_text(corral.log_path(name)))]


def run_in_pty(corral, args, env):
    """Run corral with a 200-column terminal as its stdout and stderr (and
    without NO_COLOR unless env sets it); what it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    e = dict(corral.env)
    e.pop("NO_COLOR", None)
    e.update(env)
    p = subprocess.Popen([CORRAL, *args], stdout=slave, stderr=slave, env=e)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 10 * SLOW)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(10)
    os.close(master)
    return out.decode()
