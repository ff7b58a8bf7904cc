"""Wiring: ``create_app`` builds every component from the configuration and opens and closes them
in order (database, then Gameball session, then background work); ``serve`` runs it."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .balances import Balances
from .cache import AgedCache
from .config import Config, Secrets
from .connectivity import Connectivity
from .delivery import Alarm, Delivery
from .estimates import Estimator
from .holds import Holds
from .http import error_middleware, max_body_key
from .inspection import OutboxView
from .logs import redactor
from .metrics import Metrics
from .models import GbBranch, GbMerchant
from .outbox import Outbox
from .pacing import Pacer
from .replay import Lanes, Replayer
from .routes import (
    balances_key,
    estimator_key,
    holds_key,
    metrics_key,
    outbox_view_key,
    routes,
    sales_key,
    status_key,
)
from .rules import RulesBook
from .sales import OfflineLimits, Sales
from .sdnotify import Notifier
from .sealing import Sealer, SealError
from .security import cors_middleware, security_middleware
from .status import Status
from .storage import Storage, StorageError
from .timefmt import TransactionClock
from .upstream import UpstreamClient

log = logging.getLogger(__name__)

REFRESH_TICK = 0.25


@dataclass(frozen=True, kw_only=True)
class Clocks:
    """Injected time: ``clock`` is wall time (stamps, expiry), ``timer`` is monotonic (budgets)."""

    clock: Callable[[], float] = time.time
    timer: Callable[[], float] = time.monotonic


@dataclass
class Background:
    """Fire-and-forget work that must still be cancelled and awaited at shutdown."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def close(self, grace: float = 0.0) -> None:
        if self.tasks and grace > 0:
            await asyncio.wait(set(self.tasks), timeout=grace)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


connectivity_key = web.AppKey("connectivity", Connectivity)
storage_key = web.AppKey("storage", Storage)
rules_key = web.AppKey("rules", RulesBook)
replayer_key = web.AppKey("replayer", Replayer)


def create_app(
    config: Config, secrets: Secrets, *, clocks: Clocks | None = None
) -> web.Application:
    clocks = clocks or Clocks()
    metrics = Metrics()
    for secret in (secrets.api_key, secrets.secret_key, secrets.access_token):
        redactor.add_secret(secret)
    app = web.Application(
        # Outermost first: CORS wraps the error middleware, so error answers carry its headers.
        middlewares=[
            metrics.middleware(),
            cors_middleware(config.sidecar.cors_origins),
            error_middleware,
            security_middleware(
                secrets.access_token, config.sidecar.cors_origins, config.sidecar.allowed_hosts
            ),
        ],
        client_max_size=config.sidecar.max_body_bytes,
    )
    app[metrics_key] = metrics
    app[max_body_key] = config.sidecar.max_body_bytes
    app.add_routes(routes)
    app[connectivity_key] = Connectivity(
        failure_threshold=config.connectivity.failure_threshold,
        probe_initial=config.connectivity.probe_initial,
        probe_max=config.connectivity.probe_max,
        timer=clocks.timer,
        clock=clocks.clock,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        storage = await Storage.open(
            config.data_path, max_bytes=int(config.sidecar.max_db_mb * 1024 * 1024)
        )
        app[storage_key] = storage
        background = Background()
        try:
            outbox = Outbox(storage, Sealer(secrets.encryption_key))
            try:
                await outbox.check_key()
            except SealError as exc:
                raise StorageError(
                    f"{exc}; give the sidecar the key it was started with "
                    "(SIDECAR_ENCRYPTION_KEY or the credential sidecar-encryption-key)"
                ) from None
            await _restore_connectivity(storage, app[connectivity_key], clocks.clock())
            requeued = await outbox.requeue_inflight(clocks.clock())
            if requeued:
                log.info(
                    "%d outbox item(s) were in flight at the last stop; queued again", requeued
                )
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=config.upstream.timeout, connect=config.upstream.connect_timeout
                ),
                raise_for_status=False,
            ) as session:
                await _wire(app, config, secrets, clocks, session, outbox, background)
                await app[holds_key].resume()
                workers = [
                    asyncio.create_task(
                        _keep_rules_fresh(app[rules_key], app[connectivity_key], config, clocks)
                    ),
                    asyncio.create_task(app[replayer_key].run()),
                    asyncio.create_task(_maintain(storage, config, clocks)),
                    asyncio.create_task(
                        _remember_connectivity(storage, app[connectivity_key], clocks)
                    ),
                ]
                app[status_key].accepting = True
                yield
                app[status_key].accepting = False
                # Deliveries in flight may finish (bounded); then everything else stops.
                grace = config.sidecar.stop_grace
                await asyncio.gather(app[replayer_key].stop(grace), background.close(grace))
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await _save_connectivity(storage, app[connectivity_key], clocks.clock())
        finally:
            await storage.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _wire(
    app: web.Application,
    config: Config,
    secrets: Secrets,
    clocks: Clocks,
    session: aiohttp.ClientSession,
    outbox: Outbox,
    background: Background,
) -> None:
    storage = app[storage_key]
    metrics = app[metrics_key]
    store = config.store
    # An empty name is not sent: Gameball's spec requires only the ids.
    merchant = GbMerchant(
        uniqueId=store.merchant_id,
        name=store.merchant_name.strip() or None,
        branch=GbBranch(uniqueId=store.branch_id, name=store.branch_name.strip() or None),
    )
    connectivity = app[connectivity_key]
    upstream = UpstreamClient(
        session,
        base_url=config.upstream.base_url,
        api_key=secrets.api_key,
        secret_key=secrets.secret_key,
        timeout=config.upstream.timeout,
        connectivity=connectivity,
        observe=metrics.upstream_call,
        timer=clocks.timer,
    )
    transaction_clock = TransactionClock(clocks.clock)
    rules = RulesBook(storage, upstream, clock=clocks.clock)
    await rules.load()
    app[rules_key] = rules
    pacing = config.pacing
    pacer = Pacer(
        windows=[(pacing.per_second, 1.0), (pacing.per_30_seconds, 30.0)],
        enabled=pacing.enabled,
        pause_seconds=pacing.pause_on_429,
        timer=clocks.timer,
    )
    alarm = Alarm(clocks.clock)
    lanes = Lanes()
    delivery = Delivery(
        outbox=outbox,
        storage=storage,
        upstream=upstream,
        pacer=pacer,
        alarm=alarm,
        transaction_clock=transaction_clock,
        retry_base=config.outbox.retry_base,
        retry_cap=config.outbox.retry_cap,
        refund_wait_attempts=config.outbox.refund_wait_attempts,
        rehold_expired=config.outbox.rehold_expired,
        on_verdict=metrics.delivery,
        clock=clocks.clock,
    )
    replayer = Replayer(
        outbox=outbox,
        delivery=delivery,
        connectivity=connectivity,
        pacer=pacer,
        alarm=alarm,
        lanes=lanes,
        concurrency=config.outbox.concurrency,
        alarm_retry=config.outbox.alarm_retry,
        clock=clocks.clock,
        timer=clocks.timer,
    )
    app[replayer_key] = replayer
    limits = config.limits
    sales = Sales(
        outbox=outbox,
        storage=storage,
        delivery=delivery,
        replayer=replayer,
        lanes=lanes,
        connectivity=connectivity,
        alarm=alarm,
        pacer=pacer,
        merchant=merchant,
        terminal_id=store.terminal_id,
        budget=config.budgets.finalize,
        limits=OfflineLimits(
            max_payment_amount=limits.max_payment_amount,
            max_queued_amount=limits.max_queued_amount,
            max_queued_count=limits.max_queued_count,
            max_offline_age=limits.max_offline_age,
        ),
        spawn=background.spawn,
        clock=clocks.clock,
        timer=clocks.timer,
    )
    app[sales_key] = sales
    app[outbox_view_key] = OutboxView(outbox, on_retry=replayer.wake, clock=clocks.clock)
    app[estimator_key] = Estimator(
        upstream=upstream,
        rules=rules,
        cache=AgedCache(
            maxsize=config.cache.quote_max_entries,
            ttl=config.cache.quote_ttl,
            timer=clocks.timer,
            clock=clocks.clock,
        ),
        budget=config.budgets.estimate,
        merchant=merchant,
        spawn=background.spawn,
    )
    app[holds_key] = Holds(
        storage=storage,
        upstream=upstream,
        transaction_clock=transaction_clock,
        merchant=merchant,
        budget=config.budgets.hold,
        status_budget=config.budgets.hold_status,
        default_ttl=config.holds.default_ttl,
        spawn=background.spawn,
        release=sales.release_orphan,
        clock=clocks.clock,
        timer=clocks.timer,
    )
    app[balances_key] = Balances(
        storage=storage,
        upstream=upstream,
        cache=AgedCache(
            maxsize=config.cache.balance_max_entries,
            ttl=config.cache.balance_ttl,
            timer=clocks.timer,
            clock=clocks.clock,
        ),
        budget=config.budgets.balance,
        clock=clocks.clock,
    )
    app[status_key] = Status(
        connectivity=connectivity,
        rules=rules,
        outbox=outbox,
        storage=storage,
        replayer=replayer,
        alarm=alarm,
        pacer=pacer,
        store={
            "merchantId": store.merchant_id,
            "merchantName": store.merchant_name.strip(),
            "branchId": store.branch_id,
            "branchName": store.branch_name.strip(),
            "terminalId": store.terminal_id,
        },
        clock=clocks.clock,
    )


async def _maintain(storage: Storage, config: Config, clocks: Clocks) -> None:
    """Prune old delivered rows and checkpoint the WAL so the files stay bounded."""
    outbox = Outbox(storage)
    while True:
        await asyncio.sleep(config.outbox.maintenance_interval)
        cutoff = clocks.clock() - config.outbox.retention_days * 86400
        try:
            pruned = await outbox.prune(cutoff)
            await storage.checkpoint()
        except StorageError as exc:
            log.warning("outbox maintenance skipped: %s", exc)
            continue
        if pruned:
            log.info("pruned %d delivered outbox row(s) older than the retention", pruned)


LAST_SUCCESS_KEY = "connectivity:last_success"
FIRST_SEEN_KEY = "connectivity:first_seen"
# How stale the saved "last success" may get: offline age is measured to about this much.
REMEMBER_EVERY = 10.0


async def _restore_connectivity(storage: Storage, connectivity: Connectivity, now: float) -> None:
    saved = await storage.get_value(LAST_SUCCESS_KEY)
    first = await storage.get_value(FIRST_SEEN_KEY)
    if first is None:
        await storage.put_value(FIRST_SEEN_KEY, repr(now).encode(), now)
    connectivity.restore(
        last_success_at=float(saved[0]) if saved else None,
        first_seen_at=float(first[0]) if first else now,
    )


async def _save_connectivity(storage: Storage, connectivity: Connectivity, now: float) -> None:
    if connectivity.last_success_at is not None:
        try:
            value = repr(connectivity.last_success_at).encode()
            await storage.put_value(LAST_SUCCESS_KEY, value, now)
        except StorageError as exc:
            log.warning("last contact with Gameball not saved: %s", exc)


async def _remember_connectivity(
    storage: Storage, connectivity: Connectivity, clocks: Clocks
) -> None:
    """Keep the last success with Gameball on disk (every few seconds, not every call), so the
    offline limits count from it across restarts."""
    saved = connectivity.last_success_at
    while True:
        await asyncio.sleep(1.0)
        latest = connectivity.last_success_at
        if latest is not None and (saved is None or latest - saved >= REMEMBER_EVERY):
            await _save_connectivity(storage, connectivity, clocks.clock())
            saved = latest


async def _keep_rules_fresh(
    rules: RulesBook, connectivity: Connectivity, config: Config, clocks: Clocks
) -> None:
    """Refresh the earning rules periodically; while offline this is also the probe that
    notices Gameball is back."""
    next_refresh = clocks.timer()
    while True:
        due = (
            clocks.timer() >= next_refresh if not connectivity.offline else connectivity.probe_due()
        )
        if due:
            try:
                await rules.refresh()
            except StorageError as exc:
                # Fetched but not saved: the probe still did its job; try saving next time.
                log.warning("earning rules not saved: %s", exc)
            next_refresh = clocks.timer() + config.cache.rules_refresh
        await asyncio.sleep(REFRESH_TICK)


async def serve(app: web.Application, host: str, port: int) -> None:
    """Run until SIGTERM or SIGINT, then stop taking requests and close everything in order.

    Tells systemd READY=1 only once the database is open (startup) and the port listens,
    sends watchdog heartbeats from this event loop (a wedged loop stops them, and systemd
    restarts the service), and STOPPING=1 when asked to stop."""
    notifier = Notifier()
    # In-flight requests get a few seconds: a finalize answers within its budget anyway.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = loop.create_task(notifier.watchdog_loop())
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        log.info("sidecar listening on http://%s:%d", host, port)
        notifier.ready(f"listening on {host}:{port}")
        await stop.wait()
        notifier.stopping()
        log.info("stopping: no new requests, finishing work in progress")
    finally:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
        await runner.cleanup()
        log.info("stopped cleanly")
