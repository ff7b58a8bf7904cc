"""How pacing is shown, through the real app: /v1/status, /metrics and the /status page say
whether the fleet's budget in Redis is used, and Redis killed mid-run turns that into
"fallback" (the gauge the fleet alert reads) without holding up a sale; the Redis password
never shows, in check-config or the logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sidecar.app import create_app
from sidecar.logs import redactor
from tests.support.clients import Client
from tests.support.fixtures import SECRETS, MakeConfig, MakeSidecar
from tests.support.processes import STORE_ENV
from tests.support.redis import RedisServer
from tests.support.waits import wait_until


async def pacing(sidecar: Client) -> dict[str, Any]:
    report = await (await sidecar.get("/v1/status")).json()
    return dict(report["pacing"])


async def fallback_gauge(sidecar: Client) -> str:
    text = await (await sidecar.get("/metrics")).text()
    [line] = [x for x in text.splitlines() if x.startswith("sidecar_pacing_shared_budget_fallback")]
    return line.split()[-1]


async def sale(sidecar: Client, payment: str) -> int:
    answer = await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1", "paymentId": payment, "totalPaid": 10}
    )
    return answer.status


async def test_status_without_a_shared_budget_says_off_with_aimd(
    make_sidecar: MakeSidecar,
) -> None:
    sidecar = await make_sidecar()

    shown = await pacing(sidecar)

    assert shown["sharedBudget"] == "off" and shown["mode"] == "aimd"
    assert shown["ceilingPerSecond"] == 12.0  # 360 per 30 s, all of it: local_share 1.0
    assert await fallback_gauge(sidecar) == "0.0"


async def test_redis_killed_mid_run_is_fallback_on_status_and_metrics_and_sales_go_on(
    make_sidecar: MakeSidecar, make_config: MakeConfig, redis_server: RedisServer
) -> None:
    sidecar = await make_sidecar(
        make_config(SIDECAR_PACING_SHARED_URL=redis_server.url, SIDECAR_PACING_LOCAL_SHARE="0.5")
    )
    first = await sale(sidecar, "shared-1")
    before = (await pacing(sidecar), await fallback_gauge(sidecar))

    redis_server.kill()
    second = await sale(sidecar, "shared-2")
    during = (await pacing(sidecar), await fallback_gauge(sidecar))
    page = await (await sidecar.get("/status")).text()
    await redis_server.start()
    await wait_until(lambda: _is_redis(sidecar), within=15, interval=0.1)

    assert (first, second) == (200, 200)  # delivered, Redis or not
    assert before[0]["sharedBudget"] == "redis" and before[1] == "0.0"
    assert before[0]["ceilingPerSecond"] == 12.0  # the account's whole budget, shared
    assert during[0]["sharedBudget"] == "fallback" and during[1] == "1.0"
    assert during[0]["ceilingPerSecond"] == 6.0  # local_share 0.5
    assert "Redis NOT answering" in page
    assert await fallback_gauge(sidecar) == "0.0"


async def _is_redis(sidecar: Client) -> bool:
    return bool((await pacing(sidecar))["sharedBudget"] == "redis")


def test_check_config_shows_the_redis_url_without_its_password(tmp_path: Path) -> None:
    url = "redis://:hunter2-fleet-pw@10.0.0.9:6379/0"

    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "check-config"],
        env={
            **os.environ,
            **STORE_ENV,
            "SIDECAR_DATA_DIR": str(tmp_path),
            "GAMEBALL_API_KEY": "k" * 20,
            "GAMEBALL_SECRET_KEY": "s" * 20,
            "SIDECAR_PACING_SHARED_URL": url,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "hunter2-fleet-pw" not in result.stdout + result.stderr
    assert '"shared_url": "redis://:***@10.0.0.9:6379/0"' in result.stdout


def test_the_redis_password_is_scrubbed_from_every_log_line(make_config: MakeConfig) -> None:
    config = make_config(SIDECAR_PACING_SHARED_URL="redis://:hunter2-fleet-pw@10.0.0.9:6379/0")

    create_app(config, SECRETS)

    assert redactor.scrub("AUTH failed for hunter2-fleet-pw") == "AUTH failed for [secret]"
