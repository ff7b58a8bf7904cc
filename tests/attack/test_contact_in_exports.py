"""Contact data stays out of what people read and export: an e-mail address or phone number a
manager typed into a manual-points `reason` is scrubbed like one inside `extra`."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.retail import Client, call

MANUAL = {
    "customerId": "cust-1001",
    "transactionId": "leak-1",
    "username": "mgr",
    "reason": "goodwill for jane.doe@example.com +20 100 123 4567",
    "points": 5,
}


async def test_contact_data_in_a_manual_reason_is_not_listed_or_shown(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    _, stored = await call(sidecar, "POST", "/v1/manual-points", MANUAL)

    listing = await (await sidecar.get("/v1/outbox")).text()
    shown = await (await sidecar.get(f"/v1/outbox/{stored['outboxId']}")).text()

    for text in (listing, shown):
        assert "jane.doe@example.com" not in text, text
        assert "123 4567" not in text, text
