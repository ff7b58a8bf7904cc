"""The Pacer on fake time: calls fit every sliding window (kept a little longer than Gameball's:
5%, at most a quarter second), replay fills the longest one evenly, a 429 pauses everyone, and
sending then restarts slowly, doubling its rate each quiet second."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest

from sidecar.delivery.pacing import Pacer
from tests.support.clocks import FakeTime


def pacer(
    fake_time: FakeTime,
    windows: Sequence[tuple[int, float]],
    *,
    enabled: bool = True,
    pause_seconds: float = 30.0,
) -> Pacer:
    return Pacer(
        windows=windows,
        enabled=enabled,
        pause_seconds=pause_seconds,
        restart_rate=1.0,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )


async def send_times(paced: Pacer, fake_time: FakeTime, calls: int) -> list[float]:
    """When each of ``calls`` calls, made one after another, was let through (seconds from
    the start)."""
    start = fake_time.timer()
    times = []
    for _ in range(calls):
        await paced.acquire()
        times.append(round(fake_time.timer() - start, 6))
    return times


def gaps(times: list[float]) -> list[float]:
    return [round(later - earlier, 6) for earlier, later in itertools.pairwise(times)]


async def test_pacer_lets_a_window_fill_then_waits_for_its_oldest_call_to_leave(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(3, 1.0)])

    times = await send_times(paced, fake_time, 7)

    assert times == pytest.approx([0, 0, 0, 1.05, 1.05, 1.05, 2.1])


async def test_pacer_keeps_every_window_the_longer_one_too(fake_time: FakeTime) -> None:
    paced = pacer(fake_time, [(2, 1.0), (3, 30.0)])

    times = await send_times(paced, fake_time, 4)

    # Only three in 30 s, spread at that window's rate (one per 3 s, with its 5% slack) rather
    # than two in the first second; the fourth waits for the first to leave the 30-s window
    # (kept a quarter second longer than Gameball's).
    assert times == pytest.approx([0, 3.15, 6.3, 30.25])


async def test_pacer_fills_a_long_window_evenly_and_a_live_call_still_goes_at_once(
    fake_time: FakeTime,
) -> None:
    paced = Pacer(
        windows=[(30, 1.0), (360, 30.0)],
        live_reserve=0.05,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )

    times = await send_times(paced, fake_time, 342)  # all replay may take of the 30-s window

    # At 30/s the window would be full after 12 s and shut for the next 18; spread out, no
    # 3.15 s holds more than the 30-s window's rate allows and a fifth (342 / 30 * 3 * 1.2).
    assert max(sum(1 for t in times if start <= t < start + 3.15) for start in times) <= 42
    assert times[-1] >= 24.0
    before = fake_time.timer()
    await paced.acquire(live=True, within=0.5)
    assert fake_time.timer() == before  # the live slice is still there, and not smoothed


async def test_pacer_callers_side_by_side_share_the_windows(fake_time: FakeTime) -> None:
    paced = pacer(fake_time, [(2, 1.0)])
    start = fake_time.timer()

    async def one() -> float:
        await paced.acquire()
        return fake_time.timer() - start

    times = await asyncio.gather(*(one() for _ in range(5)))

    assert sorted(times) == pytest.approx([0, 0, 1.05, 1.05, 2.1])


async def test_pacer_disabled_never_waits_for_the_windows(fake_time: FakeTime) -> None:
    paced = pacer(fake_time, [(1, 1.0)], enabled=False)

    times = await send_times(paced, fake_time, 5)

    assert times == [0, 0, 0, 0, 0]
    assert fake_time.slept == []


async def test_pacer_429_pauses_every_sender_for_the_pause(fake_time: FakeTime) -> None:
    paced = pacer(fake_time, [(30, 1.0)], pause_seconds=30.0)
    await paced.acquire()

    paced.rate_limited()
    during = (paced.paused, paced.pause_remaining())
    times = await send_times(paced, fake_time, 1)

    assert during == (True, 30.0)
    assert times == [30.0]
    assert not paced.paused and paced.pause_remaining() == 0.0


async def test_pacer_429_pauses_a_disabled_pacer_too(fake_time: FakeTime) -> None:
    paced = pacer(fake_time, [(30, 1.0)], enabled=False, pause_seconds=5.0)

    paced.rate_limited()

    assert await send_times(paced, fake_time, 1) == [5.0]


async def test_pacer_after_a_429_restarts_at_one_a_second_and_doubles_each_quiet_second(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(8, 1.0)], pause_seconds=30.0)

    paced.rate_limited()
    times = await send_times(paced, fake_time, 9)

    # 1/s, then 2/s, 4/s, and back at the full 8/s after three quiet seconds: the ninth call
    # is held only by the window again, which has room for it.
    assert times[0] == 30.0
    assert gaps(times) == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.0])


async def test_pacer_a_second_429_during_the_restart_pauses_and_starts_slow_again(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(8, 1.0)], pause_seconds=10.0)
    paced.rate_limited()
    await send_times(paced, fake_time, 4)

    paced.rate_limited()
    times = await send_times(paced, fake_time, 3)

    assert times[0] == 10.0
    assert gaps(times) == [1.0, 0.5]
