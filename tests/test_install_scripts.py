"""scripts/install and scripts/uninstall, run for real into temporary directories."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar.store.database import DB_NAME, Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import NewItem
from sidecar.store.sealing import Sealer
from tests.support.installs import (
    API_KEY,
    REPO,
    SECRET_KEY,
    UNIT,
    Layout,
    copy_checkout,
    mode,
    run,
)

# Real processes (and, here, real installs): run with -m slow, as scripts/chaos does.
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    checkout: Path
    layout: Layout
    first: subprocess.CompletedProcess[str]
    config_text: str


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One real install (a venv and a pip install: the slow part), shared by the module."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout"))
    layout = Layout(tmp_path_factory.mktemp("system"))

    first = run(
        checkout / "scripts" / "install",
        layout,
        GAMEBALL_API_KEY=API_KEY,
        GAMEBALL_SECRET_KEY=SECRET_KEY,
    )

    assert first.returncode == 0, first.stdout + first.stderr
    return Installed(checkout, layout, first, (layout.etc / "sidecar.toml").read_text())


def test_install_creates_a_working_venv(installed: Installed) -> None:
    cli = installed.layout.cli

    result = subprocess.run(
        [str(cli), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    assert "outbox" in result.stdout
    assert "installed gameball-sidecar into" in installed.first.stdout


def test_install_ships_the_gameball_spec_the_simulator_enforces(installed: Installed) -> None:
    """`demo` runs the simulator from the installed package, so the spec must be inside it."""
    python = installed.layout.prefix / "venv" / "bin" / "python"
    probe = (
        "import sidecar.simulator.contract as c; "
        "print(c.__file__); print(len(c.gameball_contract().operations))"
    )

    result = subprocess.run(
        [str(python), "-c", probe],
        cwd=installed.layout.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    where, operations = result.stdout.split()
    assert "site-packages" in where
    assert int(operations) > 50


def test_install_writes_the_unit_pointing_at_the_chosen_directories(installed: Installed) -> None:
    layout = installed.layout

    unit = (layout.units / UNIT).read_text()

    assert f"ExecStart={layout.cli} serve --config {layout.etc}/sidecar.toml" in unit
    assert f"LoadCredential=gameball-api-key:{layout.etc}/credentials/api-key" in unit
    assert "/opt/gameball-sidecar" not in unit
    assert "systemctl daemon-reload" in installed.first.stdout


def test_install_creates_config_from_the_example(installed: Installed) -> None:
    example = (installed.checkout / "config" / "sidecar.example.toml").read_text()

    assert installed.config_text == example
    assert "check-config" in installed.first.stdout
    assert "systemctl enable --now gameball-sidecar" in installed.first.stdout


def test_install_writes_secret_files_0600_and_never_prints_them(installed: Installed) -> None:
    credentials = installed.layout.etc / "credentials"
    output = installed.first.stdout + installed.first.stderr

    assert mode(credentials) == 0o700
    assert mode(credentials / "api-key") == 0o600
    assert mode(credentials / "secret-key") == 0o600
    assert (credentials / "api-key").read_text().strip() == API_KEY
    assert (credentials / "secret-key").read_text().strip() == SECRET_KEY
    assert API_KEY not in output
    assert SECRET_KEY not in output


def test_install_again_changes_nothing_and_keeps_edits(installed: Installed) -> None:
    layout = installed.layout
    config = layout.etc / "sidecar.toml"
    edited = installed.config_text.replace('terminal_id = "till-1"', 'terminal_id = "till-9"')
    config.write_text(edited)
    package = next((layout.prefix / "venv").glob("lib/python3*/site-packages/sidecar/app.py"))
    installed_at = package.stat().st_mtime_ns

    again = run(
        installed.checkout / "scripts" / "install",
        layout,
        GAMEBALL_API_KEY="another-api-key-NOT-USED",
        GAMEBALL_SECRET_KEY="another-secret-NOT-USED",
    )

    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" in again.stdout
    assert config.read_text() == edited
    assert (layout.etc / "credentials" / "api-key").read_text().strip() == API_KEY
    assert package.stat().st_mtime_ns == installed_at
    assert "another-api-key" not in again.stdout + again.stderr


def test_install_again_tightens_loosened_secret_modes(installed: Installed) -> None:
    key = installed.layout.etc / "credentials" / "api-key"
    key.chmod(0o644)

    again = run(installed.checkout / "scripts" / "install", installed.layout)

    assert again.returncode == 0, again.stdout + again.stderr
    assert mode(key) == 0o600
    assert "nothing changed" not in again.stdout


def test_install_without_a_key_says_which_file_to_write(installed: Installed) -> None:
    secret = installed.layout.etc / "credentials" / "secret-key"
    secret.unlink()

    missing = run(installed.checkout / "scripts" / "install", installed.layout)
    restored = run(
        installed.checkout / "scripts" / "install", installed.layout, GAMEBALL_SECRET_KEY=SECRET_KEY
    )

    assert missing.returncode == 0, missing.stdout + missing.stderr
    assert f"missing: {secret} (set GAMEBALL_SECRET_KEY" in missing.stdout
    assert f"umask 077 && cat > {secret}" in missing.stdout
    assert restored.returncode == 0
    assert mode(secret) == 0o600
    assert SECRET_KEY not in restored.stdout + restored.stderr


def test_install_with_an_unusable_python_stops_before_writing_anything(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    checkout = copy_checkout(tmp_path / "checkout")

    result = run(checkout / "scripts" / "install", layout, PYTHON="/nonexistent/python3")

    assert result.returncode == 1
    assert "PYTHON=/nonexistent/python3 is not Python 3.11 or newer" in result.stderr
    assert not (layout.units / UNIT).exists()
    assert not layout.etc.exists()


# Uninstall runs against a stand-in install: the real CLI linked in as $PREFIX/venv's, which
# is all the script uses, so these tests need no pip.


def fake_install(layout: Layout, *, data_dir: Path) -> None:
    layout.cli.parent.mkdir(parents=True)
    layout.cli.symlink_to(Path(sys.executable).parent / "gameball-sidecar")
    layout.units.mkdir(parents=True)
    (layout.units / UNIT).write_text((REPO / "systemd" / UNIT).read_text())
    (layout.etc / "credentials").mkdir(parents=True)
    (layout.etc / "sidecar.toml").write_text((REPO / "config" / "sidecar.example.toml").read_text())
    data_dir.mkdir(parents=True, exist_ok=True)


def seed_outbox(
    data_dir: Path, *, pending: int = 0, dead: int = 0, key: bytes | None = None
) -> None:
    async def seed() -> None:
        storage = await Database.open(data_dir)
        try:
            outbox = Outbox(storage, Sealer(key))
            for n in range(pending + dead):
                stored = await outbox.enqueue(
                    NewItem(
                        kind="payment",
                        idem_key=f"payment:pay-{n}",
                        fingerprint=b"f",
                        customer_id=f"cust-{n}",
                        body=b"{}",
                        amount=10.0,
                    ),
                    now=time.time(),
                    claim=False,
                )
                if n >= pending:
                    await outbox.dead(stored.item, error="rejected", code=1004, now=time.time())
        finally:
            await storage.close()

    asyncio.run(seed())


def test_uninstall_refuses_while_the_outbox_holds_items(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.data)
    seed_outbox(layout.data, pending=2, dead=1)

    result = run(REPO / "scripts" / "uninstall", layout)

    assert result.returncode == 1
    assert "2 pending, 0 inflight and 1 dead" in result.stderr
    assert f"SIDECAR_DATA_DIR={layout.data} {layout.cli} outbox list" in result.stderr
    assert "--force" in result.stderr
    assert (layout.units / UNIT).exists()
    assert layout.cli.is_symlink()


def test_uninstall_force_removes_unit_and_venv_but_keeps_config_and_data(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.data)
    seed_outbox(layout.data, pending=1)

    result = run(REPO / "scripts" / "uninstall", layout, "--force")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 pending" in result.stdout
    assert not (layout.units / UNIT).exists()
    assert not layout.prefix.exists()
    assert (layout.etc / "sidecar.toml").exists()
    assert (layout.data / DB_NAME).exists()
    assert f"kept (remove with --purge): {layout.etc} {layout.data}" in result.stdout


def test_uninstall_with_an_empty_outbox_needs_no_force(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.data)
    seed_outbox(layout.data)

    result = run(REPO / "scripts" / "uninstall", layout)
    again = run(REPO / "scripts" / "uninstall", layout)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing left to deliver" in result.stdout
    assert not (layout.units / UNIT).exists()
    assert again.returncode == 0
    assert "nothing to remove" in again.stdout


def test_uninstall_checks_the_dynamic_user_private_dir(tmp_path: Path) -> None:
    # With DynamicUser=yes the database lives in /var/lib/private/<name>, and the
    # /var/lib/<name> symlink to it may be missing.
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.private_data)
    seed_outbox(layout.private_data, dead=1)

    result = run(REPO / "scripts" / "uninstall", layout)

    assert result.returncode == 1
    assert "0 pending, 0 inflight and 1 dead" in result.stderr
    assert str(layout.private_data) in result.stderr


def test_uninstall_purge_removes_config_symlink_and_private_data(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.private_data)
    layout.data.symlink_to(Path("private") / "gameball-sidecar")
    seed_outbox(layout.data)

    result = run(REPO / "scripts" / "uninstall", layout, "--purge")

    assert result.returncode == 0, result.stdout + result.stderr
    assert not layout.etc.exists()
    assert not layout.data.is_symlink()
    assert not layout.private_data.exists()
    assert not layout.prefix.exists()


def test_uninstall_still_checks_the_outbox_after_the_venv_is_gone(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.data)
    seed_outbox(layout.data, pending=1)
    first = run(REPO / "scripts" / "uninstall", layout, "--force")

    purge = run(REPO / "scripts" / "uninstall", layout, "--purge")

    assert first.returncode == 0
    assert purge.returncode == 1
    assert "1 pending, 0 inflight and 0 dead" in purge.stderr
    assert (layout.data / DB_NAME).exists()


def test_uninstall_counts_sealed_items_without_the_encryption_key(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    fake_install(layout, data_dir=layout.data)
    seed_outbox(layout.data, pending=1, key=os.urandom(32))

    result = run(REPO / "scripts" / "uninstall", layout)

    assert result.returncode == 1
    assert "1 pending, 0 inflight and 0 dead" in result.stderr
    assert layout.cli.is_symlink()
