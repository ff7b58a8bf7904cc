"""The hostile JSON bodies of the badinput suite, one row each (case, path, body, expected status,
the field the error must name), and the builders that make them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from scripts.chaos_suites.badinput.memory import MB
from scripts.chaos_suites.badinput.target import E, F, H, R

SALE = (
    b'{"customerId": "cust-1001", "paymentId": "bad-sale-1", "totalPaid": 10, '
    b'"paymentDetails": [{"serviceId": "latte", "amount": 10, "tags": ["hot"]}]}'
)
REFUND = b'{"paymentId": "p", "refundId": "r", '


def chunked(size: int) -> Callable[[], AsyncIterator[bytes]]:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"totalPaid": 1, "customerId": "'
        for _ in range(size // (64 * 1024)):
            yield b"a" * (64 * 1024)
        yield b'"}'

    return body


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def items(count: int, item: bytes) -> bytes:
    return b"[" + b",".join([item] * count) + b"]"


def sale(**fields: Any) -> bytes:
    base: dict[str, Any] = {"customerId": "cust-1001", "paymentId": "bad-1", "totalPaid": 10}
    return json.dumps({**base, **fields}).encode()


def sale_with(extra: bytes) -> bytes:
    """A sale with more raw JSON members spliced in (for bodies json.dumps cannot write)."""
    return sale()[:-1] + b", " + extra + b"}"


def hold(**fields: Any) -> bytes:
    return json.dumps({"customerId": "cust-1001", "checkoutId": "bad-co", **fields}).encode()


def paid(rest: bytes) -> bytes:
    return b'{"totalPaid": 1, ' + rest + b"}"


def customer(raw_id: bytes) -> bytes:
    return paid(b'"customerId": "' + raw_id + b'"')


NON_JSON = ("NaN", "Infinity", "-Infinity")
HUGE = ("1e309", "-1e309", "1e308", "1000000000.01", "1" + "0" * 400)


# (case, path, body, expected status, the field the error must name, or None)
Body = tuple[str, str, bytes, int, str | None]
BODIES: list[Body] = [
    # Malformed and truncated JSON
    ("empty body", E, b"", 400, None),
    ("whitespace body", E, b" \r\n\t ", 400, None),
    ("lone brace", E, b"{", 400, None),
    *((f"sale cut at {p}%", F, SALE[: len(SALE) * p // 100], 400, None) for p in (5, 50, 99)),
    ("trailing garbage", E, b'{"totalPaid": 1} x', 400, None),
    ("two documents", E, b'{"totalPaid": 1}{"totalPaid": 2}', 400, None),
    ("single quotes", E, b"{'totalPaid': 1}", 400, None),
    ("trailing comma", E, b'{"totalPaid": 1,}', 400, None),
    ("comment", E, b'{"totalPaid": 1 /* c */}', 400, None),
    ("unquoted key", E, b"{totalPaid: 1}", 400, None),
    *((f"JSON {b.decode()} as body", E, b, 422, "$") for b in (b"[]", b'"x"', b"null", b"7")),
    # Wrong types, missing and unknown fields
    ("totalPaid as string", E, b'{"totalPaid": "12"}', 422, "$.totalPaid"),
    ("totalPaid as bool", E, b'{"totalPaid": true}', 422, "$.totalPaid"),
    ("points as string", H, hold(points="5"), 422, "$.points"),
    ("points as float", H, hold(points=1.5), 422, "$.points"),
    ("points as bool", H, hold(points=True), 422, "$.points"),
    ("customerId as number", H, b'{"customerId": 1001}', 422, "$.customerId"),
    ("paymentDetails as object", E, paid(b'"paymentDetails": {}'), 422, "$.paymentDetails"),
    ("payment line as string", F, sale(paymentDetails=["x"]), 422, "$.paymentDetails[0]"),
    ("redemption as array", F, sale(redemption=[]), 422, "$.redemption"),
    ("redeemNow as string", H, hold(points=1, redeemNow="yes"), 422, "$.redeemNow"),
    ("extra as list", F, sale(extra=[1]), 422, "$.extra"),
    ("quantity as string", R, REFUND + b'"lineItems": [{"quantity": "2"}]}', 422, None),
    ("estimate without totalPaid", E, b"{}", 422, "$.totalPaid"),
    ("hold without customerId", H, b'{"checkoutId": "c", "points": 1}', 422, "$.customerId"),
    ("sale without paymentId", F, b'{"customerId": "c", "totalPaid": 1}', 422, "$.paymentId"),
    ("refund of nothing", R, b"{}", 422, "$.refundId"),
    ("refund naming no sale", R, b'{"refundId": "r-1"}', 422, "$.paymentId"),
    ("misspelt field", E, b'{"totalPaid": 1, "totalPayed": 1}', 422, "$.totalPayed"),
    ("merchant from the POS", F, sale(merchant={"uniqueId": "m"}), 422, "$.merchant"),
    ("unknown nested field", F, sale(paymentDetails=[{"colour": "red"}]), 422, None),
    ("emoji field name", H, hold(points=1, **{"\U0001f600": 1}), 422, "$.\U0001f600"),
    # Huge bodies (the 10 MB ones are added in the full run)
    ("body 70 KB", E, b'{"x": "' + b"a" * 70_000 + b'"}', 413, None),
    ("body 1 MB", E, paid(b'"x": "' + b"a" * MB + b'"'), 413, None),
    # Deep nesting
    ("10k nested arrays", E, nested(10_000), 422, "$"),
    (
        "10k nested arrays in extra",
        F,
        sale_with(b'"extra": {"a": ' + nested(10_000) + b"}"),
        422,
        None,
    ),
    (
        "10k nested objects in extra",
        F,
        sale_with(b'"extra": ' + nested(10_000, b'{"a":', b"}")),
        422,
        None,
    ),
    ("30k nested arrays (60 KB)", E, nested(30_000), 422, "$"),
    ("100k nested arrays (200 KB)", E, nested(100_000), 413, None),
    # Odd unicode
    ("lone surrogate \\ud800", E, customer(b"\\ud800"), 400, None),
    ("lone surrogate \\udc00", E, customer(b"\\udc00"), 400, None),
    ("reversed surrogate pair", E, customer(b"\\udc00\\ud800"), 400, None),
    # Bidi controls are format characters (Cf): invisible, refused like control characters.
    (
        "RTL override in customerId",
        H,
        hold(customerId="\u202e1001-tsuc", points=1),
        422,
        "$.customerId",
    ),
    ("emoji customerId", H, hold(customerId="\U0001f600\U0001f4b3", points=1), 404, None),
    ("escaped NUL in customerId", H, hold(customerId="c\u00001", points=1), 422, "$.customerId"),
    ("raw NUL in a string", E, customer(b"a\x00b"), 400, None),
    ("raw NUL between tokens", E, b'{"totalPaid": 1\x00}', 400, None),
    ("200 combining marks", H, hold(customerId="c" + "\u0301" * 200, points=1), 422, None),
    ("customerId ending in \\n", F, sale(customerId="cust-1001\n", paymentId="nl"), 422, None),
    ("UTF-8 BOM first", E, b'\xef\xbb\xbf{"totalPaid": 1}', 400, None),
    ("invalid UTF-8 0xff", E, customer(b"\xff"), 400, None),
    ("overlong UTF-8 0xc0 0xaf", E, customer(b"\xc0\xaf"), 400, None),
    ("UTF-8-encoded surrogate", E, customer(b"\xed\xa0\x80"), 400, None),
    ("truncated UTF-8 sequence", E, customer(b"\xe2\x82"), 400, None),
    ("UTF-16 body", E, '{"totalPaid": 1}'.encode("utf-16"), 400, None),
    # Numbers
    ("negative totalPaid", E, b'{"totalPaid": -1}', 422, "$.totalPaid"),
    *((f"totalPaid {n}", E, b'{"totalPaid": %s}' % n.encode(), 400, None) for n in NON_JSON),
    *(
        (f"totalPaid {n[:12]}", E, b'{"totalPaid": %s}' % n.encode(), 422, "$.totalPaid")
        for n in HUGE
    ),
    ('totalPaid "1e309"', E, b'{"totalPaid": "1e309"}', 422, "$.totalPaid"),
    *((f"points {p}", H, hold(points=p), 422, "$.points") for p in (0, -1, 2**63, 1e20)),
    ("amount 0", H, hold(amount=0), 422, "$.amount"),
    ("amount -0.0", H, hold(amount=-0.0), 422, "$.amount"),
    ("refund quantity 0", R, REFUND + b'"lineItems": [{"quantity": 0}]}', 422, None),
    ("returnWindow 3651", F, sale(cashbackConfigurations={"returnWindow": 3651}), 422, None),
    # 10,000-item arrays
    ("10k payment lines", E, paid(b'"paymentDetails": ' + items(10_000, b"{}")), 422, None),
    (
        "10k payment lines (90 KB)",
        E,
        paid(b'"paymentDetails": ' + items(10_000, b'{"a": 1}')),
        413,
        None,
    ),
    (
        "10k tags",
        E,
        paid(b'"paymentDetails": [{"tags": ' + items(10_000, b'"a"') + b"}]"),
        422,
        None,
    ),
    (
        "10k coupon codes",
        F,
        sale_with(b'"redemption": {"couponCodes": ' + items(10_000, b'"c"') + b"}"),
        422,
        None,
    ),
    ("10k refund lines", R, REFUND + b'"lineItems": ' + items(10_000, b"{}") + b"}", 422, None),
    ("5k keys in extra", F, sale(extra={f"k{i}": 0 for i in range(5000)}), 422, "$.extra"),
]
QUICK_SKIPS = {
    "sale cut at 99%",
    "30k nested arrays (60 KB)",
    "100k nested arrays (200 KB)",
    "10k payment lines (90 KB)",
}
