"""Smoke tests: the shortest path through start, list, stop, delete, kill."""
import os

from conftest import wait_for, write


def test_start_list_stop_delete(corral, tmp_path):
    app = write(str(tmp_path / "loop.py"), "import time\nprint('up', flush=True)\nwhile True: time.sleep(1)\n")
    out = corral.ok("start", app, "--name", "loop")
    assert "loop" in out
    p = corral.wait_status("loop", "online")[0]
    assert p["pid"] > 0 and os.path.exists(f"/proc/{p['pid']}")
    assert "online" in corral.ok("list")
    wait_for(lambda: "up" in open(corral.log_path("loop")).read(), what="the app's first line")
    corral.ok("stop", "loop")
    assert corral.proc("loop")["status"] == "stopped"
    assert not os.path.exists(f"/proc/{p['pid']}")
    corral.ok("delete", "loop")
    assert corral.jlist() == []


def test_missing_script_fails_at_once(corral):
    err = corral.fail("start", "/nonexistent/app.js")
    assert "no such file" in err


def test_unknown_verb_suggests(corral):
    err = corral.fail("strat")
    assert 'did you mean "start"' in err
