"""Points that are not a basket: amount-only earning (Gameball's transactions/cashback) and a
manager's goodwill points or deduction (transactions/manual, with who and why kept for
finance). Both are stored calls, delivered at once or replayed like a sale."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import errors
from ..gameball.wire import GbMerchant
from ..store.rows import NewItem
from ..timefmt import iso_ms
from .fields import fingerprint_of
from .models import CashbackRequest, ManualPointsRequest
from .queueing import Submitter, event_time
from .replies import SaleAnswer


class Points:
    def __init__(self, *, submitter: Submitter, merchant: GbMerchant) -> None:
        self._submitter = submitter
        self._merchant = msgspec.to_builtins(merchant)

    async def cashback(self, request: CashbackRequest) -> SaleAnswer:
        started = self._submitter.timer()
        at = event_time(request.transactionTime, "$.transactionTime", self._submitter.clock())
        body = _body(request)
        body["transactionTime"] = iso_ms(at)
        body["merchant"] = self._merchant
        new = NewItem(
            kind="cashback",
            idem_key=f"cashback:{request.transactionId}",
            fingerprint=fingerprint_of(request),
            customer_id=request.customerId,
            body=msgspec.json.encode(body),
            amount=request.amount,
            tx_ms=int(at * 1000),
        )
        return await self._submitter.submit(
            new, what=f"transactionId {request.transactionId!r}", started=started
        )

    async def manual(self, request: ManualPointsRequest) -> SaleAnswer:
        if (request.points is None) == (request.amount is None):
            raise errors.ValidationFailed.field(
                "$.points", "send exactly one of `points` or `amount` (negative to deduct)"
            )
        if (request.points or request.amount) == 0:
            field = "$.points" if request.points is not None else "$.amount"
            raise errors.ValidationFailed.field(field, "must not be 0")
        if request.expiryAfter is not None and (request.points or request.amount or 0) < 0:
            raise errors.ValidationFailed.field(
                "$.expiryAfter",
                "cannot be used when deducting points (Gameball's rule); leave it out",
            )
        started = self._submitter.timer()
        at = event_time(request.transactionTime, "$.transactionTime", self._submitter.clock())
        body = _body(request)
        body["transactionTime"] = iso_ms(at)  # Gameball's spec has no merchant here
        new = NewItem(
            kind="manual",
            idem_key=f"manual:{request.transactionId}",
            fingerprint=fingerprint_of(request),
            customer_id=request.customerId,
            body=msgspec.json.encode(body),
            tx_ms=int(at * 1000),
        )
        return await self._submitter.submit(
            new, what=f"transactionId {request.transactionId!r}", started=started
        )


def _body(request: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.to_builtins(request).items() if v is not None}
