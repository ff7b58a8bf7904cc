"""AIMD on fake time: a 429 halves the rate (once for the calls that met it together), each
clean second adds 1/60 of the ceiling back up to the ceiling, never below a floor; Retry-After
is honoured in both modes. And a fleet of pacers on one account (the simulator's limiter, on
one stepped clock): AIMD shares the budget fairly where the static pause lets one till starve
the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sidecar.delivery.aimd import RateControl
from sidecar.delivery.pacing import Pacer
from sidecar.simulator.ratelimit import SlidingWindowLimiter
from tests.support.clocks import FakeTime, SteppedTime


def control(fake_time: FakeTime, *, aimd: bool = True, ceiling: float = 12.0) -> RateControl:
    return RateControl(ceiling=ceiling, aimd=aimd, pause_seconds=30.0, timer=fake_time.timer)


def test_aimd_429_halves_the_rate_and_pauses_a_second(fake_time: FakeTime) -> None:
    rates = control(fake_time)

    rates.rate_limited()

    assert rates.rate() == 6.0
    assert rates.paused_until == fake_time.timer() + 1.0


def test_aimd_429s_of_one_burst_halve_once(fake_time: FakeTime) -> None:
    rates = control(fake_time)

    for _ in range(4):  # the four calls in flight when the budget ran out
        rates.rate_limited()
        fake_time.advance(0.1)

    assert rates.rate() == 6.0


def test_aimd_each_clean_second_adds_a_sixtieth_of_the_ceiling_up_to_it(
    fake_time: FakeTime,
) -> None:
    rates = control(fake_time)
    rates.rate_limited()
    fake_time.advance(1.0)  # the pause

    fake_time.advance(10.0)
    after_ten = rates.rate()
    fake_time.advance(100.0)

    assert after_ten == pytest.approx(6.0 + 10 * 12.0 / 60)
    assert rates.rate() == 12.0


def test_aimd_never_goes_below_its_floor(fake_time: FakeTime) -> None:
    rates = control(fake_time)

    for _ in range(20):
        rates.rate_limited()
        fake_time.advance(1.0)

    assert rates.rate() == pytest.approx(12.0 / 64)


def test_retry_after_is_honoured_in_both_modes(fake_time: FakeTime) -> None:
    aimd, static = control(fake_time), control(fake_time, aimd=False)

    aimd.rate_limited(retry_after=7.0)
    static.rate_limited(retry_after=45.0)

    assert aimd.paused_until == fake_time.timer() + 7.0
    assert static.paused_until == fake_time.timer() + 45.0  # longer than pause_on_429


def test_a_lower_ceiling_caps_the_rate_at_once(fake_time: FakeTime) -> None:
    rates = control(fake_time)
    rates.rate_limited()
    fake_time.advance(60.0)

    rates.set_ceiling(3.0)

    assert rates.rate() == 3.0


async def fleet(
    aimd: bool, shares: Sequence[float], seconds: float = 300.0
) -> tuple[list[int], int]:
    """Replay as fast as each pacer lets it, every till on one account: what each got in, and
    how many 429s they met in all."""
    time = SteppedTime()
    account = SlidingWindowLimiter(per_second=30, per_30s=360, timer=time.timer)
    accepted = [0] * len(shares)
    refused = [0]

    async def till(i: int, paced: Pacer) -> None:
        while True:
            await paced.acquire()
            if account.admit():
                accepted[i] += 1
            else:
                refused[0] += 1
                paced.rate_limited()

    tills = [
        asyncio.ensure_future(
            till(
                i,
                Pacer(
                    windows=[(30, 1.0), (360, 30.0)],
                    aimd=aimd,
                    local_share=share,
                    live_reserve=0.1,
                    timer=time.timer,
                    sleep=time.sleep,
                ),
            )
        )
        for i, share in enumerate(shares)
    ]
    await time.run(seconds)
    for task in tills:
        task.cancel()
    await asyncio.gather(*tills, return_exceptions=True)
    return accepted, refused[0]


@pytest.mark.parametrize("shares", [[1.0] * 4, [0.5] * 4])
async def test_fleet_with_aimd_shares_the_account_where_static_starves_tills(
    shares: list[float],
) -> None:
    static, _ = await fleet(False, shares)
    aimd, _ = await fleet(True, shares)

    # Static: whichever till restarts first after the pause takes the budget again.
    assert min(static) < 0.1 * max(static)
    # AIMD: every till drains its backlog, and the account is used at least as well.
    assert min(aimd) > 0.5 * max(aimd)
    assert sum(aimd) >= sum(static)
    assert sum(aimd) <= 360 * 300 / 30 + 360  # never over the account's budget


async def test_fleet_of_two_tills_with_different_local_shares_settles_with_aimd() -> None:
    static, _ = await fleet(False, [0.5, 1.0])
    aimd, refused = await fleet(True, [0.5, 1.0])

    assert sum(aimd) > sum(static)
    assert min(aimd) > 0.5 * max(aimd)
    assert refused < 0.02 * sum(aimd)  # 429s stay rare once they have settled


async def test_fleet_on_shares_that_add_up_to_the_budget_meets_no_429() -> None:
    accepted, refused = await fleet(True, [0.25] * 4)

    assert refused == 0
    assert min(accepted) == max(accepted)  # even
    assert sum(accepted) >= 0.85 * 360 * 300 / 30  # the 5% margin and the live reserve aside
