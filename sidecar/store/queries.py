"""Every SQL statement the sidecar runs, as named constants with bound parameters. Nothing else
in the package writes SQL (the schema itself is in ``migrations``)."""

from __future__ import annotations

# --- key/value: earning rules, last balances, connectivity, the sealing check -------------

KV_PUT = (
    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
KV_GET = "SELECT value, updated_at FROM kv WHERE key = ?"

# --- holds made on this terminal -----------------------------------------------------------

HOLD_COLUMNS = (
    "hold_reference, checkout_id, fingerprint, customer_id, hold_points, hold_amount, state, "
    "expires_at, answer, created_at, updated_at, claimed_by, redeem_id, redeem_uncertain, error, "
    "provisional"
)
HOLD_INSERT = (
    "INSERT INTO holds (hold_reference, checkout_id, fingerprint, customer_id, hold_points, "
    "hold_amount, state, expires_at, answer, created_at, updated_at, redeem_id, provisional) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Provisional (offline) points not settled at Gameball yet: a hold still active and not named
# by a sale, or named by a call still waiting in the outbox.
_OUTSTANDING = """
    FROM holds AS h
    WHERE h.provisional = 1
      AND ((h.state = 'active' AND h.claimed_by IS NULL AND h.expires_at > :now)
           OR EXISTS (SELECT 1 FROM outbox AS o WHERE o.idem_key = h.claimed_by
                      AND o.state IN ('pending', 'inflight')))
"""
PROVISIONAL_OUTSTANDING = (
    "SELECT COALESCE(SUM(h.hold_points), 0), COALESCE(SUM(h.hold_amount), 0) "
    + _OUTSTANDING
    + " AND (:customer IS NULL OR h.customer_id = :customer)"
)
# What was spent offline since a moment (released provisional holds spent nothing).
PROVISIONAL_SINCE = (
    "SELECT COALESCE(SUM(hold_points), 0) FROM holds WHERE provisional = 1 "
    "AND created_at > :since AND state != 'released' "
    "AND (:customer IS NULL OR customer_id = :customer)"
)
HOLD_RELEASE_LOCAL = (
    "UPDATE holds SET state = 'released', updated_at = ? "
    "WHERE hold_reference = ? AND state = 'active' AND claimed_by IS NULL"
)
HOLD_BY_CHECKOUT = f"SELECT {HOLD_COLUMNS} FROM holds WHERE checkout_id = ?"
HOLD_BY_REFERENCE = f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_reference = ?"
HOLD_BY_REDEEM_ID = f"SELECT {HOLD_COLUMNS} FROM holds WHERE redeem_id = ? LIMIT 1"
# What Gameball reports never undoes what this terminal knows for sure: a hold released or
# burned here stays so, and a redemption in doubt is settled only by its own check.
HOLD_REFRESH_STATE = (
    "UPDATE holds SET state = ?, expires_at = COALESCE(?, expires_at), updated_at = ? "
    "WHERE hold_reference = ? AND state NOT IN ('used', 'released', 'redeeming', 'failed')"
)
HOLD_SETTLE = (
    "UPDATE holds SET state = ?, answer = ?, error = ?, updated_at = ? WHERE hold_reference = ?"
)
HOLD_REDEEM_UNCERTAIN = (
    "UPDATE holds SET redeem_uncertain = 1, updated_at = ? WHERE hold_reference = ?"
)
HOLD_DELETE = "DELETE FROM holds WHERE hold_reference = ?"
HOLDS_REDEEMING = f"SELECT {HOLD_COLUMNS} FROM holds WHERE state = 'redeeming'"

# --- coupon locks made on this terminal ----------------------------------------------------

LOCK_COLUMNS = (
    "lock_reference, customer_id, codes, state, expires_at, claimed_by, created_at, updated_at"
)
LOCK_INSERT = (
    "INSERT INTO coupon_locks (lock_reference, customer_id, codes, state, expires_at, "
    "created_at, updated_at) VALUES (?, ?, ?, 'locked', ?, ?, ?) "
    "ON CONFLICT(lock_reference) DO UPDATE SET codes = excluded.codes, "
    "expires_at = excluded.expires_at, updated_at = excluded.updated_at"
)
LOCK_BY_REFERENCE = f"SELECT {LOCK_COLUMNS} FROM coupon_locks WHERE lock_reference = ?"

# --- the outbox ------------------------------------------------------------------------------

COLUMNS = (
    "id, kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, after_key, "
    "hold_reference, state, outcome, attempts, next_attempt_at, last_error, last_code, result, "
    "created_at, updated_at, delivered_at, discard_reason, uncertain, blocking, note, "
    "hold_action, lock_reference, absorbed_points, absorbed_value"
)
SELECT_BY_KEY = f"SELECT {COLUMNS} FROM outbox WHERE idem_key = ?"
SELECT_LATEST_OF_KIND = (
    f"SELECT {COLUMNS} FROM outbox WHERE kind = ? AND customer_id = ? ORDER BY id DESC LIMIT 1"
)
SELECT_BY_ID = f"SELECT {COLUMNS} FROM outbox WHERE id = ?"
# Everything a new row's admission depends on, in one read: the row already stored under its
# key (if any), the hold it names, the open totals, whether what it waits for is still open,
# whether its customer has a call in the way, and the first millisecond at or after its event
# time that no other row of its customer uses (Gameball refuses two at one instant: 9003).
ADMISSION = f"""
    SELECT
        (SELECT customer_id FROM holds WHERE hold_reference = :hold),
        (SELECT state FROM holds WHERE hold_reference = :hold),
        (SELECT claimed_by FROM holds WHERE hold_reference = :hold),
        (SELECT customer_id FROM coupon_locks WHERE lock_reference = :lock),
        (SELECT state FROM coupon_locks WHERE lock_reference = :lock),
        (SELECT claimed_by FROM coupon_locks WHERE lock_reference = :lock),
        (SELECT idem_key FROM outbox WHERE hold_reference = :hold AND hold_action = 'burn'
            AND state NOT IN ('dead', 'discarded') AND idem_key != :key LIMIT 1),
        (SELECT idem_key FROM outbox WHERE lock_reference = :lock AND kind IN ('payment', 'order')
            AND state NOT IN ('dead', 'discarded') AND idem_key != :key LIMIT 1),
        t.open_count,
        t.open_amount,
        EXISTS (SELECT 1 FROM outbox WHERE idem_key = :after
                AND state IN ('pending', 'inflight')),
        EXISTS (SELECT 1 FROM outbox WHERE customer_id = :customer
                AND state IN ('pending', 'inflight') AND blocking = 1),
        (WITH RECURSIVE free(ms) AS (
             SELECT :ms WHERE :ms IS NOT NULL
             UNION ALL
             SELECT ms + 1 FROM free WHERE EXISTS (
                 SELECT 1 FROM outbox WHERE customer_id = :customer AND tx_ms = free.ms))
         SELECT MAX(ms) FROM free),
        (SELECT idem_key FROM outbox WHERE :tx IS NOT NULL AND idem_key != :key AND idem_key IN
            ('payment:' || :tx, 'order:' || :tx, 'cashback:' || :tx, 'manual:' || :tx,
             'refund:' || :tx) LIMIT 1),
        (SELECT expires_at FROM holds WHERE hold_reference = :hold),
        (SELECT provisional FROM holds WHERE hold_reference = :hold),
        o.*
    FROM outbox_totals AS t
    LEFT JOIN (SELECT {COLUMNS} FROM outbox WHERE idem_key = :key) AS o
    WHERE t.id = 1
"""
INSERT = (
    "INSERT INTO outbox (kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, "
    "after_key, hold_reference, state, created_at, updated_at, blocking, hold_action, "
    "lock_reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FREE_TX_MS = """
    WITH RECURSIVE free(ms) AS (
        SELECT ? AS ms
        UNION ALL
        SELECT ms + 1 FROM free WHERE EXISTS (
            SELECT 1 FROM outbox WHERE customer_id = ? AND tx_ms = free.ms))
    SELECT MAX(ms) FROM free
"""
OPEN_TOTALS = "SELECT open_count, open_amount FROM outbox_totals WHERE id = 1"
OLDEST_OPEN = """
    SELECT MIN(created_at) FROM (
        SELECT created_at FROM (SELECT created_at FROM outbox WHERE state = 'pending'
                                ORDER BY id LIMIT 1)
        UNION ALL
        SELECT created_at FROM (SELECT created_at FROM outbox WHERE state = 'inflight'
                                ORDER BY id LIMIT 1)
    )
"""
# The head of each customer's queue, if it is due: oldest first, walking pending rows in id
# order and stopping at the limit (a row is a head when nothing older of its customer is open
# and in the way, and what it waits for, if anything, has left the queue).
_HEAD = """
      AND NOT EXISTS (SELECT 1 FROM outbox AS p
                      WHERE p.customer_id = o.customer_id
                        AND p.state IN ('pending', 'inflight') AND p.id < o.id
                        AND p.blocking = 1)
      AND (o.after_key IS NULL
           OR NOT EXISTS (SELECT 1 FROM outbox AS a WHERE a.idem_key = o.after_key
                          AND a.state IN ('pending', 'inflight')))
"""
READY_HEADS = f"""
    SELECT {COLUMNS} FROM outbox AS o
    WHERE o.state = 'pending' AND +o.next_attempt_at <= ? {_HEAD}
    ORDER BY o.id LIMIT ?
"""
# When the next head comes due (rows behind a head wait for it, whatever their own time).
NEXT_DUE = f"""
    SELECT MIN(o.next_attempt_at) FROM outbox AS o
    WHERE o.state = 'pending' {_HEAD}
"""
CLAIM = "UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ? AND state = 'pending'"
DELIVERED = (
    "UPDATE outbox SET state = 'delivered', outcome = ?, result = ?, last_error = ?, "
    "last_code = ?, attempts = attempts + 1, delivered_at = ?, updated_at = ? WHERE id = ?"
)
RETRY_LATER = (
    "UPDATE outbox SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?, "
    "last_error = ?, last_code = ?, updated_at = ?, uncertain = MAX(uncertain, ?), "
    "blocking = COALESCE(?, blocking) WHERE id = ?"
)
DEAD = (
    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, last_code = ?, "
    "updated_at = ? WHERE id = ?"
)
REWRITE_BODY = (
    "UPDATE outbox SET body = ?, hold_reference = ?, lock_reference = ?, outcome = ?, "
    "note = ?, absorbed_points = ?, absorbed_value = ?, updated_at = ? WHERE id = ?"
)
RETIME = "UPDATE outbox SET body = ?, tx_ms = ?, updated_at = ? WHERE id = ?"
# Whatever was in flight at a crash may have reached Gameball: its next 9004 means "landed".
REQUEUE_INFLIGHT = (
    "UPDATE outbox SET state = 'pending', uncertain = 1, updated_at = ? WHERE state = 'inflight'"
)
DUE_NOW = "UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > ?"
MANUAL_RETRY = (
    "UPDATE outbox SET state = 'pending', next_attempt_at = 0, updated_at = ? "
    "WHERE id = ? AND state = 'dead'"
)
DISCARD = (
    "UPDATE outbox SET state = 'discarded', discard_reason = ?, updated_at = ? "
    "WHERE id = ? AND state IN ('pending', 'dead')"
)
# One page of the outbox, oldest first; every filter is optional (NULL or '' = any). States
# come as ",pending,dead," so one parameter carries a list.
LISTING = f"""
    SELECT {COLUMNS} FROM outbox
    WHERE id > :after
      AND (:states = '' OR instr(:states, ',' || state || ',') > 0)
      AND (:customer IS NULL OR customer_id = :customer)
      AND (:outcome IS NULL OR outcome = :outcome)
      AND (:kind IS NULL OR kind = :kind)
    ORDER BY id LIMIT :limit
"""
COUNT_BY_STATE = "SELECT state, COUNT(*) FROM outbox GROUP BY state"
COUNT_OUTCOME = "SELECT COUNT(*) FROM outbox WHERE outcome = ?"
ABSORBED = (
    "SELECT COALESCE(SUM(absorbed_points), 0), COALESCE(SUM(absorbed_value), 0) FROM outbox "
    "WHERE outcome = 'redemption_failed'"
)
COUNT_STRUGGLING = "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts >= ?"
PRUNE = "DELETE FROM outbox WHERE state IN ('delivered', 'discarded') AND updated_at < ?"

# --- the database itself ---------------------------------------------------------------------

CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"
PAGE_SIZE = "PRAGMA page_size"
PAGE_COUNT = "PRAGMA page_count"
FREE_PAGES = "PRAGMA freelist_count"
USER_VERSION = "PRAGMA user_version"
QUICK_CHECK = "PRAGMA quick_check"
SETUP = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=2000",
    # Keep the WAL file from growing without bound between checkpoints.
    "PRAGMA journal_size_limit=16777216",
)
