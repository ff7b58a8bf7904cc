"""Wiring and lifecycles: ``create_app`` builds the web app, whose cleanup contexts open the
database, then the Gameball session and the background scheduler, then the components and
their chores, and close them in reverse; ``serve`` runs it the way systemd expects."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import aiojobs
from aiohttp import web

from . import housekeeping
from .clocks import REAL, Clocks
from .components import Components, assemble, connectivity_for
from .config import Config, url_passwords
from .credentials import Secrets
from .errors import SealError, StorageError
from .gameball.connectivity import Connectivity
from .logs import redactor
from .sdnotify import Notifier
from .store.database import Database
from .store.outbox import Outbox
from .store.sealing import Sealer
from .web import keys
from .web.edge import error_middleware, max_body_key
from .web.metrics import Metrics
from .web.ops import ops_routes
from .web.routes import routes
from .web.security import cors_middleware, security_middleware

log = logging.getLogger(__name__)

connectivity_key = web.AppKey("connectivity", Connectivity)
components_key = web.AppKey("components", Components)


def create_app(config: Config, secrets: Secrets, *, clocks: Clocks = REAL) -> web.Application:
    metrics = Metrics()
    for secret in (secrets.api_key, secrets.secret_key, secrets.access_token):
        redactor.add_secret(secret)
    for password in url_passwords(config.pacing.shared_url):
        redactor.add_secret(password)
    sidecar = config.sidecar
    app = web.Application(
        # Outermost first: CORS wraps the error middleware, so error answers carry its headers.
        middlewares=[
            metrics.middleware(),
            cors_middleware(sidecar.cors_origins),
            error_middleware,
            security_middleware(secrets.access_token, sidecar.cors_origins, sidecar.allowed_hosts),
        ],
        client_max_size=sidecar.max_body_bytes,
    )
    app[keys.metrics_key] = metrics
    app[max_body_key] = sidecar.max_body_bytes
    app.add_routes(routes)
    app.add_routes(ops_routes)
    # Made before the database opens, so a test can watch it from the first call.
    app[connectivity_key] = connectivity_for(config, clocks)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        database = await _open_database(config, secrets)
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(
                        total=config.upstream.timeout, connect=config.upstream.connect_timeout
                    ),
                    raise_for_status=False,
                ) as session,
                aiojobs.Scheduler(
                    limit=None, close_timeout=sidecar.stop_grace, exception_handler=_job_failed
                ) as scheduler,
            ):
                parts = assemble(
                    config,
                    secrets,
                    database=database,
                    session=session,
                    scheduler=scheduler,
                    connectivity=app[connectivity_key],
                    metrics=metrics,
                    clocks=clocks,
                )
                async with _running(app, parts, config, scheduler, clocks):
                    yield
        finally:
            await database.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _open_database(config: Config, secrets: Secrets) -> Database:
    database = await Database.open(
        config.data_path, max_bytes=int(config.sidecar.max_db_mb * 1024 * 1024)
    )
    try:
        await Outbox(database, Sealer(secrets.encryption_key)).check_key()
    except SealError as exc:
        await database.close()
        raise StorageError(
            f"{exc}; give the sidecar the key it was started with "
            "(SIDECAR_ENCRYPTION_KEY or the credential sidecar-encryption-key)"
        ) from None
    return database


@asynccontextmanager
async def _running(
    app: web.Application,
    parts: Components,
    config: Config,
    scheduler: aiojobs.Scheduler,
    clocks: Clocks,
) -> AsyncIterator[None]:
    """Start the components and their chores; on the way out let deliveries in flight finish
    (bounded by ``sidecar.stop_grace``), then stop everything else."""
    await housekeeping.restore_connectivity(parts.database, parts.connectivity, clocks.clock())
    requeued = await parts.outbox.requeue_inflight(clocks.clock())
    if requeued:
        log.info("%d outbox item(s) were in flight at the last stop; queued again", requeued)
    await parts.rules.load()
    await parts.holds.resume()
    _expose(app, parts)
    loop = asyncio.get_running_loop()
    chores = [
        loop.create_task(parts.dispatcher.run()),
        loop.create_task(
            housekeeping.keep_rules_fresh(
                parts.rules, parts.connectivity, every=config.cache.rules_refresh, clocks=clocks
            )
        ),
        loop.create_task(
            housekeeping.maintain(
                parts.outbox,
                parts.database,
                retention=config.outbox.retention_days * 86400,
                every=config.outbox.maintenance_interval,
                clocks=clocks,
            )
        ),
        loop.create_task(
            housekeeping.remember_connectivity(parts.database, parts.connectivity, clocks)
        ),
    ]
    parts.status.accepting = True
    yield
    parts.status.accepting = False
    grace = config.sidecar.stop_grace
    await asyncio.gather(parts.dispatcher.stop(grace), scheduler.wait_and_close(grace))
    await housekeeping.cancel(*chores)
    await parts.pacer.close()
    await housekeeping.save_connectivity(parts.database, parts.connectivity, clocks.clock())


def _expose(app: web.Application, parts: Components) -> None:
    """What the handlers use, under the keys the web layer defines."""
    app[components_key] = parts
    app[keys.sales_key] = parts.sales
    app[keys.points_key] = parts.points
    app[keys.customers_key] = parts.customers
    app[keys.coupons_key] = parts.coupons
    app[keys.holds_key] = parts.holds
    app[keys.estimator_key] = parts.estimator
    app[keys.balances_key] = parts.balances
    app[keys.history_key] = parts.history
    app[keys.outbox_view_key] = parts.view
    app[keys.status_key] = parts.status


def _job_failed(scheduler: aiojobs.Scheduler, context: dict[str, Any]) -> None:
    log.error(
        "background work failed: %s", context.get("message"), exc_info=context.get("exception")
    )


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
