# Every 100 ms: "tick <instance> <n>" on stdout and "oops <instance> <n>" on
# stderr, until stopped.
import os
import sys
import time

inst = os.environ.get("NODE_APP_INSTANCE", "?")
n = 0
while True:
    print(f"tick {inst} {n}", flush=True)
    print(f"oops {inst} {n}", file=sys.stderr, flush=True)
    n += 1
    time.sleep(0.1)
