"""``gameball-sidecar outbox``: list, show, retry, discard and export queued and failed calls,
straight from the database, so it works whether or not the service is running."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from .. import errors
from ..checkout.inspection import OutboxView
from ..config import load_config
from ..credentials import load_secrets
from ..errors import CommandError, SealError, StorageError
from ..store.database import DB_NAME, Database
from ..store.outbox import Outbox
from ..store.sealing import Sealer
from .common import EXIT_OK, config_option, config_path

T = TypeVar("T")


def add_commands(sub: Any) -> None:
    outbox = sub.add_parser(
        "outbox",
        help="inspect and act on queued and failed calls (works with the service stopped too)",
        description="Reads the sidecar's database directly, so it works whether or not the "
        "service is running.",
    )
    config_option(outbox)
    actions = outbox.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list items, oldest first")
    listing.add_argument("--state", help="pending, inflight, delivered, dead or discarded (a,b)")
    listing.add_argument("--customer", help="only this customerId")
    listing.add_argument("--outcome", help="only this outcome (e.g. redemption_failed)")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=_list)
    show = actions.add_parser("show", help="one item in full, with the request as sent")
    show.add_argument("id", type=int)
    show.set_defaults(run=_show)
    retry = actions.add_parser("retry", help="send a dead-lettered item again")
    retry.add_argument("id", type=int)
    retry.set_defaults(run=_retry)
    discard = actions.add_parser("discard", help="give up on an item, keeping the reason")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True, help="why (kept with the item)")
    discard.set_defaults(run=_discard)
    export = actions.add_parser("export", help="every item as CSV or JSON, for finance")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--state", help="only these states (a,b)")
    export.add_argument("--outcome", help="only this outcome (e.g. redemption_failed)")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_export)


def _list(args: argparse.Namespace) -> int:
    items = _with_outbox(
        args,
        lambda view: view.listing(
            state=args.state, customer_id=args.customer, outcome=args.outcome, limit=args.limit
        ),
    )
    if not items:
        print("no items")
    for item in items:
        ident = (
            item["paymentId"]
            or item["orderId"]
            or item["transactionId"]
            or item["holdReference"]
            or item["lockReference"]
            or ""
        )
        if item["refundId"]:
            ident = f"{item['refundId']} (of {item['paymentId'] or item['orderId']})"
        note = item["lastError"] or item["outcome"] or ""
        print(
            f"{item['id']:>7}  {item['state']:<10} {item['kind']:<8} {item['customerId']:<20} "
            f"{ident:<28} {item['amount']:>10.2f}  {item['attempts']:>3}  {note}"
        )
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.show(args.id))
    print(msgspec.json.format(msgspec.json.encode(item), indent=2).decode())
    return EXIT_OK


def _retry(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.retry(args.id))
    print(f"item {item['id']} is {item['state']} again; the running service will send it")
    return EXIT_OK


def _discard(args: argparse.Namespace) -> int:
    item = _with_outbox(args, lambda view: view.discard(args.id, args.reason))
    print(f"item {item['id']} discarded: {item['discardReason']}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    text = _with_outbox(
        args, lambda view: view.export(args.format, state=args.state, outcome=args.outcome)
    )
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
    config = load_config(config_path(args), os.environ, require_store=False)
    file = config.data_path / DB_NAME
    if not file.exists():
        raise CommandError(f"no sidecar database at {file}; check --config or SIDECAR_DATA_DIR")

    key = load_secrets(config, os.environ, check_exposure=False).encryption_key

    async def run() -> T:
        database = await Database.open(config.data_path, check=False)
        try:
            outbox = Outbox(database, Sealer(key))
            await outbox.check_key()
            return await action(OutboxView(outbox))
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except SealError as exc:
        raise CommandError(
            f"{exc}; set SIDECAR_ENCRYPTION_KEY (or _FILE) to the service's key"
        ) from None
    except errors.ApiError as exc:
        raise CommandError(exc.message) from None
    except StorageError as exc:
        raise CommandError(f"the database could not be changed: {exc}") from None
