"""The longest window's self-clock on fake time: once a till finds that window full it keeps to
the count of its own calls Gameball holds there, sent evenly, one more as one of its own
leaves; a refused call is not counted; the count grows by probes that come faster while
they go through, and a 429 sets it back; live calls are never held by it; a shared budget
that decides turns it off. And attacks: a 429 of the per-second window must not be taken for
the longest one, and a till that joins a fleet already keeping to a full window still gets
its part."""

from __future__ import annotations

import pytest

from sidecar.delivery import aimd
from sidecar.delivery import selfclock as tuning
from sidecar.delivery.aimd import RateControl
from sidecar.delivery.pacing import Pacer
from sidecar.delivery.selfclock import LongWindow
from tests.support.clocks import FakeTime
from tests.support.delivery import find_the_window_full
from tests.support.fleetmodel import Till, drain


@pytest.fixture(autouse=True)
def round_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cut of 0.9 here, for round numbers (18 of 20)."""
    monkeypatch.setattr(tuning, "CUT", 0.9)


def held_window(fake_time: FakeTime, calls: int, *, every: float = 1.0) -> LongWindow:
    window = LongWindow(30.0)
    for _ in range(calls):
        window.sent(fake_time.timer(), most=360)
        fake_time.advance(every)
    return window


def test_a_full_window_keeps_to_the_calls_gameball_holds_and_sends_as_they_leave(
    fake_time: FakeTime,
) -> None:
    window = held_window(fake_time, 20)  # one a second, the last 1 s ago
    window.full(fake_time.timer())  # keeps to CUT of them: 18

    assert window.cap == pytest.approx(20 * tuning.CUT)
    # Three of its own must leave first: the third, sent 18 s ago, leaves in 12 s.
    assert window.wait(fake_time.timer()) == pytest.approx(12.0)
    fake_time.advance(12.0)
    assert window.wait(fake_time.timer()) == 0.0
    window.sent(fake_time.timer(), most=360)
    # The next waits for the next of its own to leave, and for its even spacing (30 s / 18).
    assert window.wait(fake_time.timer()) == pytest.approx(30.0 / 18)


def test_calls_under_the_count_are_sent_evenly_not_in_a_burst(fake_time: FakeTime) -> None:
    window = held_window(fake_time, 10, every=0.0)  # ten at once
    window.full(fake_time.timer())  # keeps to 9
    fake_time.advance(30.0)  # all ten have left

    assert window.wait(fake_time.timer()) == 0.0
    window.sent(fake_time.timer(), most=360)
    assert window.wait(fake_time.timer()) == pytest.approx(30.0 / 9)


def test_a_refused_call_is_not_counted_in_the_window(fake_time: FakeTime) -> None:
    window = held_window(fake_time, 10)
    window.sent(fake_time.timer(), most=360)
    window.refused(fake_time.timer())

    window.full(fake_time.timer())

    assert window.cap == pytest.approx(10 * tuning.CUT)  # not 11 * CUT


def keep_sending(window: LongWindow, fake_time: FakeTime, seconds: float) -> None:
    """One call every 2 s for ``seconds``, the last at the end: a till at work, not idle."""
    end = fake_time.timer() + seconds
    while fake_time.timer() + 2.0 < end:
        fake_time.advance(2.0)
        window.sent(fake_time.timer(), most=360)
    fake_time.advance(end - fake_time.timer())
    window.sent(fake_time.timer(), most=360)


def test_probes_grow_the_count_faster_while_they_go_through_and_a_429_sets_it_back(
    fake_time: FakeTime,
) -> None:
    window = held_window(fake_time, 10, every=2.0)
    window.full(fake_time.timer())
    assert window.cap == pytest.approx(9.0)

    keep_sending(window, fake_time, tuning.PROBE_SECONDS)
    assert window.cap == pytest.approx(10.0)
    keep_sending(window, fake_time, tuning.PROBE_SECONDS / 2)
    assert window.cap == pytest.approx(12.0)  # twice the step after half as long

    window.refused(fake_time.timer())  # that one met a 429
    window.full(fake_time.timer())
    set_back = window.cap
    assert set_back is not None
    assert set_back == pytest.approx(tuning.CUT * 16)  # what Gameball holds: 16 of its own
    keep_sending(window, fake_time, tuning.PROBE_SECONDS / 2)
    assert window.cap == set_back  # steps of one again, after a whole PROBE_SECONDS
    keep_sending(window, fake_time, tuning.PROBE_SECONDS / 2)
    assert window.cap == pytest.approx(set_back + 1)


def test_a_cap_from_before_an_idle_spell_is_dropped(fake_time: FakeTime) -> None:
    """Capped, then no call for longer than the window (an idle till): the next backlog on an
    empty account is not held to a count of an hour ago."""
    window = held_window(fake_time, 10, every=2.0)
    window.full(fake_time.timer())
    fake_time.advance(3600.0)

    assert window.wait(fake_time.timer()) == 0.0
    window.sent(fake_time.timer(), most=360)
    assert not window.capped


def test_a_till_none_of_whose_calls_are_held_tries_once_per_even_spacing(
    fake_time: FakeTime,
) -> None:
    """The others fill the window and this till's own calls have left it: each 429 must not
    be followed by another at once (it was: 685 429s a minute)."""
    window = held_window(fake_time, 10, every=2.0)
    window.full(fake_time.timer())
    fake_time.advance(31.0)
    tries = 0
    start = fake_time.timer()
    while fake_time.timer() - start < 60.0:
        fake_time.advance(max(window.wait(fake_time.timer()), 0.001))
        window.sent(fake_time.timer(), most=360)
        window.refused(fake_time.timer())
        window.full(fake_time.timer())
        tries += 1

    assert tries <= 3  # cap 1: one try per 30 s


def test_a_till_left_alone_takes_its_whole_share_within_three_probe_periods(
    fake_time: FakeTime,
) -> None:
    window = held_window(fake_time, 10, every=2.0)
    window.full(fake_time.timer())
    start = fake_time.timer()
    while window.capped and fake_time.timer() - start < 10 * tuning.PROBE_SECONDS:
        fake_time.advance(max(window.wait(fake_time.timer()), 0.01))
        window.sent(fake_time.timer(), most=360)

    assert not window.capped
    assert fake_time.timer() - start <= 3 * tuning.PROBE_SECONDS


def rates(fake_time: FakeTime) -> RateControl:
    return RateControl(
        ceiling=12.0, aimd=True, pause_seconds=30.0, long_span=30.0, timer=fake_time.timer
    )


def clocked(
    fake_time: FakeTime,
    control: RateControl,
    *,
    clocked: bool = True,
    retry_after: float | None = None,
) -> None:
    """20 calls accepted, then a 429, and the first call after the pause refused too (with
    ``retry_after``, Gameball's word on it)."""
    for _ in range(20):
        control.sent(fake_time.timer())
        fake_time.advance(0.5)
    control.sent(fake_time.timer())
    control.rate_limited(clocked=clocked)  # a 429: is it the per-second window or the 30-s one?
    fake_time.advance(1.0)  # the pause
    control.sent(fake_time.timer())
    control.rate_limited(retry_after, clocked=clocked)  # refused again: the 30-s one is full


def test_the_first_call_after_the_pause_refused_keeps_to_the_window_and_cuts_no_deeper(
    fake_time: FakeTime,
) -> None:
    control = rates(fake_time)
    clocked(fake_time, control)

    # The cut of the first 429 is undone and no second one comes: the window alone spaces
    # replay now (18 of its calls per 30 s, as /v1/status shows), and no doubled pause.
    assert control.rate() == pytest.approx(18 / 30)
    assert control.paused_until <= fake_time.timer()
    # 20 of its calls are held (sent from 11 s ago, one each 0.5 s); it keeps to 18, so the
    # next goes when the third of them leaves, 30 s after it was sent.
    assert control.spacing_wait(fake_time.timer(), fake_time.timer()) == pytest.approx(20.0)


def test_a_429_of_the_per_second_window_is_not_taken_for_the_longest_one(
    fake_time: FakeTime,
) -> None:
    control = rates(fake_time)
    control.sent(fake_time.timer())
    control.rate_limited()
    fake_time.advance(1.0)
    control.sent(fake_time.timer())  # the first after the pause goes through

    fake_time.advance(1.0)
    control.sent(fake_time.timer())
    control.rate_limited()  # a later 429, not the look right after a pause

    assert control.spacing_wait(fake_time.timer(), -1e9) == 0.0  # no window kept to


def test_on_a_healthy_shared_budget_a_429_never_starts_the_self_clock(
    fake_time: FakeTime,
) -> None:
    control = rates(fake_time)
    clocked(fake_time, control, clocked=False)

    fake_time.advance(5.0)
    assert control.spacing_wait(fake_time.timer(), -1e9) == 0.0


def test_a_higher_ceiling_releases_the_count(fake_time: FakeTime) -> None:
    control = rates(fake_time)
    clocked(fake_time, control)
    assert control.spacing_wait(fake_time.timer(), -1e9) > 0

    control.set_ceiling(30.0)  # e.g. the shared budget in Redis answers again

    assert control.spacing_wait(fake_time.timer(), -1e9) == 0.0


async def test_a_till_joining_a_fleet_that_keeps_to_a_full_window_gets_its_part() -> None:
    """Four tills have filled the account's window and keep to it; a fifth reconnects a
    minute later with the same backlog: it must not be held to the one call it found room
    for while the others keep theirs."""
    tills = [Till(backlog=400) for _ in range(4)] + [Till(backlog=400, starts_at=60.0)]
    result = await drain(tills)

    late = result.tills[-1]
    early = result.tills[:-1]
    assert result.drained
    # In the two minutes after it joined, it got at least half of an even part.
    assert late.accepted_between(60.0, 180.0) >= 0.5 * min(
        t.accepted_between(60.0, 180.0) for t in early
    )


def test_a_cashiers_429_does_not_cut_what_replay_keeps_to(fake_time: FakeTime) -> None:
    control = rates(fake_time)
    clocked(fake_time, control)
    kept = control.rate()

    for _ in range(3):  # three live calls find the window full
        fake_time.advance(2.0)
        control.sent(fake_time.timer())
        control.rate_limited(live=True)

    assert control.rate() == pytest.approx(kept)


def test_gameballs_retry_after_holds_while_keeping_to_the_window(fake_time: FakeTime) -> None:
    """Gameball says when to come back: a till keeping to the window (or finding it full on
    the first call after the pause) waits that long too, as every other till does."""
    control = rates(fake_time)
    clocked(fake_time, control, retry_after=20.0)  # on the first call after the pause
    first = control.paused_until - fake_time.timer()
    fake_time.advance(30.0)
    control.sent(fake_time.timer())
    control.rate_limited(retry_after=20.0)  # while keeping to the window

    assert first == pytest.approx(20.0)
    assert control.paused_until - fake_time.timer() == pytest.approx(20.0)


def test_a_cashiers_429_while_keeping_to_the_window_still_pauses_briefly(
    fake_time: FakeTime,
) -> None:
    """Replay's count stays, but a redeem in doubt retried at once met 429 after 429 (64 in
    3 s): the short pause holds for live calls as it does without the self-clock."""
    control = rates(fake_time)
    clocked(fake_time, control)
    cap = control.rate()
    control.sent(fake_time.timer())
    control.rate_limited(live=True)

    assert control.rate() == cap
    assert control.paused_until - fake_time.timer() == pytest.approx(aimd.AIMD_PAUSE)


async def test_with_pacing_off_no_count_is_kept_or_shown(fake_time: FakeTime) -> None:
    pacer = Pacer(
        windows=[(30, 1.0), (360, 30.0)],
        enabled=False,
        aimd=True,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )
    await find_the_window_full(pacer, fake_time)  # would start the self-clock
    fake_time.advance(31.0)
    rate, ceiling = pacer.rate()

    assert rate == ceiling  # /v1/status shows no rate nothing keeps to


def test_replay_is_never_sent_faster_than_its_ceiling_once_nothing_else_spaces_it(
    fake_time: FakeTime,
) -> None:
    """A till whose count grew past its share was left unspaced: 25 calls in 0.2 s into the
    account's per-second window, and the 429 it left set another till back."""
    control = rates(fake_time)  # ceiling 12/s; no 429 yet, no slow start
    control.sent(fake_time.timer())

    assert control.spacing_wait(fake_time.timer(), fake_time.timer()) == pytest.approx(1 / 12)


def test_a_cashiers_calls_are_not_counted_in_what_replay_keeps_to(fake_time: FakeTime) -> None:
    """Live calls go ahead of replay and out of the live reserve every till leaves; counted in
    replay's count, a store with a cashier selling drained its backlog last, alone, with the
    rest of the window left empty (the fleet run's slowest store was always one of those)."""
    control = rates(fake_time)
    clocked(fake_time, control)
    fake_time.advance(30.0)  # all of its own have left the window
    control.sent(fake_time.timer())  # replay
    spacing = control.spacing_wait(fake_time.timer(), fake_time.timer())
    for _ in range(30):  # the cashier's calls, some refused
        control.sent(fake_time.timer(), live=True)
        control.rate_limited(live=True)
        control.sent(fake_time.timer(), live=True)

    assert control.spacing_wait(fake_time.timer(), fake_time.timer()) == pytest.approx(spacing)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_stores_with_a_cashier_selling_finish_their_backlog_with_the_others(
    seed: int,
) -> None:
    """The quick fleet run's shape (5 stores x 80, two selling live): the selling stores
    finished 40% after the others, the last alone on a window left nearly empty."""
    tills = [Till(backlog=80, sells=n < 2) for n in range(5)]
    result = await drain(tills, seed=seed)

    assert result.drained
    assert sum(t.live_sales for t in tills[:2]) > 20
    selling = max(t.done_at or 0.0 for t in tills[:2])
    others = max(t.done_at or 0.0 for t in tills[2:])
    assert selling <= 1.2 * others
