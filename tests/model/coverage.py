"""What one settled example exercised, counted for the chaos suite's line: acknowledged calls
per kind, coupon locks burned, offline holds and how they ended."""

from __future__ import annotations

from collections import Counter

from .origins import Snapshot
from .reference import Model


def coverage(model: Model, snap: Snapshot) -> Counter[str]:
    counted: Counter[str] = Counter()
    calls = [
        *model.payments.values(),
        *model.refunds.values(),
        *model.points.values(),
        *model.upserts.values(),
    ]
    for call in calls:
        if call.acknowledged:
            counted[call.kind] += 1
    counted["lock_burned"] = sum(1 for lock in snap.locks.values() if lock["state"] == "used")
    counted["provisional"] = len(model.provisional)
    failed = [r for r in snap.outbox if r["outcome"] == "redemption_failed"]
    counted["redemption_failed"] = len(failed)
    counted["reheld"] = sum(1 for r in snap.outbox if r["outcome"] == "reheld")
    counted["spent_elsewhere"] = len(model.elsewhere)
    # How offline holds ended: redeemed at Gameball, or written off (redemption_failed).
    redeemed = {str(e.get("transactionId")) for e in snap.ledger if e["type"] == "Redemption"}
    for held in model.provisional.values():
        ids = (
            [f"redeem-{held.transaction_id}"]
            if held.redeem_now
            else [s.sale_id for s in model.payments.values() if s.hold == held.reference]
        )
        failed = [
            r
            for r in snap.outbox
            if r["outcome"] == "redemption_failed"
            and (
                r["holdReference"] == held.reference
                or r["paymentId"] in ids
                or r["orderId"] in ids
                or r["transactionId"] in ids
            )
        ]
        if any(i in redeemed for i in ids):
            counted["provisional_burned"] += 1
        elif failed:
            counted["provisional_failed"] += 1
    return counted
