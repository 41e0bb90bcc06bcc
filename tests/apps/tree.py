# A process tree: forks TREE_CHILDREN children (default 2), each of which
# forks a grandchild; every process prints "tree <role> <pid> <pgid>" and
# sleeps. Optionally ignores SIGINT everywhere (TREE_IGNORE_INT=1).
import os
import signal
import sys
import time

if os.environ.get("TREE_IGNORE_INT"):
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def report(role):
    # One write per line: several processes share the pipe.
    os.write(1, b"tree %s %d %d\n" % (role.encode(), os.getpid(), os.getpgid(0)))


report("parent")
for _ in range(int(os.environ.get("TREE_CHILDREN", "2"))):
    if os.fork() == 0:
        if os.fork() == 0:
            report("grandchild")
        else:
            report("child")
        while True:
            time.sleep(1)
while True:
    time.sleep(1)
