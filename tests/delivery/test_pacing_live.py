"""Live calls first, on fake time: a cashier's call takes the next slot ahead of any waiting
replay, has a slice of each window replay may not fill, counts in the windows like any call,
is not spaced by a backoff meant for replay nor spaces it, and never waits past its own
budget: when no slot can come in time (a full window, a 429 pause) it is refused at once,
nothing counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sidecar.delivery.pacing import Pacer, RateBudgetSpent
from tests.support.clocks import FakeTime, SteppedTime


def pacer(
    fake_time: FakeTime,
    windows: Sequence[tuple[int, float]],
    *,
    reserve: float = 0.0,
    aimd: bool = False,
    jitter: float = 0.0,
) -> Pacer:
    return Pacer(
        windows=windows,
        pause_seconds=30.0,
        aimd=aimd,
        live_reserve=reserve,
        reconnect_jitter=jitter,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
        jitter=lambda most: most,  # the longest delay: predictable
    )


async def fill(paced: Pacer, calls: int, *, live: bool = False) -> None:
    for _ in range(calls):
        await paced.acquire(live=live)


async def test_live_call_takes_the_freed_slot_before_a_replay_that_waited_longer() -> None:
    time = SteppedTime()
    paced = Pacer(windows=[(3, 1.0)], timer=time.timer, sleep=time.sleep)
    for _ in range(3):
        await paced.acquire()
    order: list[str] = []

    async def call(name: str, live: bool) -> None:
        await paced.acquire(live=live)
        order.append(name)

    replay = asyncio.ensure_future(call("replay", live=False))
    await asyncio.sleep(0)  # the replay waits for the window first
    live = asyncio.ensure_future(call("live", live=True))
    await time.run(2.0)

    assert replay.done() and live.done()
    assert order == ["live", "replay"]


async def test_live_reserve_is_a_slice_of_each_window_replay_never_fills(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(10, 1.0)], reserve=0.2)
    start = fake_time.timer()
    await fill(paced, 8)

    await fill(paced, 2, live=True)
    live_done = fake_time.timer() - start
    await fill(paced, 1)

    assert live_done == 0.0  # the two live calls found their slots at once
    assert fake_time.timer() - start == pytest.approx(1.05)  # the ninth replay waited


async def test_live_calls_count_in_the_windows_replay_waits_for_them(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(3, 1.0)])
    start = fake_time.timer()

    await fill(paced, 3, live=True)
    await fill(paced, 1)

    assert fake_time.timer() - start == pytest.approx(1.05)


async def test_live_call_is_refused_at_once_when_no_slot_comes_within_its_budget(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(2, 1.0)])
    await fill(paced, 2)

    with pytest.raises(RateBudgetSpent):
        await paced.acquire(live=True, within=0.5)
    refused_at = fake_time.timer()
    await paced.acquire(live=True, within=2.0)

    assert fake_time.slept == [pytest.approx(1.05)]  # no wait at all for the refused one
    assert refused_at == 1_000.0
    assert fake_time.timer() == pytest.approx(1_001.05)  # and it took no slot either


async def test_live_call_waits_for_a_slot_that_comes_within_its_budget(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(2, 1.0)])
    await fill(paced, 2)

    await paced.acquire(live=True, within=1.5)

    assert fake_time.timer() == pytest.approx(1_001.05)


async def test_429_while_a_live_call_waits_refuses_it_instead_of_waiting_out_the_pause(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(2, 1.0)])
    await fill(paced, 2)
    waiting = asyncio.ensure_future(paced.acquire(live=True, within=3.0))
    await asyncio.sleep(0)  # it waits for the window

    paced.rate_limited()  # another call met 429 meanwhile: a 30 s pause

    with pytest.raises(RateBudgetSpent):
        await waiting
    assert fake_time.timer() < 1_003.0  # refused when it woke, not at the end of the pause


async def test_429_with_aimd_pauses_briefly_so_a_waiting_live_call_still_goes(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(30, 1.0)], aimd=True)
    paced.rate_limited()

    await paced.acquire(live=True, within=3.0)

    assert fake_time.timer() == pytest.approx(1_001.0)  # the AIMD pause: 1 s


async def test_live_calls_are_not_spaced_by_the_backoff_replay_keeps_nor_space_it(
    fake_time: FakeTime,
) -> None:
    """Spaced from the cashier's calls too, a store whose cashier sold drained its backlog
    last (a replay slot lost to each sale)."""
    paced = pacer(fake_time, [(8, 1.0)], aimd=True)
    paced.rate_limited()
    fake_time.advance(1.0)  # the pause is over; the rate is cut to 8 * 0.7 = 5.6/s

    before = fake_time.timer()
    await fill(paced, 1)
    fake_time.advance(0.1)
    cashier = fake_time.timer()
    await fill(paced, 3, live=True)
    live_took = fake_time.timer() - cashier
    await fill(paced, 1)

    assert live_took == 0.0
    # Replay's next call: about 1/5.6 s after its own last one (the curve climbs meanwhile),
    # not after the cashier's.
    assert fake_time.timer() - before == pytest.approx(1 / (8 * 0.7), rel=0.01)


async def test_replay_after_a_reconnect_waits_its_jitter_live_calls_do_not(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(30, 1.0)], jitter=5.0)

    paced.reconnected()
    held = paced.replay_held_for()
    await paced.acquire(live=True)
    live_at = fake_time.timer()
    await paced.acquire()

    assert held == 5.0
    assert live_at == 1_000.0
    assert fake_time.timer() == pytest.approx(1_005.0)
    assert paced.replay_held_for() == 0.0


async def test_pacer_reads_only_the_monotonic_timer_so_wall_clock_jumps_change_nothing(
    fake_time: FakeTime,
) -> None:
    paced = pacer(fake_time, [(2, 1.0)])
    await fill(paced, 2)

    fake_time.wall -= 3600  # NTP steps the wall clock back an hour
    await fill(paced, 1)
    fake_time.wall += 7200  # and forward two

    await fill(paced, 2)

    assert fake_time.slept == [pytest.approx(1.05), pytest.approx(1.05)]
