"""Outbox rows written straight into the store, as the checkout (or an earlier version of the
sidecar) would have stored them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec

from sidecar.store.database import Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import Kind, NewItem


def new_item(
    key: str,
    customer: str = "c-1",
    *,
    kind: Kind = "payment",
    body: dict[str, Any] | None = None,
    amount: float = 1.0,
    **fields: Any,
) -> NewItem:
    """A new row keyed ``<kind>:<key>``; ``fields`` are NewItem's other fields."""
    document = body if body is not None else {"paymentId": key}
    return NewItem(
        kind=kind,
        idem_key=f"{kind}:{key}",
        fingerprint=key.encode(),
        customer_id=customer,
        body=msgspec.json.encode(document),
        amount=amount,
        **fields,
    )


async def store_rows(data_dir: Path, *items: NewItem, now: float | None = None) -> None:
    """Store rows in the database under ``data_dir`` (created if need be), queued, unclaimed."""
    storage = await Database.open(data_dir)
    try:
        outbox = Outbox(storage)
        for item in items:
            await outbox.enqueue(item, now=time.time() if now is None else now, claim=False)
    finally:
        await storage.close()
