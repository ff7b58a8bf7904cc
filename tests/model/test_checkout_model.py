"""The default run of the checkout model: a bounded number of examples, enough to catch a broken
promise on most commits; `scripts/chaos model` runs many more."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.machine import CheckoutMachine

# With the offline-redemption machine beside it (test_offline_model.py), tests/model takes
# about what 10 examples of the checkout machine alone took.
DEFAULT_RUN = settings(
    max_examples=5,
    stateful_step_count=25,
    deadline=None,
    # No "explain" phase: replaying each step variant costs more than the report gains.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_checkout_model_keeps_every_promise() -> None:
    run_state_machine_as_test(CheckoutMachine, settings=DEFAULT_RUN)
