"""What every command shares: exit codes and where the configuration file is."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_ATTENTION = 0, 1, 2, 3
DEFAULT_CONFIG = Path("/etc/gameball-sidecar/sidecar.toml")


def config_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML file (default: $SIDECAR_CONFIG, else {DEFAULT_CONFIG} if it exists)",
    )


def config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    if os.environ.get("SIDECAR_CONFIG"):
        return Path(os.environ["SIDECAR_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
