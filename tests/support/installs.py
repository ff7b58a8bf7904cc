"""scripts/install and scripts/uninstall run for real into a temporary layout; the checkouts they
install from (this one, or the previous release taken from git history); and the installed unit
run the way systemd runs it, as far as a machine without systemd as PID 1 can: its ExecStart,
its Environment= lines (``%S`` expanded), its LoadCredential= files in a
``CREDENTIALS_DIRECTORY``, SIGTERM to stop."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = "gameball-sidecar.service"
API_KEY = "gb-api-key-DO-NOT-PRINT-1234"
SECRET_KEY = "gb-secret-key-DO-NOT-PRINT-5678"


@dataclass(frozen=True)
class Layout:
    """Where the scripts are told to put things, all under one temporary directory."""

    root: Path

    @property
    def prefix(self) -> Path:
        return self.root / "opt"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def units(self) -> Path:
        return self.root / "units"

    @property
    def state(self) -> Path:
        """systemd's ``%S`` (/var/lib for a system unit)."""
        return self.root / "lib"

    @property
    def data(self) -> Path:
        return self.state / "gameball-sidecar"

    @property
    def private_data(self) -> Path:
        return self.state / "private" / "gameball-sidecar"

    @property
    def cli(self) -> Path:
        return self.prefix / "venv" / "bin" / "gameball-sidecar"

    def env(self, **extra: str) -> dict[str, str]:
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SIDECAR_", "GAMEBALL_", "NOTIFY_SOCKET", "WATCHDOG_"))
        }
        return {
            **inherited,
            "PREFIX": str(self.prefix),
            "ETC_DIR": str(self.etc),
            "UNIT_DIR": str(self.units),
            "DATA_DIR": str(self.data),
            **extra,
        }


def run(script: Path, layout: Layout, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), "--no-systemctl", *args],
        env=layout.env(**env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def copy_checkout(target: Path) -> Path:
    """The files a store would check out: the scripts install from their own checkout, and a
    copy keeps pip's in-tree build and any concurrent edit out of the way."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("sidecar", "config", "systemd"):
        shutil.copytree(REPO / name, target / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "scripts/install", "scripts/uninstall"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


def release_checkout(commit: str, target: Path) -> Path:
    """A release's files as a store checked them out then, from this repository's history."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if archive.returncode != 0:
        raise AssertionError(
            f"the upgrade test needs release {commit} from git history: "
            f"{archive.stderr.decode(errors='replace').strip()} (run it from a full clone)"
        )
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


class UnitProcess:
    """The installed unit's service, started and stopped as systemd would: what is not
    emulated is said in the test that uses it (DynamicUser, sandboxing, READY=1, watchdog)."""

    def __init__(self, layout: Layout, log_path: Path) -> None:
        self._layout = layout
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def _unit(self) -> tuple[list[str], dict[str, str]]:
        """ExecStart and the environment it gets, read afresh from the unit on disk (an
        upgrade may have rewritten it; systemd reads it at daemon-reload)."""
        argv: list[str] = []
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        credentials = self._layout.root / "run" / "credentials" / UNIT
        for line in (self._layout.units / UNIT).read_text().splitlines():
            key, _, value = line.partition("=")
            value = value.replace("%S", str(self._layout.state))
            if key == "ExecStart":
                argv = shlex.split(value)
            elif key == "Environment":
                name, _, setting = value.partition("=")
                env[name] = setting
            elif key == "LoadCredential":
                name, _, source = value.partition(":")
                credentials.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, credentials / name)
                (credentials / name).chmod(0o400)
                env["CREDENTIALS_DIRECTORY"] = str(credentials)
        assert argv, f"no ExecStart in {self._layout.units / UNIT}"
        return argv, env

    def start(self) -> None:
        argv, env = self._unit()
        Path(env["SIDECAR_DATA_DIR"]).parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 30) -> int:
        """systemctl stop: SIGTERM, then (TimeoutStopSec=30) SIGKILL; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -9
