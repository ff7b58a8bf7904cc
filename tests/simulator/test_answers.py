"""Every answer the simulator gives fits Gameball's spec: each operation it serves is called
directly, the answers are validated against the spec's response schema, and none is missed."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from sidecar.simulator.app import PREFIX
from sidecar.simulator.contract import gameball_contract
from tests.support.clients import GameballClient
from tests.support.gameball import payment_traffic, retail_traffic, served_operations
from tests.support.spec import validate_response


def template(method: str, path: str) -> str:
    """The spec path a journal entry's request called, e.g. /integrations/customers/{customerId}."""
    found = gameball_contract().template(method, path)
    assert found is not None, f"{method} {path} is no operation of the spec"
    return found


async def test_answers_of_every_served_operation_fit_the_spec(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    answers = await payment_traffic(simulator_client) + await retail_traffic(simulator_client)

    journal = [r for r in simulator.sim.requests if r["path"].startswith(PREFIX + "/")]

    assert [status for status, _ in answers] == [200] * len(answers)
    called = {(r["method"], template(r["method"], r["path"])) for r in journal}
    assert called == served_operations(simulator)
    for entry in journal:
        validate_response(
            entry["method"], template(entry["method"], entry["path"]), 200, entry["response"]
        )


async def test_answers_list_every_kind_of_transaction_within_the_spec(
    simulator_client: GameballClient, simulator: SimulatorServer
) -> None:
    await payment_traffic(simulator_client)
    await retail_traffic(simulator_client)
    simulator.sim.advance_clock(31 * 86_400)  # the manual points expire

    _, listed = await simulator_client.get("/integrations/transactions", {"limit": "200"})

    validate_response("GET", "/integrations/transactions", 200, listed)
    assert {row["type"] for row in listed["transactions"]} == {
        "AchievementReward",
        "PaymentReward",
        "Redemption",
        "Cancel",
        "ManualAccumulation",
        "Expiry",
    }
