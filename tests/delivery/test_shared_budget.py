"""The budget a fleet shares, against a real redis-server: every sidecar of an account takes
from one set of windows (keyed by a digest of the API key, never the key), live calls keep
their slice there too, and Redis's clock decides, not the tills'. Redis slow, killed or
emptied mid-run: the sidecar paces on its local share at once, says so, and goes back to the
shared budget when Redis answers again. Windows of an hour: nothing here depends on speed."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from sidecar.delivery.pacing import Pacer, RateBudgetSpent
from sidecar.delivery.shared import SharedBudget, account_of
from tests.support.clocks import FakeTime
from tests.support.delivery import find_the_window_full
from tests.support.processes import free_port
from tests.support.redis import RedisServer
from tests.support.waits import wait_until

API_KEY = "fleet-api-key-0123456789"
HOUR = [(5, 4, 3600.0)]  # live may fill 5, replay 4, in an hour


def budget(server: RedisServer, api_key: str = API_KEY, timeout: float = 0.3) -> SharedBudget:
    # A longer timeout than production's 50 ms: a loaded CI machine must not fake a slow Redis.
    return SharedBudget(
        url=server.url, account=account_of(api_key), timeout=timeout, retry_every=0.02
    )


def paced(
    shared: SharedBudget, fake_time: FakeTime, *, local_share: float = 1.0, limit: int = 5
) -> Pacer:
    return Pacer(
        windows=[(limit, 3600.0)],
        aimd=True,
        local_share=local_share,
        live_reserve=0.2,
        shared=shared,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )


async def takes(shared: SharedBudget, n: int, *, live: bool = False) -> list[float | None]:
    return [await shared.take(live=live, limits=HOUR) for _ in range(n)]


async def test_two_sidecars_of_one_account_take_from_one_budget(
    redis_server: RedisServer,
) -> None:
    first, second = budget(redis_server), budget(redis_server)
    try:
        granted = [*await takes(first, 2), *await takes(second, 2)]
        replay_refused = await takes(first, 1)
        live = [*await takes(second, 1, live=True), *await takes(first, 1, live=True)]
    finally:
        await first.close()
        await second.close()

    assert granted == [0.0, 0.0, 0.0, 0.0]
    wait = replay_refused[0]
    assert wait is not None and 3000 < wait <= 3600 * 1.0  # until the first call leaves
    assert live[0] == 0.0  # the live slice: replay could not take it
    assert live[1] is not None and live[1] > 0  # and then the window is full for all


async def test_the_budget_is_keyed_by_account_never_by_the_key_itself(
    redis_server: RedisServer,
) -> None:
    ours, theirs = budget(redis_server), budget(redis_server, api_key="another-account-key-987")
    client = Redis.from_url(redis_server.url)
    try:
        await takes(ours, 4)
        others = await takes(theirs, 1)
        names = [k.decode() if isinstance(k, bytes) else k for k in await client.keys("*")]
    finally:
        await ours.close()
        await theirs.close()
        await client.aclose()

    assert others == [0.0]  # another account's budget is its own
    assert len(names) == 4  # per account: its window, and each sidecar's own count in it
    assert all(API_KEY not in name and "another-account" not in name for name in names)
    assert any(account_of(API_KEY) in name for name in names)


async def test_tills_whose_clocks_disagree_by_hours_share_one_budget(
    redis_server: RedisServer,
) -> None:
    early, late = FakeTime(monotonic=1_000.0), FakeTime(monotonic=1_000.0 + 10 * 3600)
    first, second = budget(redis_server), budget(redis_server)
    one, other = paced(first, early), paced(second, late)
    try:
        for pacer in (one, other, one, other):
            await pacer.acquire()
        await one.acquire(live=True, within=60)  # the live slice: one left ...
        with pytest.raises(RateBudgetSpent):
            await other.acquire(live=True, within=60)  # ... and the window full for both
    finally:
        await one.close()
        await other.close()

    assert one.shared_budget == other.shared_budget == "redis"


async def test_an_entry_from_the_future_does_not_hold_the_budget_shut(
    redis_server: RedisServer,
) -> None:
    shared = budget(redis_server)
    client = Redis.from_url(redis_server.url)
    try:
        await takes(shared, 1)
        keys = sorted(await client.keys("*"), key=len)
        seconds, micros = await client.time()
        future = (seconds + 86400) * 1000 + micros // 1000  # as if Redis's clock stepped back
        for key in keys:  # the account's window, and this sidecar's own count in it
            await client.zadd(key, {f"from-the-future-{i}": future for i in range(5)})
        after = await takes(shared, 1)
    finally:
        await shared.close()
        await client.aclose()

    assert after == [0.0]


async def test_redis_losing_its_data_starts_a_fresh_count_on_the_shared_budget(
    redis_server: RedisServer,
) -> None:
    shared = budget(redis_server)
    client = Redis.from_url(redis_server.url)
    try:
        full = [*await takes(shared, 4), *await takes(shared, 1)]
        await client.flushall()
        fresh = await takes(shared, 1)
    finally:
        await shared.close()
        await client.aclose()

    assert full[:4] == [0.0] * 4 and (full[4] or 0) > 0
    assert fresh == [0.0] and shared.state == "redis"


async def test_redis_killed_mid_run_falls_back_to_the_local_share_then_comes_back(
    redis_server: RedisServer, fake_time: FakeTime
) -> None:
    shared = budget(redis_server)
    pacer = paced(shared, fake_time, local_share=0.4, limit=5)  # local: 2 of the 5
    try:
        await pacer.acquire()
        before = (pacer.shared_budget, pacer.rate()[1])
        redis_server.kill()

        await pacer.acquire(live=True, within=1.0)  # the second local slot, at once
        during = (pacer.shared_budget, pacer.rate()[1], shared.fallbacks)
        with pytest.raises(RateBudgetSpent):
            await pacer.acquire(live=True, within=1.0)  # the local share is spent
        await redis_server.start()  # Redis is back, empty
        await wait_until(lambda: pacer.shared_budget == "redis", within=10)
        await pacer.acquire(live=True, within=1.0)
    finally:
        await pacer.close()

    assert before[0] == "redis" and before[1] == pytest.approx(5 / 3600)
    assert during[0] == "fallback" and during[1] == pytest.approx(2 / 3600) and during[2] == 1
    assert pacer.rate()[1] == pytest.approx(5 / 3600)  # the whole budget again, from Redis


async def test_redis_answering_slowly_counts_as_down_and_the_live_call_goes_at_once(
    redis_server: RedisServer, fake_time: FakeTime
) -> None:
    shared = budget(redis_server, timeout=0.1)
    pacer = paced(shared, fake_time, local_share=1.0)
    client = Redis.from_url(redis_server.url)
    try:
        await pacer.acquire()
        await client.client_pause(1500)  # Redis stalls 1.5 s: every client waits

        await pacer.acquire(live=True, within=1.0)
        during = pacer.shared_budget
        await wait_until(lambda: pacer.shared_budget == "redis", within=10)
    finally:
        await pacer.close()
        await client.aclose()

    assert during == "fallback"
    assert fake_time.slept == []  # no wait: the local share had room


async def test_redis_down_from_the_start_never_blocks_a_call(fake_time: FakeTime) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    shared = SharedBudget(url=nobody, account=account_of(API_KEY), timeout=0.3)
    pacer = paced(shared, fake_time)
    try:
        await asyncio.wait_for(pacer.acquire(live=True, within=1.0), timeout=5)
    finally:
        await pacer.close()

    assert pacer.shared_budget == "fallback"


async def test_replay_is_fair_while_other_sidecars_wait_live_calls_are_not_held_back(
    redis_server: RedisServer,
) -> None:
    """The first to reconnect may not drain its backlog while the others wait: with another
    sidecar refused lately, each may fill only its part of the replay limit, though the
    account's window has room; its cashiers' calls are not held back."""
    limits = [(10, 8, 3600.0)]  # live may fill 10, replay 8, in an hour
    shared = budget(redis_server)
    client = Redis.from_url(redis_server.url)
    try:
        alone = [await shared.take(live=False, limits=limits) for _ in range(5)]
        names = [k.decode() if isinstance(k, bytes) else str(k) for k in await client.keys("*")]
        assert not [name for name in names if name.endswith(":waiting")]  # nobody refused
        account_window = min(names, key=len)
        seconds, micros = await client.time()
        await client.zadd(
            account_window.rsplit(":", 1)[0] + ":waiting",
            {"another-sidecar": seconds * 1000 + micros // 1000},  # refused just now
        )
        held = await shared.take(live=False, limits=limits)
        live = await shared.take(live=True, limits=limits)
    finally:
        await shared.close()
        await client.aclose()

    assert alone == [0.0] * 5  # alone it took what it found
    assert held is not None and held > 0  # 5 of its own > 8 / 2, though 3 slots are free
    assert live == 0.0


async def test_on_a_healthy_shared_budget_replay_starts_at_once_after_a_reconnect(
    redis_server: RedisServer, fake_time: FakeTime
) -> None:
    """The jitter and AIMD's slow start are for a fleet with no coordinator; the shared budget
    spaces every till and shares each window among those waiting already."""
    shared = budget(redis_server)
    pacer = Pacer(
        windows=[(5, 3600.0)],
        aimd=True,
        reconnect_jitter=30.0,
        shared=shared,
        jitter=lambda longest: longest,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )
    try:
        pacer.reconnected()
        held = pacer.replay_held_for()
        fake_time.advance(30.0)
        rate, ceiling = pacer.rate()
    finally:
        await pacer.close()

    assert held == 0.0
    assert rate == ceiling


async def test_on_a_fallen_back_shared_budget_replay_is_jittered_and_starts_slowly(
    fake_time: FakeTime,
) -> None:
    """Redis down at the reconnect: nothing spaces the fleet but each till itself."""
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    shared = SharedBudget(url=nobody, account=account_of(API_KEY), timeout=0.3)
    pacer = Pacer(
        windows=[(5, 3600.0)],
        aimd=True,
        reconnect_jitter=30.0,
        shared=shared,
        jitter=lambda longest: longest,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )
    try:
        await pacer.acquire(live=True, within=1.0)  # finds Redis down
        pacer.reconnected()
        held = pacer.replay_held_for()
        fake_time.advance(30.0)
        rate, ceiling = pacer.rate()
    finally:
        await pacer.close()

    assert pacer.shared_budget == "fallback"
    assert held == 30.0
    assert rate < ceiling


async def test_redis_back_releases_a_count_kept_while_it_was_away(
    redis_server: RedisServer, fake_time: FakeTime
) -> None:
    """With the default local share (1.0) the ceiling does not change when Redis comes back;
    a count the till kept to in Gameball's 30-s window meanwhile held replay for 90 s after."""
    shared = budget(redis_server)
    pacer = Pacer(
        windows=[(30, 1.0), (360, 30.0)],
        aimd=True,
        shared=shared,
        timer=fake_time.timer,
        sleep=fake_time.sleep,
    )
    try:
        redis_server.kill()
        await pacer.acquire(live=True, within=1.0)  # finds Redis down
        await find_the_window_full(pacer, fake_time)  # keep to this till's calls in it
        kept = pacer.rate()
        await redis_server.start()
        await wait_until(lambda: pacer.shared_budget == "redis", within=10)
        back = pacer.rate()
    finally:
        await pacer.close()

    assert kept[0] < kept[1]
    assert back[0] == back[1]
