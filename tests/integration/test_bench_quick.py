"""bench/run must keep working: run every scenario once, at small size.

This checks the harness (it runs, writes its tables, cleans up), never the
numbers: performance is measured in bench/, not asserted here. Every scenario
runs for corral alone; the footprint scenario also drives PM2 when bench/run
installed it before, so the PM2 driver cannot rot either.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import ROOT, pids_with

BENCH = os.path.join(ROOT, "bench", "run")
PM2 = os.path.join(ROOT, "bench", "pm2", "node_modules", "pm2", "bin", "pm2")


SCENARIOS = ("footprint", "cli", "start", "crash", "logs", "cluster", "monit", "scale", "update",
             "web")


@pytest.mark.parametrize("scenarios,pm2", [
    (SCENARIOS, False),
    (("footprint",), True),
])
def test_bench_quick(tmp_path, scenarios, pm2):
    if os.environ.get("CORRAL_BIN"):
        # The suite's second pass runs the ASan build (tests/run): the
        # harness is the same one the first pass checked, and its loads
        # under ASan took a worker for minutes, the longest test of the
        # pass, while the rest of the suite covers the daemon's paths.
        pytest.skip("checked with the normal build (tests/run's first pass)")
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install wrk)")
    with_pm2 = pm2 and os.access(PM2, os.X_OK)
    if pm2 and not with_pm2:
        pytest.skip("PM2 is not installed under bench/ (bench/run installs it)")
    # Short: the state homes hold unix sockets (108-byte paths).
    work = tempfile.mkdtemp(prefix="cbq-", dir="/tmp")
    results = tmp_path / "results"
    cmd = [BENCH, "--quick", "--no-install", "--only", ",".join(scenarios),
           "--variants", "even,limit-reuseport", "--results-dir", str(results),
           "--work-dir", work]
    if not with_pm2:
        cmd.append("--corral-only")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        left = pids_with(work)
    finally:
        # Whatever happened (a timeout kills bench/run, not its daemons):
        # nothing of the run outlives the test.
        for pid in pids_with(work):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    out = r.stdout[-4000:] + r.stderr[-4000:]
    assert r.returncode == 0, out
    assert not left, f"bench/run left processes behind: {left}\n{out}"
    for scenario in scenarios:
        md = list(results.glob(f"*-{scenario}.md"))
        raw = list(results.glob(f"*-{scenario}.json"))
        assert md and raw, f"no {scenario} results in {sorted(os.listdir(results))}"
        text = md[0].read_text()
        assert "| metric | corral |" in text and "kernel" in text
        doc = json.loads(raw[0].read_text())
        assert doc["machine"]["cores"] >= 1 and doc["machine"]["node"]
        for m in doc["metrics"]:
            assert m["values"]["corral"], f"{scenario}: no corral value for {m['label']}"
            if with_pm2 and scenario == "footprint":
                assert m["values"]["pm2"], f"{scenario}: no PM2 value for {m['label']}"
