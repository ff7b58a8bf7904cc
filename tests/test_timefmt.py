"""Timestamps as Gameball reads them, and the per-customer TransactionClock on a fake clock:
never the same millisecond twice for one customer (Gameball answers 9003), even when the
clock stands still or steps back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sidecar.timefmt import TransactionClock, iso_ms, parse_gameball_time
from tests.support.clocks import FakeTime

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(NOON + 0.0719) == "2026-11-21T12:00:00.071Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T12:00:00", NOON),  # Gameball's dateToExpire: no zone, and it is UTC
        ("2026-11-21T12:00:00Z", NOON),
        ("2026-11-21T14:00:00+02:00", NOON),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_gameball_time_reads_a_missing_zone_as_utc(
    text: str | None, expected: float | None
) -> None:
    assert parse_gameball_time(text) == expected


def test_transaction_clock_gives_one_customer_a_new_millisecond_each_time(
    fake_time: FakeTime,
) -> None:
    fake_time.wall = NOON
    clock = TransactionClock(fake_time.clock)

    stamps = [clock.next("cust-1") for _ in range(3)]

    assert stamps == [
        "2026-11-21T12:00:00.000Z",
        "2026-11-21T12:00:00.001Z",
        "2026-11-21T12:00:00.002Z",
    ]


def test_transaction_clock_keeps_customers_apart(fake_time: FakeTime) -> None:
    fake_time.wall = NOON
    clock = TransactionClock(fake_time.clock)

    first, other, again = clock.next("cust-1"), clock.next("cust-2"), clock.next("cust-1")

    assert first == other == "2026-11-21T12:00:00.000Z"
    assert again == "2026-11-21T12:00:00.001Z"


def test_transaction_clock_follows_the_clock_once_it_has_moved_on(fake_time: FakeTime) -> None:
    fake_time.wall = NOON
    clock = TransactionClock(fake_time.clock)
    clock.next("cust-1")
    clock.next("cust-1")

    fake_time.advance(1.5)

    assert clock.next("cust-1") == "2026-11-21T12:00:01.500Z"


def test_transaction_clock_never_goes_back_when_the_clock_does(fake_time: FakeTime) -> None:
    fake_time.wall = NOON
    clock = TransactionClock(fake_time.clock)
    before = clock.next("cust-1")

    fake_time.wall = NOON - 5  # NTP steps the clock back
    after = clock.next("cust-1")

    assert after > before and after == "2026-11-21T12:00:00.001Z"


def test_transaction_clock_forgets_only_the_least_recent_customers(fake_time: FakeTime) -> None:
    fake_time.wall = NOON
    clock = TransactionClock(fake_time.clock, remembered=2)
    clock.next("cust-1")
    clock.next("cust-2")
    clock.next("cust-1")  # cust-1 is recent again
    clock.next("cust-3")  # cust-2 is forgotten

    assert clock.next("cust-1") == "2026-11-21T12:00:00.002Z"
    assert clock.next("cust-2") == "2026-11-21T12:00:00.000Z"
