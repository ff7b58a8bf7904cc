"""What the POS got for one request, as the model's checks read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What the POS got for one request, and which journal entries arrived meanwhile."""

    method: str
    path: str
    request: Any
    status: int | None  # None: no answer at all (timeout, connection refused)
    body: Any
    elapsed: float
    window: tuple[int, int]

    @property
    def error(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"]  # type: ignore[no-any-return]
        return None

    @property
    def code(self) -> str | None:
        error = self.error
        return str(error.get("code")) if error is not None else None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    def short(self) -> str:
        if self.status is None:
            return f"no answer ({self.body})"
        if self.error is not None:
            upstream = self.error.get("upstreamCode")
            return f"{self.status} {self.code}" + (f" (upstream {upstream})" if upstream else "")
        keys = ("status", "outboxId", "holdReference", "state", "outcome", "redeemedPoints")
        shown = {k: self.body[k] for k in keys if isinstance(self.body, dict) and k in self.body}
        if isinstance(self.body, dict) and self.body.get("redemption"):
            shown["redemption"] = self.body["redemption"]
        return f"{self.status} {shown}"
