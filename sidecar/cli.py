"""The ``gameball-sidecar`` command: subcommands, exit codes, and the only place that prints."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec

from . import errors
from .app import create_app, serve
from .config import ConfigError, load_config, load_secrets
from .inspection import OutboxView
from .logs import configure_logging
from .outbox import Outbox
from .sealing import Sealer, SealError
from .storage import DB_NAME, Storage, StorageError

T = TypeVar("T")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_ATTENTION = 0, 1, 2, 3
DEFAULT_CONFIG = Path("/etc/gameball-sidecar/sidecar.toml")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except ConfigError as exc:
        print(f"gameball-sidecar: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CommandError as exc:
        print(f"gameball-sidecar: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameball-sidecar",
        description="Gameball loyalty for the POS checkout, online or offline.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve_cmd = sub.add_parser("serve", help="run the production service")
    _config_option(serve_cmd)
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
    _config_option(check)
    check.set_defaults(run=_check_config)

    status = sub.add_parser(
        "status",
        help="ask the running service how it is doing (exit 3 if something needs a person)",
        description="Asks the running service (GET /v1/status) and prints a summary. Exit "
        "codes: 0 all well, 1 the service cannot be reached, 2 configuration error, 3 running "
        "but something needs a person.",
    )
    _config_option(status)
    status.add_argument("--json", action="store_true", help="print the raw JSON instead")
    status.set_defaults(run=_status)

    outbox = sub.add_parser(
        "outbox",
        help="inspect and act on queued and failed calls (works with the service stopped too)",
        description="Reads the sidecar's database directly, so it works whether or not the "
        "service is running.",
    )
    _config_option(outbox)
    actions = outbox.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list items, oldest first")
    listing.add_argument("--state", help="pending, inflight, delivered, dead or discarded (a,b)")
    listing.add_argument("--customer", help="only this customerId")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=_outbox_list)
    show = actions.add_parser("show", help="one item in full, with the request as sent")
    show.add_argument("id", type=int)
    show.set_defaults(run=_outbox_show)
    retry = actions.add_parser("retry", help="send a dead-lettered item again")
    retry.add_argument("id", type=int)
    retry.set_defaults(run=_outbox_retry)
    discard = actions.add_parser("discard", help="give up on an item, keeping the reason")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True, help="why (kept with the item)")
    discard.set_defaults(run=_outbox_discard)
    export = actions.add_parser("export", help="every item as CSV or JSON, for finance")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--state", help="only these states (a,b)")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_outbox_export)

    simulator = sub.add_parser("simulator", help="run the Gameball simulator alone")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8790, help="API port (default 8790)")
    simulator.add_argument(
        "--control-port", type=int, default=None, help="fault/clock control port (default port+1)"
    )
    simulator.set_defaults(run=_simulator)
    return parser


def _config_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML file (default: $SIDECAR_CONFIG, else {DEFAULT_CONFIG} if it exists)",
    )


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    if os.environ.get("SIDECAR_CONFIG"):
        return Path(os.environ["SIDECAR_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _serve(args: argparse.Namespace) -> int:
    config = load_config(_config_path(args), os.environ)
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
    path = _config_path(args)
    config = load_config(path, os.environ)
    secrets = load_secrets(config, os.environ)
    summary = msgspec.to_builtins(config)
    summary["secrets"] = {
        "api_key": "set" if secrets.api_key else "MISSING",
        "secret_key": "set" if secrets.secret_key else "MISSING",
    }
    print(f"configuration OK ({path or 'environment only'})")
    print(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode())
    return EXIT_OK if secrets.api_key and secrets.secret_key else EXIT_CONFIG


def _demo(args: argparse.Namespace) -> int:
    from .demo import PortUnavailable, run_demo

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
    config = load_config(_config_path(args), os.environ, require_store=False)
    secrets = load_secrets(config, os.environ)
    host = "127.0.0.1" if config.sidecar.host in ("0.0.0.0", "::") else config.sidecar.host
    url = f"http://{host}:{config.sidecar.port}/v1/status"
    headers = {"Authorization": f"Bearer {secrets.access_token}"} if secrets.access_token else {}
    try:
        report = asyncio.run(_fetch_json(url, headers))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CommandError(
            f"the sidecar does not answer at {url} ({type(exc).__name__}); is it running? "
            "try: systemctl status gameball-sidecar"
        ) from None
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(report), indent=2).decode())
    else:
        print(describe_status(report))
    return EXIT_ATTENTION if report["attention"] else EXIT_OK


async def _fetch_json(url: str, headers: dict[str, str]) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, headers=headers) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body: dict[str, Any] = await response.json()
            return body


def describe_status(report: dict[str, Any]) -> str:
    c, outbox, store = report["connectivity"], report["outbox"], report["store"]
    lines = [
        f"gameball-sidecar {report['version']} - {store['merchantName'] or store['merchantId']}"
        f" / {store['branchName'] or store['branchId']} / till {store['terminalId']}",
        f"  Gameball:       {c['state']} since {c['since']}"
        + (f" (last problem: {c['lastFailure']})" if c["state"] != "online" else ""),
        f"  Waiting to send: {outbox['queued']} (oldest {outbox['oldestQueuedAgeSeconds']:.0f} s)",
        f"  Last sync:      {outbox['lastSyncAt'] or 'never'}",
        f"  Dead letters:   {outbox['deadLetters']}   redemption_failed: "
        f"{outbox['redemptionFailed']}",
    ]
    if report["attention"]:
        lines.append("Needs attention:")
        lines.extend(f"  - {item}" for item in report["attention"])
    else:
        lines.append("Nothing needs attention.")
    return "\n".join(lines)


def _outbox_list(args: argparse.Namespace) -> int:
    items = _with_outbox(
        args,
        lambda view: view.listing(state=args.state, customer_id=args.customer, limit=args.limit),
    )
    if not items:
        print("no items")
    for item in items:
        ident = item["paymentId"] or item["holdReference"] or ""
        if item["refundId"]:
            ident = f"{item['refundId']} (of {item['paymentId']})"
        note = item["lastError"] or item["outcome"] or ""
        print(
            f"{item['id']:>7}  {item['state']:<10} {item['kind']:<8} {item['customerId']:<20} "
            f"{ident:<28} {item['amount']:>10.2f}  {item['attempts']:>3}  {note}"
        )
    return EXIT_OK


def _outbox_show(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.show(args.id))
    print(msgspec.json.format(msgspec.json.encode(item), indent=2).decode())
    return EXIT_OK


def _outbox_retry(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.retry(args.id))
    print(f"item {item['id']} is {item['state']} again; the running service will send it")
    return EXIT_OK


def _outbox_discard(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.discard(args.id, args.reason))
    print(f"item {item['id']} discarded: {item['discardReason']}")
    return EXIT_OK


def _outbox_export(args: argparse.Namespace) -> int:
    text = _with_outbox(args, lambda view: view.export(args.format, state=args.state))
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_private(args.output, text)
        print(f"wrote {args.output}")
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    """Mode 0600 from the first byte, like the database: the export holds customer ids and
    amounts. Not through a symlink, which another user may have planted at that name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # a file that already existed keeps its old mode
            out.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def _with_outbox(args: argparse.Namespace, action: Callable[[OutboxView], Awaitable[T]]) -> T:
    config = load_config(_config_path(args), os.environ, require_store=False)
    database = config.data_path / DB_NAME
    if not database.exists():
        raise CommandError(f"no sidecar database at {database}; check --config or SIDECAR_DATA_DIR")

    key = load_secrets(config, os.environ, check_exposure=False).encryption_key

    async def run() -> T:
        storage = await Storage.open(config.data_path, check=False)
        try:
            outbox = Outbox(storage, Sealer(key))
            await outbox.check_key()
            return await action(OutboxView(outbox))
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except SealError as exc:
        raise CommandError(
            f"{exc}; set SIDECAR_ENCRYPTION_KEY (or _FILE) to the service's key"
        ) from None
    except errors.SidecarError as exc:
        raise CommandError(exc.message) from None
    except StorageError as exc:
        raise CommandError(f"the database could not be changed: {exc}") from None


class CommandError(Exception):
    """A command could not do what was asked; the message says why."""


def _simulator(args: argparse.Namespace) -> int:
    from .simulator import run_simulator

    configure_logging("INFO")
    control = args.control_port if args.control_port is not None else args.port + 1
    run_simulator(host=args.host, port=args.port, control_port=control)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
