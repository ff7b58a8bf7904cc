"""/openapi.json: a valid document that lists exactly the routes the app serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from sidecar.web.openapi import build_openapi
from tests.support.clients import Client


async def test_openapi_is_valid_and_matches_the_routes(sidecar: Client) -> None:
    document = await (await sidecar.get("/openapi.json")).json()

    validate(document)
    assert sidecar.app is not None
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in sidecar.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented
    assert document == build_openapi()
