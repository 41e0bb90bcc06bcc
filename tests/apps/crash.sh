#!/bin/sh
# Like crash.py but starts in a millisecond: for timing tests.
echo "start $(date +%s.%N) $$"
exit "${CRASH_CODE:-1}"
