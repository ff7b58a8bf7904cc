"""The status page for store IT: one self-contained HTML page (no scripts, fonts or images from
anywhere) that says at a glance whether loyalty is working, and refreshes itself."""

from __future__ import annotations

from html import escape

from ..status import AlarmReport, DatabaseReport, OutboxReport, PacingReport, StatusReport

REFRESH_SECONDS = 5

_CSS = """
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  background:#f4f5f7;color:#1d2330}
main{max-width:860px;margin:0 auto;padding:24px}
.banner{border-radius:12px;padding:20px 24px;color:#fff;margin-bottom:20px}
.banner h1{margin:0;font-size:30px}.banner p{margin:6px 0 0;font-size:17px}
.ok{background:#1f8a4c}.warn{background:#c77700}.bad{background:#b3261e}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:26px}.card span{color:#5b6372;font-size:14px}
h2{font-size:18px;margin:24px 0 8px}ul{background:#fff;border-radius:10px;padding:12px 32px}
li{margin:6px 0}table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px}
td{padding:8px 14px;border-bottom:1px solid #eceef2}td:first-child{color:#5b6372;width:40%}
footer{color:#5b6372;font-size:13px;margin-top:20px}
"""


def render(status: StatusReport) -> str:
    outbox, connectivity, store = status.outbox, status.connectivity, status.store
    attention = status.attention
    level, headline, line = _verdict(connectivity.state, outbox, attention, status.alarm)
    cards = [
        ("Gameball", connectivity.state.capitalize()),
        ("Sales waiting to send", str(outbox.queued)),
        ("Oldest waiting", _age(outbox.oldestQueuedAgeSeconds)),
        ("Need a person", str(outbox.deadLetters + outbox.redemptionFailed)),
        ("Delivered (kept)", str(outbox.delivered)),
    ]
    rows = [
        ("Store", _named(store.merchantName, store.merchantId)),
        ("Branch", _named(store.branchName, store.branchId)),
        ("Terminal", store.terminalId),
        ("Last successful sync", outbox.lastSyncAt or "never"),
        ("Gameball state since", connectivity.since),
        ("Last connection problem", connectivity.lastFailure or "none"),
        ("Earning rules fetched", status.earningRules.fetchedAt or "never"),
        ("Gameball rate budget", pacing_text(status.pacing)),
        ("Database", f"{status.database.path} ({_size(status.database)})"),
        ("Version", status.version),
    ]
    spent = status.offlineRedemption
    if spent.enabled or spent.outstandingPoints or spent.absorbedPoints:
        rows[4:4] = [
            (
                "Points redeemed offline, not at Gameball yet",
                f"{spent.outstandingPoints:g} (worth {spent.outstandingValue:.2f})",
            ),
            ("Redeemed offline in the last 24 h", f"{spent.spentLast24hPoints:g} points"),
            (
                "Discounts Gameball did not redeem",
                f"{spent.absorbedPoints:g} points (worth {spent.absorbedValue:.2f})",
            ),
        ]
    todo = "".join(f"<li>{escape(item)}</li>" for item in attention) or "<li>Nothing.</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Loyalty sidecar: {escape(headline)}</title><style>{_CSS}</style></head>
<body><main>
<section class="banner {level}"><h1>{escape(headline)}</h1><p>{escape(line)}</p></section>
<div class="grid">{"".join(_card(label, value) for label, value in cards)}</div>
<h2>Needs attention</h2><ul>{todo}</ul>
<h2>Details</h2><table>{"".join(_row(k, v) for k, v in rows)}</table>
<footer>gameball-sidecar {escape(status.version)} · refreshes every {REFRESH_SECONDS} s ·
JSON at <code>/v1/status</code> · metrics at <code>/metrics</code></footer>
</main></body></html>
"""


def _verdict(
    state: str, outbox: OutboxReport, attention: list[str], alarm: AlarmReport
) -> tuple[str, str, str]:
    if alarm.raised:
        return (
            "bad",
            "Loyalty is NOT syncing",
            "Gameball refuses this store's keys. "
            + ("Sales are kept safely on this terminal until the keys are fixed."),
        )
    if state == "unknown":
        return (
            "warn",
            "Starting: checking Gameball",
            "The sidecar has just started and has not heard from Gameball yet; sales are "
            "stored either way.",
        )
    if state != "online":
        return (
            "warn",
            "Offline: sales are being saved",
            (
                f"Gameball cannot be reached. {outbox.queued} sale(s) are stored on this "
                "terminal and will be sent automatically when the connection returns."
            ),
        )
    if attention:
        return "warn", "Online, with items to check", "See the list below."
    if outbox.queued:
        return "ok", "Online: catching up", f"Sending {outbox.queued} stored sale(s) now."
    return "ok", "Loyalty is working", "Gameball is reachable and nothing is waiting."


def pacing_text(pacing: PacingReport) -> str:
    """The pacing mode in words (the page and ``gameball-sidecar status`` say the same)."""
    budget = {
        "redis": "shared with the other tills (Redis)",
        "fallback": "Redis NOT answering: this till's local share",
        "off": "this till's share",
    }[pacing.sharedBudget]
    line = f"{budget}; {pacing.mode.upper() if pacing.mode == 'aimd' else pacing.mode} "
    line += f"{pacing.ratePerSecond:g} of {pacing.ceilingPerSecond:g} calls/s"
    if pacing.replayHeldForSeconds:
        line += f"; replay starts in {pacing.replayHeldForSeconds:g} s"
    return line


def _named(name: str | None, unique_id: str) -> str:
    # Names are optional configuration; the id is always there.
    return f"{name} ({unique_id})" if name else unique_id


def _card(label: str, value: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _row(label: str, value: str) -> str:
    return f"<tr><td>{escape(label)}</td><td>{escape(str(value))}</td></tr>"


def _size(database: DatabaseReport) -> str:
    used = database.sizeBytes / max(1, database.limitBytes)
    return f"{database.sizeBytes / 1e6:.1f} MB, {used:.0%} of its limit"


def _age(seconds: float) -> str:
    if seconds < 1:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
