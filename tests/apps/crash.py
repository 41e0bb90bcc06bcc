# Prints its start time and pid, then exits with CRASH_CODE (default 1)
# after CRASH_AFTER seconds (default 0).
import os
import sys
import time

print("start %.6f %d" % (time.time(), os.getpid()))
time.sleep(float(os.environ.get("CRASH_AFTER", "0")))
sys.exit(int(os.environ.get("CRASH_CODE", "1")))
