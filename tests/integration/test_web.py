"""corral web: the daemon's HTTP server (docs/web.md). Metrics checked by
promtool and scraped by a real Prometheus, the JSON API against jlist,
actions behind the token, health endpoints, the event stream, and bad
input that must not hurt the daemon."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from clusterapp import start_node
from conftest import APPS, free_port, wait_for
from test_runtime import run as run_runtime, runtimes  # noqa: F401 (a fixture)
from webhelpers import bearer, get_json, refused, request, token_file, web_start

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def metrics(port, accept=None):
    status, headers, body = request(port, "/metrics",
                                    headers={"Accept": accept} if accept else None)
    assert status == 200
    return headers, body.decode()


def series(text, name):
    """{labels dict as a frozenset: value} of every sample of name."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^' + name + r'\{(.*)\} (\S+)$', line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            out[labels] = float(m.group(2))
    return out


def read_all(s):
    """What s receives until the server closes it; the socket is closed."""
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    return got


def labels_of(p):
    return {("app", p["name"]), ("namespace", p["namespace"]), ("pm_id", str(p["pm_id"])),
            ("instance", str(p["instance"]))}


def test_start_status_stop_and_the_setting_survives_the_daemon(corral):
    out = corral.ok("web", "status")
    assert "off" in out
    port = web_start(corral)
    st = json.loads(corral.ok("web", "status", "--json"))
    assert st["listening"] and st["listen"] == f"127.0.0.1:{port}" and not st["token"]
    assert request(port, "/healthz")[2] == b"ok\n"
    # Kept in settings.json: the next daemon serves again.
    corral.ok("kill")
    assert refused(port)
    corral.ok("ping")
    wait_for(lambda: request(port, "/healthz")[0] == 200, what="the server to come back")
    corral.ok("web", "stop")
    assert refused(port)
    corral.ok("kill")
    corral.ok("ping")
    assert "off" in corral.ok("web", "status")
    assert refused(port)


def test_libmicrohttpd_is_loaded_only_once_a_server_starts(corral):
    # It is not linked: it and the TLS libraries it brings (GnuTLS,
    # p11-kit...) cost every process of the binary memory and start-up
    # time, for `corral web` alone (src/common/lazylib.h).
    def mapped():
        with open(f"/proc/{corral.daemon_pid()}/maps") as f:
            return {os.path.basename(ln.split()[-1]).split(".so")[0]
                    for ln in f if ".so" in ln}
    corral.ok("ping")
    before = mapped()
    assert not before & {"libmicrohttpd", "libgnutls", "libncursesw"}, before
    web_start(corral)
    assert "libmicrohttpd" in mapped()


def test_the_server_comes_back_after_corral_update(corral):
    port = web_start(corral)
    pid = corral.daemon_pid()
    corral.ok("update")
    assert corral.daemon_pid() == pid
    wait_for(lambda: request(port, "/healthz")[0] == 200, what="the server after the update")
    assert json.loads(corral.ok("web", "status", "--json"))["listen"] == f"127.0.0.1:{port}"
    assert "web: MHD" not in corral.daemon_log()


def test_start_refuses_a_taken_or_invalid_address_with_one_line(corral, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        err = corral.fail("web", "start", "--listen", f"127.0.0.1:{port}")
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        taken.close()
    for bad, why in [("127.0.0.1:99999", "port must be a number"),
                     ("localhost:9615", "not a numeric IPv4 or IPv6 address"),
                     ("::1:9615", "brackets")]:
        err = corral.fail("web", "start", "--listen", bad)
        assert why in err and len(err.strip().splitlines()) == 1, err
    # A token file others can read is refused, and says how to fix it.
    err = corral.fail("web", "start", "--listen", f"127.0.0.1:{free_port()}",
                      "--token-file", token_file(tmp_path, mode=0o644))
    assert "readable or writable by others" in err and "chmod 600" in err
    # Nothing was kept of the refused starts.
    assert "off" in corral.ok("web", "status")
    assert corral.ok("get", "web:listen").strip() == ""


def test_non_loopback_without_a_token_warns(corral):
    port = free_port()
    r = corral.run("web", "start", "--listen", f"0.0.0.0:{port}")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "not a loopback address" in r.stderr


@pytest.mark.skipif(not PROMTOOL, reason="promtool (Debian prometheus) is not installed")
def test_metrics_pass_promtool_and_carry_every_instance(corral, tmp_path):
    start_node(corral, tmp_path, free_port(), 2, name="web")
    corral.ok("start", "/bin/sleep", "--name", "fork", "--", "1000")
    corral.wait_status("fork", "online")
    port = web_start(corral)
    headers, text = metrics(port)
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    procs = corral.jlist()
    up = series(text, "corral_up")
    assert {frozenset(labels_of(p)): 1.0 for p in procs} == up
    mem = series(text, "corral_memory_resident_bytes")
    assert all(v > 0 for v in mem.values()) and len(mem) == 3
    lb = series(text, "corral_lb_ready")
    assert len(lb) == 2 and all(("state", "ready") in k for k in lb)
    assert len(series(text, "corral_accept_queue_depth")) == 2
    wanted = series(text, "corral_app_instances_wanted")
    assert wanted[frozenset({("app", "web"), ("namespace", "default")})] == 2
    assert series(text, "corral_log_lines_dropped_total") == {} and \
        "corral_log_lines_dropped_total 0" in text
    # A restart counts, with its reason.
    fork = frozenset(labels_of(corral.proc("fork")))
    assert series(text, "corral_restarts_total")[fork] == 0
    corral.ok("restart", "fork")
    _, text = metrics(port)
    assert series(text, "corral_restarts_total")[fork] == 1
    reasons = series(text, "corral_last_restart_reason")
    assert reasons[fork | {("reason", "restarted by request")}] == 1, reasons
    # The log bytes an app wrote are counted per stream.
    out = series(text, "corral_log_bytes_total")
    web_out = frozenset({("app", "web"), ("namespace", "default"), ("stream", "out")})
    assert out[web_out] > 0
    # A rolling reload counts as ok once it is over.
    web_ok = frozenset({("app", "web"), ("namespace", "default"), ("outcome", "ok")})
    assert series(text, "corral_app_reloads_total")[web_ok] == 0
    corral.ok("reload", "web")
    _, text = metrics(port)
    assert series(text, "corral_app_reloads_total")[web_ok] == 1
    assert series(text, "corral_log_bytes_total")[web_out] > out[web_out]
    # OpenMetrics when asked for.
    headers, om = metrics(port, "application/openmetrics-text; version=1.0.0")
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert om.endswith("# EOF\n") and "# TYPE corral_restarts counter" in om
    _, prom = metrics(port, "application/openmetrics-text;q=0, text/plain")
    assert "# EOF" not in prom


def test_readyz_is_503_while_an_app_crash_loops_and_200_when_healthy(corral):
    corral.ok("start", "/bin/sleep", "--name", "good", "--", "1000")
    corral.wait_status("good", "online")
    port = web_start(corral)
    status, body = get_json(port, "/readyz")
    assert status == 200 and body == {"ready": True, "missing": []}
    corral.ok("start", os.path.join(APPS, "crash.sh"), "--name", "bad",
              "--restart-delay", "200")
    # Between two crashes it waits to restart: not ready.
    status, body = wait_for(lambda: (lambda r: r[0] == 503 and r)(get_json(port, "/readyz")),
                            what="readyz to say 503")
    assert [m["name"] for m in body["missing"]] == ["bad"]
    assert body["missing"][0]["status"] in ("waiting restart", "launching", "errored")
    corral.ok("delete", "bad")
    status, body = get_json(port, "/readyz")
    assert status == 200
    # A stopped app is not missing: it was asked to stop.
    corral.ok("stop", "good")
    assert get_json(port, "/readyz")[0] == 200


def test_api_lists_what_jlist_lists_and_hides_environments_without_the_token(corral,
                                                                             tmp_path):
    corral.ok("start", "/bin/sleep", "--name", "a", "-i", "2", "--", "1000",
              env={"WEB_TEST_SECRET": "hunter2-hidden"})
    corral.wait_status("a", "online", count=2)
    port = web_start(corral, "--token-file", token_file(tmp_path))
    status, procs = get_json(port, "/api/v1/processes")
    assert status == 200
    assert [(p["pm_id"], p["pid"], p["name"]) for p in procs] == \
        [(p["pm_id"], p["pid"], p["name"]) for p in corral.jlist()]
    _, _, body = request(port, "/api/v1/processes")
    assert b"hunter2-hidden" not in body
    _, _, body = request(port, "/api/v1/processes", headers=bearer())
    assert b"hunter2-hidden" in body
    _, _, body = request(port, "/api/v1/processes", headers=bearer("wrong-token-x"))
    assert b"hunter2-hidden" not in body
    status, one = get_json(port, "/api/v1/processes/1")
    assert status == 200 and [p["pm_id"] for p in one] == [1]
    status, by_name = get_json(port, "/api/v1/processes/a")
    assert [p["pm_id"] for p in by_name] == [0, 1]
    status, err = get_json(port, "/api/v1/processes/nosuch")
    assert status == 404 and "nosuch" in err["error"]


def test_actions_need_the_token_and_work_with_it(corral, tmp_path):
    corral.ok("start", "/bin/sleep", "--name", "a", "--", "1000")
    before = corral.wait_status("a", "online")[0]["pid"]
    port = web_start(corral)
    # Without a token file the server is read-only.
    status, err = get_json(port, "/api/v1/processes/a/restart", method="POST",
                           headers=bearer())
    assert status == 403 and "read-only" in err["error"]
    port = web_start(corral, "--token-file", token_file(tmp_path))
    status, headers, _ = request(port, "/api/v1/processes/a/restart", method="POST")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    status, _, _ = request(port, "/api/v1/processes/a/restart", method="POST",
                           headers=bearer("not-the-token"))
    assert status == 403
    assert corral.proc("a")["pid"] == before
    status, body = get_json(port, "/api/v1/processes/a/restart", method="POST",
                            headers=bearer())
    assert status == 202 and body["pm_ids"] == [0]
    wait_for(lambda: corral.proc("a")["pid"] not in (0, before)
             and corral.proc("a")["status"] == "online", what="the restart")
    assert get_json(port, "/api/v1/processes/a/stop", method="POST", headers=bearer())[0] == 202
    corral.wait_status("a", "stopped")
    assert get_json(port, "/api/v1/processes/a/start", method="POST", headers=bearer())[0] == 202
    corral.wait_status("a", "online")
    status, _ = get_json(port, "/api/v1/apps/a/scale?count=3", method="POST", headers=bearer())
    assert status == 202
    corral.wait_status("a", "online", count=3)
    status, err = get_json(port, "/api/v1/apps/a/scale?count=0", method="POST",
                           headers=bearer())
    assert status == 400
    status, err = get_json(port, "/api/v1/apps/nosuch/scale?count=2", method="POST",
                           headers=bearer())
    assert status == 404
    status, _ = get_json(port, "/api/v1/processes/a/reload", method="POST", headers=bearer())
    assert status == 202


def start_sh(corral, tmp_path, name, body):
    """Start a shell script with this body as app `name`."""
    script = os.path.join(str(tmp_path), f"{name}.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n" + body + "exec sleep 1000\n")
    os.chmod(script, 0o755)
    corral.ok("start", script, "--name", name)


def test_a_name_with_a_percent_sign_is_decoded_once(corral, tmp_path):
    # "50%off" is sent as 50%25off: MHD decoded it, then the router again.
    start_sh(corral, tmp_path, "50%off", "echo half\n")
    corral.wait_status("50%off", "online")
    port = web_start(corral)
    status, body = get_json(port, "/api/v1/processes/50%25off")
    assert status == 200 and [p["name"] for p in body] == ["50%off"], (status, body)
    wait_for(lambda: get_json(port, "/api/v1/logs/50%25off?lines=5")[1]["lines"],
             what="its log line")


def test_logs_and_the_event_stream(corral, tmp_path):
    start_sh(corral, tmp_path, "talk", "for i in 1 2 3 4 5; do echo line-$i; done\necho oops >&2\n")
    corral.wait_status("talk", "online")
    port = web_start(corral)
    wait_for(lambda: len(get_json(port, "/api/v1/logs/talk?lines=3")[1]["lines"]) == 4,
             what="the log lines")
    lines = get_json(port, "/api/v1/logs/talk?lines=3")[1]["lines"]
    assert [(l["stream"], l["line"]) for l in lines] == \
        [("out", "line-3"), ("out", "line-4"), ("out", "line-5"), ("err", "oops")]
    assert get_json(port, "/api/v1/logs/talk?lines=0")[0] == 400
    assert get_json(port, "/api/v1/logs/nosuch")[0] == 404
    # Lines of 3 KiB: all asked for come (a tail read 1 KiB a line and gave one).
    start_sh(corral, tmp_path, "long", "for i in 1 2 3 4; do printf 'L%s-' $i; "
             "head -c 3000 /dev/zero | tr '\\0' x; echo; done\n")
    wait_for(lambda: len(get_json(port, "/api/v1/logs/long?lines=9")[1]["lines"]) == 4,
             what="the four long lines")
    got = [l["line"] for l in get_json(port, "/api/v1/logs/long?lines=3")[1]["lines"]]
    assert [g[:3] for g in got] == ["L2-", "L3-", "L4-"] and all(len(g) == 3003 for g in got)
    # The stream: a restart shows as process events, then the new lines.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /api/v1/events?logs=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = b""
    while b": corral events" not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    assert b"text/event-stream" in got
    corral.ok("restart", "talk")
    while b'"line":"oops"' not in got or b'"event":"online"' not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    assert b"event: process" in got and b"event: log" in got
    # Stopping the server ends the open stream.
    corral.ok("web", "stop")
    while s.recv(65536):
        pass
    s.close()
    assert corral.ok("list")


def test_unknown_paths_wrong_methods_and_oversized_requests(corral):
    port = web_start(corral)
    # Bound to loopback, it answers only a loopback Host (no DNS rebinding).
    status, err = get_json(port, "/api/v1/processes", headers={"Host": "evil.example"})
    assert status == 421 and "loopback Host" in err["error"]
    assert request(port, "/healthz", headers={"Host": f"localhost:{port}"})[0] == 200
    assert request(port, "/nope")[0] == 404
    assert request(port, "/api/v1/processes/x/explode", method="POST")[0] == 404
    assert request(port, "/api/v1/processes/%zz")[0] == 404
    status, headers, _ = request(port, "/metrics", method="DELETE")
    assert status == 405 and headers["allow"] == "GET"
    status, headers, _ = request(port, "/api/v1/processes/0/restart")
    assert status == 405 and headers["allow"] == "POST"
    status, _, _ = request(port, "/api/v1/apps/a/scale", method="POST",
                           headers={"Content-Length": "100000000"})
    assert status == 413


def test_abuse_leaves_the_daemon_answering(corral):
    corral.ok("start", "/bin/sleep", "--name", "a", "--", "1000")
    port = web_start(corral)
    socks = []
    try:
        # A client that asks for a lot and never reads.
        lazy = socket.socket()
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.connect(("127.0.0.1", port))
        lazy.sendall(b"GET /api/v1/events?logs=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
                     b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 50)
        socks.append(lazy)
        # Garbage: a 400 or nothing, and the connection closed.
        g = socket.create_connection(("127.0.0.1", port), timeout=10)
        g.sendall(bytes(range(1, 256)) * 8 + b"\r\n\r\n")
        reply = read_all(g)
        assert reply == b"" or reply.split(b" ")[1] == b"400", reply[:100]
        # A 1 MB header: refused, the connection closed.
        big = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            big.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_all(big)
        assert reply == b"" or reply.split(b" ")[1] in (b"413", b"431", b"400"), reply[:100]
        # 500 connections at once that say nothing: the server holds 256,
        # the rest wait in the kernel's backlog.
        for _ in range(500):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            socks.append(s)
        # Meanwhile the daemon answers its own clients as usual.
        for _ in range(3):
            assert "a" in corral.ok("list", timeout=10)
        st = json.loads(corral.ok("web", "status", "--json"))
        assert 0 < st["connections"] <= 256
    finally:
        for s in socks:
            s.close()
    # And the server serves again once they are gone.
    wait_for(lambda: request(port, "/healthz")[0] == 200, what="the server to answer")
    assert corral.proc("a")["status"] == "online"


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus (Debian) is not installed")
def test_a_real_prometheus_scrapes_one_series_per_instance(corral, tmp_path):
    start_node(corral, tmp_path, free_port(), 2, name="web")
    corral.ok("start", "/bin/sleep", "--name", "fork", "--", "1000")
    port = web_start(corral)
    prom_port = free_port()
    cfg = os.path.join(str(tmp_path), "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: corral\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{port}']\n")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path}/tsdb",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def query():
            _, body = get_json(prom_port, "/api/v1/query?query=corral_up")
            result = body["data"]["result"]
            return len(result) == 3 and result
        result = wait_for(query, timeout=30, interval=0.3, what="Prometheus to scrape corral")
        got = sorted((r["metric"]["app"], r["metric"]["pm_id"], r["value"][1]) for r in result)
        assert got == [("fork", "2", "1"), ("web", "0", "1"), ("web", "1", "1")]
        assert all(r["metric"]["job"] == "corral" for r in result)
    finally:
        prom.terminate()
        prom.wait(timeout=10)


def test_corral_runtime_serves_from_the_environment(corral, runtimes, tmp_path):
    """CORRAL_WEB_LISTEN and CORRAL_WEB_TOKEN_FILE, for containers: the
    probes and an action work, and a bad address does not stop the apps."""
    port = free_port()
    # An ecosystem file that takes a second to load: the runtime serves
    # before its apps exist, and must not say ready then.
    eco = os.path.join(str(tmp_path), "ecosystem.config.js")
    with open(eco, "w") as f:
        f.write("const t = Date.now(); while (Date.now() - t < 1000);\n"
                "module.exports = {apps: [{name: 'app', script: '/bin/sleep', args: '1000'}]};\n")
    r = run_runtime(corral, runtimes, eco, namespace=False,
                    env={"CORRAL_WEB_LISTEN": f"127.0.0.1:{port}",
                         "CORRAL_WEB_TOKEN_FILE": token_file(tmp_path)})
    status, body = wait_for(lambda: get_json(port, "/readyz"), what="the server")
    assert status == 503 and not corral.procs("app"), body
    # Ready once the app runs.
    def ready():
        if get_json(port, "/readyz")[0] != 200:
            return False
        ps = corral.procs("app")
        assert ps and ps[0]["status"] == "online", f"ready before the app runs: {ps}"
        return True
    wait_for(ready, what="readyz")
    assert request(port, "/healthz")[0] == 200
    _, text = metrics(port)
    assert 'corral_up{app="app",namespace="default",pm_id="0",instance="0"} 1' in text
    pid = corral.proc("app")["pid"]
    assert get_json(port, "/api/v1/processes/app/restart", method="POST",
                    headers=bearer())[0] == 202
    wait_for(lambda: corral.proc("app")["pid"] not in (0, pid), what="the restart")
    r.signal(signal.SIGTERM)
    assert r.wait() == 0, r.stderr()


def test_corral_runtime_with_a_bad_address_says_so_and_runs(corral, runtimes):
    r = run_runtime(corral, runtimes, "/bin/sleep", "--name", "app", "--", "1000",
                    namespace=False, env={"CORRAL_WEB_LISTEN": "localhost:80"})
    corral.wait_status("app", "online")
    assert "web: listen address \"localhost:80\"" in r.stderr() and "not serving" in r.stderr()
    r.signal(signal.SIGTERM)
    assert r.wait() == 0, r.stderr()


def test_a_slow_client_is_closed_after_its_idle_timeout(corral):
    """A client that sends half a request and then nothing holds one of the
    server's connections only until the idle timeout (10 s), not forever."""
    port = web_start(corral)
    slow = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0")

        def closed():
            try:
                return slow.recv(4096) == b""
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        wait_for(closed, 40, interval=0.1, what="the server to close the slow connection")
        # Meanwhile and after, the server answers others.
        assert request(port, "/healthz")[0] == 200
    finally:
        slow.close()
