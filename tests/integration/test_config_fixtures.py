"""Ecosystem files in every format, checked through `corral config --json`.

tests/fixtures/ecosystem/<name>.<ext> is normalized and compared with
<name>.expected.json (the apps) and <name>.expected.stderr (the warnings);
tests/fixtures/ecosystem/broken/ holds files corral must refuse, each with
the exact message in <name>.stderr. See tests/fixtures/ecosystem/README.md
for the placeholders and the fixed environment.

CORRAL_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CORRAL, ROOT, SLOW

FIX = os.path.join(ROOT, "tests", "fixtures", "ecosystem")
BROKEN = os.path.join(FIX, "broken")
UPDATE = os.environ.get("CORRAL_UPDATE_GOLDEN") == "1"
CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".config.js", ".config.cjs", ".config.mjs")


def fixture_files(d):
    return sorted(f for f in os.listdir(d)
                  if f.endswith(CONFIG_SUFFIXES) and f != "package.json"
                  and ".expected." not in f)


def stem(f):
    for suffix in sorted(CONFIG_SUFFIXES, key=len, reverse=True):
        if f.endswith(suffix):
            return f[: -len(suffix)]
    return f


@pytest.fixture
def bindir(tmp_path):
    """A PATH with just what the fixtures need, at a path we can replace."""
    b = tmp_path / "bin"
    b.mkdir()
    node = shutil.which("node")
    if node:
        os.symlink(os.path.realpath(node), b / "node")
    os.symlink(sys.executable, b / "python3")
    os.symlink("/bin/bash", b / "bash")
    return str(b)


def fixed_env(bindir, home, **extra):
    env = {"PATH": bindir, "HOME": "/home/fixture", "LANG": "C", "CORRAL_HOME": home,
           "FIXTURE_VAR": "from-shell", "SECRET_TOKEN": "s3cret", "SECRET_KEY": "k3y"}
    env.update(extra)
    return env


def run_config(path, args, env, cwd):
    return subprocess.run([CORRAL, "config", path, "--json", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=30 * SLOW)


def placeholders(text, bindir, home):
    for real, mark in sorted([(FIX, "<FIXTURES>"), (bindir, "<BIN>"), (home, "<CORRAL_HOME>")],
                             key=lambda p: -len(p[0])):
        text = text.replace(real, mark)
    return text


def golden(path, actual):
    if UPDATE:
        with open(path, "w") as f:
            f.write(actual)
        return
    assert os.path.exists(path), f"{path} missing (CORRAL_UPDATE_GOLDEN=1 writes it)"
    with open(path) as f:
        expected = f.read()
    assert actual == expected, f"{os.path.basename(path)} differs"


@pytest.mark.parametrize("name", fixture_files(FIX))
def test_fixture_normalizes_as_expected(name, corral, bindir):
    if name.endswith((".js", ".cjs", ".mjs")) and not shutil.which("node"):
        pytest.skip("node is not installed")
    s = stem(name)
    args_file = os.path.join(FIX, s + ".args")
    args = open(args_file).read().splitlines() if os.path.exists(args_file) else []
    r = run_config(name, args, fixed_env(bindir, corral.home), FIX)
    assert r.returncode == 0, r.stderr
    apps = json.loads(placeholders(r.stdout, bindir, corral.home))
    golden(os.path.join(FIX, s + ".expected.json"), json.dumps(apps, indent=2) + "\n")
    golden(os.path.join(FIX, s + ".expected.stderr"), placeholders(r.stderr, bindir, corral.home))


def test_every_field_and_alias_is_covered():
    """The fixtures write every field of PM2's reference, and every alias."""
    text = ""
    for f in fixture_files(FIX):
        text += open(os.path.join(FIX, f)).read()
    fields = ["name", "script", "args", "interpreter", "interpreter_args", "cwd", "instances",
              "exec_mode", "env", "env_production", "filter_env", "append_env_to_name",
              "namespace", "autorestart", "autostart", "max_restarts", "min_uptime",
              "restart_delay", "exp_backoff_restart_delay", "stop_exit_codes", "kill_timeout",
              "kill_signal", "listen_timeout", "wait_ready", "shutdown_with_message",
              "max_memory_restart", "cron_restart", "watch", "ignore_watch", "watch_delay",
              "time", "log_date_format", "log_type", "merge_logs", "out_file", "error_file",
              "log_file", "pid_file", "disable_logs", "increment_var", "instance_var", "port",
              "treekill", "force", "lb", "listen", "share_ports", "log_max_size", "log_retain",
              "log_compress", "log_rotate_interval"]
    aliases = ["exec", "cmd", "command", "exec_interpreter", "node_args", "cron", "out",
               "output", "out_log", "error", "err", "err_file", "err_log", "log", "pid",
               "combine_logs"]
    camel = ["interpreterArgs", "execMode", "filterEnv", "appendEnvToName", "maxRestarts",
             "minUptime", "restartDelay", "expBackoffRestartDelay", "stopExitCodes",
             "killTimeout", "listenTimeout", "waitReady", "shutdownWithMessage",
             "maxMemoryRestart", "cronRestart", "ignoreWatch", "watchDelay", "logDateFormat",
             "logType", "mergeLogs", "outFile", "errorFile", "logFile", "pidFile",
             "disableLogs", "incrementVar", "instanceVar", "execInterpreter", "sharePorts"]
    missing = [k for k in fields + aliases + camel
               if f'"{k}"' not in text and f"{k}:" not in text and f"'{k}'" not in text]
    missing += [v for v in ["cluster_mode", "fork_mode", "max", "/dev/null", "NULL"]
                if v not in text]
    assert not missing, f"no fixture uses {missing}"


# ---- broken files: exact messages ----

# (file, extra arguments, extra environment, expected exit code)
BROKEN_CASES = [
    ("bad_json.json", [], {}, 1),
    ("wrong_type.json", [], {}, 1),
    ("bad_unit.yaml", [], {}, 1),
    ("bad_duration.json", [], {}, 1),
    ("unknown_field.json", [], {}, 0),
    ("missing_script.json", [], {}, 1),
    ("script_not_found.yaml", [], {}, 1),
    ("throws.config.js", [], {}, 1),
    ("syntax.config.js", [], {}, 1),
    ("never_exits.config.js", [], {"CORRAL_CONFIG_TIMEOUT_MS": "300"}, 1),
    ("needs_node.config.js", [], {"PATH": "/nonexistent"}, 1),
    ("bad_yaml.yml", [], {}, 1),
    ("duplicate_key.yaml", [], {}, 1),
    ("bad_cron.json", [], {}, 1),
    ("cron_never.json", [], {}, 1),
    ("bad_env.json", [], {}, 1),
    ("bad_mode.json", [], {}, 1),
    ("bad_signal.yaml", [], {}, 1),
    ("bad_interpreter.json", [], {}, 1),
    ("second_app_bad.json", [], {}, 1),
    ("no_apps.json", [], {}, 1),
    ("only_unknown.json", ["--only", "api,nope"], {}, 1),
    ("missing_env.json", ["--env", "production"], {}, 0),
    ("tiny_memory.json", [], {}, 0),
    ("serve.json", [], {}, 1),
]


def test_every_broken_file_has_a_case():
    files = set(fixture_files(BROKEN))
    cased = {c[0] for c in BROKEN_CASES}
    assert files == cased, f"not in BROKEN_CASES: {files - cased}; no file: {cased - files}"


@pytest.mark.parametrize("name,args,extra_env,code", BROKEN_CASES, ids=[c[0] for c in BROKEN_CASES])
def test_broken_file_message(name, args, extra_env, code, corral, bindir):
    if name.endswith(".js") and "PATH" not in extra_env and not shutil.which("node"):
        pytest.skip("node is not installed")
    env = fixed_env(bindir, corral.home, **extra_env)
    r = subprocess.run([CORRAL, "config", name, *args], capture_output=True, text=True,
                       env=env, cwd=BROKEN, timeout=30 * SLOW)
    assert r.returncode == code, r.stderr
    stderr = r.stderr.replace(BROKEN, "<DIR>")
    golden(os.path.join(BROKEN, stem(name) + ".stderr"), stderr)
    if code != 0:
        assert r.stdout == "", "nothing is printed for a file that is refused"
        assert stderr.splitlines()[-1].startswith("corral config: "), "one line says what is wrong"
