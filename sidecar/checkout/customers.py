"""Registering or updating the shopper at the till (Gameball's customers upsert): queued like a
sale, so it reaches Gameball before that customer's later sales (the welcome bonus and a
referral come first). Contact data in it is sealed at rest with the rest of the row."""

from __future__ import annotations

import msgspec

from ..store.outbox import Outbox
from ..store.rows import NewItem
from .fields import fingerprint_of
from .models import CustomerRequest
from .queueing import Submitter
from .replies import SaleAnswer


class Customers:
    def __init__(self, *, submitter: Submitter, outbox: Outbox) -> None:
        self._submitter = submitter
        self._outbox = outbox

    async def upsert(self, customer_id: str, request: CustomerRequest) -> SaleAnswer:
        """An upsert is safe to send late and to send again. The same body as the customer's
        latest update is that call (its stored answer); any other body is a newer update,
        queued after it, even one equal to an earlier update (A, B, then A again is sent)."""
        started = self._submitter.timer()
        fingerprint = fingerprint_of(request)
        latest = await self._outbox.latest_of_kind("customer", customer_id)
        if latest is not None and latest.fingerprint == fingerprint:
            key = latest.idem_key
        else:
            after = latest.id if latest is not None else 0
            key = f"customer:{customer_id}:{fingerprint.hex()[:24]}:{after}"
        body = {"customerId": customer_id, **msgspec.to_builtins(request)}
        body = {k: v for k, v in body.items() if v is not None}
        new = NewItem(
            kind="customer",
            idem_key=key,
            fingerprint=fingerprint,
            customer_id=customer_id,
            body=msgspec.json.encode(body),
        )
        return await self._submitter.submit(new, what=f"customer {customer_id!r}", started=started)
