"""The kinds of stored call the model sends, each with its local path, the field that carries
its id (in the POS's body and in the outbox listing alike) and its documented operation; and
how an outbox row is found again by that id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .contract import CASHBACK, FINALIZE, FINALIZE_ORDER, MANUAL, REFUND


@dataclass(frozen=True)
class Kind:
    path: str
    id_field: str
    operation: tuple[str, str]
    # A body with the same id but another request, for the idempotency rule.
    changed: dict[str, Any]


KINDS = {
    "payment": Kind("/v1/finalize-payment", "paymentId", FINALIZE, {"totalDiscount": 1}),
    "order": Kind("/v1/finalize-order", "orderId", FINALIZE_ORDER, {"totalDiscount": 1}),
    "refund": Kind("/v1/refund", "refundId", REFUND, {}),
    "cashback": Kind("/v1/finalize-cashback", "transactionId", CASHBACK, {"amount": 99.5}),
    "manual": Kind("/v1/manual-points", "transactionId", MANUAL, {"reason": "changed mind"}),
}
# What earns at Gameball under its own id and may burn a hold (and, orders, a coupon lock).
SALES = ("payment", "order")
# Kinds whose call writes ledger rows under the POS's id, kept in order per customer.
LEDGER_KINDS = ("payment", "order", "cashback", "manual")


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    kind = row["kind"]
    if kind in KINDS:
        return kind, str(row[KINDS[kind].id_field])
    if kind == "redeem":
        return kind, str(row["transactionId"])
    if kind == "coupon_release":
        return kind, str(row["lockReference"])
    if kind == "customer":
        return kind, str(row["id"])  # an upsert has no id of its own: each body is a row
    return kind, str(row["holdReference"])


def reversed_field(kind: str) -> str:
    """The refund's field naming what it reverses."""
    return "orderId" if kind == "order" else "paymentId"
