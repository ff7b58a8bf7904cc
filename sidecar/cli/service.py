"""The service's commands: ``serve`` (production), ``demo`` (with the built-in simulator),
``check-config``, ``status`` (ask the running service), and ``simulator`` alone."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import aiohttp
import msgspec

from ..app import create_app, serve
from ..config import load_config, redacted_url
from ..credentials import load_secrets
from ..errors import CommandError, ConfigError, StorageError
from ..logs import configure_logging
from ..status import StatusReport
from ..web.statuspage import pacing_text
from .common import EXIT_ATTENTION, EXIT_CONFIG, EXIT_OK, config_option, config_path


def add_commands(sub: Any) -> None:
    serve_cmd = sub.add_parser("serve", help="run the production service")
    config_option(serve_cmd)
    serve_cmd.set_defaults(run=_serve)

    demo = sub.add_parser(
        "demo", help="run the sidecar with a built-in Gameball simulator, no configuration"
    )
    demo.add_argument("--port", type=int, default=8787, help="sidecar port (default 8787)")
    demo.add_argument(
        "--simulator-port", type=int, default=8790, help="simulator port (default 8790)"
    )
    demo.add_argument("--data-dir", default="./var/demo", help="where the database lives")
    demo.set_defaults(run=_demo)

    check = sub.add_parser("check-config", help="validate the configuration and exit")
    config_option(check)
    check.set_defaults(run=_check_config)

    status = sub.add_parser(
        "status",
        help="ask the running service how it is doing (exit 3 if something needs a person)",
        description="Asks the running service (GET /v1/status) and prints a summary. Exit "
        "codes: 0 all well, 1 the service cannot be reached, 2 configuration error, 3 running "
        "but something needs a person.",
    )
    config_option(status)
    status.add_argument("--json", action="store_true", help="print the raw JSON instead")
    status.set_defaults(run=_status)

    simulator = sub.add_parser("simulator", help="run the Gameball simulator alone")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8790, help="API port (default 8790)")
    simulator.add_argument(
        "--control-port", type=int, default=None, help="fault/clock control port (default port+1)"
    )
    simulator.set_defaults(run=_simulator)


def _serve(args: argparse.Namespace) -> int:
    config = load_config(config_path(args), os.environ)
    secrets = load_secrets(config, os.environ)
    if not secrets.api_key or not secrets.secret_key:
        raise ConfigError(
            "Gameball keys missing: set GAMEBALL_API_KEY and GAMEBALL_SECRET_KEY, or their "
            "_FILE variants, or systemd credentials gameball-api-key / gameball-secret-key"
        )
    configure_logging(config.sidecar.log_level)
    try:
        asyncio.run(serve(create_app(config, secrets), config.sidecar.host, config.sidecar.port))
    except StorageError as exc:
        raise CommandError(f"cannot start: {exc}") from None
    return EXIT_OK


def _check_config(args: argparse.Namespace) -> int:
    path = config_path(args)
    config = load_config(path, os.environ)
    secrets = load_secrets(config, os.environ)
    summary = msgspec.to_builtins(config)
    summary["pacing"]["shared_url"] = redacted_url(config.pacing.shared_url)
    summary["secrets"] = {
        "api_key": "set" if secrets.api_key else "MISSING",
        "secret_key": "set" if secrets.secret_key else "MISSING",
    }
    print(f"configuration OK ({path or 'environment only'})")
    print(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode())
    return EXIT_OK if secrets.api_key and secrets.secret_key else EXIT_CONFIG


def _demo(args: argparse.Namespace) -> int:
    from ..demo import PortUnavailable, run_demo

    configure_logging("WARNING")
    try:
        asyncio.run(
            run_demo(
                port=args.port,
                simulator_port=args.simulator_port,
                data_dir=args.data_dir,
                # Only once both listen: a banner for a demo that is not running misleads.
                on_ready=lambda: print(run_demo_banner(args.port), flush=True),
            )
        )
    except PortUnavailable as exc:
        raise CommandError(str(exc)) from None
    except StorageError as exc:
        raise CommandError(f"cannot start: {exc}") from None
    return EXIT_OK


def run_demo_banner(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    return (
        f"gameball-sidecar demo: sidecar on {base}, built-in Gameball simulator beside it.\n"
        f"Try:\n"
        f"  curl -s {base}/v1/estimate-points -H 'Content-Type: application/json' \\\n"
        f'       -d \'{{"customerId": "cust-1001", "totalPaid": 120}}\'\n'
        f"  curl -s {base}/v1/status\n"
        f"Stop with Ctrl-C."
    )


def _status(args: argparse.Namespace) -> int:
    config = load_config(config_path(args), os.environ, require_store=False)
    secrets = load_secrets(config, os.environ)
    host = "127.0.0.1" if config.sidecar.host in ("0.0.0.0", "::") else config.sidecar.host
    url = f"http://{host}:{config.sidecar.port}/v1/status"
    headers = {"Authorization": f"Bearer {secrets.access_token}"} if secrets.access_token else {}
    try:
        raw = asyncio.run(_fetch(url, headers))
        report = msgspec.json.decode(raw, type=StatusReport)
    except (aiohttp.ClientError, TimeoutError, ValueError, msgspec.DecodeError) as exc:
        raise CommandError(
            f"the sidecar does not answer at {url} ({type(exc).__name__}); is it running? "
            "try: systemctl status gameball-sidecar"
        ) from None
    if args.json:
        print(msgspec.json.format(raw, indent=2).decode())
    else:
        print(describe_status(report))
    return EXIT_ATTENTION if report.attention else EXIT_OK


async def _fetch(url: str, headers: dict[str, str]) -> bytes:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, headers=headers) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return await response.read()


def describe_status(report: StatusReport) -> str:
    c, outbox, store = report.connectivity, report.outbox, report.store
    lines = [
        f"gameball-sidecar {report.version} - {store.merchantName or store.merchantId}"
        f" / {store.branchName or store.branchId} / till {store.terminalId}",
        f"  Gameball:       {c.state} since {c.since}"
        + (f" (last problem: {c.lastFailure})" if c.state != "online" else ""),
        f"  Waiting to send: {outbox.queued} (oldest {outbox.oldestQueuedAgeSeconds:.0f} s)",
        f"  Last sync:      {outbox.lastSyncAt or 'never'}",
        f"  Dead letters:   {outbox.deadLetters}   redemption_failed: {outbox.redemptionFailed}",
        f"  Rate budget:    {pacing_text(report.pacing)}",
    ]
    if report.attention:
        lines.append("Needs attention:")
        lines.extend(f"  - {item}" for item in report.attention)
    else:
        lines.append("Nothing needs attention.")
    return "\n".join(lines)


def _simulator(args: argparse.Namespace) -> int:
    from ..simulator import run_simulator

    configure_logging("INFO")
    control = args.control_port if args.control_port is not None else args.port + 1
    run_simulator(host=args.host, port=args.port, control_port=control)
    return EXIT_OK
