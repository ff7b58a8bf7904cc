"""Whether a row Gameball calls "already" (9004, 9001) after a send whose answer was lost is
ours: the customer's ledger at Gameball says, since that answer alone cannot tell our own
earlier send from another till's call with the same id."""

from __future__ import annotations

import msgspec

from ..errors import GameballAuthError, GameballError, GameballRateLimited
from ..gameball.client import UpstreamClient
from ..gameball.ledger import gameball_id, has_transaction
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
        await pacer.acquire(live=live)  # the lookup is a call on the account's budget too
        found = await has_transaction(upstream, customer_id, transaction_id, types)
    except (GameballRateLimited, GameballAuthError):
        raise
    except GameballError as exc:
        return Unknown(f"the ledger could not be read: {exc.message}")
    return Unknown("the ledger is too long to read to the end now") if found is None else found
