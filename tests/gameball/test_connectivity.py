"""Whether Gameball is reachable: the circuit breaker on fake time (threshold, unknown to
online or offline, one probe at backed-off intervals, listeners told of recovery), and how
long the terminal has been offline, which a restart does not reset."""

from __future__ import annotations

import time

import aiohttp
import pytest

from sidecar import housekeeping
from sidecar.clocks import Clocks
from sidecar.errors import GameballUnreachable
from sidecar.gameball.client import UpstreamClient
from sidecar.gameball.connectivity import Connectivity
from sidecar.simulator import SimulatorServer
from sidecar.store.database import Database
from tests.support.clients import API_KEY, SECRET_KEY, finalize, payment, status
from tests.support.clocks import FakeTime
from tests.support.fixtures import MakeConfig, MakeSidecar


def breaker(fake_time: FakeTime, *, threshold: int = 3) -> Connectivity:
    return Connectivity(
        failure_threshold=threshold,
        probe_initial=1.0,
        probe_max=8.0,
        timer=fake_time.timer,
        clock=fake_time.clock,
    )


def fail(connectivity: Connectivity, times: int) -> None:
    for _ in range(times):
        connectivity.record_failure("connection refused")


def probe_intervals(connectivity: Connectivity, fake_time: FakeTime, probes: int) -> list[float]:
    """How long each failed probe waited for its turn, one probe after another."""
    waited = []
    for _ in range(probes):
        wait = connectivity.seconds_to_next_probe()
        fake_time.advance(wait)
        assert connectivity.allow(), "the probe's turn came but it was not let through"
        assert not connectivity.allow(), "a second call went out beside the probe"
        connectivity.record_failure("still refused", probe=True)
        waited.append(wait)
    return waited


def test_connectivity_starts_unknown_and_lets_calls_out(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time)

    allowed = connectivity.allow()

    assert connectivity.state == "unknown" and allowed
    assert not connectivity.online and not connectivity.offline


def test_connectivity_first_answer_makes_it_online_and_tells_the_listeners(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time)
    told: list[str] = []
    connectivity.on_recovery(lambda: told.append(connectivity.state))

    connectivity.record_success()
    connectivity.record_success()

    assert connectivity.state == "online" and connectivity.offline_for() == 0.0
    assert told == ["online"]  # once, on the change
    assert connectivity.last_success_at == fake_time.wall


def test_connectivity_opens_at_the_threshold_not_before(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time, threshold=3)
    connectivity.record_success()

    fail(connectivity, 2)
    before = (connectivity.state, connectivity.allow())
    fail(connectivity, 1)

    assert before == ("online", True)
    assert connectivity.state == "offline" and connectivity.last_failure == "connection refused"
    assert not connectivity.allow()


def test_connectivity_unknown_goes_offline_when_gameball_never_answered(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time, threshold=2)

    fail(connectivity, 2)

    assert connectivity.state == "offline"


def test_connectivity_a_success_starts_the_count_again(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time, threshold=3)

    fail(connectivity, 2)
    connectivity.record_success()
    fail(connectivity, 2)

    assert connectivity.state == "online"


def test_connectivity_offline_lets_one_probe_through_at_backed_off_intervals(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time)
    fail(connectivity, 3)

    waited = probe_intervals(connectivity, fake_time, 6)

    assert waited == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, capped at probe_max


def test_connectivity_a_late_failure_while_the_probe_is_out_lets_no_second_probe_through(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time)
    fail(connectivity, 3)
    fake_time.advance(1.0)
    probe = connectivity.allow()

    # A call from before the outage (a long upstream timeout) fails only now.
    connectivity.record_failure("timed out, sent before the circuit opened")
    fake_time.advance(60)
    second = connectivity.allow()
    connectivity.record_failure("the probe is refused too", probe=True)

    assert probe and not second
    assert connectivity.seconds_to_next_probe() == 2.0  # the probe's own failure backs off


async def test_connectivity_the_clients_probe_is_the_one_that_backs_off(
    fake_time: FakeTime, simulator: SimulatorServer
) -> None:
    connectivity = breaker(fake_time)
    fail(connectivity, 3)
    fake_time.advance(1.0)
    await simulator.set_down(True)
    async with aiohttp.ClientSession() as session:
        upstream = UpstreamClient(
            session,
            base_url=simulator.base_url,
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            timeout=5.0,
            connectivity=connectivity,
        )

        with pytest.raises(GameballUnreachable):
            await upstream.call("GET", "/integrations/configurations/redemption", dict)
        waiting = connectivity.seconds_to_next_probe()
        with pytest.raises(GameballUnreachable, match="waiting for the next probe"):
            await upstream.call("GET", "/integrations/configurations/redemption", dict)

    assert waiting == 2.0 and connectivity.offline


def test_connectivity_no_probe_before_its_time(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time)
    fail(connectivity, 3)

    fake_time.advance(0.9)

    assert not connectivity.probe_due() and not connectivity.allow()
    assert connectivity.seconds_to_next_probe() == pytest.approx(0.1)


def test_connectivity_probe_answered_closes_the_circuit_and_tells_the_listeners(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time)
    connectivity.record_success()
    fail(connectivity, 3)
    recovered: list[bool] = []
    connectivity.on_recovery(lambda: recovered.append(True))
    fake_time.advance(1.0)

    probe = connectivity.allow()
    connectivity.record_success()

    assert probe and connectivity.state == "online" and recovered == [True]
    assert connectivity.allow() and connectivity.allow()  # every call goes out again


def test_connectivity_a_new_outage_probes_quickly_again(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time)
    fail(connectivity, 3)
    probe_intervals(connectivity, fake_time, 4)
    fake_time.advance(connectivity.seconds_to_next_probe())
    connectivity.allow()
    connectivity.record_success()

    fail(connectivity, 3)

    assert connectivity.seconds_to_next_probe() == 1.0


def test_connectivity_offline_for_counts_from_the_last_success(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time)
    connectivity.record_success()
    answered_at = fake_time.wall
    fake_time.advance(60)
    fail(connectivity, 3)

    fake_time.advance(240)

    assert connectivity.offline_for() == fake_time.wall - answered_at == 300


def test_connectivity_offline_for_counts_from_the_first_start_if_never_answered(
    fake_time: FakeTime,
) -> None:
    connectivity = breaker(fake_time)
    fake_time.advance(90)

    assert connectivity.offline_for() == 90  # unknown is not online: the age counts


async def test_connectivity_offline_for_survives_a_restart_through_the_database(
    fake_time: FakeTime, database: Database
) -> None:
    first_run = breaker(fake_time)
    await housekeeping.restore_connectivity(database, first_run, fake_time.wall)
    first_run.record_success()
    answered_at = fake_time.wall
    fake_time.advance(30)
    await housekeeping.save_connectivity(database, first_run, fake_time.wall)
    fake_time.advance(3600)  # stopped for an hour, Gameball unreachable since

    second_run = breaker(fake_time)
    await housekeeping.restore_connectivity(database, second_run, fake_time.wall)

    assert second_run.state == "unknown"
    assert second_run.last_success_at == answered_at
    assert second_run.offline_for() == fake_time.wall - answered_at


async def test_connectivity_never_answered_counts_from_the_first_start_ever(
    fake_time: FakeTime, database: Database
) -> None:
    first_seen = fake_time.wall
    await housekeeping.restore_connectivity(database, breaker(fake_time), first_seen)
    fake_time.advance(500)

    restarted = breaker(fake_time)
    await housekeeping.restore_connectivity(database, restarted, fake_time.wall)

    assert restarted.offline_for() == 500


def test_connectivity_restore_keeps_a_success_of_this_run(fake_time: FakeTime) -> None:
    connectivity = breaker(fake_time)
    connectivity.record_success()
    this_run = fake_time.wall

    connectivity.restore(last_success_at=this_run - 7200, first_seen_at=this_run - 9000)

    assert connectivity.last_success_at == this_run and connectivity.offline_for() == 0.0


# Regression: the offline clock restarted with the process.


async def test_offline_age_counts_from_the_last_success_across_restarts(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    wall = FakeTime(wall=time.time())
    clocks = Clocks(clock=wall.clock)
    config = make_config(SIDECAR_LIMITS_MAX_OFFLINE_AGE="600")
    first = await make_sidecar(config, clocks=clocks)
    assert (await finalize(first, payment("cust-1001", "age-1")))[0] == 200
    await first.close()
    await simulator.set_down(True)
    wall.advance(3600)

    second = await make_sidecar(config, clocks=clocks)
    right_after_start = (await status(second))["connectivity"]
    code, body = await finalize(second, payment("cust-1001", "age-2"))

    assert right_after_start["state"] in ("unknown", "offline")
    assert right_after_start["lastSuccessAt"] is not None
    assert code == 503 and body["error"]["code"] == "OFFLINE_TOO_LONG"


async def test_state_is_unknown_until_gameball_first_answers(
    make_sidecar: MakeSidecar, simulator: SimulatorServer
) -> None:
    simulator.sim.set_fault("blackhole")
    sidecar = await make_sidecar()

    connectivity = (await status(sidecar))["connectivity"]
    simulator.sim.clear_faults()

    assert connectivity["state"] == "unknown" and connectivity["lastSuccessAt"] is None
