"""The ``gameball-sidecar`` command: subcommands, exit codes, and the only place that prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import CommandError, ConfigError
from . import outbox, service
from .common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


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
    service.add_commands(sub)
    outbox.add_commands(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
