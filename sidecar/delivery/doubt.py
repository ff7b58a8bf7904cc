"""Whether a row Gameball calls "already" (9004, 9001) after a send whose answer was lost is
ours: the customer's ledger at Gameball says, since that answer alone cannot tell our own
earlier send from another till's call with the same id; what a sale rewritten at replay then
is (its rewrite's outcome, kept for finance); and whether a refund's payment may still land."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from ..errors import GameballAuthError, GameballError, GameballRateLimited
from ..gameball.client import UpstreamClient
from ..gameball.ledger import gameball_id, has_transaction
from ..store.outbox import Outbox
from ..store.rows import Item
from .calls import CALLS
from .pacing import Pacer


class Unknown(msgspec.Struct, frozen=True):
    """The ledger could not be read to the end now; ask again later."""

    why: str


async def landed(
    item: Item, upstream: UpstreamClient, pacer: Pacer, *, live: bool = False
) -> bool | Unknown:
    """True: the row's call is in its customer's ledger; False: it is not (the id is another
    call's). A 429 or refused keys are raised, like any call's."""
    body = msgspec.json.decode(item.body)
    transaction_id, customer_id = gameball_id(body), body.get("customerId")
    types = CALLS[item.kind].ledger
    if transaction_id is None or not isinstance(customer_id, str) or not types:
        return True  # a call that writes no ledger row under an id of its own
    try:
        found = await has_transaction(
            upstream, customer_id, transaction_id, types, before_page=_paced(pacer, live)
        )
    except (GameballRateLimited, GameballAuthError):
        raise
    except GameballError as exc:
        return Unknown(f"the ledger could not be read: {exc.message}")
    return Unknown("the ledger is too long to read to the end now") if found is None else found


async def outcome_of_landing(
    item: Item, upstream: UpstreamClient, pacer: Pacer, *, live: bool = False
) -> str | Unknown:
    """The outcome of a row whose earlier send landed: "already", but a sale rewritten at
    replay keeps its rewrite's (a rewrite follows a send Gameball refused, so what landed is
    the rewritten sale): ``reheld``, or ``redemption_failed`` for finance, unless a hold was
    written off and the ledger shows a redemption under the sale's id after all."""
    if item.kind not in ("payment", "order") or item.outcome not in ("redemption_failed", "reheld"):
        return "already"
    if item.outcome == "reheld" or item.absorbed_points is None:
        return item.outcome  # a coupon rewritten away: no ledger row can tell otherwise
    body = msgspec.json.decode(item.body)
    transaction_id, customer_id = gameball_id(body), body.get("customerId")
    if transaction_id is None or not isinstance(customer_id, str):
        return item.outcome
    try:
        found = await has_transaction(
            upstream, customer_id, transaction_id, ("Redemption",), before_page=_paced(pacer, live)
        )
    except (GameballRateLimited, GameballAuthError):
        raise
    except GameballError as exc:
        return Unknown(f"the ledger could not be read: {exc.message}")
    if found is None:
        return Unknown("the ledger is too long to read to the end now")
    return "already" if found else "redemption_failed"


def _paced(pacer: Pacer, live: bool) -> Callable[[], Awaitable[None]]:
    """Each page of the ledger is a call on the account's budget: one slot each (one for up
    to 25 pages left the pacer counting a part of what was sent)."""

    async def acquire() -> None:
        await pacer.acquire(live=live)

    return acquire


async def may_still_land(item: Item, outbox: Outbox, wait_attempts: int) -> str | None:
    """Why a refund Gameball cannot match to its payment (9005) should wait, or None when it
    should not wait any longer."""
    payment = await outbox.by_key(item.after_key) if item.after_key else None
    if payment is not None and payment.state in ("pending", "inflight"):
        return "waiting for the payment it reverses, still queued on this terminal"
    if payment is not None and payment.state != "delivered":
        return None  # refused or discarded: it will never land
    # Delivered just now, or finalized elsewhere (another till): give it a while.
    if item.attempts + 1 < wait_attempts:
        return "the payment this refund reverses has not reached Gameball yet"
    return None
