"""resurrect when the saved list meets a changed machine: a saved app whose
program or working directory is gone (the others come back, each missing
one is named), and a fleet whose specs are far larger than one request may
be (50 apps with a 100 KB environment: a 5 MB dump). Issue 11, defects 1
and 2."""
import json
import os
import time

from conftest import figures, wait_for
from fhelpers import app


def test_resurrect_brings_back_every_app_it_can(corral, tmp_path):
    """One saved app's program and another's working directory are gone (an
    old release removed, a mount not ready at boot): the other apps come
    back, each missing one is named with the reason, and the exit code is 1."""
    gone = tmp_path / "release-1"
    gone.mkdir()
    script = gone / "old.py"
    script.write_text(open(app("loop.py")).read())
    cwd_gone = tmp_path / "mnt"
    cwd_gone.mkdir()
    corral.ok("start", app("loop.py"), "--name", "first")
    corral.ok("start", str(script), "--name", "oldrelease")
    corral.ok("start", app("loop.py"), "--name", "nomount", "--cwd", str(cwd_gone))
    corral.ok("start", app("loop.py"), "--name", "last")
    corral.ok("save")
    corral.ok("kill")
    script.unlink()
    gone.rmdir()
    cwd_gone.rmdir()
    t0 = time.monotonic()
    r = corral.run("resurrect")
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    errs = r.stderr.strip().splitlines()
    assert len(errs) == 2, r.stderr
    assert any("oldrelease" in e and "old.py" in e for e in errs), r.stderr
    assert any("nomount" in e and "mnt" in e for e in errs), r.stderr
    corral.wait_status("first", "online")
    corral.wait_status("last", "online")
    wait_for(lambda: sorted(p["name"] for p in corral.jlist()) == ["first", "last"],
             what="only the apps that could start")
    figures("resurrect_broken_apps", saved=4, back=2, named=len(errs),
            resurrect_s=round(took, 2))


def test_big_fleet_with_a_big_environment_saves_and_comes_back(corral, tmp_path):
    """50 apps that each carry a 100 KB environment variable: save writes
    the environment they share once (the dump was over 5 MB when each app
    had its own copy), resurrect brings back all 50 with it, and a restart
    with a new environment, which sends every spec whole (5 MB), goes
    through although no request may be longer than 4 MiB."""
    big = {"BIG": "x" * 100_000}
    apps = [{"name": f"a{i}", "script": app("loop.py")} for i in range(50)]
    eco = tmp_path / "eco.json"
    eco.write_text(json.dumps({"apps": apps}))
    corral.ok("start", str(eco), env=big, timeout=120)
    wait_for(lambda: len(corral.jlist()) == 50, 60, what="50 apps")
    corral.ok("save")
    dump_bytes = os.path.getsize(os.path.join(corral.home, "dump.json"))
    assert 100_000 < dump_bytes < 1_000_000
    corral.ok("kill")
    t0 = time.monotonic()
    r = corral.run("resurrect", timeout=120)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len([p for p in corral.jlist() if p["status"] == "online"]) == 50, 60,
             what="all 50 apps online again")
    took = time.monotonic() - t0
    pm_id = corral.proc("a7")["pm_id"]
    assert "BIG: " + "x" * 100_000 in corral.ok("env", str(pm_id)).splitlines()
    # A restart of them all with a new environment: 5 MB of specs too.
    t0 = time.monotonic()
    corral.ok("restart", "all", "--update-env", env={"BIG": "y" * 100_000}, timeout=120)
    restart_took = time.monotonic() - t0
    assert "BIG: " + "y" * 100_000 in corral.ok("env", str(pm_id)).splitlines()
    figures("resurrect_big_environment", apps=50, env_bytes=100_000, dump_bytes=dump_bytes,
            resurrect_s=round(took, 2), restart_all_update_env_s=round(restart_took, 2))
