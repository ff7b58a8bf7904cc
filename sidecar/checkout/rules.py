"""Gameball's earning rules, kept in memory and on disk so that points can be estimated when
Gameball cannot be asked, even right after a restart."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import msgspec
from cachetools import LRUCache

from ..errors import GameballError
from ..gameball.client import UpstreamClient
from ..gameball.paths import RULES_PATH
from ..gameball.wire import GbCashbackRules, GbRule
from ..store.database import Database
from .models import EstimateRequest

log = logging.getLogger(__name__)

DEFAULT_KEY = "rules:default"
CUSTOMER_KEY = "rules:customer:"

_rules_decoder = msgspec.json.Decoder(GbCashbackRules)


class RulesBook:
    def __init__(
        self,
        database: Database,
        upstream: UpstreamClient,
        *,
        clock: Callable[[], float] = time.time,
        remembered_customers: int = 4096,
    ) -> None:
        self._db = database
        self._upstream = upstream
        self._clock = clock
        self.default: GbCashbackRules | None = None
        self.fetched_at: float | None = None
        self._customers: LRUCache[str, GbRule] = LRUCache(maxsize=remembered_customers)

    async def load(self) -> None:
        """Take the last rules saved to disk; called once at start, before any request."""
        saved = await self._db.get_value(DEFAULT_KEY)
        if saved is not None:
            self.default = _rules_decoder.decode(saved[0])
            self.fetched_at = saved[1]

    async def refresh(self) -> bool:
        """Fetch the store-wide rules; True when Gameball answered."""
        try:
            rules = await self._upstream.call("GET", RULES_PATH, GbCashbackRules)
        except GameballError as exc:
            log.info("earning rules not refreshed: %s", exc.message)
            return False
        self.default = rules
        self.fetched_at = self._clock()
        await self._db.put_value(DEFAULT_KEY, msgspec.json.encode(rules), self.fetched_at)
        return True

    async def learn_customer(self, customer_id: str) -> None:
        """Remember which tier rule applies to this customer, for later offline estimates."""
        try:
            rules = await self._upstream.call(
                "GET", RULES_PATH, GbCashbackRules, params={"customerId": customer_id}
            )
        except GameballError as exc:
            log.info("tier of a customer not learned: %s", exc.message)
            return
        rule = customer_rule(rules)
        if rule is not None:
            self._customers[customer_id] = rule
            await self._db.put_value(
                CUSTOMER_KEY + customer_id, msgspec.json.encode(rule), self._clock()
            )

    async def rule_for(self, customer_id: str | None) -> GbRule | None:
        if customer_id is not None:
            known = self._customers.get(customer_id)
            if known is None:
                saved = await self._db.get_value(CUSTOMER_KEY + customer_id)
                if saved is not None:
                    known = msgspec.json.decode(saved[0], type=GbRule)
                    self._customers[customer_id] = known
            if known is not None:
                return known
        return self.default.defaultCashbackRule if self.default else None

    def knows(self, customer_id: str) -> bool:
        return customer_id in self._customers


def customer_rule(rules: GbCashbackRules) -> GbRule | None:
    """Asked with ``customerId``, Gameball narrows ``tierCashbackRules`` to that customer's tier;
    with no tier rule the default applies."""
    tiers = rules.tierCashbackRules or []
    if len(tiers) == 1:
        return tiers[0]
    return rules.defaultCashbackRule


def estimate_points(request: EstimateRequest, rule: GbRule) -> int:
    """Gameball's base earning formula: only ``totalPaid`` earns. Campaigns and custom rules are
    not published, which is why this is only ever labelled an estimate."""
    threshold = rule.amountRewardThreshold or 0
    factor = rule.rewardWalletFactor or 0
    if threshold <= 0 or factor <= 0:
        return 0
    # A small epsilon keeps 19.99 * 100 / 1 from flooring to 1998.
    return math.floor(request.totalPaid * factor / threshold + 1e-9)
