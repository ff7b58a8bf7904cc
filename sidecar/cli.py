"""The ``gameball-sidecar`` command: subcommands, exit codes, and the only place that prints."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from .app import create_app, serve
from .config import ConfigError, load_config, load_secrets
from .logs import configure_logging

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
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
    asyncio.run(serve(create_app(config, secrets), config.sidecar.host, config.sidecar.port))
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
    from .demo import run_demo

    configure_logging("WARNING")
    print(run_demo_banner(args.port))
    asyncio.run(
        run_demo(port=args.port, simulator_port=args.simulator_port, data_dir=args.data_dir)
    )
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


def _simulator(args: argparse.Namespace) -> int:
    from .simulator import run_simulator

    configure_logging("INFO")
    control = args.control_port if args.control_port is not None else args.port + 1
    run_simulator(host=args.host, port=args.port, control_port=control)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
