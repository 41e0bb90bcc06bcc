"""`corral start` with several arguments, with apps piped in as JSON
(`start -`), and what it prints: what happened to each app, after it
happened."""
import json

from conftest import write
from fhelpers import app


def start_lines(out):
    return [line for line in out.splitlines() if line.startswith("corral: ")]


def table_count(out):
    return sum(1 for line in out.splitlines() if line.startswith("┌"))


def test_start_says_what_happened_after_it_happened(corral):
    loop = app("loop.py")
    out = corral.ok("start", loop, "--name", "web")
    assert start_lines(out) == [f"corral: started web ({loop}) in fork mode, 1 instance"]
    # Refused: it printed "starting web ..." first, then the refusal.
    r = corral.run("start", loop, "--name", "web")
    assert r.returncode == 1 and "already running" in r.stderr
    assert r.stdout == "", r.stdout
    out = corral.ok("start", loop, "--name", "idle", "--no-autostart")
    assert start_lines(out) == [f"corral: idle ({loop}) is registered, not started "
                                "(autostart is off)"]
    assert corral.proc("idle")["status"] == "stopped"


def test_start_several_scripts(corral):
    # PM2 starts each; corral said "one script at a time".
    loop, crash = app("loop.py"), app("crash.py")
    out = corral.ok("start", loop, crash, "--no-autorestart")
    assert start_lines(out) == [f"corral: started loop ({loop}) in fork mode, 1 instance",
                                f"corral: started crash ({crash}) in fork mode, 1 instance"]
    assert table_count(out) == 1  # one table, at the end
    assert sorted(p["name"] for p in corral.jlist()) == ["crash", "loop"]
    # A --name cannot name two apps.
    r = corral.run("start", loop, crash, "--name", "x")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "--name" in r.stderr
    # The first failure stops: what comes after it is not started.
    r = corral.run("start", "/nonexistent/a.py", app("show.py"))
    assert r.returncode == 1 and "/nonexistent/a.py" in r.stderr
    assert "show" not in [p["name"] for p in corral.jlist()]


def test_start_apps_from_standard_input(corral, tmp_path):
    # `cat apps.json | pm2 start -`: an array of apps or {"apps": [...]};
    # what runs already is restarted with the new settings.
    loop = app("loop.py")
    apps = [{"name": "a", "script": loop}, {"name": "b", "script": loop, "instances": 2,
                                            "exec_mode": "fork"}]
    out = corral.ok("start", "-", input=json.dumps(apps))
    assert start_lines(out) == [f"corral: started a ({loop}) in fork mode, 1 instance",
                                f"corral: started b ({loop}) in fork mode, 2 instances"]
    corral.wait_status("a", "online")
    corral.wait_status("b", "online", count=2)
    # Relative paths resolve against the current directory.
    write(str(tmp_path / "c.py"), "import time\nwhile True: time.sleep(1)\n")
    corral.ok("start", "-", cwd=str(tmp_path),
              input=json.dumps({"apps": [{"name": "a", "script": loop, "env": {"X": "1"}},
                                         {"name": "c", "script": "c.py"}]}))
    corral.wait_status("c", "online")
    assert corral.proc("c")["spec"]["script"] == str(tmp_path / "c.py")
    corral.wait_status("a", "online")
    assert corral.proc("a")["restarts"] == 1
    assert json.loads(corral.ok("env", "a", "--json"))["X"] == "1"
    # Bad input: one line that says where.
    r = corral.run("start", "-", input='[{"name": "d", "script": }]')
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("corral start: <stdin>:1:"), r.stderr
    r = corral.run("start", "-", loop, input="[]")
    assert r.returncode == 1 and "standard input" in r.stderr
    assert sorted(p["name"] for p in corral.jlist()) == ["a", "b", "b", "c"]
