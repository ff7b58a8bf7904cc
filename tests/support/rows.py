"""Outbox rows as the checkout would store them (a payment, a refund, a release), and rows written
straight into the store, as an earlier version of the sidecar would have left them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec

from sidecar.store.database import Database
from sidecar.store.outbox import Outbox
from sidecar.store.rows import Kind, NewItem
from sidecar.timefmt import iso_ms


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


def payment_row(
    payment_id: str, at: float, customer: str = "cust-1001", *, paid: float = 10.0, **body: Any
) -> NewItem:
    document = {
        "customerId": customer,
        "paymentId": payment_id,
        "paymentDate": iso_ms(at),
        "totalPaid": paid,
        **body,
    }
    return new_item(payment_id, customer, body=document, amount=paid, tx_ms=int(at * 1000))


def refund_row(refund_id: str, payment_id: str, at: float, customer: str = "cust-1001") -> NewItem:
    document = {
        "customerId": customer,
        "refundTransactionId": refund_id,
        "reverseTransactionId": payment_id,
        "transactionTime": iso_ms(at),
    }
    return new_item(
        refund_id,
        customer,
        kind="refund",
        body=document,
        tx_ms=int(at * 1000),
        after_key=f"payment:{payment_id}",
    )


def release_row(reference: str, customer: str = "cust-1001") -> NewItem:
    return new_item(reference, customer, kind="release", body={}, hold_reference=reference)


async def store_rows(data_dir: Path, *items: NewItem, now: float | None = None) -> None:
    """Store rows in the database under ``data_dir`` (created if need be), queued, unclaimed."""
    storage = await Database.open(data_dir)
    try:
        outbox = Outbox(storage)
        for item in items:
            await outbox.enqueue(item, now=time.time() if now is None else now, claim=False)
    finally:
        await storage.close()
