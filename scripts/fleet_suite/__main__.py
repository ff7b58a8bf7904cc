"""A fleet of real sidecars on one Gameball account, reconnected all at once after an outage
with a backlog each; prints one line per pacing mode and exits 1 if a target is missed (with
``--targets-advisory`` only if a sale was lost or duplicated, a request left Gameball's spec, a
mode failed or a sidecar did not stop cleanly: the speed figures are then reported, as a
benchmark's are, not a gate).

Usage: scripts/fleet [--stores 20] [--backlog 100] [--tills 3] [--modes redis,aimd,static]
       [--quick] [--targets-advisory] [--jitter S] [--local-share X] [--keep]
(python -m scripts.fleet_suite, from the repository root)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp

from .modes import BY_NAME, JITTER_ENV, LOCAL_SHARE_ENV, MODES, product_defaults, supported
from .run import Outcome, Plan, run_mode
from .services import RedisProcess, RedisUnavailable, SimulatorProcess
from .wan import DelayRelay

QUICK = {"stores": 5, "backlog": 80, "tills": 2}
# Static pacing has no target (it is the baseline) and drains at a fraction of the budget:
# the quick run leaves it out.
QUICK_MODES = "redis,aimd"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/fleet", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--stores", type=int, help="sidecar processes (default 20; quick 5)")
    parser.add_argument("--backlog", type=int, help="sales queued offline per store (default 100)")
    parser.add_argument("--tills", type=int, help="live tills selling during the drain (default 3)")
    parser.add_argument(
        "--modes",
        help=f"comma-separated, any of {', '.join(BY_NAME)} (default: all; quick: {QUICK_MODES})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="5 stores x 80 sales, redis and aimd: for CI"
    )
    parser.add_argument(
        "--targets-advisory",
        action="store_true",
        help="exit 1 only for lost/duplicated sales, spec violations or failures (CI)",
    )
    parser.add_argument("--jitter", type=float, help=f"{JITTER_ENV} for every sidecar")
    parser.add_argument("--local-share", type=float, help=f"{LOCAL_SHARE_ENV} for every sidecar")
    parser.add_argument(
        "--wan-ms",
        type=float,
        default=0.0,
        help="round trip added between the stores and Gameball/Redis, in ms (default 0)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other setting for every sidecar, e.g. SIDECAR_PACING_SHARED_TIMEOUT=0.5",
    )
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    args = parser.parse_args(argv)
    if args.modes is None:
        args.modes = QUICK_MODES if args.quick else ",".join(mode.name for mode in MODES)
    if any("=" not in setting for setting in args.env):
        parser.error("--env takes NAME=VALUE")
    unknown = [m for m in args.modes.split(",") if m not in BY_NAME]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    defaults = QUICK if args.quick else {"stores": 20, "backlog": 100, "tills": 3}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def plan_of(args: argparse.Namespace) -> Plan:
    extra = {}
    if args.jitter is not None:
        extra[JITTER_ENV] = str(args.jitter)
    if args.local_share is not None:
        extra[LOCAL_SHARE_ENV] = str(args.local_share)
    for setting in args.env:
        name, _, value = setting.partition("=")
        extra[name] = value
    return Plan(
        stores=args.stores,
        backlog=args.backlog,
        tills=args.tills,
        seed=args.seed,
        env=product_defaults() | extra,
        wan_rtt_s=args.wan_ms / 1000,
        extra=extra,
    )


async def run(args: argparse.Namespace, root: Path) -> list[Outcome] | None:
    plan = plan_of(args)
    asked = args.jitter is not None or args.local_share is not None
    if asked and not supported(("reconnect_jitter_seconds", "local_share")):
        print("fleet: --jitter/--local-share need the pacing settings this sidecar lacks")
        return None
    print(
        f"fleet: {plan.stores} stores x {plan.backlog} sales queued offline, {plan.tills} live"
        f" tills, one simulator (30/s and 360/30 s account-wide), WAN round trip"
        f" {args.wan_ms:g} ms, files in {root}",
        flush=True,
    )
    results: list[Outcome] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        simulator = SimulatorProcess(root / "simulator.log")
        await simulator.start(session)
        relay = DelayRelay(simulator.port, plan.wan_rtt_s) if plan.wan_rtt_s else None
        gameball_url = simulator.base_url
        try:
            if relay is not None:
                await relay.start()
                gameball_url = f"http://127.0.0.1:{relay.port}/api/v4.0"
            for name in args.modes.split(","):
                results.append(await one_mode(name, plan, simulator, session, root, gameball_url))
        finally:
            if relay is not None:
                await relay.stop()
            simulator.stop()
    return results


async def one_mode(
    name: str,
    plan: Plan,
    simulator: SimulatorProcess,
    session: aiohttp.ClientSession,
    root: Path,
    gameball_url: str,
) -> Outcome:
    mode = BY_NAME[name]
    if mode.missing:
        envs = ", ".join(f"SIDECAR_PACING_{field.upper()}" for field in mode.missing)
        print(f"fleet: mode={name} unsupported: this sidecar has no {envs} yet", flush=True)
        return Outcome(mode, plan, problems=[f"unsupported: no {envs}"])
    redis: RedisProcess | None = None
    redis_relay: DelayRelay | None = None
    try:
        redis_url = None
        if name == "redis":
            redis = RedisProcess(root / "redis.log")
            await asyncio.to_thread(redis.start)
            redis_url = redis.url
            if plan.wan_rtt_s:
                redis_relay = DelayRelay(redis.port, plan.wan_rtt_s)
                await redis_relay.start()
                redis_url = f"redis://127.0.0.1:{redis_relay.port}/0"
        outcome = await run_mode(
            mode,
            plan,
            simulator,
            session,
            root,
            gameball_url=gameball_url,
            redis_url=redis_url,
            redis_pid=redis.process.pid if redis and redis.process else None,
        )
    except RedisUnavailable as exc:
        outcome = Outcome(mode, plan, problems=[str(exc)])
    finally:
        if redis_relay is not None:
            await redis_relay.stop()
        if redis is not None:
            redis.stop()
    for line in outcome.lines():
        print(line, flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    root = Path(tempfile.mkdtemp(prefix="fleet-"))
    try:
        outcomes = asyncio.run(run(args, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if outcomes is None:
        return 1
    sound = all(outcome.sound for outcome in outcomes)
    met = sound and all(outcome.ok for outcome in outcomes)
    if met:
        print("fleet: all targets met")
    elif sound and args.targets_advisory:
        print("fleet: a speed target was missed (advisory here); every sale landed exactly once")
    else:
        print("fleet: a target was missed or a mode failed")
    return 0 if met or (sound and args.targets_advisory) else 1


if __name__ == "__main__":
    sys.exit(main())
