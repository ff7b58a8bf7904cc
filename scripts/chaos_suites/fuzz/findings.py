"""What the fuzz suite reads back: schemathesis's NDJSON event stream (requests, statuses,
failed checks, errors, and which 5xx answers were the documented offline ones) and the sidecar's
own JSON access log."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar import errors


def _every(root: type) -> list[type]:
    """``root`` and every subclass, however deep."""
    found: list[type] = [root]
    subclasses: list[type] = root.__subclasses__()
    for sub in subclasses:
        found.extend(_every(sub))
    return found


# Every retryable 503 the local API documents ("try again, or carry on without loyalty"),
# read from the error tree so a new one is known here the day it is added.
OFFLINE_CODES = frozenset(
    {
        getattr(error, "code", "")
        for error in _every(errors.ApiError)
        if getattr(error, "status", None) == 503 and getattr(error, "retryable", False)
    }
    | {"OFFLINE_PAYMENT_LIMIT", "OFFLINE_AMOUNT_LIMIT", "OFFLINE_QUEUE_FULL", "OFFLINE_TOO_LONG"}
)


@dataclass
class Findings:
    """What the schemathesis run saw, read from its NDJSON event stream."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # 503s that say "try again or carry on without loyalty", by code: the offline answers.
    unavailable: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    failed_checks: Counter[str] = field(default_factory=Counter)
    failures: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    seed: int | None = None

    def merge(self, other: Findings) -> None:
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.unavailable.update(other.unavailable)
        self.server_errors += other.server_errors
        self.failed_checks.update(other.failed_checks)
        self.failures |= other.failures
        self.errors += other.errors

    def read(self, event: dict[str, Any]) -> None:
        kind, payload = next(iter(event.items()))
        if kind == "Initialize":
            self.seed = payload.get("seed")
        elif kind == "ScenarioFinished":
            self._scenario(payload)
        elif "Error" in kind:
            self.errors.append(f"{kind}: {json.dumps(payload)[:300]}")

    def _scenario(self, scenario: dict[str, Any]) -> None:
        recorder = scenario.get("recorder", {})
        label = recorder.get("label", "?")
        if scenario.get("status") == "error":
            self.errors.append(f"{label}: {str(scenario.get('payload'))[:300]}")
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response")
            self.requests += 1
            if response is not None:
                status = int(response["status_code"])
                self.statuses[status] += 1
                if status >= 500:
                    self._server_answer(label, status, response.get("content"))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                self.failed_checks[check["name"]] += 1
                failure = (check.get("failure_info") or {}).get("failure") or {}
                message = str(failure.get("message", "")).splitlines()[:1]
                self.failures.add(
                    f"{failure.get('operation', label)}: {check['name']}: "
                    f"{failure.get('title', '')} {' '.join(message)}".strip()
                )

    def _server_answer(self, label: str, status: int, content: Any) -> None:
        raw = base64.b64decode(content["$base64"]) if isinstance(content, dict) else b""
        try:
            error = json.loads(raw or str(content or ""))["error"]
        except (ValueError, KeyError, TypeError):
            error = {}
        code = error.get("code") if isinstance(error, dict) else None
        if status == 503 and code in OFFLINE_CODES and error.get("retryable") is True:
            self.unavailable[code] += 1
        else:
            self.server_errors += 1
            self.failures.add(f"{label}: {status} {code or raw[:80]!r}")


@dataclass
class AccessLog:
    """The sidecar's own count: one JSON line per answered request, with its status."""

    requests: int = 0
    server_errors: int = 0
    unavailable: int = 0
    error_lines: list[str] = field(default_factory=list)
    # aiohttp's own parser logs each malformed request (here: schemathesis's NUL-byte probe)
    # at ERROR with a traceback; counted apart, since no sidecar code ran.
    parser_errors: int = 0

    @classmethod
    def read(cls, path: Path) -> AccessLog:
        log = cls()
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("logger") == "sidecar.access":
                status = int(entry.get("status", 0))
                log.requests += 1
                log.unavailable += status == 503
                log.server_errors += status >= 500 and status != 503
            if entry.get("level") not in ("error", "critical"):
                continue
            if str(entry.get("logger", "")).startswith("sidecar"):
                log.error_lines.append(str(entry.get("message", ""))[:200])
            else:
                log.parser_errors += 1
        return log
