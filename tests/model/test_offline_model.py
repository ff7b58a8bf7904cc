"""The default run of the checkout model with [offline_redemption] on and small caps: offline
holds and redeem-nows while Gameball is down, points spent elsewhere meanwhile, within every
cap and each burned once or recorded for finance; `scripts/chaos model` runs many more."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.offline_rules import OfflineRedemptionMachine
from tests.model.test_checkout_model import DEFAULT_RUN


def test_offline_redemption_model_keeps_every_promise() -> None:
    run_state_machine_as_test(
        OfflineRedemptionMachine, settings=settings(DEFAULT_RUN, max_examples=4)
    )
