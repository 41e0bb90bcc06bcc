"""A full disk under the app's log folder: lines are dropped, never the app
blocked, and every lost line is counted. The count the daemon reports
(describe, jlist's logs_lost) equals exactly the lines missing from the
file, and the note that says so stands on a line of its own once there is
room again, even after a line the full disk cut in the middle."""
import os
import re
import subprocess
import time

import pytest

from conftest import figures, wait_for, write
from fhelpers import read_bytes, read_text

LINE = re.compile(rb"L (\d{7}) x{28}")          # 38 bytes and a newline
LINE_BYTES = 39
NOTE = re.compile(rb"\[corral\] (\d+) log lines? lost \((\d+) bytes\): No space left on device")

WRITER = """\
import os, sys, time
first, then, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def lines(a, b):
    for i in range(a, b):
        sys.stdout.write("L %07d %s\\n" % (i, "x" * 28))
    sys.stdout.flush()
lines(0, first)
print("first part written", file=sys.stderr, flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
lines(first, first + then)
"""


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs, mounted for the test and unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def whole_lines(data):
    return [int(m.group(1)) for m in map(LINE.fullmatch, data.split(b"\n")) if m]


def test_full_log_folder_counts_every_lost_line(corral, tmp_path, small_disk):
    first, then = 100000, 2000
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (600 << 10))
    out = small_disk / "out.log"
    go = tmp_path / "go"
    app = write(str(tmp_path / "writer.py"), WRITER)
    t0 = time.monotonic()
    corral.ok("start", app, "--name", "full", "-o", str(out), "-e", str(tmp_path / "err.log"),
              "--no-autorestart", "--", first, then, go)

    def lost():
        return corral.proc("full")["logs_lost"]["out"]
    # Every line of the first part is in the file or counted as lost.
    wait_for(lambda: len(whole_lines(read_bytes(out))) + lost()["lines"] == first,
             timeout=60, what="the first part to be written or counted")
    assert "first part written" in read_text(tmp_path / "err.log")
    # Room again: the note comes without waiting for the app's next line.
    filler.unlink()
    wait_for(lambda: NOTE.search(read_bytes(out)), timeout=10, what="the note about lost lines")
    go.write_text("")
    corral.wait_status("full", "stopped", timeout=60)
    elapsed = time.monotonic() - t0

    data = read_bytes(out)
    rows = data.split(b"\n")
    assert rows[-1] == b"", "the file ends with a newline"
    rows = rows[:-1]
    seqs = whole_lines(data)
    missing = first + then - len(seqs)
    reported = lost()
    notes = [i for i, r in enumerate(rows) if NOTE.fullmatch(r)]
    assert len(notes) == 1, [rows[i] for i in notes]
    note = NOTE.fullmatch(rows[notes[0]])
    # The count is exact, in the note and in jlist.
    assert missing > 0
    assert int(note.group(1)) == missing == reported["lines"], (note.group(0), missing, reported)
    # So are the bytes: what the app wrote minus what reached the file (the
    # head of a cut line included, the note and its newline not).
    cut = [r for i, r in enumerate(rows) if i not in notes and not LINE.fullmatch(r)]
    assert len(cut) <= 1 and (not cut or notes[0] > 0 and rows[notes[0] - 1] == cut[0]), cut
    in_file = LINE_BYTES * len(seqs) + sum(len(r) for r in cut)
    assert int(note.group(2)) == reported["bytes"] == LINE_BYTES * (first + then) - in_file
    # Lines kept are in order: the head of the first part, then all of the second.
    assert seqs == list(range(len(seqs) - then)) + list(range(first, first + then))
    assert rows[notes[0] + 1:] == [b"L %07d %s" % (i, b"x" * 28) for i in range(first, first + then)]
    desc = corral.ok("describe", "full")
    assert re.search(rf"out log lost\s*│\s*{missing} lines \({reported['bytes']} bytes\)", desc), desc
    figures("full_disk", cut_lines=len(cut), lines_written=first + then, lines_dropped=reported["lines"],
            bytes_dropped=reported["bytes"], lines_kept=len(seqs), seconds=round(elapsed, 1))


def kept_files(folder, stem):
    """The rotated files of stem in folder, oldest first, then the live one."""
    rot = sorted(n for n in os.listdir(folder) if n.startswith(stem + "__"))
    return [folder / n for n in rot] + [folder / (stem + ".log")]


def test_rotation_frees_the_full_disk_from_its_oldest_files(corral, tmp_path, small_disk):
    # max_total_size set: a full disk costs rotated files, oldest first, not lines.
    first = 100000
    corral.ok("set", "logrotate:max_total_size", "100M")
    (small_disk / "filler").write_bytes(b"\0" * (600 << 10))
    go = tmp_path / "go"
    go.write_text("")
    app = write(str(tmp_path / "writer.py"), WRITER)
    corral.ok("start", app, "--name", "rot", "-o", str(small_disk / "out.log"),
              "-e", str(tmp_path / "err.log"), "--log-max-size", "64K", "--no-autorestart",
              "--", first, 0, go)
    corral.wait_status("rot", "stopped", timeout=120)
    seqs = []
    for f in kept_files(small_disk, "out"):
        data = read_bytes(f)
        assert len(data) <= 64 << 10
        assert data.endswith(b"\n")
        rows = data.split(b"\n")[:-1]
        assert all(LINE.fullmatch(r) for r in rows), f"{f}: a line is not whole"
        seqs += whole_lines(data)
    assert seqs == list(range(seqs[0], first)), "lines missing or repeated"
    assert corral.proc("rot")["logs_lost"]["out"] == {"lines": 0, "bytes": 0}
    log = corral.daemon_log()
    removed = log.count("(the disk is full)")
    assert removed > 0
    figures("full_disk_rotation", lines_written=first, lines_kept=len(seqs),
            rotated_removed_for_room=removed, lines_dropped=0)


def test_rotation_on_a_full_disk_counts_the_loss_and_resumes(corral, tmp_path, small_disk):
    # No max_total_size: the rotated files stay, lines are dropped and counted,
    # and logging resumes once there is room.
    first, then = 40000, 2000
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (600 << 10))
    go = tmp_path / "go"
    app = write(str(tmp_path / "writer.py"), WRITER)
    corral.ok("start", app, "--name", "rot", "-o", str(small_disk / "out.log"),
              "-e", str(tmp_path / "err.log"), "--log-max-size", "64K", "--no-autorestart",
              "--", first, then, go)

    def lost():
        return corral.proc("rot")["logs_lost"]["out"]

    def kept():
        return sum(len(whole_lines(read_bytes(f))) for f in kept_files(small_disk, "out"))
    wait_for(lambda: kept() + lost()["lines"] == first, timeout=60,
             what="the first part to be written or counted")
    assert lost()["lines"] > 0
    filler.unlink()
    def everything():
        return b"".join(read_bytes(f) for f in kept_files(small_disk, "out"))
    wait_for(lambda: NOTE.search(everything()), timeout=10, what="the note about lost lines")
    go.write_text("")
    corral.wait_status("rot", "stopped", timeout=60)
    assert whole_lines(everything())[-then:] == list(range(first, first + then))
    assert corral.ok("ping")
    assert "lines (" in corral.daemon_log() and "were lost" in corral.daemon_log()
    figures("full_disk_rotation_loss", lines_written=first + then,
            lines_dropped=lost()["lines"], bytes_dropped=lost()["bytes"])
