"""Logging as one JSON object per line on stdout (journald and log shippers read it as is),
with the current request id on every line and secrets and contact data scrubbed out."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from typing import Any

import msgspec

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# Fields whose value is never shown, whatever it looks like.
SENSITIVE_KEYS = ("otp", "hash", "mobile", "email")
_CONTACT = [
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # email addresses
    re.compile(r"\+\d[\d ().-]{6,}\d"),  # international phone numbers
    re.compile(rf'("?(?:{"|".join(SENSITIVE_KEYS)})"?\s*[:=]\s*)"[^"]*"', re.IGNORECASE),
]


class Redactor:
    """Knows the secret values of this process and the shapes of contact data."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add_secret(self, value: str) -> None:
        # Very short values would blank out ordinary words; real keys are long.
        if len(value) >= 6:
            self._secrets.add(value)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        text = _CONTACT[0].sub("[email]", text)
        text = _CONTACT[1].sub("[phone]", text)
        return _CONTACT[2].sub(r'\1"[redacted]"', text)

    def scrub_data(self, value: Any) -> Any:
        """The same for decoded JSON: every string scrubbed, sensitive fields' values hidden."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {
                key: "[redacted]" if str(key).lower() in SENSITIVE_KEYS else self.scrub_data(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.scrub_data(item) for item in value]
        return value


redactor = Redactor()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redactor.scrub(msgspec.json.encode(entry, enc_hook=str).decode())


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The sidecar logs each request itself, with its request id.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Garbage on the socket (not HTTP at all) is answered 400 by aiohttp; a traceback per
    # such connection would drown the log. Handler failures are logged by the sidecar itself.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
