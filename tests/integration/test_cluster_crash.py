"""An instance killed with SIGKILL under load: new connections go to the
others at once, and the connections already queued on its own listener
are served, not reset (by its replacement, on the same socket).

A request that the killed process had already accepted dies with it: that
is not something a process manager can save. So the victim is first
stopped (SIGSTOP) with no connection of its own open, and connections are
left to pile up in its listener's queue; then it is killed."""
import os
import re
import signal
import struct

from clusterapp import listeners, live_pids, member_of, start_node
from conftest import wait_for
from loadgen import Load

from conftest import free_port


def established(pid):
    """Established TCP connections held by process pid."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "01" and cols[9] in inodes:
                    n += 1
    return n


def freeze_idle(pid):
    """SIGSTOP pid at a moment it holds no accepted connection."""
    def attempt():
        os.kill(pid, signal.SIGSTOP)
        if established(pid) == 0:
            return True
        os.kill(pid, signal.SIGCONT)
        return False
    wait_for(attempt, 10, interval=0.005, what=f"pid {pid} to be idle")


def kill_with_queue(corral, victim, load):
    """Freeze victim, let connections queue on its listener, SIGKILL it.
    Returns the monotonic time of the kill."""
    freeze_idle(victim)
    wait_for(lambda: member_of(corral, "web", victim)["queued"] >= 2, 15,
             what="connections to queue on the frozen instance")
    import time
    t_kill = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    return t_kill


def test_kill_9_under_load_loses_nothing(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 4)
    procs = corral.procs("web")
    victim = procs[1]["pid"]
    old = live_pids(corral, "web")
    with Load(port, threads=6) as load:
        load.wait_more(100)
        t_kill = kill_with_queue(corral, victim, load)
        # The instance comes back: a new pid for the same pm_id, online.
        wait_for(lambda: corral.procs("web")[1]["pid"] not in (0, victim) and
                 corral.procs("web")[1]["status"] == "online", 15, what="the replacement")
        replacement = corral.procs("web")[1]["pid"]
        load.wait_more(200)
    assert load.failures == [], load.failures[:5]
    assert live_pids(corral, "web") == (old - {victim}) | {replacement}
    assert corral.procs("web")[1]["restarts"] == 1
    # Requests sent before the kill were answered by the replacement: they
    # had waited in the dead instance's queue, on the same socket.
    before_kill = [pid for (t, _, pid) in load.results if t < t_kill]
    assert replacement in before_kill
    assert replacement in load.pids_since(t_kill)


def test_kill_9_without_autorestart_hands_the_queue_on(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 4, args=("--no-autorestart",))
    victim = corral.procs("web")[2]["pid"]
    old = live_pids(corral, "web")
    with Load(port, threads=6) as load:
        load.wait_more(100)
        t_kill = kill_with_queue(corral, victim, load)
        corral.wait_status(corral.procs("web")[2]["pm_id"], "stopped")
        load.wait_more(200)
    assert load.failures == [], load.failures[:5]
    # The connections queued on the dead instance were served by others.
    assert {pid for (t, _, pid) in load.results if t < t_kill} <= old
    assert load.pids_since(t_kill) <= old - {victim}
    import re
    m = re.search(r"with (\d+) queued connections?, (\d+) relayed", corral.daemon_log())
    assert m and int(m.group(1)) >= 2 and m.group(1) == m.group(2), corral.daemon_log()[-2000:]
    (g,) = listeners(corral, "web")
    assert len(g["members"]) == 3 and g["size"] == 3


HOLDER = """import os, socket, time
# Accepts and holds every connection, never reads, never answers.
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_relayed_client_that_resets_ends_its_relay(corral, tmp_path):
    """A connection queued on a dead instance is relayed by the daemon to
    the others. If its client half-closes and then resets while the app has
    not answered, the relay must end, not spin on the hang-up."""
    import socket
    import time
    port = free_port()
    app = tmp_path / "holder.py"
    app.write_text(HOLDER)
    corral.ok("start", str(app), "-i", "2", "--name", "web", "--lb", "even",
              "--no-autorestart", env={"PORT": str(port)})
    procs = corral.wait_status("web", "online", count=2)
    victim = procs[0]["pid"]
    wait_for(lambda: member_of(corral, "web", victim), 10, what="the victim's member")
    os.kill(victim, signal.SIGSTOP)
    clients = []

    other = procs[1]["pid"]

    def one_queued_on_the_victim():
        queued, held = member_of(corral, "web", victim)["queued"], established(other)
        c = socket.create_connection(("127.0.0.1", port))
        clients.append(c)
        # It lands in the frozen victim's queue, or the other one takes it.
        on_victim = wait_for(lambda: (member_of(corral, "web", victim)["queued"] > queued and
                                      "victim") or (established(other) > held and "other"),
                             5, what="the connection to land")
        return on_victim == "victim" and c
    c = wait_for(one_queued_on_the_victim, 20, what="a connection queued on the victim")
    c.sendall(b"hello")
    c.shutdown(socket.SHUT_WR)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: re.search(r"queued connections?, [1-9]\d* relayed", corral.daemon_log()),
             10, what="the queue to be relayed")
    # Reset from the client's side.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    dpid = corral.daemon_pid()
    wait_for(lambda: established(dpid) == 0, 10, what="the relay to close")
    t0, ticks0 = time.monotonic(), cpu_ticks(dpid)
    wait_for(lambda: time.monotonic() - t0 >= 1, 5, what="a second")
    assert cpu_ticks(dpid) - ticks0 < 30  # a spinning loop would use ~100
    for x in clients:
        x.close()
