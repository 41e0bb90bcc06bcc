"""corral web's dashboard in a real browser: Debian's headless chromium,
driven by playwright-core from tests/node_modules (tests/dashboard.js).
The page lists every instance, shows a restart made on the command line
within 2 s, and its reload button, with the token, replaces the pids.
Skipped, saying why, when chromium, node or playwright-core is missing."""
import json
import os
import shutil
import subprocess

import pytest

from clusterapp import start_node, wait_ready
from conftest import ROOT, free_port, wait_for
from webhelpers import token_file, web_start

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DRIVER = os.path.join(ROOT, "tests", "integration", "dashboard.js")
PLAYWRIGHT = os.path.join(ROOT, "tests", "node_modules", "playwright-core")


def missing():
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (Debian chromium)"
    if not shutil.which("node"):
        return "node is not installed"
    if not os.path.isdir(PLAYWRIGHT):
        return "playwright-core is not in tests/node_modules (scripts/deps)"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


class Page:
    """The driver, one JSON line per command and per answer."""

    def __init__(self, url, token):
        self.p = subprocess.Popen(["node", DRIVER, url, token], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert self.read().get("ready")

    def read(self):
        line = self.p.stdout.readline()
        assert line, "the browser driver exited"
        return json.loads(line)

    def do(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        r = self.read()
        assert "error" not in r, r["error"]
        return r

    def close(self):
        try:
            self.p.stdin.write('{"op":"quit"}\n')
            self.p.stdin.close()
            self.p.wait(timeout=15)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def test_dashboard_follows_the_processes_and_reloads_with_the_token(corral, tmp_path):
    start_node(corral, tmp_path, free_port(), 2, name="web")
    corral.ok("start", "/bin/sleep", "--name", "fork", "--", "1000")
    corral.wait_status("fork", "online")
    port = web_start(corral, "--token-file", token_file(tmp_path))
    page = Page(f"http://127.0.0.1:{port}/", "s3cret-token-for-tests")
    try:
        procs = {str(p["pm_id"]): str(p["pid"]) for p in corral.jlist()}
        assert page.do(op="rows", n=3)["pids"] == procs
        # A restart on the command line shows within 2 s.
        corral.ok("restart", "fork")
        fork = corral.proc("fork")
        page.do(op="wait_pid", pm_id=fork["pm_id"], pid=fork["pid"], ms=2000)
        # The reload button (asks for the token) replaces the app's pids.
        old = {p["pid"] for p in corral.procs("web")}
        msg = page.do(op="click", pm_id=0, button="reload", scope="app")["msg"]
        assert "accepted" in msg, msg
        wait_ready(corral, "web", 2)
        wait_for(lambda: not ({p["pid"] for p in corral.procs("web")} & old),
                 what="the reload to replace every process")
        for p in corral.procs("web"):
            page.do(op="wait_pid", pm_id=p["pm_id"], pid=p["pid"], ms=5000)
        # The log tail of the selected instance shows its lines.
        wait_for(lambda: " listening on " in page.do(op="text", selector="#logs")["text"],
                 what="the log tail")
        page.do(op="shot", path=str(tmp_path / "dashboard.png"))
        assert os.path.getsize(tmp_path / "dashboard.png") > 10000
    finally:
        page.close()
