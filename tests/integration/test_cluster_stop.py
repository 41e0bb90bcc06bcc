"""Stopping a cluster app leaves nothing behind: wrapper shells and the
servers they spawn all go (each instance has its own process group), the
daemon closes its sockets, and the port is free for anyone."""
import os

from clusterapp import answering, copy_app, live_pids, port_is_free, wait_port_free
from conftest import free_port, pids_with, wait_for
from loadgen import request


def test_sh_c_wrapper_leaves_nothing_and_frees_the_port(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    # `; true` keeps sh from exec'ing node: sh stays as the parent.
    corral.ok("start", f"node {app}; true", "-i", "2", "--name", "web", env={"PORT": str(port)})
    corral.wait_status("web", "online", count=2)
    shells = live_pids(corral, "web")
    servers = wait_for(lambda: len(answering(port, 2)) == 2 and answering(port, 2), 10,
                       what="both servers")
    assert not servers & shells    # the servers are the shells' children
    for pid in servers:
        assert os.getpgid(pid) in shells
    corral.ok("stop", "web")
    assert [p for p in pids_with(corral.home) if p in servers | shells] == []
    # Nothing listens any more, and someone else can take the port.
    wait_port_free(port)
    try:
        request(port, timeout=1)
        raise AssertionError("something still answers")
    except ConnectionRefusedError:
        pass


def test_stop_then_start_again_on_the_same_port(corral, tmp_path):
    port = free_port()
    app = copy_app(tmp_path, "pid_server.js")
    corral.ok("start", app, "-i", "2", "--name", "web", env={"PORT": str(port)})
    corral.wait_status("web", "online", count=2)
    corral.ok("stop", "web")
    assert port_is_free(port)
    corral.ok("start", "web")
    corral.wait_status("web", "online", count=2)
    assert answering(port, 2) == live_pids(corral, "web")
    corral.ok("delete", "web")
    assert port_is_free(port)
