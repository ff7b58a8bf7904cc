"""How the simulator writes its clock's instants: Gameball's two time formats."""

from __future__ import annotations

from datetime import UTC, datetime

DAY_SECONDS = 86_400


def naive_iso(timestamp: float) -> str:
    """Gameball's hold time format: UTC, microseconds, no offset (2024-10-16T08:11:24.675401)."""
    moment = datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def utc_iso(timestamp: float) -> str:
    """An RFC 3339 UTC time with milliseconds (2024-10-16T08:11:24.675Z), where the spec asks
    for a date-time."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
