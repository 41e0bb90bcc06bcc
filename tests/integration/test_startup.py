"""corral startup / unstartup: the systemd unit that runs `corral resurrect`
at boot, as `pm2 startup` does.

Nothing here touches the real /etc/systemd or systemctl: every run gets
CORRAL_SYSTEMD_DIR (a temp dir) and CORRAL_SYSTEMCTL (a fake script that
records its arguments, one call per line). Installing needs root; those
tests are skipped otherwise.
"""
import os
import pwd
import shutil
import stat
import subprocess

import pytest

from conftest import CORRAL, SLOW

EXE = os.path.realpath(CORRAL)
ME = pwd.getpwuid(os.geteuid()).pw_name
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="installing a unit needs root")


class Systemd:
    """A unit directory and a fake systemctl, and corral run against them."""

    def __init__(self, corral, tmp_path):
        self.corral = corral
        self.dir = tmp_path / "units"
        self.dir.mkdir()
        self.calls_file = tmp_path / "calls"
        self.systemctl = tmp_path / "systemctl"
        self.fake(0)

    def fake(self, rc):
        self.systemctl.write_text(f'#!/bin/sh\necho "$*" >> {self.calls_file}\nexit {rc}\n')
        self.systemctl.chmod(0o755)

    def calls(self):
        if not self.calls_file.exists():
            return []
        return self.calls_file.read_text().splitlines()

    def env(self, **extra):
        e = dict(self.corral.env)
        e["CORRAL_SYSTEMD_DIR"] = str(self.dir)
        e["CORRAL_SYSTEMCTL"] = str(self.systemctl)
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def run(self, *args, env=None, umask=-1, user=None):
        cmd = [CORRAL, *args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                   "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30 * SLOW,
                              env=env or self.env(), umask=umask)

    def unit(self, name):
        return self.dir / f"{name}.service"

    def files(self):
        return sorted(os.listdir(self.dir))


@pytest.fixture
def sd(corral, tmp_path):
    return Systemd(corral, tmp_path)


def one_line(r):
    assert r.returncode != 0, f"should have failed: {r.stdout}"
    err = r.stderr.strip()
    assert err and len(err.splitlines()) == 1, repr(r.stderr)
    return err


def settings(unit_text):
    """key -> list of values, comments and section headers left out."""
    out = {}
    for line in unit_text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_print_shows_the_unit_and_the_root_command(sd):
    r = sd.run("startup", "systemd", "-u", ME, "--print")
    assert r.returncode == 0, r.stderr
    s = settings(r.stdout)
    assert s["Type"] == ["forking"]
    assert s["User"] == [ME]
    assert f"CORRAL_HOME={sd.corral.home}" in s["Environment"]
    assert f"PATH={os.environ['PATH']}" in s["Environment"][0]
    # The keeper: a daemon that dies is not the service failing.
    assert s["PIDFile"] == [f"{sd.corral.home}/keeper.pid"]
    # '-': one app that cannot come back must not fail the whole service.
    assert s["ExecStart"] == [f"-{EXE} resurrect"]
    assert s["ExecStop"] == [f"{EXE} kill"]
    assert s["Restart"] == ["on-failure"]
    assert s["WantedBy"] == ["multi-user.target"]
    # stdout is the unit alone; how to install it goes to stderr.
    assert r.stdout.startswith("#") and r.stdout.rstrip().endswith("WantedBy=multi-user.target")
    assert f"{EXE} startup systemd -u {ME} --hp " in r.stderr
    assert "--service-name corral-" + ME in r.stderr
    assert sd.files() == [] and sd.calls() == []


def test_home_defaults_to_hp(sd, tmp_path):
    r = sd.run("startup", "--print", "--hp", str(tmp_path / "alice"),
               env=sd.env(CORRAL_HOME=None))
    assert r.returncode == 0, r.stderr
    s = settings(r.stdout)
    assert f"CORRAL_HOME={tmp_path}/alice/.corral" in s["Environment"]
    assert s["PIDFile"] == [f"{tmp_path}/alice/.corral/keeper.pid"]


def test_odd_characters_are_escaped(sd):
    home = "/tmp/corral test %h $USER"
    r = sd.run("startup", "--print", "--wait-ip", env=sd.env(CORRAL_HOME=home))
    assert r.returncode == 0, r.stderr
    s = settings(r.stdout)
    # Quoted for the blanks, % doubled (a specifier otherwise); $ is not
    # expanded in Environment=.
    assert '"CORRAL_HOME=/tmp/corral test %%h $USER"' in s["Environment"]
    assert s["After"] == ["network-online.target"]
    assert s["Wants"] == ["network-online.target"]


def test_ubuntu_is_systemd_as_in_pm2(sd):
    r = sd.run("startup", "ubuntu", "--print")
    assert r.returncode == 0, r.stderr
    assert "Type=forking" in r.stdout


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
@pytest.mark.parametrize("home", [None, "/tmp/corral verify %i $HOME \\x\"y"])
def test_systemd_analyze_accepts_the_unit(sd, tmp_path, home):
    env = sd.env(CORRAL_HOME=home) if home else sd.env()
    r = sd.run("startup", "--print", "--service-name", "corral-verify", env=env)
    assert r.returncode == 0, r.stderr
    unit = tmp_path / "corral-verify.service"
    unit.write_text(r.stdout)
    v = subprocess.run(["systemd-analyze", "--man=no", "verify", str(unit)],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert v.returncode == 0, v.stderr + v.stdout
    assert "corral-verify" not in v.stderr, v.stderr


@root_only
def test_install_as_root(sd):
    r = sd.run("startup", "systemd", "-u", ME, umask=0o077)
    assert r.returncode == 0, r.stderr
    unit = sd.unit(f"corral-{ME}")
    assert sd.files() == [unit.name]  # no temp file left
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    printed = sd.run("startup", "systemd", "-u", ME, "--print").stdout
    assert unit.read_text() == printed
    assert sd.calls() == ["daemon-reload", f"enable corral-{ME}"]
    assert f"wrote {unit}" in r.stdout


@root_only
def test_install_replaces_the_unit(sd):
    assert sd.run("startup", "--service-name", "web.service").returncode == 0
    r = sd.run("startup", "--service-name", "web", "--wait-ip")
    assert r.returncode == 0, r.stderr
    assert sd.files() == ["web.service"]
    assert "network-online.target" in sd.unit("web").read_text()
    assert sd.calls()[-2:] == ["daemon-reload", "enable web"]


@root_only
def test_failing_systemctl(sd):
    sd.fake(3)
    r = sd.run("startup", "--service-name", "app")
    err = one_line(r)
    assert "daemon-reload" in err and "exit status 3" in err and str(sd.unit("app")) in err
    assert sd.unit("app").exists()  # the unit stays written
    assert sd.calls() == ["daemon-reload"]


@root_only
def test_missing_systemctl(sd, tmp_path):
    r = sd.run("startup", "--service-name", "app",
               env=sd.env(CORRAL_SYSTEMCTL=str(tmp_path / "no-systemctl")))
    err = one_line(r)
    assert "cannot run" in err and "no-systemctl" in err
    assert sd.unit("app").exists()


@root_only
def test_unwritable_unit_dir(sd, tmp_path):
    r = sd.run("startup", env=sd.env(CORRAL_SYSTEMD_DIR=str(tmp_path / "missing")))
    err = one_line(r)
    assert "cannot write" in err and "missing" in err
    assert sd.calls() == []


def test_unknown_platform(sd):
    r = sd.run("startup", "upstart")
    assert r.returncode == 2 and '"upstart"' in one_line(r)
    r = sd.run("unstartup", "launchd")
    assert r.returncode == 2 and '"launchd"' in one_line(r)
    assert sd.files() == [] and sd.calls() == []


def test_unknown_user(sd):
    r = sd.run("startup", "-u", "no-such-user-corral")
    assert "no-such-user-corral" in one_line(r)
    r = sd.run("unstartup", "-u", "no-such-user-corral")
    assert "no-such-user-corral" in one_line(r)
    assert sd.files() == [] and sd.calls() == []


def test_bad_service_name_and_extra_argument(sd):
    r = sd.run("startup", "--service-name", "../evil", "--print")
    assert r.returncode == 2 and "../evil" in one_line(r)
    r = sd.run("startup", "systemd", "more")
    assert r.returncode == 2 and '"more"' in one_line(r)
    assert sd.files() == []


@root_only
def test_unstartup_disables_and_removes(sd):
    assert sd.run("startup", "--service-name", "gone").returncode == 0
    r = sd.run("unstartup", "systemd", "--service-name", "gone")
    assert r.returncode == 0, r.stderr
    assert sd.files() == []
    assert sd.calls()[2:] == ["disable gone", "daemon-reload"]
    # Nothing left to remove.
    assert "gone.service" in one_line(sd.run("unstartup", "--service-name", "gone"))


@root_only
def test_unstartup_keeps_the_unit_when_disable_fails(sd):
    assert sd.run("startup", "-u", ME).returncode == 0
    sd.fake(1)
    err = one_line(sd.run("unstartup", "-u", ME))
    assert f"disable corral-{ME}" in err
    assert sd.unit(f"corral-{ME}").exists()


@root_only
@pytest.mark.skipif(not shutil.which("setpriv"), reason="no setpriv")
def test_not_root_prints_the_command_to_copy(sd):
    r = sd.run("startup", user="nobody", env=sd.env(CORRAL_HOME=None, HOME="/tmp"))
    assert r.returncode == 1
    assert "not root" in one_line(r)
    assert "User=nobody" in r.stdout and "CORRAL_HOME=/tmp/.corral" in r.stdout
    # As with PM2, the last line is the command to copy and paste.
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("sudo env PATH=")
    assert f"{EXE} startup systemd -u nobody --hp /tmp --service-name corral-nobody" in last
    r = sd.run("unstartup", user="nobody")
    assert r.returncode == 1 and "not root" in one_line(r)
    assert r.stdout.strip().splitlines()[-1] == (
        f"sudo {EXE} unstartup systemd -u nobody --service-name corral-nobody")
    assert sd.files() == [] and sd.calls() == []


def test_help(corral):
    out = corral.ok("help")
    assert "startup" in out and "unstartup" in out
    h = corral.ok("help", "startup")
    assert "-u, --user" in h and "--hp" in h and "--service-name" in h and "--print" in h
    assert "--service-name" in corral.ok("unstartup", "--help")
    # -u stays --uid for start.
    assert "-u, --uid" in corral.ok("help", "start")
