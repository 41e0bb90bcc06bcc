"""corral profile / heapdump / in-app metrics (docs/profiling.md).

Node apps are profiled by corral's agent over their IPC channel; other
programs with perf. The apps are written into the test's temp dir.
"""
import glob
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from clusterapp import wait_ready
from conftest import free_port, wait_for, write
from fhelpers import children
from loadgen import Load

BURN_JS = """
function burnCpuForProfile() {
  let x = 0;
  for (let i = 0; i < 300000; i++) x += Math.sqrt(i);
  return x;
}
let n = 0;
setInterval(() => {
  burnCpuForProfile();
  if (++n % 20 === 0) console.log('burned ' + n);
}, 5);
"""


def profiles(corral, ext):
    return sorted(glob.glob(os.path.join(corral.home, "profiles", "*." + ext)))


def log_lines(corral, name, pm_id):
    try:
        with open(corral.log_path(name, "out", pm_id)) as f:
            return f.read().count("\n")
    except OSError:
        return 0


def burn_app(corral, tmp_path, instances=2, name="burn"):
    app = write(str(tmp_path / "burn.js"), BURN_JS)
    corral.ok("start", app, "-i", instances, "--name", name)
    corral.wait_status(name, "online", count=instances)
    # Running its code (not only started): a profile from now on has it.
    wait_for(lambda: all(log_lines(corral, name, i) > 0 for i in range(instances)),
             timeout=20, what="the instances to burn CPU")
    return app


def nodes_named(profile, fn):
    return [n for n in profile["nodes"] if n["callFrame"]["functionName"] == fn]


def test_cpu_profile_start_stop_gives_one_cpuprofile_per_instance(corral, tmp_path):
    burn_app(corral, tmp_path)
    out = corral.ok("profile", "start", "burn")
    assert out.count("cpu profile started") == 2
    # Let each instance burn a while: by the CPU it used, not by its log
    # lines, which a loaded daemon may write long after the app did.
    for p in corral.procs("burn"):
        burned_half_a_second(p["pid"])
    out = corral.ok("profile", "stop", "burn")
    paths = out.split()
    files = profiles(corral, "cpuprofile")
    assert sorted(paths) == files and len(files) == 2
    pids = {p["pid"] for p in corral.procs("burn")}
    for f in files:
        base = os.path.basename(f)
        assert base.startswith("burn-")
        name, pm_id, pid = base.split("-")[:3]
        assert int(pid) in pids
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        with open(f) as fh:
            prof = json.load(fh)
        assert nodes_named(prof, "burnCpuForProfile"), "the hot function is not in " + f
    # jlist and describe list each instance's own.
    for p in corral.procs("burn"):
        mine = [f["path"] for f in p["profiles"]]
        assert len(mine) == 1 and f"-{p['pm_id']}-{p['pid']}-" in mine[0]
        assert p["profiles"][0]["bytes"] == os.path.getsize(mine[0])
        assert mine[0] in corral.ok("describe", p["pm_id"])
    # Stopping again: nothing runs.
    err = corral.fail("profile", "stop", "burn")
    assert "no cpu profile is running" in err


def test_profile_duration_and_profile_mem(corral, tmp_path):
    burn_app(corral, tmp_path, instances=1)
    out = corral.ok("profile", "burn", "--duration", "1s")
    (path,) = out.split()
    with open(path) as f:
        assert nodes_named(json.load(f), "burnCpuForProfile")
    out = corral.ok("profile:mem", "burn", "500ms")
    (path,) = out.split()
    assert path.endswith(".heapprofile")
    with open(path) as f:
        heap = json.load(f)
    assert "head" in heap and "samples" in heap
    # profile list shows them; clean removes them.
    listed = corral.ok("profile", "list")
    assert path in listed
    assert len(corral.proc("burn")["profiles"]) == 2
    corral.ok("profile", "clean")
    assert not os.listdir(os.path.join(corral.home, "profiles"))
    assert corral.proc("burn")["profiles"] == []
    # A timed profile of an instance already being profiled fails for it,
    # and leaves that session alone: its own stop still gets the profile.
    corral.ok("profile", "start", "burn")
    err = corral.fail("profile", "burn", "--duration", "300ms")
    assert "already running" in err, err
    (path,) = corral.ok("profile", "stop", "burn").split()
    assert path.endswith(".cpuprofile") and os.path.getsize(path) > 0


# ---- heap snapshots ----

HELD_JS = """
const http = require('http');
// A string held on purpose, built at run time so that only the heap has it.
globalThis.heldOnPurpose = ['corral', 'held', 'on', 'purpose', 'marker'].join('-');
// Enough objects that a snapshot pauses the process for a while.
globalThis.ballast = Array.from({length: 100000}, (_, i) => ({i}));
const server = http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(`pid=${process.pid} instance=${process.env.NODE_APP_INSTANCE}\\n`);
});
server.listen(Number(process.env.PORT));
process.on('SIGINT', () => server.close(() => process.exit(0)));
"""


def gets_traffic(corral, pid):
    """Whether pid's listener member is in its group's rotation."""
    members = [m for p in corral.jlist() for g in p.get("listeners") or [] for m in g["members"]
               if m["pid"] == pid]
    assert members, f"pid {pid} has no listener"
    return all(m["gets_traffic"] for m in members)


def test_heapdump_of_a_cluster_instance_under_load_fails_no_request(corral, tmp_path):
    port = free_port()
    app = write(str(tmp_path / "held.js"), HELD_JS)
    corral.ok("start", app, "-i", 2, "--name", "held", env={"PORT": str(port)})
    wait_ready(corral, "held", 2)
    target = corral.procs("held")[0]
    with Load(port, threads=4) as load:
        load.wait_more(100)
        dump = corral.popen("heapdump", target["pm_id"])
        # While the snapshot pauses it, the instance takes no new connections.
        wait_for(lambda: not gets_traffic(corral, target["pid"]) or dump.poll() is not None,
                 timeout=20, what="the instance to leave the rotation")
        assert dump.poll() is None, "the dump ended before the instance left the rotation"
        out, err = dump.communicate(timeout=120)
        assert dump.returncode == 0, err
        after = load.count()
        # It answers again after the dump.
        t = time.monotonic()
        wait_for(lambda: target["pid"] in load.pids_since(t) and len(load.pids_since(t)) == 2,
                 timeout=20, what="the dumped instance to take connections again")
        load.wait_more(100)
    assert load.failures == [], load.failures[:5]
    assert load.count() > after
    (path,) = out.split()
    assert path.endswith(".heapsnapshot")
    assert os.path.basename(path).startswith(f"held-{target['pm_id']}-{target['pid']}-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        snap = json.load(f)
    assert {"snapshot", "nodes", "strings"} <= set(snap)
    assert "corral-held-on-purpose-marker" in snap["strings"]
    assert gets_traffic(corral, target["pid"])
    # A file of one's own choosing, relative to the current directory.
    mine = str(tmp_path / "mine.heapsnapshot")
    assert corral.ok("heapdump", 1, "mine.heapsnapshot", cwd=str(tmp_path)).split() == [mine]
    with open(mine) as f:
        assert "corral-held-on-purpose-marker" in json.load(f)["strings"]
    # Only one instance gets a file name.
    assert "exactly one instance" in corral.fail("heapdump", "held", mine + "2")


# ---- in-app metrics ----

def metric(corral, name, key):
    m = (corral.proc(name).get("axm_monitor") or {}).get(key)
    return m and m["value"]


def test_event_loop_delay_of_a_blocking_app_shows_in_describe(corral, tmp_path):
    app = write(str(tmp_path / "block.js"), """
setInterval(() => { const t = Date.now(); while (Date.now() - t < 200); }, 1000);
""")
    corral.ok("start", app, "--name", "block")
    wait_for(lambda: (metric(corral, "block", "event_loop_delay_p95") or 0) >= 150,
             timeout=20, what="an event-loop delay p95 of 150 ms or more")
    out = corral.ok("describe", "block")
    line = [ln for ln in out.splitlines() if "event_loop_delay_p95" in ln]
    assert line and float(line[0].split("│")[2].split()[0]) >= 150


def test_heap_used_grows_in_jlist_while_the_app_allocates(corral, tmp_path):
    app = write(str(tmp_path / "grow.js"), """
const keep = [];
setInterval(() => { keep.push(new Array(100000).fill(keep.length)); }, 50);
""")
    corral.ok("start", app, "--name", "grow")
    first = wait_for(lambda: metric(corral, "grow", "heap_used"), timeout=20,
                     what="a first heap figure")
    wait_for(lambda: metric(corral, "grow", "heap_used") >= first + 4, timeout=30,
             what="heap used to grow by 4 MiB")
    p = corral.proc("grow")["axm_monitor"]
    for key in ("heap_total", "event_loop_delay_p50", "active_handles", "active_requests",
                "gc_count", "gc_pause"):
        assert key in p, key


def test_custom_metrics_from_python_over_notify_socket_and_node_over_ipc(corral, tmp_path):
    app = write(str(tmp_path / "custom.py"), """
import os, socket, time
path = os.environ["NOTIFY_SOCKET"]
if path.startswith("@"):
    path = "\\0" + path[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n = 0
while True:
    n += 1
    s.sendto(f"CORRAL_METRIC=queue_depth={n} jobs\\nCORRAL_METRIC=bad name!=1".encode(), path)
    time.sleep(0.2)
""")
    corral.ok("start", app, "--name", "custom")
    wait_for(lambda: (metric(corral, "custom", "queue_depth") or 0) >= 2, timeout=20,
             what="the Python app's metric")
    m = corral.proc("custom")["axm_monitor"]
    assert m["queue_depth"]["unit"] == "jobs"
    assert list(m) == ["queue_depth"], m
    out = corral.ok("describe", "custom")
    assert "queue_depth" in out and "jobs" in out
    # A new process starts without the last one's metrics.
    corral.ok("stop", "custom")
    assert corral.proc("custom")["axm_monitor"]["queue_depth"]
    write(app, "import time\nwhile True: time.sleep(1)\n")
    corral.ok("start", "custom")
    corral.wait_status("custom", "online")
    assert corral.proc("custom")["axm_monitor"] is None
    node = write(str(tmp_path / "custom.js"), """
setInterval(() => process.send({type: 'corral:metric', name: 'orders', value: 7,
    unit: 'orders'}), 200);
""")
    corral.ok("start", node, "--name", "orders")
    wait_for(lambda: metric(corral, "orders", "orders") == 7, timeout=20,
             what="the Node app's metric")


# ---- native programs: perf ----

HOT_C = r"""
volatile double sink;
volatile int rounds = 5000000;
__attribute__((noinline)) void burnNativeForProfile(int n)
{
	double x = 0;
	for (int i = 0; i < n; i++)
		x += (double)i / (i + 1);
	sink = x;
}
int main(void) { for (;;) burnNativeForProfile(rounds); }
"""


def native_app(corral, tmp_path):
    src = write(str(tmp_path / "hot.c"), HOT_C)
    exe = str(tmp_path / "hot")
    subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    corral.ok("start", exe, "--name", "hot")
    corral.wait_status("hot", "online")
    return exe


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def burned_half_a_second(pid):
    """Wait until pid has used half a second of CPU more than now."""
    before = cpu_ticks(pid)
    wait_for(lambda: cpu_ticks(pid) >= before + 50, what="half a second of CPU")


def perf_works(tmp_path):
    perf = shutil.which("perf")
    if not perf:
        return "perf is not installed"
    r = subprocess.run([perf, "record", "-q", "-o", str(tmp_path / "probe.data"), "--",
                        "true"], capture_output=True, text=True)
    return None if r.returncode == 0 else "perf record does not work here: " + r.stderr[-200:]


def test_perf_profile_of_a_c_program_has_its_hot_function(corral, tmp_path):
    why = perf_works(tmp_path)
    if why:
        pytest.skip(why)
    native_app(corral, tmp_path)
    out = corral.ok("profile", "hot", "--duration", "1s")
    data, folded = out.split()
    assert data.endswith(".perf.data") and folded.endswith(".folded")
    for f in (data, folded):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    with open(folded) as f:
        lines = f.read().splitlines()
    assert lines and all(ln.rsplit(" ", 1)[1].isdigit() for ln in lines)
    assert any("burnNativeForProfile" in ln.rsplit(" ", 1)[0].split(";") for ln in lines), lines
    assert [f["path"] for f in corral.proc("hot")["profiles"]] == [data, folded]
    # start/stop: the daemon runs perf between the two.
    pid = corral.proc("hot")["pid"]
    assert "cpu profile started" in corral.ok("profile", "start", "hot")
    assert "already running" in corral.fail("profile", "start", "hot")
    burned_half_a_second(pid)
    data2, folded2 = corral.ok("profile", "stop", "hot").split()
    assert data2 != data and data2.endswith(".perf.data") and folded2.endswith(".folded")
    with open(folded2) as f:
        assert "burnNativeForProfile" in f.read()
    assert "no cpu profile is running" in corral.fail("profile", "stop", "hot")
    # The program stops while perf records it: stop still gets the samples.
    corral.ok("profile", "start", "hot")
    burned_half_a_second(pid)
    corral.ok("stop", "hot")
    data3, folded3 = corral.ok("profile", "stop", "hot").split()
    with open(folded3) as f:
        assert "burnNativeForProfile" in f.read()
    # A recording of an app deleted meanwhile ends with it; one left
    # running ends with the daemon (the fixture checks that no process is
    # left, and that the daemon's sanitizers said nothing).
    corral.ok("start", "hot")
    corral.wait_status("hot", "online")
    corral.ok("profile", "start", "hot")
    corral.ok("delete", "hot")
    native_app(corral, tmp_path)
    corral.ok("profile", "start", "hot")


def test_ctrl_c_during_duration_stops_and_writes_the_profiles(corral, tmp_path):
    why = perf_works(tmp_path)
    if why:
        pytest.skip(why)
    native_app(corral, tmp_path)
    p = corral.popen("profile", "hot", "--duration", "10m")
    try:
        # Recording: the daemon runs perf (a probe with `profile start`
        # could win the race and start a recording of its own).
        daemon = corral.daemon_pid()

        def perf_running():
            for c in children(daemon):
                try:
                    with open(f"/proc/{c}/comm") as f:
                        if f.read().strip() == "perf":
                            return True
                except OSError:
                    pass
            return False
        wait_for(perf_running, what="the recording to run")
        pid = corral.proc("hot")["pid"]
        burned_half_a_second(pid)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    data, folded = out.split()
    assert os.path.exists(data) and os.path.exists(folded)
    # Nothing left recording in the app.
    assert "no cpu profile is running" in corral.fail("profile", "stop", "hot")


def test_perf_missing_is_one_line_and_leaves_nothing(corral, tmp_path):
    # The daemon runs perf: one started where there is none.
    corral.ok("kill")
    corral.ok("ping", env={"PATH": "/nonexistent"})
    native_app(corral, tmp_path)
    err = corral.fail("profile", "hot", "--duration", "200ms")
    assert err.strip().count("\n") == 0
    assert "perf is not installed" in err
    assert not glob.glob(os.path.join(corral.home, "profiles", "*"))



def fake_perf(tmp_path, body):
    """A directory with a `perf` that runs this shell body."""
    d = tmp_path / "fakebin"
    d.mkdir(exist_ok=True)
    write(str(d / "perf"), "#!/bin/sh\n" + body)
    os.chmod(d / "perf", 0o755)
    return f"{d}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def test_profile_start_answers_once_perf_records(corral, tmp_path):
    # A perf that takes a second and a half to set up: `profile start`
    # answers only after it acknowledged the "enable" on its control pipe.
    path = fake_perf(tmp_path, """
case " $* " in *" -D -1 --control fd:3,4 "*) ;; *) echo "perf: no control pipe" >&2; exit 2;; esac
sleep 1.5
read cmd <&3
[ "$cmd" = enable ] || exit 3
echo recording > "$CORRAL_HOME/fake-perf-enabled"
echo ack >&4
echo $$ > "$CORRAL_HOME/perf.pid"
exec sleep 3600
""")
    corral.ok("kill")
    corral.ok("ping", env={"PATH": path})
    native_app(corral, tmp_path)
    marker = os.path.join(corral.home, "fake-perf-enabled")
    assert "cpu profile started" in corral.ok("profile", "start", "hot")
    assert os.path.exists(marker)
    pid = int(open(os.path.join(corral.home, "perf.pid")).read())
    corral.ok("kill")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="perf killed with the daemon")


def test_a_perf_that_fails_or_never_records_is_one_line(corral, tmp_path):
    path = fake_perf(tmp_path, """
if [ -e "$CORRAL_HOME/hang" ]; then echo $$ > "$CORRAL_HOME/perf.pid"; exec sleep 3600; fi
echo "perf: cannot attach here" >&2; exit 2
""")
    corral.ok("kill")
    corral.ok("ping", env={"PATH": path})
    native_app(corral, tmp_path)
    err = corral.fail("profile", "start", "hot")
    assert "hot (pm_id 0): perf record failed" in err and "cannot attach here" in err, err
    assert err.strip().count("\n") == 0
    # One that never acknowledges is killed after the timeout.
    write(os.path.join(corral.home, "hang"), "")
    err = corral.fail("profile", "hot", "--duration", "100ms", "--timeout", "1s")
    assert "did not start recording within 1000 ms" in err, err
    pid = int(open(os.path.join(corral.home, "perf.pid")).read())
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the fake perf killed")
    assert not glob.glob(os.path.join(corral.home, "profiles", "*.perf.data"))
    assert corral.proc("hot")["status"] == "online"

# ---- bad cases, and apps the agent must not disturb ----

def test_profiling_a_stopped_app_fails_and_says_so(corral, tmp_path):
    burn_app(corral, tmp_path, instances=1)
    corral.ok("stop", "burn")
    err = corral.fail("profile", "burn", "--duration", "200ms")
    assert "burn (pm_id 0) is not running" in err
    err = corral.fail("heapdump", "burn")
    assert "is not running" in err
    assert "nosuchapp" in corral.fail("profile", "start", "nosuchapp")


def test_heapdump_of_a_python_app_fails(corral, tmp_path):
    app = write(str(tmp_path / "py.py"), "import time\nwhile True: time.sleep(1)\n")
    corral.ok("start", app, "--name", "py")
    corral.wait_status("py", "online")
    err = corral.fail("heapdump", "py")
    assert "py (pm_id 0) is not a Node app" in err
    assert err.strip().count("\n") == 0
    assert corral.proc("py")["status"] == "online"


def test_a_profile_directory_that_cannot_be_written(corral, tmp_path):
    burn_app(corral, tmp_path, instances=1)
    # A file where the directory should be: even root cannot write there.
    write(os.path.join(corral.home, "profiles"), "not a directory\n")
    err = corral.fail("heapdump", "burn")
    assert "profiles" in err and "Not a directory" in err
    corral.ok("profile", "start", "burn")
    err = corral.fail("profile", "stop", "burn")
    assert "Not a directory" in err
    # A file the agent cannot create: its error, no partial file, the app runs.
    os.remove(os.path.join(corral.home, "profiles"))
    err = corral.fail("heapdump", "burn", str(tmp_path / "no" / "such" / "dir.heapsnapshot"))
    assert "ENOENT" in err or "no such file" in err.lower()
    assert corral.proc("burn")["status"] == "online"
    assert corral.proc("burn")["restarts"] == 0


def test_the_agent_leaves_apps_alone(corral, tmp_path):
    # An app that listens on its IPC channel sees none of corral's messages;
    # one that replaces process.send is still profiled; one that has nothing
    # left to do exits (the agent keeps nothing alive).
    app = write(str(tmp_path / "ipc.js"), """
process.on('message', (m) => console.log('app got ' + JSON.stringify(m)));
process.send = () => { throw new Error('replaced'); };
setInterval(() => {}, 1000);
""")
    corral.ok("start", app, "--name", "ipc")
    corral.wait_status("ipc", "online")
    corral.ok("profile", "ipc", "--duration", "200ms")
    corral.ok("heapdump", "ipc")
    corral.ok("stop", "ipc")
    with open(corral.log_path("ipc")) as f:
        assert "app got" not in f.read()
    esm = write(str(tmp_path / "esm.mjs"), """
import { setInterval } from 'node:timers';
export function burnCpuForProfile() {
  let x = 0;
  for (let i = 0; i < 300000; i++) x += Math.sqrt(i);
  return x;
}
setInterval(burnCpuForProfile, 5);
console.log('module loaded');
""")
    corral.ok("start", esm, "--name", "esm")
    wait_for(lambda: "module loaded" in open(corral.log_path("esm")).read(),
             what="the ES module to run")
    (path,) = corral.ok("profile", "esm", "--duration", "1s").split()
    with open(path) as f:
        assert nodes_named(json.load(f), "burnCpuForProfile")
    short = write(str(tmp_path / "short.js"), "console.log('done');\n")
    corral.ok("start", short, "--name", "short", "--no-autorestart")
    wait_for(lambda: corral.proc("short")["status"] == "stopped" and
             corral.proc("short")["exit_code"] == 0, what="the short app to exit")


def test_disable_agent(corral, tmp_path):
    app = write(str(tmp_path / "plain.js"), "setInterval(() => {}, 1000);\n")
    corral.ok("start", app, "--name", "plain", "--disable-agent")
    p = corral.wait_status("plain", "online")[0]
    with open(f"/proc/{p['pid']}/cmdline") as f:
        assert "agent.js" not in f.read()
    assert "disable_agent is set" in corral.fail("heapdump", "plain")
    # PM2's pmx: false in a file means the same.
    eco = write(str(tmp_path / "eco.json"), json.dumps({"apps": [
        {"name": "quiet", "script": app, "pmx": False},
        {"name": "loud", "script": app, "automation": True}]}))
    corral.ok("start", eco)
    quiet = corral.wait_status("quiet", "online")[0]
    loud = corral.wait_status("loud", "online")[0]
    with open(f"/proc/{quiet['pid']}/cmdline") as f:
        assert "agent.js" not in f.read()
    with open(f"/proc/{loud['pid']}/cmdline") as f:
        assert "agent.js" in f.read()


def test_an_app_that_does_not_answer_in_time(corral, tmp_path):
    port = free_port()
    app = write(str(tmp_path / "stuck.js"), HELD_JS + """
process.on('SIGUSR2', () => {
  console.log('blocking');
  const t = Date.now();
  while (Date.now() - t < 3000);
  console.log('unblocked');
});
console.log('armed');
""")
    corral.ok("start", app, "-i", 2, "--name", "stuck", env={"PORT": str(port)})
    wait_ready(corral, "stuck", 2)
    target = corral.procs("stuck")[0]
    log = corral.log_path("stuck", "out", target["pm_id"])
    wait_for(lambda: "armed" in open(log).read(), what="the app's SIGUSR2 handler")
    corral.ok("sendSignal", "SIGUSR2", target["pm_id"])
    wait_for(lambda: "blocking" in open(log).read(), what="the app to block")
    err = corral.fail("heapdump", target["pm_id"], "--timeout", "500ms")
    assert "did not answer within 500 ms" in err and err.count("\n") == 1
    # Left running and back in its group; no file, not even a late one.
    assert gets_traffic(corral, target["pid"])
    wait_for(lambda: "unblocked" in open(log).read(), what="the app to unblock")
    (path,) = corral.ok("heapdump", target["pm_id"]).split()
    assert profiles(corral, "heapsnapshot") == [path]
    p = corral.proc(target["pm_id"])
    assert p["status"] == "online" and p["pid"] == target["pid"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_monit_detail_pane_shows_in_app_metrics_as_they_change(corral, tmp_path):
    from test_monit import Tmux, open_monit, quit_monit
    import re
    app = write(str(tmp_path / "count.js"), """
let n = 0;
setInterval(() => process.send({type: 'corral:metric', name: 'orders', value: ++n,
    unit: 'orders'}), 300);
""")
    corral.ok("start", app, "--name", "count")
    corral.wait_status("count", "online")
    t = Tmux(corral)
    try:
        open_monit(t)
        seen = set()

        def values(s):
            for m in re.finditer(r"metric\s+orders (\d+) orders", s):
                seen.add(int(m.group(1)))
            return len(seen) >= 3
        t.wait_screen(values, "the orders metric, changing")
        t.wait_text("metric       heap_used")
        quit_monit(t)
    finally:
        t.kill()


def test_a_disk_that_fills_up_while_writing_leaves_no_partial_file(corral, tmp_path):
    # "node" here is node under a 200 KB file size limit: a heap snapshot
    # (megabytes) fails half-way as on a full disk (EFBIG instead of ENOSPC).
    node = write(str(tmp_path / "bin" / "node"),
                 f"#!/bin/sh\nexec prlimit --fsize=200000 {shutil.which('node')} \"$@\"\n",
                 mode=0o755)
    app = write(str(tmp_path / "small.js"), "setInterval(() => {}, 1000);\n")
    corral.ok("start", app, "--name", "small", "--interpreter", node)
    corral.wait_status("small", "online")
    err = corral.fail("heapdump", "small")
    assert "EFBIG" in err and err.count("\n") == 1, err
    assert os.listdir(os.path.join(corral.home, "profiles")) == []
    p = corral.proc("small")
    assert p["status"] == "online" and p["restarts"] == 0
    # A CPU profile is small: it fits.
    assert corral.ok("profile", "small", "--duration", "200ms").strip().endswith(".cpuprofile")


def test_the_agent_stays_out_of_the_node_processes_an_app_forks(corral, tmp_path):
    # A worker forked with the app's options (cluster.fork, child_process.fork)
    # inherits --require but not the agent's work: it sends nothing to its
    # parent, which logs every message it gets.
    child = write(str(tmp_path / "child.js"), "setInterval(() => {}, 1000);\n")
    app = write(str(tmp_path / "parent.js"), f"""
const {{ fork }} = require('child_process');
const w = fork({json.dumps(child)});
w.on('internalMessage', (m) => console.log('from worker ' + JSON.stringify(m)));
w.on('message', (m) => console.log('from worker ' + JSON.stringify(m)));
console.log('worker argv ' + JSON.stringify(process.execArgv));
process.on('SIGINT', () => {{ w.kill(); process.exit(0); }});
""")
    corral.ok("start", app, "--name", "parent")
    corral.wait_status("parent", "online")
    # The parent reports twice (the worker, started with it, would have
    # reported by then); the worker never does.
    def report_at():
        m = corral.proc("parent")["axm_monitor"]
        return m and m["heap_used"]["at"]
    first = wait_for(report_at, timeout=20, what="the parent's metrics")
    wait_for(lambda: report_at() != first, timeout=20, what="a second report")
    with open(corral.log_path("parent")) as f:
        text = f.read()
    assert "agent.js" in text and "from worker" not in text, text


def test_a_node_app_of_another_user_starts_without_the_agent(corral):
    # It could not read the agent in the 0700 home: node would not start.
    if os.geteuid() != 0:
        pytest.skip("only root can run an app as another user")
    import tempfile
    d = tempfile.mkdtemp(prefix="corral-agent-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        app = write(os.path.join(d, "other.js"), "console.log('up'); setInterval(() => {}, 1000);\n")
        corral.ok("start", app, "--name", "other", "--uid", "nobody")
        p = corral.wait_status("other", "online")[0]
        wait_for(lambda: "up" in open(corral.log_path("other")).read(), what="the app to run")
        p = corral.proc("other")
        assert p["restarts"] == 0 and p["status"] == "online"
        with open(f"/proc/{p['pid']}/cmdline") as f:
            assert "agent.js" not in f.read()
        assert "not a Node app with corral's agent" in corral.fail("heapdump", "other")
        corral.ok("delete", "all")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_an_app_that_dies_before_answering_fails_the_request_then(corral, tmp_path):
    """A blocked app's timeout leaves a file the user named alone (the agent
    never writes over one); blocked, then dead: the heapdump says so when
    it happens instead of waiting out its timeout and blaming the event
    loop."""
    app = write(str(tmp_path / "dies.js"), """
function block(ms) { const t = Date.now(); while (Date.now() - t < ms); }
process.on('SIGUSR1', () => { console.log('blocking'); block(1500); console.log('back'); });
process.on('SIGUSR2', () => { console.log('dying'); block(1500); process.exit(3); });
setInterval(() => {}, 1000);
console.log('armed');
""")
    corral.ok("start", app, "--name", "dies", "--no-autorestart")
    corral.wait_status("dies", "online")
    log = corral.log_path("dies")
    wait_for(lambda: "armed" in open(log).read(), what="the app's signal handlers")
    mine = tmp_path / "mine.heapsnapshot"
    mine.write_text("kept")
    corral.ok("sendSignal", "SIGUSR1", "dies")
    wait_for(lambda: "blocking" in open(log).read(), what="the app to block")
    err = corral.fail("heapdump", "dies", str(mine), "--timeout", "300ms")
    assert "did not answer within 300 ms" in err, err
    wait_for(lambda: "back" in open(log).read(), what="the app to unblock")
    assert mine.read_text() == "kept"
    corral.ok("sendSignal", "SIGUSR2", "dies")
    wait_for(lambda: "dying" in open(log).read(), what="the app to block before it exits")
    err = corral.fail("heapdump", "dies", "--timeout", "60s")
    assert "exited or closed its channel before answering" in err, err
    assert err.count("\n") == 1
