"""The chaos suite drives the real daemon under hostile conditions (a full
disk, floods of clients, descriptor exhaustion, crash loops) with bounded
loads. It uses the integration suite's fixtures and helpers: this file
loads tests/integration/conftest.py under another module name and exposes
what it defines, so `corral`, `wait_for`, `SLOW`... are the same objects,
and tests/integration is on sys.path for fhelpers.

Every chaos test prints its figures on a line starting with "chaos:" (run
pytest with -s, as tests/run does) so the numbers can be compared over time.
"""
import importlib.util
import os
import resource
import socket
import sys

import pytest

_INTEGRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

_spec = importlib.util.spec_from_file_location(
    "integration_conftest", os.path.join(_INTEGRATION, "conftest.py"))
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
# fhelpers does `from conftest import ...`: when this file is the conftest
# pytest loaded, that must find the shared definitions here.
globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})


def figures(test, **numbers):
    """Print one line of figures for the record: 'chaos: <test> k=v ...'."""
    print("chaos: %s %s" % (test, " ".join(f"{k}={v}" for k, v in numbers.items())),
          flush=True)


def cpu_ticks(pid):
    """utime + stime of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def daemon_fds(corral):
    """How many descriptors the daemon holds."""
    return len(os.listdir(f"/proc/{corral.daemon_pid()}/fd"))


@pytest.fixture
def sockets(corral):
    """Room for thousands of sockets in this test process, and a list for
    them: the sockets in it are closed before the daemon is stopped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        pytest.skip(f"the descriptor limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    made = []
    yield made
    for s in made:
        s.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(corral, sockets, data=b""):
    """A client that sends data (what its socket takes) and reads nothing."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sockets.append(s)
    s.connect(corral.home + "/corral.sock")  # blocking: waits for a backlog slot
    s.setblocking(False)
    try:
        s.send(data)
    except BlockingIOError:
        pass
    return s
