"""Helpers shared by the cluster-mode tests: test apps, who answers a port,
listener state from jlist."""
import os
import shutil
import socket

from conftest import APPS, wait_for
from loadgen import request


def copy_app(tmp_path, name):
    """A private copy of tests/apps/<name> (tests edit it for a new release)."""
    dst = os.path.join(str(tmp_path), name)
    shutil.copy(os.path.join(APPS, name), dst)
    return dst


def wait_ready(corral, name, count=None, timeout=10.0):
    """Wait until every instance of name is online and has bound its ports
    (online alone means running: a worker that binds nothing is online too)."""
    def check():
        ps = corral.procs(name)
        if count is not None and len(ps) != count:
            return False
        return ps and all(p["status"] == "online" and p["ready"] for p in ps)
    try:
        return wait_for(check, timeout, what=f"{name} to be online and bound")
    except AssertionError as e:
        # What each instance was doing, and what the daemon said: a rare
        # failure under load says why in CI's log.
        states = [(p.get("pm_id"), p.get("status"), p.get("ready"), p.get("pid"))
                  for p in corral.procs(name)]
        log = corral.daemon_log().splitlines()[-15:]
        raise AssertionError(f"{e}; instances (pm_id, status, ready, pid): {states}; "
                             f"daemon log:\n" + "\n".join(log)) from None


def start_node(corral, tmp_path, port, instances=4, name="web", args=(), env=None):
    """Start tests/apps/pid_server.js in cluster mode; wait until each
    instance is online and has bound the port."""
    app = copy_app(tmp_path, "pid_server.js")
    e = {"PORT": str(port)}
    e.update(env or {})
    corral.ok("start", app, "-i", instances, "--name", name, *args, env=e)
    wait_ready(corral, name, None if instances in ("max", 0, -1) else int(instances))
    return app


def live_pids(corral, name):
    return {p["pid"] for p in corral.procs(name) if p["pid"]}


def answering(port, want, host="127.0.0.1", family=socket.AF_INET, tries=400, **kw):
    """Pids that answer on port, asking until `want` distinct pids answered
    (or `tries` requests were made)."""
    seen = set()
    for _ in range(tries):
        seen.add(int(request(port, host, family, **kw)["pid"]))
        if len(seen) >= want:
            break
    return seen


def listeners(corral, name):
    """The listener groups of an app from jlist, each with the members of
    every instance: jlist shows each instance with its own members only (and
    the group's size), so that listing n instances costs n, not n²."""
    groups = {}
    for p in corral.procs(name):
        for g in p["listeners"]:
            merged = groups.setdefault(g["address"], dict(g, members=[]))
            merged["members"].extend(g["members"])
    for g in groups.values():
        g["members"].sort(key=lambda m: m["index"])
    return list(groups.values())


def member_of(corral, name, pid):
    """The listener member (dict) that process pid uses, or None."""
    for g in listeners(corral, name):
        for m in g["members"]:
            if m["pid"] == pid:
                return m
    return None


def port_is_free(port, family=socket.AF_INET, host="127.0.0.1"):
    """True if we can listen on port ourselves, as a server would (with
    SO_REUSEADDR: TIME_WAIT leftovers do not count, listeners do)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_port_free(port, timeout=10.0):
    return wait_for(lambda: port_is_free(port) and port_is_free(port, socket.AF_INET6, "::"),
                    timeout, what=f"port {port} to be free")
