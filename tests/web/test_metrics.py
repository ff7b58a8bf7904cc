"""/metrics: what a checkout and an offline queue show, with no customer id in any label."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sidecar.simulator import SimulatorServer
from tests.support.clients import Client, checkout


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


async def test_metrics_after_a_checkout(sidecar: Client) -> None:
    await checkout(sidecar)

    response = await sidecar.get("/metrics")

    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    found = samples(text)
    finalize = frozenset({("route", "/v1/finalize-payment"), ("method", "POST"), ("status", "200")})
    assert found[("sidecar_http_request_duration_seconds_count", finalize)] == 1
    delivered = frozenset({("kind", "payment"), ("result", "delivered")})
    assert found[("sidecar_outbox_deliveries_total", delivered)] == 1
    payments = frozenset(
        {("endpoint", "/integrations/payments"), ("method", "POST"), ("outcome", "ok")}
    )
    assert found[("sidecar_upstream_request_duration_seconds_count", payments)] == 1
    assert found[("sidecar_outbox_queued_items", frozenset())] == 0
    assert found[("sidecar_gameball_online", frozenset())] == 1
    assert found[("sidecar_gameball_credentials_alarm", frozenset())] == 0
    assert "cust-1001" not in text  # no customer ids in labels


async def test_metrics_queue_gauges_when_offline(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1", "paymentId": "m-1", "totalPaid": 3}
    )

    found = samples(await (await sidecar.get("/metrics")).text())

    assert found[("sidecar_outbox_queued_items", frozenset())] == 1
    assert found[("sidecar_outbox_oldest_queued_age_seconds", frozenset())] >= 0
