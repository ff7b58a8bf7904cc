"""Builds the sidecar's components from the configuration, each from plain values: the only
place that reads ``Config`` beside the app's lifecycles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import aiojobs

from .checkout.balances import Balances
from .checkout.cache import AgedCache
from .checkout.coupons import Coupons
from .checkout.customers import Customers
from .checkout.estimates import Estimator
from .checkout.history import History
from .checkout.holds import HoldBudgets, Holds
from .checkout.inspection import OutboxView
from .checkout.points import Points
from .checkout.provisional import Caps, OfflineRedemption
from .checkout.queueing import OfflineLimits, Submitter
from .checkout.renewal import HoldRenewal
from .checkout.rules import RulesBook
from .checkout.sales import Sales, Store
from .clocks import Clocks
from .config import Config
from .credentials import Secrets
from .delivery.alarm import Alarm
from .delivery.dispatcher import Dispatcher
from .delivery.pacing import Pacer
from .delivery.sender import Sender
from .delivery.shared import SharedBudget, account_of
from .gameball.client import UpstreamClient
from .gameball.connectivity import Connectivity
from .gameball.wire import GbBranch, GbMerchant
from .status import Status, StoreIdentity
from .store.couponbook import CouponBook
from .store.database import Database
from .store.holdbook import HoldBook
from .store.outbox import Outbox
from .store.sealing import Sealer
from .timefmt import TransactionClock
from .web.metrics import Metrics


@dataclass(frozen=True, kw_only=True)
class Components:
    database: Database
    outbox: Outbox
    upstream: UpstreamClient
    connectivity: Connectivity
    rules: RulesBook
    pacer: Pacer
    alarm: Alarm
    dispatcher: Dispatcher
    sales: Sales
    points: Points
    customers: Customers
    coupons: Coupons
    holds: Holds
    estimator: Estimator
    balances: Balances
    history: History
    view: OutboxView
    status: Status


def connectivity_for(config: Config, clocks: Clocks) -> Connectivity:
    return Connectivity(
        failure_threshold=config.connectivity.failure_threshold,
        probe_initial=config.connectivity.probe_initial,
        probe_max=config.connectivity.probe_max,
        timer=clocks.timer,
        clock=clocks.clock,
    )


def assemble(
    config: Config,
    secrets: Secrets,
    *,
    database: Database,
    session: aiohttp.ClientSession,
    scheduler: aiojobs.Scheduler,
    connectivity: Connectivity,
    metrics: Metrics,
    clocks: Clocks,
) -> Components:
    store = config.store
    merchant = GbMerchant(
        uniqueId=store.merchant_id,
        name=store.merchant_name.strip() or None,
        branch=GbBranch(uniqueId=store.branch_id, name=store.branch_name.strip() or None),
    )
    outbox = Outbox(database, Sealer(secrets.encryption_key))
    book = HoldBook(database)
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
    rules = RulesBook(database, upstream, clock=clocks.clock)
    pacing = config.pacing
    shared = None
    if pacing.shared_url and pacing.enabled:
        shared = SharedBudget(
            url=pacing.shared_url,
            account=account_of(secrets.api_key),
            timeout=pacing.shared_timeout,
        )
    pacer = Pacer(
        windows=[(pacing.per_second, 1.0), (pacing.per_30_seconds, 30.0)],
        enabled=pacing.enabled,
        pause_seconds=pacing.pause_on_429,
        aimd=pacing.aimd,
        local_share=pacing.local_share,
        live_reserve=pacing.live_reserve,
        reconnect_jitter=pacing.reconnect_jitter_seconds,
        shared=shared,
        timer=clocks.timer,
    )
    alarm = Alarm(clocks.clock)
    sender = Sender(
        outbox=outbox,
        upstream=upstream,
        pacer=pacer,
        alarm=alarm,
        holds=HoldRenewal(
            book=book,
            upstream=upstream,
            pacer=pacer,
            transaction_clock=transaction_clock,
            rehold_expired=config.outbox.rehold_expired,
        ),
        retry_base=config.outbox.retry_base,
        retry_cap=config.outbox.retry_cap,
        refund_wait_attempts=config.outbox.refund_wait_attempts,
        on_verdict=metrics.delivery,
        clock=clocks.clock,
    )
    dispatcher = Dispatcher(
        outbox=outbox,
        sender=sender,
        connectivity=connectivity,
        pacer=pacer,
        alarm=alarm,
        scheduler=scheduler,
        concurrency=config.outbox.concurrency,
        alarm_retry=config.outbox.alarm_retry,
        clock=clocks.clock,
        timer=clocks.timer,
    )
    limits = config.limits
    budgets = config.budgets
    cache = config.cache
    balances = Balances(
        database=database,
        upstream=upstream,
        cache=customer_cache(config, clocks),
        budget=budgets.balance,
        book=book,
        spawn=scheduler.spawn,
        clock=clocks.clock,
        sleep=clocks.sleep,
    )
    dispatcher.on_delivered(balances.delivered)
    history = History(
        database=database,
        outbox=outbox,
        upstream=upstream,
        cache=customer_cache(config, clocks),
        budget=budgets.balance,
        clock=clocks.clock,
    )
    dispatcher.on_delivered(history.delivered)
    spend = config.offline_redemption
    offline = (
        OfflineRedemption(
            caps=Caps(
                max_points_per_checkout=spend.max_points_per_checkout,
                max_share_of_balance=spend.max_share_of_balance,
                max_balance_age=spend.max_balance_age,
                max_points_per_customer_per_day=spend.max_points_per_customer_per_day,
                max_points_per_terminal_per_day=spend.max_points_per_terminal_per_day,
            ),
            book=book,
            last_balance=balances.last_known,
            dispatcher=dispatcher,
            merchant=merchant,
            hold_ttl=config.holds.default_ttl,
            clock=clocks.clock,
        )
        if spend.enabled
        else None
    )
    submitter = Submitter(
        dispatcher=dispatcher,
        connectivity=connectivity,
        limits=OfflineLimits(
            max_payment_amount=limits.max_payment_amount,
            max_queued_amount=limits.max_queued_amount,
            max_queued_count=limits.max_queued_count,
            max_offline_age=limits.max_offline_age,
        ),
        budget=budgets.finalize,
        clocks=clocks,
    )
    return Components(
        database=database,
        outbox=outbox,
        upstream=upstream,
        connectivity=connectivity,
        rules=rules,
        pacer=pacer,
        alarm=alarm,
        dispatcher=dispatcher,
        sales=Sales(
            outbox=outbox,
            submitter=submitter,
            store=Store(merchant=merchant, terminal_id=store.terminal_id),
        ),
        points=Points(submitter=submitter, merchant=merchant),
        customers=Customers(submitter=submitter, outbox=outbox),
        coupons=Coupons(
            book=CouponBook(database),
            upstream=upstream,
            submitter=submitter,
            budget=budgets.hold,
            spawn=scheduler.spawn,
        ),
        history=history,
        holds=Holds(
            book=book,
            upstream=upstream,
            dispatcher=dispatcher,
            pacer=pacer,
            transaction_clock=transaction_clock,
            merchant=merchant,
            budgets=HoldBudgets(
                hold=budgets.hold, status=budgets.hold_status, release=budgets.finalize
            ),
            default_ttl=config.holds.default_ttl,
            spawn=scheduler.spawn,
            offline=offline,
            clocks=clocks,
        ),
        estimator=Estimator(
            upstream=upstream,
            rules=rules,
            cache=AgedCache(
                maxsize=cache.quote_max_entries,
                ttl=cache.quote_ttl,
                timer=clocks.timer,
                clock=clocks.clock,
            ),
            budget=budgets.estimate,
            merchant=merchant,
            spawn=scheduler.spawn,
        ),
        balances=balances,
        view=OutboxView(outbox, on_retry=dispatcher.wake, clock=clocks.clock),
        status=Status(
            connectivity=connectivity,
            rules=rules,
            outbox=outbox,
            database=database,
            dispatcher=dispatcher,
            alarm=alarm,
            pacer=pacer,
            store=StoreIdentity(
                merchantId=store.merchant_id,
                merchantName=store.merchant_name.strip() or None,
                branchId=store.branch_id,
                branchName=store.branch_name.strip() or None,
                terminalId=store.terminal_id,
            ),
            book=book,
            offline_redemption=spend.enabled,
            clock=clocks.clock,
        ),
    )


def customer_cache(config: Config, clocks: Clocks) -> AgedCache[str, Any]:
    """A short cache of what Gameball said about one customer (balance, history pages)."""
    return AgedCache(
        maxsize=config.cache.balance_max_entries,
        ttl=config.cache.balance_ttl,
        timer=clocks.timer,
        clock=clocks.clock,
    )
