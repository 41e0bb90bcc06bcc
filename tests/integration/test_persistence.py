"""save / kill / resurrect: the dump file (mode 0600, previous kept as .bak,
no temp file left), refusing to replace a saved list with an empty one
unless --force, the round trip through a dead daemon with options and
environment kept, stopped apps coming back stopped, and the fallbacks."""
import json
import os
import stat

from conftest import wait_for
from fhelpers import alive, app, read_text, wait_log


def dump(corral):
    with open(os.path.join(corral.home, "dump.json")) as f:
        return json.load(f)


def saved_env(doc, entry):
    """An app's whole environment in a dump: env_base with its env_delta
    over it (a string sets, null removes), or its own env."""
    spec = entry["spec"]
    if "env_delta" not in spec:
        return spec["env"]
    env = dict(doc["env_base"])
    for k, v in spec["env_delta"].items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_save_kill_resurrect_round_trip(corral):
    env = {"SHOW_VARS": "FOO", "FOO": "saved-value"}
    corral.ok("start", app("show.py"), "--name", "a", "--namespace", "ns", "--restart-delay",
              "250", "--kill-timeout", "900", "--", "arg1", env=env)
    corral.ok("start", app("loop.py"), "--name", "b")
    corral.ok("start", app("loop.py"), "--name", "c", "-f")
    # Crashes while fail_file exists: errored when saved.
    fail_file = os.path.join(corral.home, "fail-now")
    open(fail_file, "w").close()
    flaky = os.path.join(corral.home, "flaky.py")
    with open(flaky, "w") as f:
        f.write("import os, sys, time\n"
                f"if os.path.exists({fail_file!r}): sys.exit(1)\n"
                "while True: time.sleep(1)\n")
    corral.run("start", flaky, "--name", "e", "--max-restarts", "1", "--restart-delay", "0")
    for n in "abc":
        corral.wait_status(n, "online")
    corral.wait_status("e", "errored")
    wait_log(corral, "a", '"FOO": "saved-value"')
    corral.ok("stop", "b")
    out = corral.ok("save")
    assert "4 apps" in out
    path = os.path.join(corral.home, "dump.json")
    assert mode(path) == 0o600
    assert not os.path.exists(path + ".bak")
    assert [f for f in os.listdir(corral.home) if ".tmp" in f] == []
    d = dump(corral)
    assert {e["spec"]["name"]: e["status"] for e in d["apps"]} == \
        {"a": "online", "b": "stopped", "c": "online", "e": "online"}
    assert saved_env(d, d["apps"][0])["FOO"] == "saved-value"
    # The environment the apps share is written once.
    assert d["version"] == 2 and d["env_base"]["FOO"] == "saved-value"
    assert all("env" not in e["spec"] for e in d["apps"])

    old = {p["name"]: p["pid"] for p in corral.jlist()}
    dpid = corral.daemon_pid()
    assert "daemon stopped" in corral.ok("kill")
    assert not alive(dpid)
    assert not any(alive(pid) for pid in old.values() if pid)
    assert not os.path.exists(os.path.join(corral.home, "corral.sock"))

    # Errored apps are tried again (as in PM2): this time e can start.
    os.unlink(fail_file)
    # resurrect starts a new daemon on demand, from another shell (no FOO).
    out = corral.ok("resurrect")
    # It says what it did, after doing it: b was saved stopped and stays so
    # (it said "starting b").
    lines = out.splitlines()
    assert f"corral: b ({app('loop.py')}) is registered, not started (it was saved " \
        "stopped)" in lines, out
    assert f"corral: started a ({app('show.py')}) in fork mode, 1 instance" in lines, out
    assert "starting" not in out and "started b" not in out
    assert corral.daemon_pid() not in (0, dpid)
    corral.wait_status("a", "online")
    corral.wait_status("c", "online")
    assert corral.proc("b")["status"] == "stopped"
    corral.wait_status("e", "online")
    a = corral.proc("a")
    assert a["namespace"] == "ns"
    assert a["spec"]["restart_delay"] == 250 and a["spec"]["kill_timeout"] == 900
    assert a["spec"]["args"] == ["arg1"]
    wait_for(lambda: read_text(corral.log_path("a")).count('"FOO": "saved-value"') == 2,
             what="the resurrected app to see the saved environment")
    # Stopped apps come back stopped, and can be started.
    corral.ok("restart", "b")
    corral.wait_status("b", "online")

    # Resurrecting again starts nothing twice.
    out = corral.ok("resurrect")
    assert "nothing to resurrect" in out
    assert len(corral.jlist()) == 4


def test_save_keeps_previous_as_bak(corral):
    corral.ok("start", app("loop.py"), "--name", "one")
    corral.ok("save")
    first = read_text(os.path.join(corral.home, "dump.json"))
    corral.ok("start", app("loop.py"), "--name", "two", "-f")
    corral.ok("save")
    bak = os.path.join(corral.home, "dump.json.bak")
    assert read_text(bak) == first
    assert mode(bak) == 0o600
    assert [e["spec"]["name"] for e in dump(corral)["apps"]] == ["one", "two"]


def test_empty_list_does_not_replace_a_saved_one(corral):
    corral.ok("start", app("loop.py"), "--name", "keep")
    corral.ok("save")
    saved = read_text(os.path.join(corral.home, "dump.json"))
    corral.ok("delete", "all")
    r = corral.run("save")
    assert r.returncode == 1
    assert "refusing" in r.stderr and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert read_text(os.path.join(corral.home, "dump.json")) == saved
    corral.ok("save", "--force")
    assert dump(corral)["apps"] == []
    assert read_text(os.path.join(corral.home, "dump.json.bak")) == saved
    # An empty list over an empty list needs no force.
    corral.ok("save")


def test_resurrect_without_dump(corral):
    r = corral.run("resurrect")
    assert r.returncode == 1
    assert "nothing saved" in r.stderr


def test_resurrect_falls_back_to_bak(corral):
    corral.ok("start", app("loop.py"), "--name", "x")
    corral.ok("save")
    corral.ok("save")  # .bak == dump.json
    corral.ok("kill")
    with open(os.path.join(corral.home, "dump.json"), "w") as f:
        f.write("{ not json")
    r = corral.run("resurrect")
    assert r.returncode == 0, r.stderr
    assert "dump.json.bak" in r.stderr
    corral.wait_status("x", "online")


def test_resurrect_refuses_garbage(corral):
    os.makedirs(corral.home, exist_ok=True)
    with open(os.path.join(corral.home, "dump.json"), "w") as f:
        f.write('{"apps": 3}')
    r = corral.run("resurrect")
    assert r.returncode == 1
    assert "not a corral dump" in r.stderr
    with open(os.path.join(corral.home, "dump.json"), "w") as f:
        f.write('{"version":1,"apps":[{"spec":{"name":"bad","script":"/bin/true",'
                '"kill_timeout":"soon"},"instances":1,"status":"online"}]}')
    r = corral.run("resurrect")
    assert r.returncode == 1
    assert "kill_timeout" in r.stderr
    assert corral.jlist() == []


def test_cleardump(corral):
    corral.ok("start", app("loop.py"), "--name", "x")
    corral.ok("save")
    corral.ok("cleardump")
    assert dump(corral)["apps"] == []
    assert "nothing to resurrect" in corral.ok("resurrect") or corral.jlist()
    wait_for(lambda: len(corral.jlist()) == 1)


def test_resurrect_reads_the_shared_environment_and_names_a_damaged_one(corral):
    corral.ok("start", app("show.py"), "--name", "own", env={"SHOW_VARS": "SHARED,OWN",
                                                             "SHARED": "s", "OWN": "o"})
    corral.ok("start", app("show.py"), "--name", "other", env={"SHOW_VARS": "SHARED,OWN",
                                                               "SHARED": "s"})
    corral.ok("save")
    corral.ok("kill")
    path = os.path.join(corral.home, "dump.json")
    with open(path) as f:
        doc = json.load(f)
    # Started from two shells: the second app's differences include a removal.
    other = next(e for e in doc["apps"] if e["spec"]["name"] == "other")
    assert other["spec"]["env_delta"]["OWN"] is None
    own = next(e for e in doc["apps"] if e["spec"]["name"] == "own")
    own_env = saved_env(doc, own)
    own_spec = {k: v for k, v in own["spec"].items() if k != "env_delta"}
    corral.ok("resurrect")
    for name in ("own", "other"):
        corral.wait_status(name, "online")
    assert "OWN: o" in corral.ok("env", "own").splitlines()
    other_env = corral.ok("env", "other").splitlines()
    assert "SHARED: s" in other_env and not any(v.startswith("OWN:") for v in other_env)
    corral.ok("kill")
    # A damaged delta costs its app; a damaged base, every app written over it.
    other["spec"]["env_delta"]["OWN"] = 5
    with open(path, "w") as f:
        json.dump(doc, f)
    r = corral.run("resurrect")
    assert r.returncode == 1 and "(other): env_delta.OWN: expected a string or null" in r.stderr
    corral.wait_status("own", "online")
    corral.ok("kill")
    doc["env_base"] = {"SHARED": ["not", "text"]}
    with open(path, "w") as f:
        json.dump(doc, f)
    r = corral.run("resurrect")
    assert r.returncode == 1 and r.stderr.count("env_base.SHARED: expected a string") == 2
    corral.ok("kill")
    # A dump of version 1 has each environment whole.
    doc = {"version": 1, "apps": [{"spec": {**own_spec, "env": own_env}, "instances": 1,
                                   "status": "online"}]}
    with open(path, "w") as f:
        json.dump(doc, f)
    corral.ok("resurrect")
    corral.wait_status("own", "online")
    assert "OWN: o" in corral.ok("env", "own").splitlines()


def test_resurrect_skips_damaged_entries_and_starts_the_rest(corral):
    # A hand-edited dump with broken entries: each is named and skipped, the
    # good apps come back, and the exit code says something was left out.
    corral.ok("start", app("loop.py"), "--name", "good")
    corral.ok("save")
    corral.ok("kill")
    path = os.path.join(corral.home, "dump.json")
    with open(path) as f:
        doc = json.load(f)
    doc["apps"] += [{"spec": {"name": "noscript"}, "instances": 1, "status": "online"},
                    {"spec": {"name": "badtype", "script": 42}, "instances": 1},
                    {"nospec": True}, 7]
    with open(path, "w") as f:
        json.dump(doc, f)
    r = corral.run("resurrect")
    assert r.returncode == 1
    errs = r.stderr.strip().splitlines()
    assert len(errs) == 4, r.stderr
    assert "app 1 (noscript): script" in errs[0] and errs[0].endswith("skipped")
    assert "app 2 (badtype): script" in errs[1]
    assert "app 3:" in errs[2] and "app 4:" in errs[3]
    assert "(null)" not in r.stdout + r.stderr
    corral.wait_status("good", "online")
    assert [p["name"] for p in corral.jlist()] == ["good"]

