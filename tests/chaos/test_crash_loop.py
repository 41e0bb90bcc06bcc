"""A crash loop costs the daemon little: whatever the restart settings,
each app restarts at most ten times a second (the policy's 100 ms floor),
exponential backoff spaces the runs further, and the daemon keeps
answering."""
import os
import time

from conftest import cpu_ticks, figures, wait_for, write


def test_crash_loops_are_throttled(corral, tmp_path):
    die = write(str(tmp_path / "die.sh"), "#!/bin/sh\nexit 1\n", 0o755)
    names = [f"spin{i}" for i in range(4)]
    for n in names:
        corral.ok("start", die, "--name", n, "--min-uptime", "0")
    corral.ok("start", die, "--name", "backoff", "--min-uptime", "0",
              "--exp-backoff-restart-delay", "100")
    dpid = corral.daemon_pid()
    wait_for(lambda: all(corral.proc(n)["restarts"] >= 3 for n in names),
             timeout=20, what="every app to crash a few times")
    before = {p["name"]: p["restarts"] for p in corral.jlist()}
    ticks0, t0 = cpu_ticks(dpid), time.monotonic()
    # Watch for a while; the daemon answers all along.
    pings = 0
    while time.monotonic() - t0 < 4.0:
        assert corral.ok("ping").startswith("pong")
        pings += 1
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    cpu_pct = 100.0 * (cpu_ticks(dpid) - ticks0) / os.sysconf("SC_CLK_TCK") / elapsed
    after = {p["name"]: p["restarts"] for p in corral.jlist()}
    rates = {n: (after[n] - before[n]) / elapsed for n in names + ["backoff"]}
    figures("crash_loop", restarts_per_s=round(max(rates[n] for n in names), 2),
            backoff_restarts_per_s=round(rates["backoff"], 2),
            daemon_cpu_pct=round(cpu_pct, 1), pings=pings, seconds=round(elapsed, 1))
    for n in names:
        # At most one start per 100 ms, plus the run in progress at each end.
        assert after[n] - before[n] <= 10 * elapsed + 2, (n, rates)
        assert after[n] > before[n], f"{n} stopped restarting"
    # The backoff reaches its 15 s cap: far fewer runs than the floor allows.
    assert after["backoff"] - before["backoff"] < after[names[0]] - before[names[0]], rates
    assert all(p["status"] != "errored" for p in corral.jlist() if p["name"] in names)
