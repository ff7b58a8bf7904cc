"""Points quotes for a basket: Gameball's own answer when it comes within the budget, a cached
one when the same basket was just asked, otherwise a labelled estimate from the earning rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from .. import errors
from ..errors import GameballError, GameballRejected
from ..gameball.client import UpstreamClient
from ..gameball.codes import Meaning, for_cashier, meaning_of
from ..gameball.paths import ORDER_QUOTE_PATH, QUOTE_PATH
from ..gameball.wire import (
    GbCashbackQuote,
    GbMerchant,
    GbOrderQuote,
    GbOrderQuoteAnswer,
    GbQuoteAnswer,
)
from .cache import AgedCache
from .models import EstimateRequest
from .replies import EstimateAnswer
from .rules import RulesBook, estimate_points

log = logging.getLogger(__name__)

OFFLINE_NOTE = (
    "Gameball could not be asked in time; points estimated from the last known earning rules "
    "(campaign bonuses not included)"
)


class Estimator:
    def __init__(
        self,
        *,
        upstream: UpstreamClient,
        rules: RulesBook,
        cache: AgedCache[bytes, EstimateAnswer],
        budget: float,
        merchant: GbMerchant,
        spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[object]],
    ) -> None:
        self._upstream = upstream
        self._rules = rules
        self._cache = cache
        self._budget = budget
        self._merchant = merchant
        self._spawn = spawn

    async def estimate(self, request: EstimateRequest) -> EstimateAnswer:
        _is_order(request)  # refuses a mixed basket before the cache or Gameball see it
        key = msgspec.json.encode(request)
        cached = self._cache.get(key)
        if cached is not None:
            return msgspec.structs.replace(cached[0], source="cache")
        is_order = _is_order(request)
        lines: list[dict[str, Any]] | None = None
        try:
            async with asyncio.timeout(self._budget):
                if is_order:
                    order_quote = await self._upstream.call(
                        "POST", ORDER_QUOTE_PATH, GbOrderQuoteAnswer, body=self._order_body(request)
                    )
                    quote = GbQuoteAnswer(
                        totalPoints=order_quote.totalPoints, totalScore=order_quote.totalScore
                    )
                    lines = order_quote.lineItems
                else:
                    quote = await self._upstream.call(
                        "POST", QUOTE_PATH, GbQuoteAnswer, body=self._quote_body(request)
                    )
        except GameballRejected as exc:
            if exc.transient or meaning_of(exc.code) == Meaning.ALARM:
                # Busy or mis-keyed: the cashier still gets a number, store IT gets the alarm.
                return await self._offline(request)
            raise for_cashier(exc, subject="the points quote") from None
        except (GameballError, TimeoutError):
            return await self._offline(request)
        answer = EstimateAnswer(
            totalPoints=int(quote.totalPoints),
            totalScore=quote.totalScore,
            source="upstream",
            customerId=request.customerId,
            paymentDetails=quote.paymentDetails,
            lineItems=lines,
        )
        self._cache.put(key, answer)
        if request.customerId and not self._rules.knows(request.customerId):
            await self._spawn(self._rules.learn_customer(request.customerId))
        return answer

    async def _offline(self, request: EstimateRequest) -> EstimateAnswer:
        rule = await self._rules.rule_for(request.customerId)
        if rule is None:
            raise errors.EstimateUnavailable(
                "Gameball cannot be reached and no earning rules have been fetched yet, so no "
                "estimate can be given; finish the sale, the points will still be earned"
            )
        return EstimateAnswer(
            totalPoints=estimate_points(request, rule),
            source="offline-estimate",
            customerId=request.customerId,
            tierName=rule.tierName,
            note=OFFLINE_NOTE,
        )

    def _order_body(self, request: EstimateRequest) -> GbOrderQuote:
        return GbOrderQuote(
            totalPaid=request.totalPaid,
            totalDiscount=request.totalDiscount or 0.0,
            totalShipping=request.totalShipping or 0.0,
            customerId=request.customerId,
            totalPrice=request.totalPrice,
            lineItems=request.lineItems,
            merchant=self._merchant,
        )

    def _quote_body(self, request: EstimateRequest) -> GbCashbackQuote:
        return GbCashbackQuote(
            totalPaid=request.totalPaid,
            customerId=request.customerId,
            totalAmount=request.totalAmount,
            totalDiscount=request.totalDiscount,
            totalTax=request.totalTax,
            totalProcessingFees=request.totalProcessingFees,
            paymentDetails=request.paymentDetails,
            merchant=self._merchant,
        )


def _is_order(request: EstimateRequest) -> bool:
    """A retail basket (Gameball's order quote) or a payment one, never both."""
    retail = request.lineItems is not None or request.totalShipping is not None
    payment = request.paymentDetails is not None or request.totalProcessingFees is not None
    if retail and payment:
        raise errors.ValidationFailed.field(
            "$.lineItems",
            "send a payment basket (`paymentDetails`) or a retail one (`lineItems`), not both",
        )
    return retail
