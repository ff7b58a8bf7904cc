"""One rule for every id a POS sends, in a JSON body or in the path, and the same rule in
/openapi.json; integers in the query are ASCII digits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from yarl import URL

from sidecar import ids
from sidecar.simulator import SimulatorServer
from tests.support.clients import Client, assert_error_shape

# (label, value): each is refused wherever an id is taken.
REFUSED = [
    ("dot", "."),
    ("dot-dot", ".."),
    ("only dots", "...."),
    ("DEL", "cust\x7f1"),
    ("NUL", "cust\x001"),
    ("C1 control", "cust\x851"),
    ("line separator U+2028", "cust\u20281"),
    ("paragraph separator U+2029", "cust\u20291"),
    ("zero-width space U+200B", "\u200bcust"),
    ("byte order mark U+FEFF", "\ufeffcust"),
    ("right-to-left override U+202E", "cust\u202e1"),
    ("soft hyphen U+00AD", "cu\u00adst"),
    ("language tag U+E0001", "cust\U000e0001"),
    ("trailing newline", "cust-1\n"),
    ("slash", "a/b"),
    ("backslash", "a\\b"),
    ("too long", "c" * 129),
]
ALLOWED = ["cust-1001", "a.b", ".hidden", "x..y", "%2E%2E", "café", "名前", "a b", "=1+1"]
ALLOWED.append("c" * 128)


def sent(simulator: SimulatorServer) -> list[dict[str, Any]]:
    """What the simulator received, leaving out the earning-rules refresh the sidecar makes in
    the background on its own."""
    return [r for r in simulator.sim.requests if "/configurations/" not in r["path"]]


def raw_url(client: Client, raw_path: str) -> URL:
    """The path exactly as written: yarl would otherwise decode %2E and drop dot segments."""
    return URL(str(client.make_url("/")).rstrip("/") + raw_path, encoded=True)


def encoded(value: str) -> str:
    return "".join(f"%{b:02X}" for b in value.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(("label", "value"), REFUSED, ids=[label for label, _ in REFUSED])
async def test_ids_in_json_bodies_refuse_control_format_and_dot_only_values(
    sidecar: Client, simulator: SimulatorServer, label: str, value: str
) -> None:
    """Defects 6 and 14: ".." as a customerId reached /integrations/balance later, and DEL,
    U+2028 and other control or format characters passed although the message said not."""
    response = await sidecar.post(
        "/v1/finalize-payment", json={"customerId": value, "paymentId": "p-ids", "totalPaid": 1}
    )

    body = await response.json()
    assert response.status == 422, body
    assert_error_shape(body, "VALIDATION_ERROR")
    assert body["error"]["details"][0]["field"] == "$.customerId"
    assert not [r for r in simulator.sim.requests if "/payments" in r["path"]]


@pytest.mark.parametrize(("label", "value"), REFUSED, ids=[label for label, _ in REFUSED])
async def test_ids_in_paths_refuse_control_format_and_dot_only_values(
    sidecar: Client, simulator: SimulatorServer, label: str, value: str
) -> None:
    """Defect 6: GET /v1/holds/%2E%2E made the sidecar call /integrations/transactions/ with
    the store's keys; defect 14: control and format characters were let through."""
    before = len(sent(simulator))

    hold = await sidecar.session.get(raw_url(sidecar, f"/v1/holds/{encoded(value)}"))
    balance = await sidecar.session.get(raw_url(sidecar, f"/v1/customers/{encoded(value)}/balance"))

    for response, name in ((hold, "holdReference"), (balance, "customerId")):
        body = await response.json()
        assert response.status == 422, body
        assert_error_shape(body, "VALIDATION_ERROR")
        assert body["error"]["details"][0]["field"] == name
    assert len(sent(simulator)) == before


@pytest.mark.parametrize("raw", ["/v1/holds/..", "/v1/holds/.", "/v1/holds/.%2E", "/v1/holds/%2e"])
async def test_ids_literal_dot_segments_in_paths_are_refused(
    sidecar: Client, simulator: SimulatorServer, raw: str
) -> None:
    """Defect 6: dot segments sent literally (curl --path-as-is) are refused as well."""
    before = len(sent(simulator))

    response = await sidecar.session.get(raw_url(sidecar, raw))

    assert 400 <= response.status < 500
    assert set(await response.json()) == {"error"}
    assert len(sent(simulator)) == before


@pytest.mark.parametrize("value", ALLOWED)
async def test_ids_ordinary_values_are_accepted(sidecar: Client, value: str) -> None:
    response = await sidecar.post(
        "/v1/finalize-payment", json={"customerId": value, "paymentId": "p-ok", "totalPaid": 1}
    )

    assert response.status in (200, 202), await response.text()


def test_ids_one_definition_in_models_paths_and_openapi(sidecar_openapi: dict[str, Any]) -> None:
    """Defect 14: the three places had drifted apart; now /openapi.json states the same rule."""
    patterns = {
        parameter["schema"]["pattern"]
        for path in sidecar_openapi["paths"].values()
        for operation in path.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["schema"]["type"] == "string"
    }
    body_pattern = sidecar_openapi["components"]["schemas"]["FinalizeRequest"]["properties"][
        "customerId"
    ]["pattern"]

    assert patterns == {ids.PATTERN} and body_pattern == ids.PATTERN
    for _, value in REFUSED:
        assert not re.search(ids.PATTERN, value) or len(value) > ids.MAX_LENGTH, value
    for value in ALLOWED:
        assert re.search(ids.PATTERN, value), value


@pytest.fixture
def sidecar_openapi() -> dict[str, Any]:
    from sidecar.web.openapi import build_openapi

    return build_openapi()


@pytest.mark.parametrize("text", ["\u0661", "5_0", "+5", " 5", "5 ", "\uff15", "0x10", "1e3"])
async def test_query_integers_are_ascii_digits_only(sidecar: Client, text: str) -> None:
    """Defect 14: limit=\u0661 (Arabic-Indic one), 5_0 and +5 were read as numbers."""
    response = await sidecar.get("/v1/outbox", params={"limit": text})

    body = await response.json()
    assert response.status == 422, body
    assert body["error"]["details"][0]["field"] == "limit"


async def test_query_integers_in_ascii_digits_are_read(sidecar: Client) -> None:
    response = await sidecar.get("/v1/outbox", params={"limit": "50", "afterId": "0"})

    assert response.status == 200


async def test_ids_with_braces_in_paths_reach_their_route(
    sidecar: Client, simulator: SimulatorServer
) -> None:
    """Found by the hostile suite's property: aiohttp's default parameter pattern refuses `{`
    and `}`, so an id the JSON bodies accept was answered 404 "no such endpoint" in a path."""
    response = await sidecar.session.get(raw_url(sidecar, "/v1/customers/c%7B1%7D/balance"))

    body = await response.json()
    assert response.status != 404 or body["error"]["code"] != "NOT_FOUND", body
    assert sent(simulator)[-1]["path"] == "/api/v4.0/integrations/customers/c{1}/balance"
