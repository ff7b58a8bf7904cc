"""Every case of the badinput suite, in the order they run: the JSON bodies, then odd sizes,
paths, methods, headers and content types, garbage HTTP on a raw socket, and slow clients."""

from __future__ import annotations

from scripts.chaos_suites.badinput.bodies import BODIES, QUICK_SKIPS, chunked, hold, paid
from scripts.chaos_suites.badinput.memory import MB
from scripts.chaos_suites.badinput.probes import http, raw, slow_loris
from scripts.chaos_suites.badinput.target import JSON, Case, Check, E, F, H

# Host: a loopback address, or the sidecar refuses the request before reading it (rebinding).
RAW_POST = (
    b"POST /v1/estimate-points HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)
RAW_GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"
HEADERS_10K = b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
LATIN1 = {"Content-Type": "application/json; charset=latin-1"}
TEXT = {"Content-Type": "text/plain"}
ANY_TYPE = "valid JSON answered 200 whatever the Content-Type"
OUTBOX_QUERIES = ("limit=abc", "limit=0", "limit=" + "9" * 30, "afterId=-1", "state=bogus")
OUTBOX_IDS = ("abc", "0", "-1", "1e3", "9" * 30)
CONTENT_TYPES = (
    ("text/plain, not JSON", b"totalPaid is 1", "text/plain"),
    ("form-urlencoded", b"totalPaid=1", "application/x-www-form-urlencoded"),
    ("multipart", b"--x\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    ("XML", b"<totalPaid>1</totalPaid>", "application/xml"),
)
GARBAGE = (
    ("binary garbage", b"\x00\x01\x02\xff garbage\r\n\r\n"),
    ("TLS ClientHello", bytes.fromhex("16030100a5010000a10303") + bytes(160)),
    ("request line without target", b"GET\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n"),
    ("lowercase method", b"get /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("made-up method", b"BREW /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("10k headers", RAW_GET + HEADERS_10K + b"\r\n"),
    ("100 KB header", RAW_GET + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"),
    ("100 KB URL", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("NUL in a header", RAW_GET + b"X-A: a\x00b\r\n\r\n"),
    ("negative Content-Length", RAW_POST + b"Content-Length: -5\r\n\r\n{}"),
    ("Content-Length + chunked", RAW_POST + b"Content-Length: 5\r\n" + CHUNKED + b"0\r\n\r\n"),
    ("bad chunk size", RAW_POST + CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n"),
)


def cases(quick: bool) -> list[Case]:
    c = [
        Case(name, http("POST", path, body, expect={status}, field=fld))
        for name, path, body, status, fld in BODIES
        if not (quick and name in QUICK_SKIPS)
    ]

    def add(name: str, check: Check) -> None:
        c.append(Case(name, check))

    if not quick:
        add("body 10 MB", http("POST", E, paid(b'"x": "' + b"a" * 10 * MB + b'"'), expect={413}))
        add("body 10 MB chunked", http("POST", E, chunked(10 * MB), expect={413}))
    add("body 1 MB chunked", http("POST", E, chunked(MB), expect={413}))
    ten_mb = RAW_POST + b"Content-Length: 10485760\r\n\r\n" + b"{" * 1024
    add("Content-Length 10 MB, 1 KB sent", raw(ten_mb, expect={413}, may_close=False))
    short = RAW_POST + b'Content-Length: 100\r\n\r\n{"totalPaid": 1}'
    add("Content-Length 100, 16 sent, EOF", raw(short, half_close=True))
    add("Content-Length 5, 16 sent", raw(RAW_POST + b'Content-Length: 5\r\n\r\n{"totalPaid": 1}'))
    tiny = hold(amount=5e-324, checkoutId="bad-tiny")
    zero = "a 0-point hold was made"
    add("amount 5e-324", http("POST", H, tiny, expect={422}, lenient={200}, why=zero))
    latin1 = '{"totalPaid": 1, "customerId": "Jos\u00e9"}'.encode("latin-1")
    add("latin-1 body", http("POST", E, latin1, expect={400}, headers=LATIN1))
    # Odd paths, methods, query strings, headers and content types
    for name, path, status in (
        ("RTL mark in balance path", "/v1/customers/%E2%80%8F1001/balance", {422}),
        ("NUL in path", "/v1/customers/cust%001001/balance", {422}),
        ("invalid UTF-8 in path", "/v1/customers/%ff%fe/balance", {404, 422}),
        ("GET on finalize", F, {405}),
        ("unknown path", "/v1/nothing", {404}),
        ("dot-dot path", "/v1/../../etc/passwd", {404}),
        ("8 KB path", "/v1/" + "a" * 8000, {404}),
        *((f"outbox?{q[:20]}", f"/v1/outbox?{q}", {422}) for q in OUTBOX_QUERIES),
        *((f"outbox/{i[:12]}", f"/v1/outbox/{i}", {422}) for i in OUTBOX_IDS),
    ):
        add(name, http("GET", path, expect=status))
    add("PUT on estimate", http("PUT", E, b"{}", expect={405}))
    add("DELETE on status", http("DELETE", "/v1/status", expect={405}))
    add("discard without reason", http("POST", "/v1/outbox/1/discard", b"{}", expect={404, 422}))
    origin = {**JSON, "Origin": "http://evil.example"}
    add("foreign Origin", http("POST", E, b"{}", expect={403}, headers=origin))
    rebinding = b"GET /v1/outbox HTTP/1.1\r\nHost: rebind.attacker.example\r\n"
    add("DNS-rebinding Host", raw(rebinding + b"Connection: close\r\n\r\n", expect={403}))
    dots = b"GET /v1/holds/%2E%2E HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    add("dot-segment hold reference", raw(dots, expect={422}))
    long_id = {"X-Request-Id": "r" * 5000}
    add("5 KB X-Request-Id", http("GET", "/v1/status", expect={200}, headers=long_id))
    add("Accept: XML", http("POST", E, b"{", expect={400}, headers={**JSON, "Accept": "text/xml"}))
    for name, body, content_type in CONTENT_TYPES:
        add(name, http("POST", E, body, expect={400, 415}, headers={"Content-Type": content_type}))
    # Valid JSON under another content type: accepted today (nothing documents either way).
    for name, headers in (("JSON as text/plain", TEXT), ("JSON, no content type", {})):
        valid = b'{"totalPaid": 1}'
        check = http("POST", E, valid, expect={415}, headers=headers, lenient={200}, why=ANY_TYPE)
        add(name, check)
    # Garbage HTTP on a raw socket
    for name, data in GARBAGE:
        add(name, raw(data))
    bad_id = RAW_GET + b"X-Request-Id: \xff\xfe\r\nConnection: close\r\n\r\n"
    add("invalid UTF-8 X-Request-Id", raw(bad_id, expect={200}))
    add("bare CRLFs, EOF", raw(b"\r\n" * 1000, half_close=True))
    cut = RAW_POST + CHUNKED + b'10\r\n{"totalPaid"'
    add("chunked body cut short, EOF", raw(cut, half_close=True))
    # Slow clients
    sockets, seconds = (20, 5) if quick else (200, 20)
    add(f"slow-loris {sockets} sockets x {seconds} s", slow_loris(sockets, seconds))
    return c
