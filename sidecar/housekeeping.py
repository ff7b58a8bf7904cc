"""The sidecar's background chores: keeping the earning rules fresh (which, offline, is also the
probe that notices Gameball is back), remembering the last contact with Gameball across
restarts, pruning delivered rows and checkpointing the WAL."""

from __future__ import annotations

import asyncio
import logging

from .checkout.rules import RulesBook
from .clocks import Clocks
from .errors import StorageError
from .gameball.connectivity import Connectivity
from .store.database import Database
from .store.outbox import Outbox

log = logging.getLogger(__name__)

LAST_SUCCESS_KEY = "connectivity:last_success"
FIRST_SEEN_KEY = "connectivity:first_seen"
# How stale the saved "last success" may get: offline age is measured to about this much.
REMEMBER_EVERY = 10.0
RULES_TICK = 0.25


async def keep_rules_fresh(
    rules: RulesBook, connectivity: Connectivity, *, every: float, clocks: Clocks
) -> None:
    next_refresh = clocks.timer()
    while True:
        if connectivity.offline:
            due = connectivity.probe_due()
        else:
            due = clocks.timer() >= next_refresh
        if due:
            try:
                await rules.refresh()
            except StorageError as exc:
                # Fetched but not saved: the probe still did its job; try saving next time.
                log.warning("earning rules not saved: %s", exc)
            next_refresh = clocks.timer() + every
        await clocks.sleep(RULES_TICK)


async def restore_connectivity(database: Database, connectivity: Connectivity, now: float) -> None:
    """At start: what the last run knew, so offline age keeps counting across a restart."""
    saved = await database.get_value(LAST_SUCCESS_KEY)
    first = await database.get_value(FIRST_SEEN_KEY)
    if first is None:
        await database.put_value(FIRST_SEEN_KEY, repr(now).encode(), now)
    connectivity.restore(
        last_success_at=float(saved[0]) if saved else None,
        first_seen_at=float(first[0]) if first else now,
    )


async def save_connectivity(database: Database, connectivity: Connectivity, now: float) -> None:
    if connectivity.last_success_at is not None:
        try:
            value = repr(connectivity.last_success_at).encode()
            await database.put_value(LAST_SUCCESS_KEY, value, now)
        except StorageError as exc:
            log.warning("last contact with Gameball not saved: %s", exc)


async def remember_connectivity(
    database: Database, connectivity: Connectivity, clocks: Clocks
) -> None:
    """Keep the last success with Gameball on disk (every few seconds, not every call)."""
    saved = connectivity.last_success_at
    while True:
        await clocks.sleep(1.0)
        latest = connectivity.last_success_at
        if latest is not None and (saved is None or latest - saved >= REMEMBER_EVERY):
            await save_connectivity(database, connectivity, clocks.clock())
            saved = latest


async def maintain(
    outbox: Outbox, database: Database, *, retention: float, every: float, clocks: Clocks
) -> None:
    """Prune old delivered rows and checkpoint the WAL so the files stay bounded."""
    while True:
        await clocks.sleep(every)
        try:
            pruned = await outbox.prune(clocks.clock() - retention)
            await database.checkpoint()
        except StorageError as exc:
            log.warning("outbox maintenance skipped: %s", exc)
            continue
        if pruned:
            log.info("pruned %d delivered outbox row(s) older than the retention", pruned)


async def cancel(*chores: asyncio.Task[None]) -> None:
    for chore in chores:
        chore.cancel()
    await asyncio.gather(*chores, return_exceptions=True)
