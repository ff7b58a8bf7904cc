"""Query and path parameters: one segment per path parameter, ASCII-digit integers only."""

from __future__ import annotations

import re

from .. import errors

# A path parameter is any one segment: aiohttp's default pattern also refuses `{` and `}`,
# which would turn an id the JSON bodies accept into a 404 "no such endpoint" here.
SEGMENT = "[^/]+"
_digits = re.compile(r"[0-9]{1,19}")


def int_param(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """msgspec's lax conversion would take "5.0" and "1e2" as integers; a POS that sends them
    has a bug worth hearing about, so only ASCII digits pass."""
    if text is None or text == "":
        return default
    # ASCII digits only: int() also takes "+5", "5_0", " 5" and digits of other scripts (U+0661).
    value = int(text) if _digits.fullmatch(text) else low - 1
    if not low <= value <= high:
        raise errors.ValidationFailed.field(name, f"must be a whole number from {low} to {high}")
    return value


def optional_int(text: str | None, name: str, low: int, high: int) -> int | None:
    return None if text in (None, "") else int_param(text, name, low, low, high)


def choice(text: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if text in (None, ""):
        return None
    # An unencoded "+" in a query string arrives as a space.
    value = "+" if text == " " else text
    if value not in allowed:
        raise errors.ValidationFailed.field(name, f"must be one of {', '.join(allowed)}")
    return value
