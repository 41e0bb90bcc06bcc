"""corral deploy and --host against real OpenSSH servers on loopback.

Two "hosts" are two sshd (127.0.0.1 and 127.0.0.2, the same port, this
user): each session gets its own HOME (so its own ~/app and ~/.corral) and
WEB_PORT through sshd's SetEnv, and the built corral first on PATH. The
repo is a bare git repository in the temp dir; the app a small Node HTTP
server in cluster mode answering "pid=<pid> version=<n>".
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import BUILD, CORRAL, free_port, pids_with, wait_for, write
from loadgen import Load, request

pytestmark = pytest.mark.skipif(not (os.path.exists("/usr/sbin/sshd") and shutil.which("git")
                                     and shutil.which("node")),
                                reason="needs openssh-server, git and node (scripts/deps)")

SERVER = r"""
const http = require('http');
const fs = require('fs');
const version = fs.readFileSync(__dirname + '/VERSION', 'utf8').trim();
const server = http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(`pid=${process.pid} version=${version}\n`);
});
server.listen(Number(process.env.WEB_PORT), '127.0.0.1', () => console.log('listening v' + version));
process.on('SIGINT', () => server.close(() => process.exit(0)));
"""


def ecosystem(hosts, port, key, repo, **extra):
    fields = {
        "host": hosts, "port": str(port), "key": key, "ref": "origin/main", "repo": repo,
        "path": "~/app",
        "ssh_options": ["UserKnownHostsFile=/dev/null", "StrictHostKeyChecking=no",
                        "LogLevel=ERROR", "BatchMode=yes"],
        "env": {"DEPLOYED_BY": "deployer"},   # PM2 exports it unquoted
        "pre-deploy": "echo pre-deploy ran in $(pwd) >> ~/hooks.log",
        "post-deploy": "sh build.sh && corral startOrReload ecosystem.config.js --env production",
    }
    fields.update(extra)
    import json
    return ("module.exports = {\n"
            "  apps: [{name: 'web', script: 'server.js', instances: 2, exec_mode: 'cluster',\n"
            "          env_production: {NODE_ENV: 'production'}}],\n"
            f"  deploy: {{production: {json.dumps(fields)}}},\n"
            "};\n")


class Fleet:
    """Two sshd "hosts", a bare repo and a clone to commit releases from."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="corral-deploy-", dir="/tmp")
        t = self.tmp
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", f"{t}/hostkey"],
                       check=True)
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", f"{t}/id"],
                       check=True)
        shutil.copy(f"{t}/id.pub", f"{t}/authorized_keys")
        try:
            os.makedirs("/run/sshd", exist_ok=True)     # sshd's privilege separation
        except PermissionError:
            shutil.rmtree(self.tmp)
            pytest.skip("sshd needs /run/sshd, which this user cannot create")
        self.port = self._port_free_on_both()
        self.hosts = ["127.0.0.1", "127.0.0.2"]
        self.web = {h: free_port() for h in self.hosts}
        self.sshd = []
        for i, h in enumerate(self.hosts):
            home = f"{t}/host{i}"
            os.makedirs(home)
            conf = write(f"{t}/sshd{i}.conf", f"""ListenAddress {h}:{self.port}
HostKey {t}/hostkey
AuthorizedKeysFile {t}/authorized_keys
PidFile {t}/sshd{i}.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
SetEnv HOME={home} PATH={BUILD}:/usr/local/bin:/usr/bin:/bin WEB_PORT={self.web[h]} HOST_NAME=host{i}
""")
            self.sshd.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf],
                                              stdout=subprocess.DEVNULL,
                                              stderr=open(f"{t}/sshd{i}.log", "w")))
        for h in self.hosts:
            wait_for(lambda: self._listening(h), what=f"sshd on {h}:{self.port}")
        self.ssh_command = (f"ssh -i {t}/id -o UserKnownHostsFile=/dev/null "
                            "-o StrictHostKeyChecking=no -o LogLevel=ERROR -o BatchMode=yes")
        self.repo = f"{t}/repo.git"
        self.work = f"{t}/work"
        self.git("init", "-q", "--bare", "-b", "main", self.repo, cwd=t)
        self.git("clone", "-q", self.repo, self.work, cwd=t)
        self.git("checkout", "-q", "-b", "main")
        self.file = write(f"{self.work}/ecosystem.config.js",
                          ecosystem(self.hosts, self.port, f"{t}/id", self.repo))
        write(f"{self.work}/server.js", SERVER)
        self.commit(1)

    def _port_free_on_both(self):
        while True:
            port = free_port()
            try:
                s = socket.socket()
                s.bind(("127.0.0.2", port))
                s.close()
                return port
            except OSError:
                continue

    def _listening(self, host):
        try:
            socket.create_connection((host, self.port), 1).close()
            return True
        except OSError:
            return False

    def git(self, *args, cwd=None):
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        return subprocess.run(["git", *args], cwd=cwd or self.work, env=env, check=True,
                              capture_output=True, text=True).stdout

    def commit(self, version, build="exit 0"):
        """Version <n> of the app, pushed; build.sh runs in post-deploy."""
        write(f"{self.work}/VERSION", f"{version}\n")
        write(f"{self.work}/build.sh", build + "\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"v{version}")
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD").strip()

    def deploy(self, *args, env=None, timeout=120):
        e = dict(os.environ, NO_COLOR="1", CORRAL_HOME=f"{self.tmp}/local")
        e.update(env or {})
        return subprocess.run([CORRAL, "deploy", "ecosystem.config.js", "production", *args],
                              cwd=self.work, env=e, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args, **kw):
        r = self.deploy(*args, **kw)
        assert r.returncode == 0, f"deploy {args} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        return r.stdout

    def version(self, host):
        return request(self.web[host])["version"]

    def home(self, host):
        return f"{self.tmp}/host{self.hosts.index(host)}"

    def current(self, host):
        return os.readlink(f"{self.home(host)}/app/current")

    def close(self):
        for i, h in enumerate(self.hosts):
            home = f"{self.tmp}/host{i}"
            if os.path.exists(f"{home}/.corral/corral.sock"):
                subprocess.run([CORRAL, "kill"], env=dict(os.environ, CORRAL_HOME=f"{home}/.corral"),
                               capture_output=True, timeout=30)
        for p in self.sshd:
            p.terminate()
            p.wait(10)
        try:
            wait_for(lambda: not pids_with(self.tmp), timeout=5, what="processes to exit")
        finally:
            left = pids_with(self.tmp)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(self.tmp, ignore_errors=True)
        assert not left, f"processes left behind: {left}"


@pytest.fixture
def fleet():
    f = Fleet()
    yield f
    f.close()


def test_setup_deploy_under_load_failed_hook_revert_and_queries(fleet):
    a, b = fleet.hosts
    out = fleet.ok("setup")
    for h in fleet.hosts:
        assert os.path.isdir(f"{fleet.home(h)}/app/source/.git"), out
        assert os.path.isdir(f"{fleet.home(h)}/app/shared"), out
        assert fleet.current(h) == "source"
    out = fleet.ok()
    assert f"{a} | " in out and f"{b} | " in out, out
    for h in fleet.hosts:
        assert fleet.version(h) == "1"
        assert fleet.current(h).startswith("releases/")
    with open(f"{fleet.home(a)}/hooks.log") as f:
        assert f"pre-deploy ran in {fleet.home(a)}/app" in f.read()
    first = {h: fleet.current(h) for h in fleet.hosts}

    # Version 2 under a client opening a new connection per request.
    v2 = fleet.commit(2)
    with Load(fleet.web[a], threads=2) as load_a, Load(fleet.web[b], threads=2) as load_b:
        load_a.wait_more(50)
        load_b.wait_more(50)
        out = fleet.ok()
        load_a.wait_more(50)
        load_b.wait_more(50)
    assert load_a.failures == [] and load_b.failures == [], (load_a.failures[:3],
                                                            load_b.failures[:3])
    for h in fleet.hosts:
        assert fleet.version(h) == "2"
    assert out.count(v2[:8]) == 2 and out.count(" ok ") == 2, out
    second = {h: fleet.current(h) for h in fleet.hosts}

    # Version 3's build fails on the first host: the rollout stops there and
    # both hosts stay on version 2.
    fleet.commit(3, build='[ "$HOST_NAME" != host0 ] || { echo "build broke on $HOST_NAME"; exit 3; }')
    r = fleet.deploy()
    assert r.returncode != 0, r.stdout
    assert f"corral deploy: {a}: post-deploy failed (exit 1): build broke on host0" in r.stderr, \
        r.stderr
    assert "skipped: old release kept" in r.stdout, r.stdout
    assert f"{a}: the last lines before post-deploy failed:\n  build broke on host0\n" in \
        r.stdout, r.stdout
    for h in fleet.hosts:
        assert fleet.version(h) == "2"
        assert fleet.current(h) == second[h]
        assert sorted(os.listdir(f"{fleet.home(h)}/app/releases")) == \
            sorted([first[h][9:], second[h][9:]])

    # curr, prev, list, exec.
    out = fleet.ok("curr")
    assert f"{a} | {second[a][9:]} {v2}" in out and f"{b} | {second[b][9:]} {v2}" in out, out
    # Without a file, PM2's names in the current directory.
    r = subprocess.run([CORRAL, "deploy", "production", "current"], cwd=fleet.work,
                       capture_output=True, text=True, timeout=60)
    # (the hosts answer in parallel: their lines come in any order)
    assert r.returncode == 0 and sorted(r.stdout.splitlines()) == sorted(out.splitlines()), \
        r.stdout + r.stderr
    out = fleet.ok("prev")
    assert f"{a} | {first[a][9:]} " in out, out
    out = fleet.ok("list")
    assert out.count("<- current") == 2 and out.count(" new") == 4, out
    out = fleet.ok("exec", "cat VERSION; echo $DEPLOYED_BY")
    assert f"{a} | 2" in out and f"{b} | deployer" in out, out
    # --serial: one host after the other, so their lines do not mix.
    out = fleet.ok("exec", "echo start; sleep 0.5; echo end", "--serial")
    assert out == f"{a} | start\n{a} | end\n{b} | start\n{b} | end\n", out

    # revert 1: version 1 answers again, by a symlink switch and post-deploy.
    fleet.ok("revert", "1")
    for h in fleet.hosts:
        assert fleet.version(h) == "1"
        assert fleet.current(h) == first[h]
    assert "revert 1" in fleet.ok("list")

    # Without --stop-on-failure every host goes on: the second gets version 3.
    r = fleet.deploy("--no-stop-on-failure")
    assert r.returncode != 0 and f"{a}: post-deploy failed" in r.stderr, r.stderr
    assert fleet.version(a) == "1" and fleet.version(b) == "3"


def test_errors_say_what_and_where(fleet):
    a = fleet.hosts[0]
    r = fleet.deploy("update", env=None)
    # Not set up yet.
    assert r.returncode != 0 and f"{a}: setup failed" in r.stderr, r.stderr
    # No such section: the ones that exist are listed.
    r = subprocess.run([CORRAL, "deploy", "ecosystem.config.js", "staging"], cwd=fleet.work,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == ("corral deploy: ecosystem.config.js: no deploy.staging "
                        "(the file has: production)\n"), r.stderr
    # A missing field.
    write(f"{fleet.tmp}/bad.json", '{"deploy": {"prod": {"host": "h", "repo": "r", "ref": "x"}}}')
    r = subprocess.run([CORRAL, "deploy", f"{fleet.tmp}/bad.json", "prod"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "deploy.prod: missing 'path'" in r.stderr, r.stderr
    # A mistyped command is not deployed as a ref (no host is contacted:
    # the section's host does not even resolve).
    write(f"{fleet.tmp}/typo.json", '{"deploy": {"prod": {"host": "nowhere.invalid", '
          '"repo": "r", "ref": "x", "path": "/tmp/x"}}}')
    r = subprocess.run([CORRAL, "deploy", f"{fleet.tmp}/typo.json", "prod", "stup"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == 'corral deploy: unknown command "stup" (did you mean setup?)\n', r.stderr
    # An unreachable host: ssh's reason.
    write(f"{fleet.tmp}/down.json", '{"deploy": {"prod": {"host": "127.0.0.1", "port": %d, '
          '"repo": "r", "ref": "x", "path": "/tmp/x"}}}' % free_port())
    r = subprocess.run([CORRAL, "deploy", f"{fleet.tmp}/down.json", "prod", "list"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "corral deploy: 127.0.0.1: ssh failed: ssh: connect to host 127.0.0.1 port" in \
        r.stderr and "Connection refused" in r.stderr, r.stderr
    # A ref that does not exist, as the command or after update.
    fleet.ok("setup")
    for args in (("origin/nope",), ("update", "origin/nope")):
        r = fleet.deploy(*args)
        assert r.returncode == 1
        assert (f"corral deploy: {a}: checkout failed (exit 1): ref 'origin/nope' does not "
                "exist" in r.stderr), (args, r.stderr)
    assert fleet.current(a) == "source"
    # A dirty tree: PM2 refuses, --force goes on.
    write(f"{fleet.work}/VERSION", "dirty\n")
    r = fleet.deploy()
    assert r.returncode == 1 and "has changes not committed" in r.stderr, r.stderr
    assert not os.listdir(f"{fleet.home(a)}/app/releases")
    fleet.git("commit", "-q", "-am", "not pushed")
    r = fleet.deploy()
    assert r.returncode == 1 and "has commits not pushed" in r.stderr, r.stderr
    fleet.ok("--force")
    assert fleet.version(a) == "1"


def test_keep_releases_prunes_the_oldest(fleet):
    a = fleet.hosts[0]
    write(fleet.file, ecosystem([a], fleet.port, f"{fleet.tmp}/id", fleet.repo,
                                keep_releases=2, **{"post-deploy": "true"}))
    fleet.commit(1)
    fleet.ok("setup")
    made = []
    for _ in range(3):
        fleet.ok()
        made.append(fleet.current(a)[9:])
    # Three deploys of one commit in the same second still get three names.
    assert len(set(made)) == 3 and made == sorted(made), made
    assert sorted(os.listdir(f"{fleet.home(a)}/app/releases")) == made[1:]
    # After a revert, the next release still drops the oldest.
    fleet.ok("revert", "1")
    assert fleet.current(a)[9:] == made[1]
    fleet.ok()
    new = fleet.current(a)[9:]
    assert sorted(os.listdir(f"{fleet.home(a)}/app/releases")) == [made[2], new]


def test_a_script_larger_than_a_pipe_reaches_every_host(fleet):
    # The env is sent in the script ssh reads: 4 x 60 KiB is several pipes
    # full per host, written to both hosts at once as each ssh takes it.
    big = {f"BIG{i}": str(i) * 60000 for i in range(4)}
    write(fleet.file, ecosystem(fleet.hosts, fleet.port, f"{fleet.tmp}/id", fleet.repo,
                                env=big, **{"post-deploy": "echo sizes ${#BIG0} ${#BIG3}"}))
    fleet.commit(1)
    fleet.ok("setup")
    out = fleet.ok()
    for h in fleet.hosts:
        assert f"{h} | sizes 60000 60000" in out, out


def test_host_runs_verbs_on_the_remote_corral(fleet):
    a = fleet.hosts[0]
    url = f"ssh://{os.environ.get('USER') or 'root'}@{a}:{fleet.port}"
    env = dict(os.environ, CORRAL_SSH_COMMAND=fleet.ssh_command, NO_COLOR="1",
               CORRAL_HOME=f"{fleet.tmp}/local")
    run = lambda *args, **kw: subprocess.run([CORRAL, *args], capture_output=True, text=True,
                                              env={**env, **kw.get("env", {})}, timeout=60)
    fleet.ok("setup")
    fleet.ok()
    r = run("--host", url, "list")
    assert r.returncode == 0 and "│ web " in r.stdout and "online" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: "listening v1" in run("--host", url, "logs", "--lines", "5",
                                           "--nostream").stdout, what="the remote logs")
    r = run("--host", url, "logs", "web", "--lines", "5", "--nostream")
    assert r.returncode == 0 and f"{fleet.home(a)}/.corral/logs/web-out-0.log" in r.stdout, \
        r.stdout
    r = run("--host", url, "reload", "web")
    assert r.returncode == 0 and "online" in r.stdout, r.stdout + r.stderr
    # CORRAL_HOST does the same; the remote exit code comes back.
    r = run("describe", "nope", env={"CORRAL_HOST": url})
    assert r.returncode == 1 and "corral describe: no process" in r.stderr, r.stderr
    # Arguments reach the remote corral as they are, quotes and all.
    r = run("--host", url, "describe", "a'b; echo injected")
    assert "injected\n" not in r.stdout and r.returncode == 1, r.stdout
    # An unreachable host: ssh's reason, ssh's exit code.
    r = run("--host", f"ssh://127.0.0.1:{free_port()}", "list")
    assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
    # deploy exec and --host together.
    out = fleet.ok("exec", "corral jlist")
    assert '"name":"web"' in out.replace(" ", ""), out


def test_pm2_side_by_side_same_file_same_layout_and_hooks(fleet):
    """PM2's deploy (tests/node_modules, pinned in tests/package.json), then
    corral's, with the same file on one host: the same source, current and
    shared, the same hooks run where PM2 runs them."""
    from test_cluster_npm import BIN, install_package_managers
    why = install_package_managers()
    if why:
        pytest.skip(why)
    a = fleet.hosts[0]
    path = f"{fleet.home(a)}/app"       # PM2 takes a path without / as a local one
    hooks = f"{fleet.home(a)}/hooks.log"
    local = f"{fleet.tmp}/local.log"
    write(fleet.file, ecosystem(
        [a], fleet.port, f"{fleet.tmp}/id", fleet.repo, path=path,
        **{"pre-setup": f"echo pre-setup >> {hooks}",
           "post-setup": f"echo post-setup in $(pwd) >> {hooks}",
           "pre-deploy-local": f"echo pre-deploy-local >> {local}",
           "pre-deploy": f"echo pre-deploy in $(pwd) >> {hooks}",
           "post-deploy": f"echo post-deploy with $DEPLOYED_BY >> {hooks} && "
                          "corral startOrReload ecosystem.config.js --env production"}))
    v1 = fleet.commit(1)
    pm2 = os.path.join(BIN, "pm2")
    pm2_env = dict(os.environ, PM2_HOME=f"{fleet.tmp}/pm2")
    seen = {}
    try:
        for tool in ("pm2", "corral"):
            for args in (["setup"], []):
                if tool == "pm2":
                    r = subprocess.run([pm2, "deploy", "ecosystem.config.js", "production", *args],
                                       cwd=fleet.work, env=pm2_env, capture_output=True, text=True,
                                       timeout=120)
                    assert r.returncode == 0, r.stdout + r.stderr
                else:
                    fleet.ok(*args)
            assert fleet.version(a) == "1"
            with open(hooks) as f, open(local) as g:
                seen[tool] = {
                    "entries": sorted(e for e in os.listdir(path) if e in ("source", "current",
                                                                              "shared")),
                    "current is a link": os.path.islink(f"{path}/current"),
                    "current/VERSION": open(f"{path}/current/VERSION").read(),
                    "source at": fleet.git("rev-parse", "HEAD", cwd=f"{path}/source").strip(),
                    "shared": sorted(os.listdir(f"{path}/shared")),
                    "hooks": f.read().splitlines(),
                    "local hooks": g.read().splitlines(),
                }
            # The next tool starts from nothing on the host.
            subprocess.run([CORRAL, "kill"], env=dict(os.environ, CORRAL_HOME=f"{fleet.home(a)}/.corral"),
                           capture_output=True, timeout=60)
            shutil.rmtree(path)
            os.unlink(hooks)
            os.unlink(local)
    finally:
        subprocess.run([pm2, "kill"], env=pm2_env, capture_output=True, timeout=60)
    assert seen["pm2"] == seen["corral"], seen
    assert seen["corral"]["hooks"] == [
        "pre-setup", f"post-setup in {path}/current", f"pre-deploy in {path}/current",
        "post-deploy with deployer"]
    assert seen["corral"]["source at"] == v1 and seen["corral"]["entries"] == [
        "current", "shared", "source"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_host_monit_runs_in_a_terminal(fleet, corral):
    """`--host ... monit` gets a terminal (ssh -t) when it has one: the remote
    dashboard draws the remote apps, q ends it and the exit code comes back."""
    from test_monit import ROW_RE, Tmux
    a = fleet.hosts[0]
    fleet.ok("setup")
    fleet.ok()
    t = Tmux(corral, env={"CORRAL_SSH_COMMAND": fleet.ssh_command})
    try:
        t.type(f"{CORRAL} --host ssh://{a}:{fleet.port} monit")
        t.wait_screen(lambda s: sum(1 for line in s.split("\n")
                                    if ROW_RE.match(line) and " web " in line) == 2,
                      "the remote app's two instances in monit", timeout=20)
        t.keys("q")
        # Typed before ssh is gone, the next command would go to the host.
        t.wait_screen(lambda s: [line for line in s.split("\n") if line.strip()][-1].strip()
                      in ("$", "#"), "the shell's prompt again", timeout=20)
        t.type("echo monit-exit=$?")
        t.wait_text("monit-exit=0")
    finally:
        t.kill()
