"""Log rotation built in (issue 15): by size as the daemon writes, by the
cron schedule, compressed and retained, for every instance of a cluster and
for merged files, with no line cut, lost or written twice; the global
settings (`corral set/get/unset`) persist and apply live."""
import gzip
import json
import os
import re

from conftest import wait_for, write
from fhelpers import helper, read_bytes, read_text

# The lines helper: "TAG SEQ PAD" (tests/helpers/lines.c).
LINE = re.compile(rb"(T\d+) (\d{7}) (x*)")


def rotated(corral, stem, folder=None):
    """The rotated files of a log (<stem>__*), oldest first by their lines."""
    folder = folder or os.path.join(corral.home, "logs")
    names = [n for n in os.listdir(folder) if n.startswith(stem + "__")]
    return [os.path.join(folder, n) for n in sorted(names)]


def content(path):
    data = read_bytes(path)
    return gzip.decompress(data) if path.endswith(".gz") else data


def parse(data, where):
    """The (tag, seq) of each line of data; every line must be whole."""
    rows = data.split(b"\n")
    assert rows[-1] == b"", f"{where} does not end with a newline"
    out = []
    for i, row in enumerate(rows[:-1]):
        m = LINE.fullmatch(row)
        assert m, f"{where}: line {i} is not whole: {row[:80]!r}"
        out.append((m.group(1).decode(), int(m.group(2))))
    return out


def written(path, tag, count):
    """The writer's last line has reached the live file (the daemon may still
    be reading its pipe when the app has exited)."""
    wait_for(lambda: b"%s %07d " % (tag.encode(), count - 1) in read_bytes(path)[-4096:],
             timeout=30, what=f"the last line of {tag} in {path}")


def zips_done(corral, stem):
    """No compressor left on this log: every rotated file is a .gz."""
    files = rotated(corral, stem)
    return files and all(f.endswith(".gz") for f in files) and files


def check_sequence(files, live, tag, count, max_size, max_line):
    """The kept files hold, in order, tag's lines from some first one up to
    the last (count - 1), each once; each file at most max_size, or one
    line alone."""
    seqs = []
    for f in sorted(files, key=lambda p: parse(content(p), p)[0][1]) + [live]:
        data = content(f)
        rows = parse(data, f)
        assert len(data) <= max_size or len(rows) == 1, \
            f"{f}: {len(data)} bytes, more than {max_size} (+ one line of {max_line})"
        seqs += [s for t, s in rows if t == tag]
    assert seqs, "no line kept"
    first = seqs[0]
    assert seqs == list(range(first, count)), \
        f"lines missing or repeated between {first} and {count - 1}"
    return first


def test_size_rotation_retains_three_gzipped_files_and_loses_no_line(corral, tmp_path):
    count = 300000
    eco = write(str(tmp_path / "eco.json"), json.dumps({"apps": [{
        "name": "fast", "script": helper("lines"), "args": [str(count), "T0", "40"],
        "autorestart": False, "log_max_size": "1M", "log_retain": 3, "log_compress": True,
        "log_rotate_interval": 0}]}))
    corral.ok("start", eco)
    corral.wait_status("fast", "stopped", timeout=60)
    written(corral.log_path("fast"), "T0", count)
    files = wait_for(lambda: zips_done(corral, "fast-out"), timeout=30,
                     what="every rotated file compressed")
    # 12 MB went through: many rotations, three kept.
    assert len(files) == 3, files
    assert all(re.search(r"/fast-out__\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(_\d{3})?\.log\.gz$", f)
               for f in files), files
    first = check_sequence(files, corral.log_path("fast"), "T0", count, 1 << 20, 40)
    # Only whole files were removed: the oldest kept line is the first of a file.
    assert first > 0
    assert "rotated " in corral.daemon_log()
    assert "removed the rotated log" in corral.daemon_log()


def test_each_cluster_instance_rotates_its_own_file(corral, tmp_path):
    count = 20000
    corral.ok("set", "logrotate:max_size", "64K")
    corral.ok("set", "logrotate:rotateInterval", "0")
    corral.ok("start", helper("lines"), "--name", "multi", "-i", "4", "--no-autorestart",
              "--", count, "T0", "40")
    for i in range(4):
        written(corral.log_path("multi", pm_id=i), "T0", count)
    for i in range(4):
        files = rotated(corral, f"multi-out-{i}")
        # 800 KB each: twelve files of 64 KB.
        assert len(files) >= 10, (i, files)
        check_sequence(files, corral.log_path("multi", pm_id=i), "T0", count, 64 << 10, 40)
        # Rotated only when full: within one line of the limit.
        assert all(len(content(f)) > (64 << 10) - 40 for f in files)


def test_a_merged_file_rotates_once_for_all_its_writers(corral, tmp_path):
    count = 20000
    corral.ok("set", "logrotate:max_size", "64K")
    corral.ok("set", "logrotate:rotateInterval", "0")
    corral.ok("set", "logrotate:retain", "all")
    merged = str(tmp_path / "merged.log")
    tags = ["T0", "T1", "T2", "T3"]
    for t in tags:
        corral.ok("start", helper("lines"), "--name", t, "-o", merged, "--no-autorestart",
                  "--", count, t, "40")
    for t in tags:
        corral.wait_status(t, "stopped", timeout=60)
    total = 4 * count * 40
    wait_for(lambda: sum(os.path.getsize(f) for f in rotated(corral, "merged", str(tmp_path))
                         + [merged]) == total, timeout=30, what="every line in the files")
    files = rotated(corral, "merged", str(tmp_path))
    # One rotation per 64 KB of the merged file, not one per writer.
    assert len(files) == total // (64 << 10), (len(files), total)
    seen = {t: [] for t in tags}
    for f in files + [merged]:
        data = content(f)
        assert len(data) <= 64 << 10
        if f != merged:
            assert len(data) > (64 << 10) - 40
        for t, s in parse(data, f):
            seen[t].append(s)
    for t in tags:
        assert seen[t] == list(range(count)), f"{t}: lines missing or repeated"



def slow_lines_app(tmp_path, count):
    """A Python app printing count numbered lines ("T0 <n>"), ten a second."""
    code = ("import sys, time\n"
            f"for i in range({count}):\n"
            "    print('T0 %07d ' % i + 'x' * 20, flush=True)\n"
            "    time.sleep(0.1)\n")
    return write(str(tmp_path / "slow.py"), code)

def test_rotate_interval_and_date_format(corral, tmp_path):
    corral.ok("set", "logrotate:max_size", "0")
    corral.ok("set", "logrotate:dateFormat", "[day]YYYYMMDD[at]HHmmss")
    # Every two seconds, by the schedule only.
    corral.ok("set", "logrotate:rotateInterval", "*/2 * * * * *")
    app = slow_lines_app(tmp_path, 60)
    corral.ok("start", app, "--name", "slow", "--no-autorestart")
    corral.wait_status("slow", "stopped", timeout=60)
    files = rotated(corral, "slow-out")
    assert len(files) >= 2, files
    assert all(re.search(r"/slow-out__day\d{8}at\d{6}(_\d{3})?\.log$", f) for f in files), files
    seqs = [s for f in sorted(files) + [corral.log_path("slow")]
            for _, s in parse(read_bytes(f), f)]
    assert seqs == list(range(60))
    # An idle file is not rotated into empty ones.
    assert all(os.path.getsize(f) > 0 for f in files)
    assert not rotated(corral, "slow-error")



def test_an_apps_own_interval_next_to_the_global_schedule(corral, tmp_path):
    # One timer keeps the global schedule for every file without an interval
    # of its own; an app with its own keeps its own, and each follows only
    # its schedule.
    corral.ok("set", "logrotate:max_size", "0")
    corral.ok("set", "logrotate:rotateInterval", "0")
    app = slow_lines_app(tmp_path, 50)
    cfg = {"apps": [{"name": "own", "script": app, "interpreter": "python3",
                     "autorestart": False, "log_rotate_interval": "*/2 * * * * *"},
                    {"name": "global", "script": app, "interpreter": "python3",
                     "autorestart": False}]}
    corral.ok("start", write(str(tmp_path / "eco.json"), json.dumps(cfg)))
    corral.wait_status("own", "stopped", timeout=60)
    corral.wait_status("global", "stopped", timeout=60)
    files = rotated(corral, "own-out")
    assert len(files) >= 2, files
    seqs = [s for f in sorted(files) + [corral.log_path("own")]
            for _, s in parse(read_bytes(f), f)]
    assert seqs == list(range(50))
    assert not rotated(corral, "global-out")
    # The global schedule now, for the file that follows it.
    corral.ok("set", "logrotate:rotateInterval", "*/1 * * * * *")
    corral.ok("restart", "global")
    corral.wait_status("global", "stopped", timeout=60)
    assert len(rotated(corral, "global-out")) >= 2

def test_settings_persist_across_daemons_and_take_aliases(corral, tmp_path):
    assert corral.ok("get", "logrotate:max_size") == "10M\n"
    corral.ok("ping")
    out = corral.ok("set", "pm2-logrotate:max_size", "100K")
    assert "logrotate:max_size = 100K" in out
    corral.ok("set", "pm2-logrotate:rotateInterval", "0")
    corral.ok("kill")
    assert corral.ok("get", "logrotate:max_size") == "100K\n"
    table = corral.ok("get")
    assert re.search(r"logrotate:max_size\s+100K\n", table)
    assert re.search(r"logrotate:retain\s+30  \(default\)", table)
    # The next daemon reads them.
    corral.ok("start", helper("lines"), "--name", "w", "--no-autorestart", "--", 10000, "T0",
              "40")
    corral.wait_status("w", "stopped", timeout=60)
    written(corral.log_path("w"), "T0", 10000)
    files = rotated(corral, "w-out")
    assert len(files) == 400000 // (100 << 10), files
    check_sequence(files, corral.log_path("w"), "T0", 10000, 100 << 10, 40)
    # Live: a running daemon applies a change at once.
    corral.ok("unset", "logrotate:max_size")
    assert corral.ok("get", "logrotate:max_size") == "10M\n"
    corral.ok("restart", "w")
    corral.wait_status("w", "stopped", timeout=60)
    assert len(rotated(corral, "w-out")) == len(files)


def test_bad_settings_are_refused_in_one_line(corral):
    for args, want in [
            (("set", "logrotate:max_size", "lots"), "logrotate:max_size: \"lots\" is not a size"),
            (("set", "logrotate:nope", "1"), "unknown setting \"logrotate:nope\""),
            (("set", "logrotate:rotateInterval", "61 * * * *"), "minute field"),
            (("set", "logrotate:TZ", "Mars/Olympus"), "not a time zone"),
            (("get", "nothing"), "unknown setting"),
            (("set", "logrotate:retain"), "usage")]:
        err = corral.fail(*args)
        assert want in err, (args, err)
        assert err.count("\n") == 1, err
    # A file broken by hand: the daemon keeps its settings and says why.
    corral.ok("ping")
    write(os.path.join(corral.home, "settings.json"), "{\"logrotate:retain\": \"x\"}")
    err = corral.fail("set", "logrotate:compress", "true")
    assert "logrotate:retain" in err and "settings in force stay" in err
    # get does not show the refused value as if it were in force.
    err = corral.fail("get", "logrotate:retain")
    assert "settings.json: logrotate:retain: expected" in err, err
    assert err.count("\n") == 1, err


def test_daemon_log_rotates_too(corral, tmp_path):
    corral.ok("set", "logrotate:max_size", "1K")
    corral.ok("set", "logrotate:rotateInterval", "0")
    # Every start and stop is a few lines of daemon.log.
    app = write(str(tmp_path / "idle.py"), "import time\ntime.sleep(60)\n")
    for i in range(15):
        corral.ok("start", app, "--name", f"a{i}")
    corral.ok("delete", "all")
    files = wait_for(lambda: rotated(corral, "daemon", corral.home), what="a rotated daemon.log")
    assert all(os.path.getsize(f) < 1024 + 512 for f in files)
    assert os.path.getsize(os.path.join(corral.home, "daemon.log")) < 1024 + 512


def test_external_logrotate_and_flush_keep_the_size_count_right(corral, tmp_path):
    corral.ok("set", "logrotate:max_size", "1K")
    corral.ok("set", "logrotate:rotateInterval", "0")
    corral.ok("start", helper("lines"), "--name", "ext", "--no-autorestart", "--", 10, "T0",
              "40")
    path = corral.log_path("ext")

    def run_once(lines_in_file):
        corral.wait_status("ext", "stopped", timeout=30)
        wait_for(lambda: read_bytes(path).count(b"\n") == lines_in_file,
                 what=f"{lines_in_file} lines in {path}")
    run_once(10)
    # An external logrotate moves the file away: the new one starts at 0.
    os.rename(path, path + ".1")
    corral.ok("reloadLogs")
    for n in (10, 20):
        corral.ok("restart", "ext")
        run_once(n)
    assert not rotated(corral, "ext-out")
    # 1200 bytes: the file rotates once, after 25 lines of 40 bytes.
    corral.ok("restart", "ext")
    run_once(5)
    files = rotated(corral, "ext-out")
    assert len(files) == 1 and len(read_bytes(files[0])) == 1000, files
    assert parse(read_bytes(path + ".1"), "moved") == [("T0", i) for i in range(10)]
    # flush empties the file and the count: 10 more lines do not rotate it
    # (1000 bytes before the flush, 1400 had the count stayed).
    for n in (15, 25):
        corral.ok("restart", "ext")
        run_once(n)
    assert len(rotated(corral, "ext-out")) == 1
    corral.ok("flush", "ext")
    assert read_bytes(path) == b""
    corral.ok("restart", "ext")
    run_once(10)
    assert len(rotated(corral, "ext-out")) == 1
