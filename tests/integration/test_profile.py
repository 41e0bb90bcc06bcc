"""corral profile / heapdump / in-app metrics (docs/profiling.md).

Node apps are profiled by corral's agent over their IPC channel; other
programs with perf. The apps are written into the test's temp dir.
"""
import glob
import json
import os
import shutil
import socket
import stat
import subprocess

import pytest

from clusterapp import wait_ready
from conftest import free_port, wait_for, write
from loadgen import Load

BURN_JS = """
function burnCpuForProfile() {
  let x = 0;
  for (let i = 0; i < 300000; i++) x += Math.sqrt(i);
  return x;
}
let n = 0;
setInterval(() => {
  burnCpuForProfile();
  if (++n % 20 === 0) console.log('burned ' + n);
}, 5);
"""


def profiles(corral, ext):
    return sorted(glob.glob(os.path.join(corral.home, "profiles", "*." + ext)))


def log_lines(corral, name, pm_id):
    try:
        with open(corral.log_path(name, "out", pm_id)) as f:
            return f.read().count("\n")
    except OSError:
        return 0


def burn_app(corral, tmp_path, instances=2, name="burn"):
    app = write(str(tmp_path / "burn.js"), BURN_JS)
    corral.ok("start", app, "-i", instances, "--name", name)
    corral.wait_status(name, "online", count=instances)
    return app


def nodes_named(profile, fn):
    return [n for n in profile["nodes"] if n["callFrame"]["functionName"] == fn]


def test_cpu_profile_start_stop_gives_one_cpuprofile_per_instance(corral, tmp_path):
    burn_app(corral, tmp_path)
    out = corral.ok("profile", "start", "burn")
    assert out.count("cpu profile started") == 2
    # Let each instance burn a while (its log counts the calls).
    before = [log_lines(corral, "burn", i) for i in (0, 1)]
    wait_for(lambda: all(log_lines(corral, "burn", i) >= before[i] + 3 for i in (0, 1)),
             timeout=20, what="the instances to burn CPU")
    out = corral.ok("profile", "stop", "burn")
    paths = out.split()
    files = profiles(corral, "cpuprofile")
    assert sorted(paths) == files and len(files) == 2
    pids = {p["pid"] for p in corral.procs("burn")}
    for f in files:
        base = os.path.basename(f)
        assert base.startswith("burn-")
        name, pm_id, pid = base.split("-")[:3]
        assert int(pid) in pids
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        with open(f) as fh:
            prof = json.load(fh)
        assert nodes_named(prof, "burnCpuForProfile"), "the hot function is not in " + f
    # Stopping again: nothing runs.
    err = corral.fail("profile", "stop", "burn")
    assert "no cpu profile is running" in err


def test_profile_duration_and_profile_mem(corral, tmp_path):
    burn_app(corral, tmp_path, instances=1)
    out = corral.ok("profile", "burn", "--duration", "1s")
    (path,) = out.split()
    with open(path) as f:
        assert nodes_named(json.load(f), "burnCpuForProfile")
    out = corral.ok("profile:mem", "burn", "500ms")
    (path,) = out.split()
    assert path.endswith(".heapprofile")
    with open(path) as f:
        heap = json.load(f)
    assert "head" in heap and "samples" in heap
    # profile list shows them; clean removes them.
    listed = corral.ok("profile", "list")
    assert path in listed
    corral.ok("profile", "clean")
    assert not os.listdir(os.path.join(corral.home, "profiles"))
