"""What an id from POS software may be (customer, payment, hold, checkout ...): one definition
shared by the JSON models, the path parameters and the OpenAPI document."""

from __future__ import annotations

import re
import sys
import unicodedata

MAX_LENGTH = 128
# Control and format characters (Cc, Cf: DEL, NUL, zero-width spaces, BOM, bidi overrides),
# line and paragraph separators (Zl, Zp) and lone surrogates (Cs) are invisible or break lines
# in logs, CSV exports and Gameball's own screens; a slash or backslash would leave its path
# segment. The class is generated from this Python's Unicode tables, so it follows them.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _refused_class() -> str:
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        if unicodedata.category(chr(point)) in _REFUSED_CATEGORIES:
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    parts = [
        _escape(low) if low == high else f"{_escape(low)}-{_escape(high)}" for low, high in ranges
    ]
    return "[^" + "".join(parts) + r"/\\" + "]"


def _escape(point: int) -> str:
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


# An id made only of dots is refused: "." and ".." are dot segments that URL normalisation
# (yarl, proxies, Gameball's own edge) removes, so they would name another endpoint; longer
# runs of dots are no one's real id, and some servers trim trailing dots from a segment
# (leaving it empty), so refusing all of them is the rule a POS developer can remember.
# `$(?!\n)` rather than `\Z`: the same text is a JSON Schema (ECMA) pattern in /openapi.json.
PATTERN = rf"^(?!\.+$){_refused_class()}{{1,{MAX_LENGTH}}}$(?!\n)"
RULE = (
    f"must be 1 to {MAX_LENGTH} characters, not only dots, with no control or invisible "
    "characters (such as newlines), slashes or backslashes"
)
_compiled = re.compile(PATTERN)


def is_valid(value: str) -> bool:
    return _compiled.search(value) is not None
