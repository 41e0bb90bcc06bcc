# Prints "up <pid>" once, then sleeps until stopped (SIGINT ends it).
import os
import time

print("up", os.getpid())
while True:
    time.sleep(1)
