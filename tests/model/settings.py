"""The world's fixed facts: the customers and coupons Gameball starts with, the sidecar's
settings for the model (short budgets, so faults and drains take fractions of a second), and
how long the POS and the drain may wait."""

from __future__ import annotations

import os

from sidecar.simulator.coupons import CouponSpec

CUSTOMERS = ("cust-a", "cust-b", "cust-c")
# Shoppers Gameball has never seen, registered at the till before their first sale.
NEWCOMERS = ("new-x", "new-y")
SEED_POINTS = 1000
COUPONS = (
    CouponSpec(code="FIVE", type="fixed", value=5),
    CouponSpec(code="ONCE", type="fixed", value=3, limit_per_customer=1),
)
# Short budgets and probe intervals so that faults and drains take fractions of a second.
MAX_PAYMENT_OFFLINE = 500.0
SIDECAR_ENV = {
    "SIDECAR_BUDGETS_FINALIZE": "0.3",
    "SIDECAR_BUDGETS_HOLD": "0.6",
    "SIDECAR_BUDGETS_HOLD_STATUS": "0.3",
    "SIDECAR_BUDGETS_BALANCE": "0.3",
    "SIDECAR_BUDGETS_ESTIMATE": "0.3",
    "SIDECAR_CONNECTIVITY_PROBE_INITIAL": "0.05",
    "SIDECAR_CONNECTIVITY_PROBE_MAX": "0.3",
    # Replay at once after a reconnect: the model waits for it in bounded time.
    "SIDECAR_PACING_RECONNECT_JITTER_SECONDS": "0",
    "SIDECAR_OUTBOX_RETRY_BASE": "0.05",
    "SIDECAR_OUTBOX_RETRY_CAP": "0.4",
    # A refund whose payment never comes here gives up after this many tries (a few seconds).
    "SIDECAR_OUTBOX_REFUND_WAIT_ATTEMPTS": "4",
    "SIDECAR_UPSTREAM_TIMEOUT": "2",
    "SIDECAR_UPSTREAM_CONNECT_TIMEOUT": "1",
    "SIDECAR_PACING_ENABLED": "false",
    "SIDECAR_LIMITS_MAX_PAYMENT_AMOUNT": str(MAX_PAYMENT_OFFLINE),
    "SIDECAR_SIDECAR_STOP_GRACE": "0.5",
}
# Above every budget, below the upstream timeout: the POS gives up, replay gets through.
SLOW_SECONDS = 0.8
# The cashier must have an answer by then, whatever Gameball does.
POS_TIMEOUT = 5.0
# Once healed, every queue must be empty within this. With the short retry and probe settings
# above a healthy drain takes a second or two; a wedge stays a wedge, so exploring by hand may
# shorten it further (MODEL_DRAIN_WITHIN=5) to make shrinking faster.
DRAIN_WITHIN = float(os.environ.get("MODEL_DRAIN_WITHIN") or 10.0)
