#!/usr/bin/python3
"""Log burst writer for the log-throughput scenario.

usage: logwriter.py <writer-id> <lines> <sync-dir>

Builds <lines> lines of exactly 100 bytes (99 characters and a newline) in
memory, says so by creating <sync-dir>/ready-<writer-id>, waits for
<sync-dir>/go, then writes them to stdout in 64 KiB blocks as fast as the pipe
takes them, and exits. Each line is

    w<id> <seq:08d> <filler> <crc32:08x>

where the CRC covers everything before it, so the harness can tell a damaged
line from a good one and a missing sequence number from a duplicate.
"""
import os
import sys
import time
import zlib

LINE_BYTES = 100


def make_line(wid, seq):
    head = f"w{wid} {seq:08d} "
    fill_len = LINE_BYTES - 1 - len(head) - 9  # the CRC and its space
    filler = (f"{seq * 2654435761 % 4294967296:08x}" * 12)[:fill_len]
    text = head + filler
    return f"{text} {zlib.crc32(text.encode()):08x}\n"


def main():
    wid, count, sync_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = "".join(make_line(wid, i) for i in range(count)).encode()
    assert len(data) == count * LINE_BYTES
    open(os.path.join(sync_dir, f"ready-{wid}"), "w").close()
    go = os.path.join(sync_dir, "go")
    deadline = time.monotonic() + 600
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.001)
    view = memoryview(data)
    block = 65536
    for off in range(0, len(data), block):
        chunk = view[off:off + block]
        while chunk:
            n = os.write(1, chunk)
            chunk = chunk[n:]
    # Stay until the harness has seen every line: exiting at once would
    # measure the managers' exit path too, which is not this scenario.
    # (bounded: never outlive a harness that died)
    deadline = time.monotonic() + 600
    while os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    main()
