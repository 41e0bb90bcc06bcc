"""Helpers shared by corral web's tests: HTTP requests to the daemon's
server, a token file, starting the server on a free port."""
import http.client
import json
import os
import socket

from conftest import free_port, wait_for


def request(port, path, method="GET", headers=None, timeout=5.0):
    """(status, headers dict with lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def get_json(port, path, **kw):
    status, _, body = request(port, path, **kw)
    return status, json.loads(body)


def token_file(tmp_path, token="s3cret-token-for-tests", mode=0o600):
    path = os.path.join(str(tmp_path), "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)
    return path


def web_start(corral, *args):
    """Start the server on a free loopback port; the port."""
    port = free_port()
    corral.ok("web", "start", "--listen", f"127.0.0.1:{port}", *args)
    wait_for(lambda: request(port, "/healthz")[0] == 200, what="the web server")
    return port


def refused(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def bearer(token="s3cret-token-for-tests"):
    return {"Authorization": f"Bearer {token}"}
