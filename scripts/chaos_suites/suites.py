"""The registry of chaos suites, in the order ``scripts/chaos`` runs them: adding a suite is one
line here, naming a module whose ``main(quick: bool) -> bool`` prints its figures and says
whether every invariant held."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    # Imported only when the suite runs: each brings its own dependencies (schemathesis, psutil,
    # mounts), and one that cannot even be imported fails alone instead of stopping the others.
    module: str
    in_quick: bool = True  # part of --quick

    def run(self, quick: bool) -> bool:
        main: Callable[[bool], bool] = importlib.import_module(self.module).main
        return bool(main(quick))


SUITES = (
    Suite(name="crash", module="scripts.chaos_suites.crash"),
    Suite(name="partition", module="scripts.chaos_suites.partition"),
    Suite(name="matrix", module="scripts.chaos_suites.matrix"),
    Suite(name="fuzz", module="scripts.chaos_suites.fuzz"),
    Suite(name="badinput", module="scripts.chaos_suites.badinput"),
    Suite(name="model", module="scripts.chaos_suites.model"),
    Suite(name="offline_redemption", module="scripts.chaos_suites.offline"),
    Suite(name="slowtests", module="scripts.chaos_suites.slowtests"),
    Suite(name="disk", module="scripts.chaos_suites.disk"),
    Suite(name="fleet", module="scripts.chaos_suites.fleet"),
    Suite(name="soak", module="scripts.chaos_suites.soak", in_quick=False),
)
BY_NAME = {suite.name: suite for suite in SUITES}
