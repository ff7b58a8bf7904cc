"""Simulator faults, control API, journal and rate limits, observed from a real client."""

from __future__ import annotations

import asyncio
import errno
import time
from typing import Any

import aiohttp
import pytest

from sidecar.simulator import Simulator, SimulatorServer
from tests.support.clients import API_KEY, SECRET_KEY, GameballClient
from tests.support.gameball import payment, when
from tests.support.spec import validate_error, validate_legacy_error
from tests.support.waits import wait_until

BALANCE = "/integrations/customers/cust-1001/balance"


@pytest.mark.parametrize(("status", "code"), [(None, 5000), (503, 5003)])
async def test_error5xx_answers_a_gameball_server_error(
    simulator_client: GameballClient, status: int | None, code: int
) -> None:
    simulator_client.server.sim.set_fault("error5xx", status=status)

    got, answer = await simulator_client.get(BALANCE)

    assert (got, answer["code"]) == (status or 500, code)
    validate_error(answer)


async def test_html503_answers_an_edge_proxy_page(simulator_client: GameballClient) -> None:
    simulator_client.server.sim.set_fault("html503")

    status, text = await simulator_client.get(BALANCE)

    assert status == 503 and "<html>" in text


async def test_ratelimit_fault_answers_429(simulator_client: GameballClient) -> None:
    simulator_client.server.sim.set_fault("ratelimit")

    status, _ = await simulator_client.post("/integrations/payments", payment("cust-1001", "r", 1))

    assert status == 429


@pytest.mark.parametrize(("status", "code", "expected"), [(403, 1002, 403), (None, 9004, 422)])
async def test_gameball_error_fault_carries_the_code(
    simulator_client: GameballClient, status: int | None, code: int, expected: int
) -> None:
    simulator_client.server.sim.set_fault("gameball_error", status=status, code=code)

    got, answer = await simulator_client.get(BALANCE)

    assert (got, answer["code"]) == (expected, code)
    validate_error(answer)


async def test_legacy_error_fault_uses_the_old_body(simulator_client: GameballClient) -> None:
    simulator_client.server.sim.set_fault("legacy_error")

    status, answer = await simulator_client.get(BALANCE)

    assert (status, answer["error"]) == (400, 400)
    validate_legacy_error(answer)


async def test_slow_fault_answers_normally_after_the_delay(
    simulator_client: GameballClient,
) -> None:
    simulator_client.server.sim.set_fault("slow", delay_seconds=0.3)
    started = time.monotonic()

    status, _ = await simulator_client.get(BALANCE)

    assert status == 200 and time.monotonic() - started >= 0.3


async def test_fault_limited_to_paths_and_count_then_clears_itself(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("error5xx", paths=["/integrations/payments"], count=1)

    balance_status, _ = await simulator_client.get(BALANCE)
    failed, _ = await simulator_client.post("/integrations/payments", payment("cust-1001", "c1", 1))
    passed, _ = await simulator_client.post("/integrations/payments", payment("cust-1001", "c2", 1))

    assert (balance_status, failed, passed) == (200, 500, 200)
    assert simulator.sim.fault.mode == "none"
    assert [r["transactionId"] for r in simulator.sim.ledger()] == ["c2"]


async def test_reset_fault_drops_the_connection_without_effect(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("reset")

    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await simulator_client.post("/integrations/payments", payment("cust-1001", "rs", 1))

    assert simulator.sim.ledger() == []
    assert simulator.sim.requests[-1]["status"] is None


async def test_drop_response_lands_the_payment_so_a_retry_gets_9004(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = payment("cust-1001", "lost-answer", 10)
    simulator.sim.set_fault("drop_response", count=1)

    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await simulator_client.post("/integrations/payments", body)
    status, answer = await simulator_client.post("/integrations/payments", body)

    assert (status, answer["code"]) == (422, 9004)
    assert [r["transactionId"] for r in simulator.sim.ledger()] == ["lost-answer"]


async def test_a_slow_call_cut_by_down_lands_but_is_journalled_unanswered(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = payment("cust-1001", "cut-off", 10)
    simulator.sim.set_fault("slow", delay_seconds=0.3, count=1)
    sending = asyncio.ensure_future(simulator_client.post("/integrations/payments", body))
    await wait_until(lambda: len(simulator.sim.requests) == 1)

    await simulator.set_down(True)

    with pytest.raises(aiohttp.ClientError):
        await sending
    await wait_until(lambda: simulator.sim.ledger() != [])
    await asyncio.sleep(0.05)
    entry = simulator.sim.requests[-1]
    assert [r["transactionId"] for r in simulator.sim.ledger()] == ["cut-off"]
    assert (entry["status"], entry["response"]) == (None, None)


async def test_down_refuses_connections_and_reopens_on_the_same_port(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator_client.get(BALANCE)  # leaves a kept-alive connection in the pool
    port = simulator.port

    await simulator.set_down(True)
    with pytest.raises(aiohttp.ClientError):
        await simulator_client.get(BALANCE)
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await simulator_client.get(BALANCE)
    _, health = await simulator_client.control("GET", "/health")
    await simulator.set_down(False)
    status, _ = await simulator_client.get(BALANCE)

    assert refused.value.os_error.errno == errno.ECONNREFUSED
    assert health["apiUp"] is False
    assert (status, simulator.port) == (200, port)


async def test_down_fault_set_in_python_closes_and_clearing_reopens(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("down")
    await wait_until(lambda: not simulator.api_up)
    with pytest.raises(aiohttp.ClientConnectorError):
        await simulator_client.get(BALANCE)

    simulator.sim.clear_faults()
    await wait_until(lambda: simulator.api_up)
    status, _ = await simulator_client.get(BALANCE)

    assert status == 200


async def test_forced_down_outlives_fault_changes_but_a_down_fault_does_not(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    simulator.sim.clear_faults()
    await asyncio.sleep(0.05)
    still_down = not simulator.api_up
    await simulator.set_down(False)
    await simulator_client.control("POST", "/faults", {"mode": "down"})

    simulator.sim.clear_faults()

    await wait_until(lambda: simulator.api_up)
    assert still_down


async def test_down_through_control_endpoint_keeps_control_up(
    simulator_client: GameballClient,
) -> None:
    set_status, answer = await simulator_client.control("POST", "/faults", {"mode": "down"})
    with pytest.raises(aiohttp.ClientConnectorError):
        await simulator_client.get(BALANCE)
    _, health = await simulator_client.control("GET", "/health")
    clear_status, _ = await simulator_client.control("DELETE", "/faults")
    status, _ = await simulator_client.get(BALANCE)

    assert (set_status, answer["apiUp"], health["fault"]["mode"]) == (200, False, "down")
    assert (clear_status, status) == (200, 200)


async def test_blackhole_times_the_client_out_and_does_not_hang_shutdown() -> None:
    server = SimulatorServer(Simulator())
    await server.start()
    server.sim.set_fault("blackhole")
    async with aiohttp.ClientSession(headers={"APIKey": "k", "SecretKey": "s"}) as session:
        with pytest.raises(TimeoutError):
            async with session.get(
                server.base_url + BALANCE, timeout=aiohttp.ClientTimeout(total=0.3)
            ):
                pass
        held = asyncio.create_task(session.get(server.base_url + BALANCE))
        await wait_until(lambda: len(server.sim.requests) == 2)
        started = time.monotonic()

        await server.stop()

        stopped_in = time.monotonic() - started
        with pytest.raises(aiohttp.ClientError):
            await held
    assert stopped_in < 1.0
    assert [entry["status"] for entry in server.sim.requests] == [None, None]


async def test_blackhole_lets_go_when_the_fault_is_cleared(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("blackhole")
    # A POST: aiohttp itself retries a dropped GET once, which would hide the drop.
    body = payment("cust-1001", "bh", 1)
    held = asyncio.create_task(simulator_client.post("/integrations/payments", body))
    await wait_until(lambda: len(simulator.sim.requests) == 1)

    simulator.sim.clear_faults()

    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(held, 1.0)
    status, _ = await simulator_client.post("/integrations/payments", body)
    assert status == 200
    assert [r["transactionId"] for r in simulator.sim.ledger()] == ["bh"]


async def test_rate_limits_per_second_and_per_30s_on_transactions_only() -> None:
    now = [0.0]
    sim = Simulator(rate_limit_per_second=3, rate_limit_per_30s=5, timer=lambda: now[0])
    server = SimulatorServer(sim)
    await server.start()
    statuses: list[int] = []
    try:
        async with aiohttp.ClientSession() as session:
            client = GameballClient(session, server)
            for second in (0.0, 0.0, 0.0, 0.0, 1.5, 1.5, 1.5, 31.0):
                now[0] = second
                body = payment("cust-1001", f"rl-{len(statuses)}", 1)
                statuses.append((await client.post("/integrations/payments", body))[0])
            quote, _ = await client.post("/integrations/payments/cashback", {"totalPaid": 1})
    finally:
        await server.stop()

    assert statuses == [200, 200, 200, 429, 200, 200, 429, 200]
    assert quote == 200


async def test_journal_records_requests_with_credentials_redacted(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    headers = {"apikey": API_KEY, "SECRETKEY": SECRET_KEY}
    await simulator_client.call("GET", BALANCE, headers=headers, params={"expand": "x"})

    status, answer = await simulator_client.control("GET", "/requests")

    (entry,) = simulator.sim.requests
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == (
        "GET",
        "/api/v4.0" + BALANCE,
        {"expand": "x"},
        200,
    )
    assert API_KEY not in str(answer) and SECRET_KEY not in str(answer)
    assert {k.lower(): v for k, v in entry["headers"].items()}["apikey"] == "REDACTED"
    assert status == 200 and answer["requests"] == [entry]


async def test_control_endpoints_drive_clock_customers_ledger_and_reset(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    seeded = await simulator_client.control(
        "POST", "/customers", {"customerId": "vip", "points": 900, "tier": "gold"}
    )
    reference = (
        await simulator_client.post(
            "/integrations/transactions/hold",
            {"customerId": "vip", "transactionTime": when(), "pointsToHold": 100},
        )
    )[1]["holdReference"]
    await simulator_client.post("/integrations/payments", payment("vip", "vip-1", 10))
    clock = await simulator_client.control("POST", "/clock", {"advanceSeconds": 601})
    _, hold_state = await simulator_client.get(f"/integrations/transactions/hold/{reference}")
    _, ledger = await simulator_client.control("GET", "/ledger?customerId=vip")
    bad = await simulator_client.control("POST", "/faults", {"mode": "meltdown"})
    reset = await simulator_client.control("POST", "/reset")
    _, health = await simulator_client.control("GET", "/health")

    assert seeded[0] == 200 and seeded[1]["tier"] == "Gold"
    assert seeded[1]["availablePointsBalance"] == 900
    assert clock[0] == 200 and hold_state["state"] == "expired"
    assert [row["points"] for row in ledger["transactions"]] == [20]
    assert bad[0] == 400 and "meltdown" in bad[1]["error"]
    assert reset[0] == 200 and simulator.sim.ledger() == [] and simulator.sim.requests == []
    assert (health["status"], health["apiUp"], health["fault"]["mode"]) == ("ok", True, "none")
    assert (await simulator_client.get("/integrations/customers/vip/balance"))[0] == 404
    assert (await simulator_client.get(BALANCE))[0] == 200


async def test_control_fault_options_reach_the_simulator(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body: dict[str, Any] = {
        "mode": "gameball_error",
        "paths": ["/balance"],
        "count": 2,
        "status": 403,
        "code": 1002,
    }

    status, answer = await simulator_client.control("POST", "/faults", body)
    got, error = await simulator_client.get(BALANCE)

    assert status == 200 and answer["fault"]["count"] == 2
    assert (got, error["code"]) == (403, 1002)
    assert simulator.sim.fault.remaining == 1


@pytest.mark.spec_violations_expected
async def test_journal_keeps_json_and_raw_bodies(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = payment("cust-1001", "j-1", 3)
    await simulator_client.post("/integrations/payments", body)
    url = simulator.base_url + "/integrations/payments"
    async with simulator_client.session.post(
        url, data=b"not json", headers=simulator_client.headers
    ):
        pass

    sent, garbled = simulator.sim.requests

    assert (sent["json"], sent["body"], sent["status"]) == (body, body, 200)
    assert (garbled["json"], garbled["body"], garbled["status"]) == (None, "not json", 400)


async def test_faults_can_follow_one_another(
    simulator: SimulatorServer, simulator_client: GameballClient
) -> None:
    simulator.sim.set_fault("error5xx", count=1)
    simulator.sim.then_fault("gameball_error", status=422, code=9001, count=1)

    first, _ = await simulator_client.get("/integrations/configurations/cashback")
    second, body = await simulator_client.get("/integrations/configurations/cashback")
    third, _ = await simulator_client.get("/integrations/configurations/cashback")

    assert (first, second, third) == (500, 422, 200)
    assert body["code"] == 9001


@pytest.mark.parametrize(
    ("target", "path", "body"),
    [
        (
            "/integrations/orders",
            "/integrations/orders",
            {"customerId": "cust-1001", "orderId": "f-o", "orderDate": when(), "totalPaid": 5},
        ),
        ("/integrations/customers", "/integrations/customers", {"customerId": "f-c"}),
        (
            "/integrations/coupons",
            "/integrations/coupons/validate",
            {"customerId": "cust-1001", "coupons": ["SAVE10"], "lock": True},
        ),
        (
            "/transactions/manual",
            "/integrations/transactions/manual",
            {
                "customerId": "cust-1001",
                "transactionId": "f-m",
                "username": "sam",
                "reason": "test",
                "points": 5,
            },
        ),
    ],
)
async def test_faults_target_the_retail_paths_and_leave_the_others_alone(
    simulator_client: GameballClient,
    simulator: SimulatorServer,
    target: str,
    path: str,
    body: dict[str, Any],
) -> None:
    simulator.sim.set_fault("error5xx", paths=[target], count=1)

    other, _ = await simulator_client.post("/integrations/payments", payment("cust-2002", "f-p", 1))
    failed, _ = await simulator_client.post(path, body)
    passed, _ = await simulator_client.post(path, body)

    assert (other, failed, passed) == (200, 500, 200)
    assert simulator.sim.fault.mode == "none"


async def test_drop_response_on_an_order_lands_it_so_a_retry_gets_9004(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    body = {"customerId": "cust-1001", "orderId": "lost-order", "orderDate": when(), "totalPaid": 7}
    simulator.sim.set_fault("drop_response", paths=["/integrations/orders"], count=1)

    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await simulator_client.post("/integrations/orders", body)
    status, answer = await simulator_client.post("/integrations/orders", body)

    assert (status, answer["code"]) == (422, 9004)
    assert [r["transactionId"] for r in simulator.sim.ledger()] == ["lost-order"]


async def test_rate_limits_count_orders_with_payments_but_not_order_quotes() -> None:
    sim = Simulator(rate_limit_per_second=1, rate_limit_per_30s=10, timer=lambda: 0.0)
    server = SimulatorServer(sim)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = GameballClient(session, server)
            paid, _ = await client.post("/integrations/payments", payment("cust-1001", "rl-p", 1))
            order = {
                "customerId": "cust-1001",
                "orderId": "rl-o",
                "orderDate": when(),
                "totalPaid": 1,
            }
            ordered, _ = await client.post("/integrations/orders", order)
            quote = {"totalPaid": 1, "totalDiscount": 0, "totalShipping": 0}
            quoted, _ = await client.post("/integrations/orders/cashback", quote)
    finally:
        await server.stop()

    assert (paid, ordered, quoted) == (200, 429, 200)
