"""`gameball-sidecar outbox ...`: store IT and finance look at and act on the queue from a shell."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.simulator import SimulatorServer
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.processes import STORE_ENV


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env={**os.environ, **STORE_ENV, "SIDECAR_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def queue_some(make_sidecar: MakeSidecar, simulator: SimulatorServer) -> dict[str, Any]:
    sidecar = await make_sidecar()
    simulator.sim.set_fault("gameball_error", status=422, code=3003, paths=["/payments"], count=1)
    refused = await sidecar.post(
        "/v1/finalize-payment",
        json={"customerId": "c-1", "paymentId": "cli-dead", "totalPaid": 12.5},
    )
    assert refused.status == 422  # Gameball refused it online: kept as a dead letter
    (dead,) = (await (await sidecar.get("/v1/outbox?state=dead")).json())["items"]
    await simulator.set_down(True)
    queued = await (
        await sidecar.post(
            "/v1/finalize-payment",
            json={
                "customerId": "c-2",
                "paymentId": "cli-queued",
                "totalPaid": 7,
                "email": "someone@example.com",
            },
        )
    ).json()
    await sidecar.close()
    return {"dead": dead["id"], "queued": queued["outboxId"]}


async def test_cli_outbox_list_show_export(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path, tmp_path: Path
) -> None:
    ids = await queue_some(make_sidecar, simulator)

    listed = cli(data_dir, "outbox", "list")
    dead_only = cli(data_dir, "outbox", "list", "--state", "dead")
    shown = cli(data_dir, "outbox", "show", str(ids["queued"]))
    as_csv = cli(data_dir, "outbox", "export", "--format", "csv")
    out = tmp_path / "export.json"
    as_json = cli(data_dir, "outbox", "export", "--format", "json", "--output", str(out))

    assert listed.returncode == 0 and "cli-dead" in listed.stdout and "cli-queued" in listed.stdout
    assert "cli-dead" in dead_only.stdout and "cli-queued" not in dead_only.stdout
    item = json.loads(shown.stdout)
    assert item["request"]["merchant"]["uniqueId"] == "merchant-42"
    assert "email" not in item["request"] and "someone@example.com" not in shown.stdout
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["paymentId"]: r["state"] for r in rows} == {
        "cli-dead": "dead",
        "cli-queued": "pending",
    }
    assert rows[0]["branchId"] == "branch-7" and rows[0]["lastCode"] == "3003"
    assert as_json.returncode == 0 and len(json.loads(out.read_text())) == 2


async def test_cli_outbox_retry_and_discard(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path
) -> None:
    ids = await queue_some(make_sidecar, simulator)

    retried = cli(data_dir, "outbox", "retry", str(ids["dead"]))
    retried_again = cli(data_dir, "outbox", "retry", str(ids["dead"]))
    no_reason = cli(data_dir, "outbox", "discard", str(ids["queued"]))
    discarded = cli(data_dir, "outbox", "discard", str(ids["queued"]), "--reason", "voided")
    missing = cli(data_dir, "outbox", "show", "999999")

    assert retried.returncode == 0 and "pending again" in retried.stdout
    assert retried_again.returncode == 1 and "only dead items" in retried_again.stderr
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    assert discarded.returncode == 0 and "voided" in discarded.stdout
    assert missing.returncode == 1 and "no outbox item 999999" in missing.stderr


def test_cli_outbox_without_database_says_where_it_looked(tmp_path: Path) -> None:
    result = cli(tmp_path / "nowhere", "outbox", "list")

    assert result.returncode == 1
    assert "no sidecar database at" in result.stderr and "nowhere" in result.stderr


def cli_at(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env={**os.environ, **STORE_ENV, "SIDECAR_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_status_summarises_and_exit_code_says_if_a_person_is_needed(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    sidecar = await make_sidecar()
    port = sidecar.server.port
    assert port is not None

    healthy = await asyncio.to_thread(cli_at, port, "status")
    simulator.sim.set_fault("gameball_error", status=422, code=3003, paths=["/payments"], count=1)
    await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-9", "paymentId": "st-1", "totalPaid": 2}
    )
    troubled = await asyncio.to_thread(cli_at, port, "status")
    as_json = await asyncio.to_thread(cli_at, port, "status", "--json")

    assert healthy.returncode == 0, healthy.stderr
    assert "Gameball:       online" in healthy.stdout
    assert "Nothing needs attention." in healthy.stdout
    assert troubled.returncode == 3
    assert "Dead letters:   1" in troubled.stdout and "outbox list --state dead" in troubled.stdout
    assert json.loads(as_json.stdout)["outbox"]["deadLetters"] == 1


def test_cli_status_when_service_is_down_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    result = cli_at(port, "status")

    assert result.returncode == 1
    assert "does not answer" in result.stderr and "systemctl status" in result.stderr


@pytest.mark.slow  # a dozen processes, each importing the sidecar: over 5 s
def test_cli_help_for_every_command() -> None:
    commands = [
        [],
        ["serve"],
        ["demo"],
        ["check-config"],
        ["status"],
        ["outbox"],
        ["outbox", "list"],
        ["outbox", "export"],
        ["simulator"],
    ]
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-m", "sidecar", *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, command
        assert "usage: gameball-sidecar" in result.stdout


async def test_cli_export_csv_neutralises_formulas_and_is_private(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path, tmp_path: Path
) -> None:
    """Defect 14: cells starting with = + - @ (tab, CR) were written raw (a spreadsheet runs
    them as formulas) and --output was created 0644 while the database is 0600."""
    sidecar = await make_sidecar()
    await simulator.set_down(True)
    queued = []
    for customer, payment in (("=cmd|' calc'!A0", "+1"), ("@SUM(A1)", "-2"), ("ok", "p")):
        response = await sidecar.post(
            "/v1/finalize-payment",
            json={"customerId": customer, "paymentId": payment, "totalPaid": 3},
        )
        assert response.status == 202
        queued.append((await response.json())["outboxId"])
    await sidecar.close()
    assert cli(data_dir, "outbox", "discard", str(queued[2]), "--reason", "\t=1+1").returncode == 0
    fresh, existing = tmp_path / "fresh.csv", tmp_path / "existing.csv"
    existing.write_text("old")
    existing.chmod(0o644)

    first = cli(data_dir, "outbox", "export", "--output", str(fresh))
    second = cli(data_dir, "outbox", "export", "--output", str(existing))

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    rows = list(csv.DictReader(io.StringIO(fresh.read_text())))
    cells = {(r["customerId"], r["paymentId"], r["discardReason"]) for r in rows}
    assert cells == {
        ("'=cmd|' calc'!A0", "'+1", ""),
        ("'@SUM(A1)", "'-2", ""),
        ("ok", "p", "'\t=1+1"),
    }
    assert all(float(r["amount"]) == 3 for r in rows)  # numbers stay numbers
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert existing.stat().st_mode & 0o777 == 0o600 and existing.read_text() == fresh.read_text()


async def test_cli_outbox_show_scrubs_contact_data_inside_extra(
    make_sidecar: MakeSidecar, simulator: SimulatorServer, data_dir: Path
) -> None:
    """Defect 14: e-mail addresses and phone numbers inside `extra` were shown by outbox show
    and GET /v1/outbox/{id}."""
    sidecar = await make_sidecar()
    await simulator.set_down(True)
    extra = {"note": "receipt to jo.doe@example.com", "phone": "+20 100 123 4567", "table": 7}
    queued = await (
        await sidecar.post(
            "/v1/finalize-payment",
            json={
                "customerId": "c-extra",
                "paymentId": "p-extra",
                "totalPaid": 3,
                "extra": extra,
                "paymentDetails": [{"amount": 3, "extra": {"by": "+44 20 7946 0958"}}],
            },
        )
    ).json()
    over_http = await (await sidecar.get(f"/v1/outbox/{queued['outboxId']}")).json()
    await sidecar.close()

    shown = cli(data_dir, "outbox", "show", str(queued["outboxId"]))

    item = json.loads(shown.stdout)
    for view in (item, over_http):
        assert {k: view["request"]["extra"][k] for k in extra} == {
            "note": "receipt to [email]",
            "phone": "[phone]",
            "table": 7,
        }
        assert view["request"]["paymentDetails"][0]["extra"] == {"by": "[phone]"}
        assert view["request"]["customerId"] == "c-extra"
    for secret in ("jo.doe@example.com", "123 4567", "7946"):
        assert secret not in shown.stdout


async def test_cli_status_without_store_names_shows_the_ids(
    make_sidecar: MakeSidecar, make_config: MakeConfig
) -> None:
    """Defect 14: with the (optional) names unset, status printed " /  / till"."""
    sidecar = await make_sidecar(
        make_config(SIDECAR_STORE_MERCHANT_NAME="", SIDECAR_STORE_BRANCH_NAME="")
    )
    port = sidecar.server.port
    assert port is not None

    result = await asyncio.to_thread(cli_at, port, "status")
    page = await (await sidecar.get("/status")).text()

    assert result.returncode == 0, result.stderr
    assert "merchant-42 / branch-7 / till till-3" in result.stdout.splitlines()[0]
    assert "<td>merchant-42</td>" in page and "<td>branch-7</td>" in page
