"""Gameball's paths under the base URL (``/api/v4.0`` is part of the base), and ids made into
exactly one path segment whatever they hold."""

from __future__ import annotations

import re
from urllib.parse import quote

QUOTE_PATH = "/integrations/payments/cashback"
PAYMENTS_PATH = "/integrations/payments"
HOLD_PATH = "/integrations/transactions/hold"
REDEEM_PATH = "/integrations/transactions/redeem"
REFUND_PATH = "/integrations/transactions/refund"
RULES_PATH = "/integrations/configurations/cashback"
ORDERS_PATH = "/integrations/orders"
ORDER_QUOTE_PATH = "/integrations/orders/cashback"
CASHBACK_PATH = "/integrations/transactions/cashback"
MANUAL_PATH = "/integrations/transactions/manual"
TRANSACTIONS_PATH = "/integrations/transactions"
CUSTOMERS_PATH = "/integrations/customers"
COUPONS_VALIDATE_PATH = "/integrations/coupons/validate"

HOLD_ITEM_PATH = HOLD_PATH + "/{holdReference}"
BALANCE_PATH = "/integrations/customers/{customerId}/balance"
COUPON_LOCK_PATH = "/integrations/coupons/{lockReference}"
# The paths that carry an id, as templates: failure texts and metrics name these, never an id.
ID_PATHS = (HOLD_ITEM_PATH, BALANCE_PATH, COUPON_LOCK_PATH)
_ID_PATH_PATTERNS = [
    (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(t)) + "$"), t) for t in ID_PATHS
]


def segment(value: str) -> str:
    """One path segment whatever ``value`` holds: every byte but letters, digits and ``-_~``
    percent-encoded, dots too, so ``.`` or ``..`` can never become a dot segment. The URL is
    then sent as encoded (see ``UpstreamClient.url``), so nothing decodes or normalises it."""
    return quote(value, safe="", errors="surrogatepass").replace(".", "%2E")


def hold_path(reference: str) -> str:
    return HOLD_ITEM_PATH.format(holdReference=segment(reference))


def balance_path(customer_id: str) -> str:
    return BALANCE_PATH.format(customerId=segment(customer_id))


def coupon_lock_path(lock_reference: str) -> str:
    return COUPON_LOCK_PATH.format(lockReference=segment(lock_reference))


def path_template(path: str) -> str:
    """``/integrations/customers/{customerId}/balance`` for any customer's balance path."""
    for pattern, template in _ID_PATH_PATTERNS:
        if pattern.match(path):
            return template
    return path
