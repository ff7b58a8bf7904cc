"""The pacing modes a fleet can run in, each nothing but a set of environment variables given
to every sidecar, with the targets its figures must meet; and whether this checkout's sidecar
knows the settings a mode needs (the shared budget and AIMD came after static pacing)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from sidecar.config import PacingSection

# Gameball's budget on transaction paths, account-wide: 360 per 30 s is 12/s sustained.
ACCOUNT_BUDGET_PER_S = 360 / 30


@dataclass(frozen=True, kw_only=True)
class Targets:
    """None: not a target of this mode (reported only)."""

    budget_share: float | None = None  # at least
    rate_limited_share: float | None = None  # at most
    fairness: float | None = None  # at least
    live_p95_within_budget: bool = False


@dataclass(frozen=True, kw_only=True)
class Mode:
    name: str
    # PacingSection fields the mode sets; a sidecar without them would refuse the variables.
    needs: tuple[str, ...]
    targets: Targets
    about: str

    def env(self, redis_url: str | None, stores: int) -> dict[str, str]:
        if self.name == "redis":
            assert redis_url is not None, "redis mode needs a Redis URL"
            # As the README tells a fleet's operator: the local share, for when Redis does
            # not answer, is 1/N of the account's budget.
            return {
                "SIDECAR_PACING_SHARED_URL": redis_url,
                "SIDECAR_PACING_AIMD": "true",
                LOCAL_SHARE_ENV: f"{1 / stores:.6f}",
            }
        if self.name == "aimd":
            return {"SIDECAR_PACING_AIMD": "true"}
        # Static: each sidecar paces alone at the whole account's budget and pauses on a 429.
        return {"SIDECAR_PACING_AIMD": "false"} if supported(("aimd",)) else {}

    @property
    def missing(self) -> list[str]:
        return [name for name in self.needs if name not in PacingSection.__struct_fields__]


def supported(fields: tuple[str, ...]) -> bool:
    return all(name in PacingSection.__struct_fields__ for name in fields)


MODES = (
    Mode(
        name="redis",
        needs=("shared_url", "aimd"),
        targets=Targets(
            budget_share=0.9, rate_limited_share=0.01, fairness=0.9, live_p95_within_budget=True
        ),
        about="one budget shared in Redis by every sidecar",
    ),
    Mode(
        name="aimd",
        needs=("aimd",),
        targets=Targets(budget_share=0.75, rate_limited_share=0.05),
        about="no coordination: each sidecar halves on a 429 and creeps back up",
    ),
    Mode(
        name="static",
        needs=(),
        targets=Targets(),
        about="no coordination: each sidecar paces alone to the whole budget (the baseline)",
    ),
)
BY_NAME = {mode.name: mode for mode in MODES}
# Settings every mode may be given on the command line, by the variable the sidecar reads.
JITTER_ENV = "SIDECAR_PACING_RECONNECT_JITTER_SECONDS"
LOCAL_SHARE_ENV = "SIDECAR_PACING_LOCAL_SHARE"


def product_defaults() -> dict[str, str]:
    """The reconnect jitter a store runs with, said explicitly: the test harness's sidecars
    start without it, and a fleet reconnecting at once is exactly what it is for."""
    if not supported(("reconnect_jitter_seconds",)):
        return {}
    defaults = msgspec.structs.asdict(PacingSection())
    return {JITTER_ENV: str(defaults["reconnect_jitter_seconds"])}
