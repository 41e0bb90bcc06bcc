"""Cluster mode serves one port from many instances of an unmodified app:
Node (dual-stack [::]), python3 -m http.server, a C server using LISTEN_FDS;
what list/describe/jlist show; which binds are shared; -i max/0/-1."""
import http.client
import json
import os
import socket
import subprocess
import urllib.request

from clusterapp import (answering, copy_app, listeners, live_pids, port_is_free, start_node,
                        wait_port_free, wait_ready)
from conftest import HELPERS, free_port, http_get, wait_for, write
from loadgen import request


def test_node_four_instances_answer_on_one_port_v4_and_v6(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 4)
    pids = live_pids(corral, "web")
    assert len(pids) == 4
    # Node's listen(port) binds the dual-stack [::]: IPv4 and IPv6 clients
    # reach the same four processes.
    assert answering(port, 4) == pids
    assert answering(port, 4, host="::1", family=socket.AF_INET6) == pids
    (g,) = listeners(corral, "web")
    assert g["address"] == f"[::]:{port}" and g["lb"] == "least-busy"
    assert sorted(m["pid"] for m in g["members"]) == sorted(pids)
    assert all(m["gets_traffic"] for m in g["members"])
    # Instances got NODE_APP_INSTANCE 0..3.
    assert sorted(p["instance"] for p in corral.procs("web")) == [0, 1, 2, 3]


def test_python_http_server_two_instances(corral, tmp_path):
    port = free_port()
    write(str(tmp_path / "index.html"), "hello from python\n")
    corral.ok("start", f"python3 -m http.server {port}", "-i", "2", "--name", "web",
              cwd=str(tmp_path))
    corral.wait_status("web", "online", count=2)
    assert {p["mode"] for p in corral.procs("web")} == {"cluster"}
    # http.server logs each request on stderr: both instances must serve.
    logs = [corral.log_path("web", "error", i) for i in (0, 1)]

    def both_served():
        http_get(port, path="/index.html")
        return all(os.path.exists(f) and '"GET /index.html' in open(f).read() for f in logs)
    wait_for(both_served, 20, interval=0, what="both python instances to answer")
    assert http_get(port, path="/index.html") == b"hello from python\n"
    # http.server binds what getaddrinfo(None) gives first (0.0.0.0 here).
    (g,) = listeners(corral, "web")
    assert g["address"].endswith(f":{port}") and len(g["members"]) == 2


def check_cserver(corral, port, name):
    corral.wait_status(name, "online", count=2)
    pids = live_pids(corral, name)
    assert answering(port, 2) == pids
    ans = request(port)
    assert ans["fds"] == "1" and ans["names"] == f"127.0.0.1:{port}"
    (g,) = listeners(corral, name)
    assert g["address"] == f"127.0.0.1:{port}"
    assert sorted(m["pid"] for m in g["members"]) == sorted(pids)


def test_c_server_with_listen_fds(corral, tmp_path):
    port = free_port()
    corral.ok("start", os.path.join(HELPERS, "cserver"), "--listen", f"127.0.0.1:{port}",
              "-i", "2", "--interpreter", "none", "--name", "c")
    check_cserver(corral, port, "c")
    corral.ok("stop", "c")
    assert port_is_free(port)


def test_c_server_listen_from_ecosystem_file(corral, tmp_path):
    port = free_port()
    eco = write(str(tmp_path / "ecosystem.json"), json.dumps({"apps": [{
        "name": "ceco", "script": os.path.join(HELPERS, "cserver"), "interpreter": "none",
        "instances": 2, "listen": [f"127.0.0.1:{port}"]}]}))
    corral.ok("start", eco)
    check_cserver(corral, port, "ceco")


def test_list_describe_jlist_show_the_cluster(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 2, args=("--lb", "sticky"))
    out = corral.ok("list")
    assert out.count("cluster") == 2
    desc = corral.ok("describe", "web")
    assert f"[::]:{port}" in desc and "lb=sticky" in desc
    for p in corral.procs("web"):
        assert f"pid {p['pid']}" in desc
    assert "in rotation" in desc
    for p in corral.procs("web"):
        assert p["mode"] == "cluster" and p["pm2_env"]["exec_mode"] == "cluster_mode"
        # Each instance lists its own member, and the group's size.
        (g,) = p["listeners"]
        assert g["address"] == f"[::]:{port}" and g["lb"] == "sticky"
        assert [m["pm_id"] for m in g["members"]] == [p["pm_id"]]
        assert g["size"] == 2 and g["in_rotation"] == 2


def test_instances_max_follows_cpu_affinity(corral, tmp_path):
    # The daemon computes `max` from its own affinity mask: start it (and
    # the CLI) under taskset -c 0, so max = 1 CPU whatever the host has.
    app = copy_app(tmp_path, "pid_server.js")
    from conftest import CORRAL

    def run(*args):
        env = dict(corral.env, PORT=str(free_port()))
        r = subprocess.run(["taskset", "-c", "0", CORRAL, *args], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    for name, n in (("m", "max"), ("z", "0"), ("n", "-1")):
        run("start", app, "-i", n, "--name", name, "-f")
        corral.wait_status(name, "online", count=1)
    assert {p["mode"] for p in corral.jlist()} == {"cluster"}
    assert len(corral.jlist()) == 3


def test_instances_max_and_minus_one_without_taskset(corral, tmp_path):
    port = free_port()
    ncpu = len(os.sched_getaffinity(0))
    start_node(corral, tmp_path, port, "max", name="m")
    assert len(corral.procs("m")) == ncpu
    app = copy_app(tmp_path, "pid_server.js")
    corral.ok("start", app, "-i", "-1", "--name", "n", env={"PORT": str(free_port())})
    assert len(corral.procs("n")) == max(1, ncpu - 1)


def test_preload_falls_back_when_the_daemon_is_gone(tmp_path):
    # No daemon at the other end of CORRAL_BROKER_FD: the app binds by itself.
    port = free_port()
    preload = os.path.join(os.path.dirname(HELPERS), "libcorral-preload.so")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.close()
    env = dict(os.environ, LD_PRELOAD=preload, CORRAL_BROKER_FD=str(a.fileno()),
               PORT=str(port))
    app = copy_app(tmp_path, "pid_server.js")
    p = subprocess.Popen(["node", app], env=env, pass_fds=[a.fileno()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    a.close()
    try:
        ans = wait_for(lambda: request(port, timeout=1), 10, what="the app to serve")
        assert int(ans["pid"]) == p.pid
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    assert ("corral-preload: cannot reach the corral daemon's broker (CORRAL_BROKER_FD: "
            "cannot send on it: EPIPE; CORRAL_BROKER_SOCKET: not set): "
            f"port {port} is not shared; binding [::]:{port} directly") in err


def test_inspector_port_is_never_shared(corral, tmp_path):
    port, inspect = free_port(), free_port()
    start_node(corral, tmp_path, port, 1, args=("--node-args", f"--inspect=127.0.0.1:{inspect}"))
    pid = corral.proc("web")["pid"]
    # The inspector answers on its port, bound by node itself...
    with urllib.request.urlopen(f"http://127.0.0.1:{inspect}/json/version", timeout=5) as r:
        assert "node.js" in json.load(r)["Browser"]
    # ...and corral only holds the app's port.
    assert [g["address"] for g in listeners(corral, "web")] == [f"[::]:{port}"]
    assert answering(port, 1) == {pid}


def test_inspector_port_from_node_options_is_never_shared(corral, tmp_path):
    port, inspect = free_port(), free_port()
    start_node(corral, tmp_path, port, 1, env={"NODE_OPTIONS": f"--inspect=127.0.0.1:{inspect}"})
    with urllib.request.urlopen(f"http://127.0.0.1:{inspect}/json/version", timeout=5) as r:
        assert "node.js" in json.load(r)["Browser"]
    assert [g["address"] for g in listeners(corral, "web")] == [f"[::]:{port}"]


def test_share_ports_narrows_sharing(corral, tmp_path):
    port, port2 = free_port(), free_port()
    start_node(corral, tmp_path, port, 1, args=("--share-ports", str(port)),
               env={"PORT2": str(port2)})
    pid = corral.proc("web")["pid"]
    assert [g["address"] for g in listeners(corral, "web")] == [f"[::]:{port}"]
    # port2 is served, through the app's own bind.
    wait_for(lambda: http_get(port2) == f"second pid={pid}\n".encode(), 10,
             what="the unshared port to serve")
    corral.ok("stop", "web")
    wait_port_free(port)
    assert port_is_free(port2)


def test_second_app_on_the_same_port_is_refused(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 2, name="first")
    first = live_pids(corral, "first")
    app2 = copy_app(tmp_path, "pid_server.js")
    corral.run("start", app2, "-i", "1", "--name", "second", "--no-autorestart",
               "--min-uptime", "0", env={"PORT": str(port)})
    err_log = corral.log_path("second", "error", 2)
    wait_for(lambda: "EADDRINUSE" in open(err_log).read(), 10, what="second's EADDRINUSE")
    text = open(err_log).read()
    assert f"the corral daemon refused [::]:{port}: [::]:{port} is already used by app first" \
        in text, text
    assert answering(port, 2) == first


def test_a_port_held_by_a_stranger_with_so_reuseport_is_refused(corral, tmp_path):
    """A process corral does not manage (here: this test; in life, an app
    left by a daemon that was SIGKILLed) listens with SO_REUSEPORT. corral's
    socket must not join its group, or connections would go to the stranger."""
    port = free_port()
    stranger = socket.socket()
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    stranger.bind(("0.0.0.0", port))
    stranger.listen(64)
    try:
        app = copy_app(tmp_path, "pid_server.js")
        corral.run("start", app, "-i", "2", "--name", "web", "--no-autorestart",
                   "--min-uptime", "0", env={"PORT": str(port)})
        err_log = corral.log_path("web", "error", 0)
        wait_for(lambda: "EADDRINUSE" in open(err_log).read(), 10, what="EADDRINUSE")
        assert f"cannot listen on [::]:{port}: another process already listens there" \
            in open(err_log).read()
        # Both instances fail the same way; the empty group goes with the last.
        wait_for(lambda: listeners(corral, "web") == [], 10, what="no listener group")
    finally:
        stranger.close()
    # Once it is gone, the port is corral's.
    corral.ok("restart", "web")
    wait_ready(corral, "web", 2)
    assert answering(port, 2) == live_pids(corral, "web")


def test_ipv6_only_and_ipv4_apps_share_a_port_number(corral, tmp_path):
    # [::]:P with IPV6_V6ONLY does not cover IPv4: another app may take
    # 0.0.0.0:P, and each family reaches its own app.
    port = free_port()
    start_node(corral, tmp_path, port, 2, name="six", env={"IPV6ONLY": "1"})
    start_node(corral, tmp_path, port, 2, name="four", env={"HOST": "0.0.0.0"})
    assert answering(port, 2, host="::1", family=socket.AF_INET6) == live_pids(corral, "six")
    assert answering(port, 2) == live_pids(corral, "four")
    assert [g["address"] for g in listeners(corral, "six")] == [f"[::]:{port}"]
    assert [g["address"] for g in listeners(corral, "four")] == [f"0.0.0.0:{port}"]


def test_each_instance_gets_its_own_inspector(corral, tmp_path):
    """--node-args=--inspect in cluster mode: instance i debugs on the port +
    i, describe shows it, and the app's port is still shared."""
    port = free_port()
    # Two ports in a row for the two inspectors, neither the app's.
    base = free_port()
    while base + 1 == port or base == port + 1 or not port_is_free(base + 1):
        base = free_port()
    start_node(corral, tmp_path, port, 2, args=(f"--node-args=--inspect=127.0.0.1:{base}",))
    ps = sorted(corral.procs("web"), key=lambda p: p["instance"])
    assert [p["inspect_port"] for p in ps] == [base, base + 1]

    def debugger(p):
        try:
            c = http.client.HTTPConnection("127.0.0.1", p, timeout=2)
            c.request("GET", "/json/version")
            return "node.js" in json.loads(c.getresponse().read())["Browser"]
        except OSError:
            return False
    for p in ps:
        wait_for(lambda: debugger(p["inspect_port"]), 10, what=f"a debugger on {p['inspect_port']}")
    assert answering(port, 2) == live_pids(corral, "web")
    assert [g["address"] for g in listeners(corral, "web")] == [f"[::]:{port}"]
