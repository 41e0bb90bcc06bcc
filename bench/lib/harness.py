"""bench/run: options, installation, the run loop and the cleanup."""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import traceback

import report
import sc_cli
import sc_cluster
import sc_crash
import sc_footprint
import sc_logs
import sc_monit
import sc_scale
import sc_start
import sc_update
import sc_web
from common import BENCH, PM2_PREFIX, ROOT, BenchError, kill_marked, log, machine_info, pids_with
from managers import PM2, make

SCENARIOS = {m.NAME: m for m in (sc_footprint, sc_cli, sc_start, sc_crash, sc_logs, sc_cluster,
                                 sc_scale, sc_monit, sc_update, sc_web)}


class Ctx:
    """What a scenario gets: its managers, sizes, run count and work directory."""

    def __init__(self, args, managers, work, tag):
        self.args = args
        self.managers = managers
        self.work = work
        self.tag = tag
        self.limit_tag = f"{tag}-limit"
        self.runs = args.runs
        self.quick = args.quick
        self.env = dict(os.environ)
        self.env["BENCH_TAG"] = tag
        self.variants = args.variants.split(",") if args.variants else None

    def size(self, full, quick):
        return quick if self.quick else full

    def order(self, i):
        """Managers in run i: corral first in even runs, PM2 first in odd ones."""
        return self.managers if i % 2 == 0 else self.managers[::-1]

    def manager(self, name):
        for m in self.managers:
            if m.name == name:
                return m
        return None

    def wants_variant(self, v):
        if v.startswith("pm2") and not self.manager("pm2"):
            return False
        return not self.variants or v in self.variants or v.split("-", 1)[-1] in self.variants


def parse(argv):
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="corral against PM2 on this machine; results in bench/results/. "
                    "Scenarios: " + ", ".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=5, help="runs per scenario (default 5)")
    p.add_argument("--quick", action="store_true",
                   help="each scenario once, at a small size (checks the harness, not corral)")
    p.add_argument("--only", help="comma-separated scenarios to run")
    p.add_argument("--variants", help="cluster scenario: only these variants "
                                      "(even,sticky,least-busy,shared,pm2,limit-reuseport,limit-shared)")
    p.add_argument("--corral-only", action="store_true",
                   help="do not install or run PM2 (the tables then have no PM2 column)")
    p.add_argument("--no-install", action="store_true",
                   help="install nothing; fail if wrk or PM2 is missing")
    p.add_argument("--results-dir", default=os.path.join(BENCH, "results"))
    p.add_argument("--label", help="add -LABEL to the result file names (keeps a side run "
                                   "from replacing the day's main results)")
    p.add_argument("--work-dir", help="state homes and scratch files (default bench/work/<run>)")
    p.add_argument("--keep-work", action="store_true", help="do not delete the work directory")
    a = p.parse_args(argv)
    if a.quick:
        a.runs = 1
    if a.runs < 1:
        p.error("--runs must be at least 1")
    a.scenarios = a.only.split(",") if a.only else list(SCENARIOS)
    for s in a.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r} (have: {', '.join(SCENARIOS)})")
    return a


def apt_install(pkgs):
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"installing {' '.join(pkgs)} with apt-get")
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *pkgs], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *pkgs], env=env, check=True)


def install(args):
    needs_wrk = any(s in args.scenarios for s in ("cluster",))
    needs_tmux = "monit" in args.scenarios
    missing = [t for t in (["wrk"] if needs_wrk else []) + (["tmux"] if needs_tmux else [])
               + ["hyperfine"] if not shutil.which(t)]
    if missing:
        if args.no_install:
            if "wrk" in missing:
                raise BenchError("wrk is missing (apt-get install wrk)")
            log("hyperfine is missing: timing CLI commands from Python instead")
        else:
            apt_install(missing)
    if not args.corral_only and not PM2.installed():
        if args.no_install:
            raise BenchError(f"PM2 is not installed in {PM2_PREFIX} (run without --no-install)")
        version = os.environ.get("BENCH_PM2_VERSION", "latest")
        log(f"installing pm2@{version} into {os.path.relpath(PM2_PREFIX, ROOT)}")
        subprocess.run(["npm", "install", "--prefix", PM2_PREFIX, "--no-audit", "--no-fund",
                        "--loglevel=error", f"pm2@{version}"], check=True)
    # The logs scenario measures PM2 with pm2-logrotate too (issue 15).
    if not args.corral_only and "logs" in args.scenarios and not PM2.can_rotate_here() \
            and not args.no_install:
        log(f"installing pm2-logrotate into {os.path.relpath(PM2_PREFIX, ROOT)}")
        r = subprocess.run(["npm", "install", "--prefix", PM2_PREFIX, "--no-audit", "--no-fund",
                            "--loglevel=error", "pm2-logrotate@latest"], check=False)
        if r.returncode != 0:
            log("pm2-logrotate could not be installed: PM2 is measured without rotation")
    corral = os.environ.get("CORRAL_BIN") or os.path.join(ROOT, "build", "corral")
    if not os.access(corral, os.X_OK):
        log("building corral")
        subprocess.run(["make", "-C", ROOT, "-s"], check=True)


def work_dir(args, tag):
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
        return os.path.abspath(args.work_dir)
    w = os.path.join(BENCH, "work", tag)
    # unix socket paths are limited to 108 bytes: PM2_HOME/pub.sock, CORRAL_HOME/corral.sock
    if len(w) > 80:
        return tempfile.mkdtemp(prefix="corralbench-", dir="/tmp")
    os.makedirs(w)
    return w


def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    args = parse(argv)
    tag = f"corralbench-{os.getpid()}-{int(time.time())}"
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    managers = []
    work = None
    failed = []
    written = []
    try:
        install(args)
        work = work_dir(args, tag)
        managers = make(["corral"] if args.corral_only else ["corral", "pm2"], work, tag)
        ctx = Ctx(args, managers, work, tag)
        machine = machine_info()
        rctx = {"command": "bench/run " + shlex.join(argv) if argv else "bench/run",
                "runs": args.runs, "quick": args.quick,
                "runs_text": "quick (1 run, small sizes)" if args.quick
                else f"{args.runs} run{'s' if args.runs > 1 else ''}, alternating"}
        log(f"machine: {machine['cores']} cores, kernel {machine['kernel']}, node "
            f"{machine['node']}, PM2 {machine['pm2'] or '-'}, corral {machine['corral_commit']}; "
            f"work in {work}")
        for name in args.scenarios:
            mod = SCENARIOS[name]
            log(f"scenario {name}: {mod.TITLE}")
            t0 = time.monotonic()
            try:
                result = mod.run(ctx)
            except BenchError as e:
                log(f"scenario {name} FAILED: {e}")
                failed.append(name)
                continue
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            finally:
                for m in managers:
                    m.shutdown()
            path = report.write(result, machine, rctx, args.results_dir, args.label)
            written.append(path)
            print(report.console(result), flush=True)
            log(f"scenario {name} took {time.monotonic() - t0:.0f} s → {os.path.relpath(path)}")
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        failed.append("interrupted")
    except BenchError as e:
        log(f"error: {e}")
        failed.append("setup")
    finally:
        for m in managers:
            try:
                m.shutdown()
            except Exception as e:  # keep cleaning up whatever happens
                log(f"{m.name} shutdown: {e}")
        left = kill_marked(f"BENCH_TAG={tag}")
        if left:
            log(f"killed {len(left)} leftover process(es)")
        if pids_with(f"BENCH_TAG={tag}"):
            log("WARNING: processes of this run are still alive")
            failed.append("cleanup")
        if work and not args.keep_work and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    for p in written:
        log(f"wrote {os.path.relpath(p)}")
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0
