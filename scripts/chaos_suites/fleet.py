"""Suite "fleet": scripts/fleet, many real sidecars on one simulated Gameball account
reconnected at once, each pacing mode against its targets (quick: 5 stores x 80 sales, the
redis and aimd modes; full: 20 stores x 100, every mode, static too). Prints the fleet's lines."""

from __future__ import annotations

from scripts.fleet_suite.__main__ import main as fleet


def main(quick: bool) -> bool:
    return fleet(["--quick"] if quick else []) == 0
