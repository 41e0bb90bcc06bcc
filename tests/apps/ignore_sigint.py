# Ignores SIGINT (the default stop signal): only SIGKILL ends it.
import os
import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
print("ignoring SIGINT", os.getpid(), flush=True)
while True:
    time.sleep(1)
