"""/status: the page store IT opens, self-contained and free of secrets."""

from __future__ import annotations

from sidecar.simulator import SimulatorServer
from tests.support.clients import API_KEY, SECRET_KEY, Client


async def test_status_page_is_self_contained_html(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    await simulator.set_down(True)
    await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-1", "paymentId": "s-1", "totalPaid": 3}
    )

    response = await sidecar.get("/status")

    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<meta http-equiv="refresh"' in html
    assert "Sales waiting to send" in html and "Acme Coffee" in html
    assert "src=" not in html and "href=" not in html  # no external assets at all
    assert API_KEY not in html and SECRET_KEY not in html
