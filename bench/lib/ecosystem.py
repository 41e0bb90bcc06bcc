"""Ecosystem files both managers read (PM2's JSON format)."""
import json
import os
import sys

from common import APPS


def sleepers(path, count, prefix="s"):
    """count apps that do nothing: /bin/sleep, run directly (no interpreter)."""
    apps = [{"name": f"{prefix}{i}", "script": "/bin/sleep", "args": "86400",
             "interpreter": "none", "autorestart": True} for i in range(count)]
    return write(path, apps)


def log_writers(path, count, lines, sync_dir):
    apps = [{"name": f"w{i}", "script": os.path.join(APPS, "logwriter.py"),
             "interpreter": sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
             "args": [str(i), str(lines), sync_dir], "autorestart": False}
            for i in range(count)]
    return write(path, apps)


def write(path, apps):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"apps": apps}, f, indent=1)
    return path
