"""Ecosystem files started for real: environments, --only, the file verbs,
restart --update-env, and the options that need a running app (logs, pid
files, max_memory_restart, cron_restart, watch)."""
import json
import os
import re
import pwd
import shutil
import sys
import tempfile
import time

import pytest

from conftest import ROOT, SLOW, wait_for, write
from fhelpers import proc_environ

PY = sys.executable

# Prints the variables named in argv[1] as one JSON line, then stays up.
ENV_APP = """import json, os, sys, time
keys = sys.argv[1].split(",")
print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
while True:
    time.sleep(1)
"""

# Prints when it started, then stays up.
TICK_APP = """import time
print("start %.3f" % time.time(), flush=True)
while True:
    time.sleep(1)
"""


def env_lines(corral, name, pm_id=None):
    """The JSON lines an ENV_APP instance printed."""
    path = corral.log_path(name, pm_id=pm_id)
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path).read().splitlines() if l.startswith("{")]


def env_of(corral, name, pm_id=None, count=1):
    """The environment the count-th run of an instance reported."""
    return wait_for(lambda: len(env_lines(corral, name, pm_id)) >= count
                    and env_lines(corral, name, pm_id)[count - 1], what=f"{name} to print its env")


def stays(cond, seconds):
    """cond() holds for the whole time (something must NOT happen)."""
    deadline = time.monotonic() + seconds * SLOW
    while time.monotonic() < deadline:
        assert cond()
        time.sleep(0.05)


def names_status(corral):
    return {p["name"]: p["status"] for p in corral.jlist()}


# ---- environments ----

def test_env_reaches_the_process_and_env_production_overrides(corral, tmp_path):
    write(str(tmp_path / "envapp.py"), ENV_APP)
    keys = "LEVEL,ONLY_APP,ONLY_PROD,FROM_SHELL,PORT,NODE_APP_INSTANCE,pm_id,name,namespace,COUNTER,DEPLOY"
    cfg = {
        "apps": [{
            "name": "envapp", "script": "envapp.py", "interpreter": PY, "args": [keys],
            "instances": 2, "exec_mode": "fork", "namespace": "team", "port": 4567,
            "increment_var": "COUNTER",
            "env": {"LEVEL": "app", "ONLY_APP": "yes", "COUNTER": 10},
            "env_production": {"LEVEL": "production", "ONLY_PROD": "yes"},
        }],
        "deploy": {"production": {"env": {"DEPLOY": "d", "LEVEL": "deploy"}}},
    }
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path, env={"FROM_SHELL": "shell"})
    first = [env_of(corral, "envapp", pm_id=i) for i in (0, 1)]
    assert first[0] == {"LEVEL": "app", "ONLY_APP": "yes", "ONLY_PROD": None, "FROM_SHELL": "shell",
                        "PORT": "4567", "NODE_APP_INSTANCE": "0", "pm_id": "0", "name": "envapp",
                        "namespace": "team", "COUNTER": "10", "DEPLOY": None}
    assert first[1]["NODE_APP_INSTANCE"] == "1" and first[1]["COUNTER"] == "11"
    corral.ok("delete", path)

    # --env production: deploy env < env < env_production
    corral.ok("start", path, "--env", "production", env={"FROM_SHELL": "shell"})
    pm_id = corral.procs("envapp")[0]["pm_id"]
    # pm_ids start again from 0 once the table is empty: the same log file.
    second = env_of(corral, "envapp", pm_id=pm_id, count=2 if pm_id == 0 else 1)
    assert second["LEVEL"] == "production"
    assert second["ONLY_PROD"] == "yes" and second["ONLY_APP"] == "yes" and second["DEPLOY"] == "d"


def test_filter_env_keeps_the_shell_out(corral, tmp_path):
    write(str(tmp_path / "envapp.py"), ENV_APP)
    cfg = {"apps": [
        {"name": "none", "script": "envapp.py", "interpreter": PY, "args": "SECRET_X,PUBLIC,OWN",
         "filter_env": True, "env": {"OWN": "1"}},
        {"name": "some", "script": "envapp.py", "interpreter": PY, "args": "SECRET_X,PUBLIC,OWN",
         "filter_env": ["SECRET"]},
    ]}
    path = write(str(tmp_path / "eco.yaml"), json.dumps(cfg))  # JSON is YAML too
    corral.ok("start", path, env={"SECRET_X": "s", "PUBLIC": "p"})
    assert env_of(corral, "none") == {"SECRET_X": None, "PUBLIC": None, "OWN": "1"}
    assert env_of(corral, "some") == {"SECRET_X": None, "PUBLIC": "p", "OWN": None}


def test_restart_update_env_really_removes_variables(corral, tmp_path):
    write(str(tmp_path / "envapp.py"), ENV_APP)
    cfg = {"apps": [{"name": "upd", "script": "envapp.py", "interpreter": PY, "args": "X",
                     "env": {"KEEP": "1", "DROP": "2"}}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path, env={"SHELL_A": "a"})
    env = proc_environ(corral.wait_status("upd", "online")[0]["pid"])
    assert env["KEEP"] == "1" and env["DROP"] == "2" and env["SHELL_A"] == "a"

    # The file no longer has DROP: restarting with the file removes it.
    cfg["apps"][0]["env"] = {"KEEP": "1", "ADDED": "3"}
    write(path, json.dumps(cfg))
    corral.ok("restart", path, env={"SHELL_A": "a"})
    env = proc_environ(corral.wait_status("upd", "online")[0]["pid"])
    assert "DROP" not in env and env["ADDED"] == "3" and env["KEEP"] == "1"

    # A plain restart keeps the environment it had.
    corral.ok("restart", "upd", env={"SHELL_A": "changed", "SHELL_B": "b"})
    env = proc_environ(corral.wait_status("upd", "online")[0]["pid"])
    assert env["SHELL_A"] == "a" and "SHELL_B" not in env

    # --update-env takes this shell's: SHELL_A changes, a variable gone from
    # the shell is gone from the app, the app's own variables stay.
    corral.ok("restart", "upd", "--update-env", env={"SHELL_A": "changed", "SHELL_B": "b"})
    env = proc_environ(corral.wait_status("upd", "online")[0]["pid"])
    assert env["SHELL_A"] == "changed" and env["SHELL_B"] == "b" and env["ADDED"] == "3"
    e = dict(corral.env)
    e.pop("SHELL_A", None)
    corral.env = e
    corral.ok("restart", "upd", "--update-env")
    env = proc_environ(corral.wait_status("upd", "online")[0]["pid"])
    assert "SHELL_A" not in env and "SHELL_B" not in env and env["KEEP"] == "1"


# ---- --only and the file verbs ----

def test_only_for_start_restart_stop_delete(corral, tmp_path):
    write(str(tmp_path / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": n, "script": "tick.py", "interpreter": PY} for n in ("a", "b", "c")]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path, "--only", "a,b")
    assert names_status(corral) == {"a": "online", "b": "online"}
    corral.ok("start", path, "--only", "c")
    # PM2's stop and delete compare --only with each name as one string;
    # a list works here.
    corral.ok("stop", path, "--only", "a,c")
    assert names_status(corral) == {"a": "stopped", "b": "online", "c": "stopped"}
    restarts = corral.proc("b")["restarts"]
    corral.ok("restart", path, "--only", "b")
    assert corral.proc("b")["restarts"] == restarts + 1
    assert names_status(corral)["a"] == "stopped"
    corral.ok("reload", path, "--only", "a c")
    assert names_status(corral) == {"a": "online", "b": "online", "c": "online"}
    corral.ok("delete", path, "--only", "b,c")
    assert names_status(corral) == {"a": "online"}
    err = corral.fail("stop", path, "--only", "a,zz")
    assert "--only zz: no app of that name" in err
    assert names_status(corral) == {"a": "online"}
    corral.ok("delete", path)
    assert corral.jlist() == []


def test_start_or_restart_and_start_or_reload(corral, tmp_path):
    write(str(tmp_path / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": "one", "script": "tick.py", "interpreter": PY}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("startOrRestart", path)
    assert corral.proc("one")["restarts"] == 0
    cfg["apps"].append({"name": "two", "script": "tick.py", "interpreter": PY, "env": {"N": "2"}})
    write(path, json.dumps(cfg))
    corral.ok("startOrRestart", path)
    assert corral.proc("one")["restarts"] == 1 and corral.proc("two")["restarts"] == 0
    corral.ok("startOrReload", path)
    assert corral.proc("one")["restarts"] == 2 and corral.proc("two")["restarts"] == 1
    assert proc_environ(corral.proc("two")["pid"])["N"] == "2"
    # PM2: `start <file>` again restarts the running apps with the file's settings.
    cfg["apps"][1]["env"] = {"N": "3"}
    write(path, json.dumps(cfg))
    corral.ok("start", path)
    assert corral.proc("one")["restarts"] == 3 and corral.proc("two")["restarts"] == 2
    assert proc_environ(corral.proc("two")["pid"])["N"] == "3"
    # The number of instances is changed by scale, not by a restart: said so.
    cfg["apps"][0].update({"instances": 2, "exec_mode": "fork"})
    write(path, json.dumps(cfg))
    r = corral.run("startOrRestart", path)
    assert r.returncode == 0, r.stderr
    assert "app 'one' keeps its 1 instance (the file says 2; corral scale one 2 changes it)" in r.stderr
    assert len(corral.procs("one")) == 1


def test_default_file_and_formats(corral, tmp_path):
    """No argument means ./ecosystem.config.js; .mjs and .yml start too."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    write(str(tmp_path / "tick.py"), TICK_APP)
    write(str(tmp_path / "ecosystem.config.js"),
          f"module.exports = {{apps: [{{name: 'js', script: 'tick.py', interpreter: {json.dumps(PY)}}}]}};\n")
    write(str(tmp_path / "eco.config.mjs"),
          f"export default {{apps: [{{name: 'mjs', script: 'tick.py', interpreter: {json.dumps(PY)}}}]}};\n")
    write(str(tmp_path / "eco.yml"), f"apps:\n  - name: yml\n    script: tick.py\n    interpreter: {PY}\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    corral.ok("start", cwd=str(tmp_path))
    # relative paths in a file resolve against the file's directory
    corral.ok("start", str(tmp_path / "eco.config.mjs"), cwd=str(other))
    corral.ok("start", str(tmp_path / "eco.yml"), cwd=str(other))
    assert names_status(corral) == {"js": "online", "mjs": "online", "yml": "online"}
    assert corral.proc("mjs")["spec"]["cwd"] == str(tmp_path)
    err = corral.fail("start", cwd=str(other))
    assert "no ecosystem.config.js in this directory" in err


def test_node_shebang_script_runs_under_node(corral, tmp_path):
    """bin/www as express-generator writes it, committed without its exec
    bit: PM2 runs it with node, so node_args apply and process.send('ready')
    reaches wait_ready."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    write(str(tmp_path / "bin" / "www"),
          "#!/usr/bin/env node\n"
          "console.log('execArgv ' + process.execArgv.join(' '));\n"
          "setTimeout(() => process.send('ready'), 100);\n"
          "setInterval(() => {}, 1000);\n", mode=0o644)
    cfg = {"apps": [{"name": "www", "script": "bin/www", "node_args": "--max-old-space-size=96",
                     "wait_ready": True, "listen_timeout": 60000}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path)
    p = corral.wait_status("www", "online")[0]
    assert p["ready"] is True and p["restarts"] == 0
    log = corral.log_path("www")
    wait_for(lambda: "execArgv --max-old-space-size=96" in open(log).read(), what="www's log")


def test_invalid_file_starts_nothing(corral, tmp_path):
    write(str(tmp_path / "tick.py"), TICK_APP)
    write(str(tmp_path / "data.txt"), "not a program\n")
    cfg = {"apps": [{"name": "good", "script": "tick.py", "interpreter": PY},
                    {"name": "bad", "script": "tick.py", "interpreter": PY, "kill_timeout": "soon"}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    err = corral.fail("start", path)
    assert "app 'bad': kill_timeout" in err
    assert corral.jlist() == []


def test_an_app_that_cannot_run_does_not_stop_the_others(corral, tmp_path):
    """A file whose second app cannot be executed: the first starts anyway,
    the second is named with the reason, and the exit code says so."""
    write(str(tmp_path / "tick.py"), TICK_APP)
    write(str(tmp_path / "data.txt"), "not a program\n")
    cfg = {"apps": [{"name": "good", "script": "tick.py", "interpreter": PY},
                    {"name": "bad", "script": "data.txt", "interpreter": "none"},
                    {"name": "also", "script": "tick.py", "interpreter": PY}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    err = corral.fail("start", path)
    assert "corral start: bad: cannot execute" in err, err
    assert len(err.strip().splitlines()) == 1, err
    corral.wait_status("good", "online")
    corral.wait_status("also", "online")
    wait_for(lambda: sorted(p["name"] for p in corral.jlist()) == ["also", "good"],
             what="the failed app to be removed")


def test_start_options_with_a_file(corral, tmp_path):
    """--watch and --namespace apply to a file's apps (as in PM2); --name is
    dropped with a warning."""
    write(str(tmp_path / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": "x", "script": "tick.py", "interpreter": PY},
                    {"name": "y", "script": "tick.py", "interpreter": PY, "namespace": "mine"}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    r = corral.run("start", path, "--watch", "--namespace", "cli", "--name", "zz")
    assert r.returncode == 0, r.stderr
    assert "--name is ignored with an ecosystem file" in r.stderr
    ps = {p["name"]: p for p in corral.jlist()}
    assert set(ps) == {"x", "y"}
    assert ps["x"]["namespace"] == "cli" and ps["y"]["namespace"] == "mine"
    assert ps["x"]["watching"] and ps["y"]["watching"]


# ---- paths ----

def test_relative_interpreter_resolves_like_the_script(corral, tmp_path):
    """interpreter: './venv/bin/python' is relative to the app's cwd, as the
    script is, in a file and as an option, wherever corral runs from."""
    app = tmp_path / "app"
    (app / "venv" / "bin").mkdir(parents=True)
    os.symlink(PY, app / "venv" / "bin" / "python")
    write(str(app / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": "venv-file", "script": "tick.py",
                     "interpreter": "./venv/bin/python"}]}
    path = write(str(app / "eco.json"), json.dumps(cfg))
    venv_python = str(app / "venv" / "bin" / "python")
    for cwd in (app, tmp_path):
        apps = json.loads(corral.ok("config", str(path), "--json", cwd=str(cwd)))
        assert apps[0]["interpreter"] == venv_python
    corral.ok("start", "eco.json", cwd=str(app))
    corral.ok("start", "tick.py", "--name", "venv-cli", "--interpreter", "./venv/bin/python",
              cwd=str(app))
    for name in ("venv-file", "venv-cli"):
        corral.wait_status(name, "online")
        assert corral.proc(name)["spec"]["interpreter"] == venv_python
    err = corral.fail("start", "tick.py", "--name", "nope", "--interpreter", "./venv/bin/nope",
                      cwd=str(app))
    assert err.strip() == f"corral start: --interpreter: {app}/venv/bin/nope: no such program"


SEED = os.path.join(ROOT, "tests", "fixtures", "seed")
SEED_FILE = "src/apps/cluster_server/ecosystem.config.js"


def fallback_warnings(stderr):
    return [l for l in stderr.splitlines() if "relative to the current directory" in l]


def test_seed_layout_paths_relative_to_where_corral_runs(corral, tmp_path):
    """An ecosystem file in a subfolder whose paths are relative to the
    project root, where it is started from (as under PM2): what is not in
    the file's folder is found from the current directory, with a warning."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    root = tmp_path / "seed"
    shutil.copytree(SEED, root)
    r = corral.run("start", SEED_FILE, cwd=str(root))
    assert r.returncode == 0, r.stderr
    warned = fallback_warnings(r.stderr)
    # The script only: the app then runs from the root, and its log paths
    # are found from there.
    assert len(warned) == 1, r.stderr
    folder = root / "src" / "apps" / "cluster_server"
    script = root / "dist" / "apps" / "cluster_server" / "server.js"
    assert warned[0] == (f"corral: warning: {SEED_FILE}: app 'cluster_server': "
                         f"script: ./dist/apps/cluster_server/server.js is not in {folder}; "
                         f"using {script}, relative to the current directory (as PM2 "
                         f"resolves it)"), warned[0]
    corral.wait_status("cluster_server", "online")
    spec = corral.proc("cluster_server")["spec"]
    assert spec["script"] == str(script)
    assert spec["out_file"] == str(root / "logs" / "cluster_server.out.log")
    assert spec["cwd"] == str(root), "the app runs where its script was found, as in PM2"
    out = root / "logs" / "cluster_server.out.log"
    wait_for(lambda: out.exists() and "listening on" in out.read_text(), what="the server's log")

    # From elsewhere it is not found, and the message says where corral looked.
    err = corral.fail("config", str(root / SEED_FILE), cwd=str(tmp_path))
    assert err.strip().endswith(f"script: ./dist/apps/cluster_server/server.js: no such file "
                                f"(looked in {folder} and {tmp_path})"), err


def test_fallback_keeps_the_files_folder_first(corral, tmp_path):
    """The file's folder wins when the path is there; cwd and interpreter
    paths fall back like the script."""
    root = tmp_path / "proj"
    folder = root / "deploy"
    (root / "run" / "bin").mkdir(parents=True)
    folder.mkdir()
    os.symlink(PY, root / "run" / "bin" / "python")
    write(str(root / "run" / "tick.py"), TICK_APP)
    write(str(folder / "tick.py"), TICK_APP)
    cfg = {"apps": [
        {"name": "here", "script": "tick.py", "interpreter": PY},
        {"name": "there", "cwd": "run", "script": "tick.py", "interpreter": "./bin/python"},
        {"name": "venv", "script": "./run/tick.py", "interpreter": "./run/bin/python"},
    ]}
    path = write(str(folder / "eco.json"), json.dumps(cfg))
    r = corral.run("config", path, "--json", cwd=str(root))
    assert r.returncode == 0, r.stderr
    apps = {a["name"]: a for a in json.loads(r.stdout)}
    assert apps["here"]["script"] == str(folder / "tick.py")
    assert apps["there"]["cwd"] == str(root / "run")
    assert apps["there"]["interpreter"] == str(root / "run" / "bin" / "python")
    assert apps["venv"]["script"] == str(root / "run" / "tick.py")
    assert apps["venv"]["interpreter"] == str(root / "run" / "bin" / "python")
    assert [w.split("app '")[1].split("'")[0] for w in fallback_warnings(r.stderr)] == \
        ["there", "venv", "venv"], r.stderr
    # From the file's own folder, nothing falls back and nothing is said.
    r = corral.run("config", "eco.json", "--json", "--only", "here", cwd=str(folder))
    assert r.returncode == 0 and not fallback_warnings(r.stderr), r.stderr


# ---- config and ecosystem verbs ----

def test_config_table_and_sample(corral, tmp_path):
    corral.ok("ecosystem", cwd=str(tmp_path))
    sample = tmp_path / "ecosystem.config.js"
    assert "module.exports" in sample.read_text()
    assert "already exists" in corral.fail("ecosystem", cwd=str(tmp_path))
    corral.ok("ecosystem", "--force", cwd=str(tmp_path))
    if not shutil.which("node"):
        return
    write(str(tmp_path / "server.js"), "setInterval(() => {}, 1000);\n")
    write(str(tmp_path / "worker.py"), TICK_APP)
    apps = json.loads(corral.ok("config", "--json", cwd=str(tmp_path)))
    assert [a["name"] for a in apps] == ["web", "worker"]
    assert apps[0]["max_memory_restart"] == 300 * 1024 * 1024
    prod = json.loads(corral.ok("config", "--json", "--env", "production", "--only", "web",
                                cwd=str(tmp_path)))
    assert len(prod) == 1 and prod[0]["env"]["NODE_ENV"] == "production"
    table = corral.ok("config", cwd=str(tmp_path))
    assert re.search(r"max_memory_restart\s+│ 314572800 bytes \(300\.0mb\), whole process tree", table)
    assert re.search(r"kill_timeout\s+│ 1600 ms", table)
    assert re.search(r"cron_restart\s+│ 0 3 \* \* \*", table)
    assert re.search(r"env NODE_ENV\s+│ development", table)
    assert corral.jlist() == [], "config starts nothing"
    # The sample's deploy section is one corral deploy reads (the error comes
    # after the whole section was taken).
    err = corral.fail("deploy", "production", "exec", cwd=str(tmp_path))
    assert err == ("corral deploy: exec needs a command: corral deploy ecosystem.config.js "
                   "production \"<command>\"\n"), err


# ---- logs and pid files ----

def test_log_options(corral, tmp_path):
    say = write(str(tmp_path / "say.py"),
                "import sys, time\nprint('hello out', flush=True)\n"
                "print('hello err', file=sys.stderr, flush=True)\nwhile True:\n    time.sleep(1)\n")
    cfg = {"apps": [
        {"name": "dated", "script": say, "interpreter": PY, "log_date_format": "YYYY-MM-DD HH:mm:ss.SSS Z",
         "out_file": "logs/dated.out", "error_file": "/dev/null", "log_file": "logs/dated.all",
         "pid_file": "run/dated.pid"},
        {"name": "jsonl", "script": say, "interpreter": PY, "log_type": "json"},
        {"name": "split", "script": say, "interpreter": PY, "instances": 2, "exec_mode": "fork",
         "merge_logs": False},
        {"name": "quiet", "script": say, "interpreter": PY, "disable_logs": True},
    ]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path)
    out = str(tmp_path / "logs" / "dated.out")
    wait_for(lambda: os.path.exists(out) and "hello out" in open(out).read(), what="dated.out")
    line = open(out).read().splitlines()[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d: hello out", line), line
    combined = str(tmp_path / "logs" / "dated.all")
    wait_for(lambda: "hello err" in open(combined).read(), what="the combined log")
    assert "hello out" in open(combined).read()
    assert not os.path.exists(corral.log_path("dated", "error"))
    # Written a moment after the start returns (docs/config.md, pid_file).
    pid_file = tmp_path / "run" / "dated-0.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="dated's pid file")
    assert int(pid_file.read_text()) == corral.proc("dated")["pid"]

    jl = corral.log_path("jsonl")
    wait_for(lambda: os.path.exists(jl) and open(jl).read().strip(), what="jsonl's log")
    rec = json.loads(open(jl).read().splitlines()[0])
    assert rec["message"] == "hello out" and rec["type"] == "out" and rec["app_name"] == "jsonl"
    assert rec["process_id"] == corral.proc("jsonl")["pm_id"] and rec["timestamp"]

    ids = [p["pm_id"] for p in corral.procs("split")]
    for i in ids:
        p = corral.log_path("split", pm_id=i)
        wait_for(lambda: os.path.exists(p) and "hello out" in open(p).read(), what=f"split-out-{i}")

    corral.wait_status("quiet", "online")
    q = corral.log_path("quiet")
    assert not os.path.exists(q) or open(q).read() == ""


def test_log_date_format_false_means_no_prefix(corral, tmp_path):
    """log_date_format: false turns the prefix off, even with time: true."""
    say = write(str(tmp_path / "say.py"),
                "import time\nprint('hello out', flush=True)\nwhile True:\n    time.sleep(1)\n")
    cfg = {"apps": [{"name": "plain", "script": say, "interpreter": PY, "time": True,
                     "log_date_format": False}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    assert json.loads(corral.ok("config", path, "--json"))[0]["log_date_format"] is None
    corral.ok("start", path)
    out = corral.log_path("plain")
    wait_for(lambda: os.path.exists(out) and "hello out" in open(out).read(), what="plain's log")
    assert open(out).read().splitlines()[0] == "hello out"


# ---- max_memory_restart ----

def test_max_memory_restart_counts_the_child_process(corral, tmp_path):
    """The parent stays small; its child allocates 200 MB. The instance is
    restarted within ~2 s of the tree crossing 120 MB (PM2 looks at the main
    process only, every 30 s)."""
    started = tmp_path / "allocating"
    spawned = tmp_path / "spawned"
    write(str(tmp_path / "child.py"), f"""import os, time
time.sleep(0.3)
with open({str(started)!r} + ".tmp", "w") as f:
    f.write("%.3f" % time.time())
os.rename({str(started)!r} + ".tmp", {str(started)!r})
block = bytearray(200 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
while True:
    time.sleep(1)
""")
    # Only the first run starts the child: the run after the restart is small.
    write(str(tmp_path / "parent.py"), f"""import os, subprocess, sys, time
if not os.path.exists({str(spawned)!r}):
    open({str(spawned)!r}, "w").close()
    subprocess.Popen([sys.executable, {str(tmp_path / 'child.py')!r}])
while True:
    time.sleep(1)
""")
    cfg = {"apps": [{"name": "grow", "script": "parent.py", "interpreter": PY,
                     "max_memory_restart": "120M"}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path)
    first_pid = corral.wait_status("grow", "online")[0]["pid"]
    wait_for(started.exists, timeout=10, what="the child to allocate")
    # The tree crosses the limit a little after the child starts allocating:
    # measuring from the start is the stricter bound.
    t_start = float(started.read_text())
    p = wait_for(lambda: corral.proc("grow")["restarts"] >= 1 and corral.proc("grow"),
                 timeout=5, what="the restart")
    elapsed = time.time() - t_start
    assert elapsed < 2.0 * SLOW, f"restarted {elapsed:.2f}s after crossing the limit"
    assert "max_memory_restart" in p["reason"] and "process tree" in p["reason"]
    p = corral.wait_status("grow", "online")[0]
    assert p["pid"] != first_pid
    assert "max_memory_restart" in corral.ok("describe", "grow")
    assert "over max_memory_restart" in corral.daemon_log()
    stays(lambda: corral.proc("grow")["restarts"] == 1, 1.5)


# ---- cron_restart ----

def test_cron_restart_every_two_seconds(corral, tmp_path):
    write(str(tmp_path / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": "cron", "script": "tick.py", "interpreter": PY,
                     "cron_restart": "*/2 * * * * *"}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    corral.ok("start", path)
    log = corral.log_path("cron")

    def starts():
        if not os.path.exists(log):
            return []
        return [float(l.split()[1]) for l in open(log).read().splitlines() if l.startswith("start ")]
    wait_for(lambda: len(starts()) >= 3, timeout=8, what="two cron restarts")
    # The daemon fires at even seconds, two seconds apart: the seconds of
    # its log lines (the app's own start times depend on how fast Python
    # starts on a loaded machine).
    fired = [int(m.group(1)) for m in re.finditer(
        r"^\S+T\d\d:\d\d:(\d\d)\.\d+ cron: cron_restart .* fired", corral.daemon_log(), re.M)]
    assert len(fired) >= 2, corral.daemon_log()
    for sec in fired:
        assert sec % 2 == 0, fired
    assert all((b - a) % 60 == 2 for a, b in zip(fired, fired[1:])), fired
    p = corral.proc("cron")
    assert p["restarts"] >= 2 and "cron_restart" in p["reason"]


# ---- watch ----

def restarts_of(corral, name):
    return corral.proc(name)["restarts"]


def test_watch_restarts_once_per_burst_and_ignores(corral, tmp_path):
    app = tmp_path / "app"
    for d in ("src", "node_modules/lib", ".git", ".hidden/site"):
        (app / d).mkdir(parents=True)
    write(str(app / "tick.py"), TICK_APP)
    write(str(app / ".hidden" / "site" / "tick.py"), TICK_APP)
    cfg = {"apps": [
        {"name": "w", "script": "tick.py", "interpreter": PY, "watch": True, "watch_delay": 300},
        {"name": "wi", "script": "tick.py", "interpreter": PY, "watch": True,
         "ignore_watch": ["*.tmp", "cache", "gen/**", "**/*.bak", "./out", "eco.json"]},
        # An app that lives inside a dot-folder is still watched.
        {"name": "wd", "script": "tick.py", "interpreter": PY, "watch": ".", "cwd": ".hidden/site"},
    ]}
    path = write(str(app / "eco.json"), json.dumps(cfg))
    corral.ok("start", path)
    for n in ("w", "wi", "wd"):
        corral.wait_status(n, "online")

    # A burst of saves within watch_delay: one restart.
    for i in range(5):
        (app / "src" / "a.txt").write_text(str(i))
        time.sleep(0.03)
    wait_for(lambda: restarts_of(corral, "w") == 1, what="w to restart")
    stays(lambda: restarts_of(corral, "w") == 1, 0.8)

    # node_modules and dot-folders are ignored by default.
    (app / "node_modules" / "lib" / "x.js").write_text("x")
    (app / ".git" / "HEAD").write_text("ref")
    stays(lambda: restarts_of(corral, "w") == 1, 0.8)

    # A new directory is followed: a file created in it restarts.
    (app / "newdir").mkdir()
    wait_for(lambda: restarts_of(corral, "w") == 2, what="w to restart for the new directory")
    corral.wait_status("w", "online")
    (app / "newdir" / "f.txt").write_text("f")
    wait_for(lambda: restarts_of(corral, "w") == 3, what="w to restart for newdir/f.txt")

    # wi: ignore_watch globs, names anywhere, directories and everything below.
    wait_for(lambda: corral.proc("wi")["status"] == "online", what="wi to settle")
    before = restarts_of(corral, "wi")
    (app / "x.tmp").write_text("t")
    (app / "src" / "cache").mkdir()
    (app / "src" / "cache" / "y").write_text("y")
    (app / "gen" / "a").mkdir(parents=True)
    (app / "gen" / "a" / "b.js").write_text("b")
    (app / "src" / "deep").mkdir()
    wait_for(lambda: restarts_of(corral, "wi") == before + 1, what="wi to restart for src/deep")
    before += 1
    (app / "src" / "deep" / "z.bak").write_text("z")
    (app / "out").mkdir()
    (app / "out" / "o.txt").write_text("o")
    write(path, json.dumps(cfg))
    stays(lambda: restarts_of(corral, "wi") == before, 0.8)
    (app / "src" / "z.py").write_text("z")
    wait_for(lambda: restarts_of(corral, "wi") == before + 1, what="wi to restart")
    assert "watch:" in corral.proc("wi")["reason"] and "z.py" in corral.proc("wi")["reason"]

    (app / ".hidden" / "site" / "page.html").write_text("p")
    wait_for(lambda: restarts_of(corral, "wd") >= 1, what="wd to restart")


# Appends to logs/app.log every 0.3 s, as an app with a log of its own does
# (slower than the watch debounce, so each write would be one restart).
LOGGING_APP = """import os, time
os.makedirs("logs", exist_ok=True)
while True:
    with open("logs/app.log", "a") as f:
        f.write("line\\n")
    time.sleep(0.3)
"""


def test_ignore_watch_string_is_a_list(corral, tmp_path):
    """'node_modules logs' is two patterns, in a file and as an option (as PM2
    splits it): an app writing into logs/ is not restarted by it."""
    app = tmp_path / "app"
    app.mkdir()
    write(str(app / "logger.py"), LOGGING_APP)
    cfg = {"apps": [{"name": "from-file", "script": "logger.py", "interpreter": PY,
                     "watch": True, "ignore_watch": "node_modules logs"}]}
    corral.ok("start", write(str(app / "eco.json"), json.dumps(cfg)))
    corral.ok("start", "logger.py", "--name", "from-cli", "--interpreter", PY, "--watch",
              "--ignore-watch", "node_modules logs", cwd=str(app))
    for name in ("from-file", "from-cli"):
        corral.wait_status(name, "online")
        assert corral.proc(name)["spec"]["ignore_watch"] == ["node_modules", "logs"]
    log = app / "logs" / "app.log"
    wait_for(lambda: log.exists() and log.stat().st_size > 20, what="the apps to write logs")
    stays(lambda: restarts_of(corral, "from-file") == 0 and restarts_of(corral, "from-cli") == 0,
          1.5)
    # Still watching: a change elsewhere restarts both.
    (app / "config.txt").write_text("x")
    for name in ("from-file", "from-cli"):
        wait_for(lambda: restarts_of(corral, name) == 1, what=f"{name} to restart")


def test_watch_flag_toggles(corral, tmp_path):
    write(str(tmp_path / "tick.py"), TICK_APP)
    corral.ok("start", str(tmp_path / "tick.py"), "--interpreter", PY, "--watch", "--name", "tw")
    assert corral.proc("tw")["watching"]
    corral.ok("restart", "tw", "--watch")
    assert not corral.proc("tw")["watching"]
    corral.ok("restart", "tw", "--watch")
    assert corral.proc("tw")["watching"]
    corral.ok("stop", "tw", "--watch")
    assert not corral.proc("tw")["watching"]
    # A stopped app is not restarted by file changes.
    corral.ok("restart", "tw", "--watch")
    corral.ok("stop", "tw")
    (tmp_path / "touched").write_text("x")
    stays(lambda: corral.proc("tw")["status"] == "stopped", 0.5)


# ---- uid / gid ----

def test_uid_and_gid(corral):
    """`user`/`uid` and `gid` resolve names (root only), and the app runs as
    that user with its HOME."""
    # The app must be able to read its script: not under pytest's 0700 dirs.
    d = tempfile.mkdtemp(prefix="corral-uid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        write(os.path.join(d, "envapp.py"), ENV_APP)
        cfg = {"apps": [{"name": "as-nobody", "script": "envapp.py", "interpreter": PY,
                         "args": "HOME", "user": "nobody"}]}
        path = write(os.path.join(d, "eco.json"), json.dumps(cfg))
        if os.geteuid() != 0:
            err = corral.fail("config", path)
            assert "uid: only root can run an app as another user or group" in err
            return
        nobody = pwd.getpwnam("nobody")
        app = json.loads(corral.ok("config", "--json", path))[0]
        assert (app["uid"], app["gid"], app["user"]) == (nobody.pw_uid, nobody.pw_gid, "nobody")
        assert app["env"]["HOME"] == nobody.pw_dir
        cfg["apps"][0]["gid"] = "no-such-group-here"
        write(path, json.dumps(cfg))
        assert "gid: no group \"no-such-group-here\"" in corral.fail("config", path)
        cfg["apps"][0].pop("gid")
        write(path, json.dumps(cfg))
        corral.ok("start", path)
        assert env_of(corral, "as-nobody") == {"HOME": nobody.pw_dir}
        pid = corral.wait_status("as-nobody", "online")[0]["pid"]
        with open(f"/proc/{pid}/status") as f:
            uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
        assert int(uids[0]) == nobody.pw_uid
        assert corral.proc("as-nobody")["user"] == "nobody"
        # Again once the daemon has threads (a stop starts the pid files'):
        # each id is changed for the child alone, and every one of them.
        corral.ok("stop", "as-nobody")
        corral.ok("restart", "as-nobody")
        pid = corral.wait_status("as-nobody", "online")[0]["pid"]
        with open(f"/proc/{pid}/status") as f:
            ids = {l.split(":")[0]: l.split()[1:] for l in f
                   if l.startswith(("Uid:", "Gid:", "Groups:"))}
        assert ids["Uid"] == [str(nobody.pw_uid)] * 4
        assert ids["Gid"] == [str(nobody.pw_gid)] * 4
        assert ids["Groups"] == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
        dpid = corral.daemon_pid()
        for tid in os.listdir(f"/proc/{dpid}/task"):
            with open(f"/proc/{dpid}/task/{tid}/status") as f:
                assert [l.split()[1] for l in f if l.startswith("Uid:")] == [str(os.geteuid())]
        corral.ok("delete", "all")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_pm2_and_corral_variables_set_stop_defaults(corral, tmp_path):
    """PM2_KILL_TIMEOUT, PM2_KILL_SIGNAL, PM2_GRACEFUL_LISTEN_TIMEOUT (and the
    CORRAL_ names, which win) are the defaults of their fields; the file and
    the options still win; a bad value names the variable."""
    write(str(tmp_path / "tick.py"), TICK_APP)
    cfg = {"apps": [{"name": "a", "script": "tick.py", "interpreter": PY},
                    {"name": "b", "script": "tick.py", "interpreter": PY, "kill_timeout": 100}]}
    path = write(str(tmp_path / "eco.json"), json.dumps(cfg))
    env = {"PM2_KILL_TIMEOUT": "4200", "PM2_KILL_SIGNAL": "SIGTERM",
           "CORRAL_KILL_SIGNAL": "SIGHUP", "PM2_GRACEFUL_LISTEN_TIMEOUT": "7s"}
    corral.ok("start", path, env=env)
    specs = {p["name"]: p["spec"] for p in corral.jlist()}
    assert specs["a"]["kill_timeout"] == 4200 and specs["b"]["kill_timeout"] == 100
    assert specs["a"]["kill_signal"] == "SIGHUP"
    assert specs["a"]["listen_timeout"] == 7000
    err = corral.fail("start", str(tmp_path / "tick.py"), "--name", "c",
                      env={"PM2_KILL_TIMEOUT": "soon"})
    assert "environment variable PM2_KILL_TIMEOUT: \"soon\" is not a duration" in err, err


def test_seed_layout_acts_on_apps_by_script_path(corral, tmp_path):
    """Seed 002: `pm2 reload dist/apps/cluster_server/server.js` (and stop,
    describe...) acts on every app that runs that script, by its path from
    the current directory or by its base name."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    root = tmp_path / "seed"
    shutil.copytree(SEED, root)
    corral.ok("start", SEED_FILE, cwd=str(root))
    corral.wait_status("cluster_server", "online")
    pid = corral.proc("cluster_server")["pid"]
    script = "dist/apps/cluster_server/server.js"
    r = corral.run("reload", script, cwd=str(root))
    assert r.returncode == 0, r.stderr
    assert corral.proc("cluster_server")["pid"] != pid
    out = corral.ok("describe", "server.js", cwd=str(tmp_path))
    assert "cluster_server" in out
    corral.ok("stop", "./" + script, cwd=str(root))
    corral.wait_status("cluster_server", "stopped")
    err = corral.fail("stop", "dist/apps/other/server.js", cwd=str(root))
    assert "no process or namespace matches dist/apps/other/server.js" in err, err
