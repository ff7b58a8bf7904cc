"""The database schema as numbered migrations (``PRAGMA user_version``): append only, a shipped
step is never edited, the next change is a new entry."""

from __future__ import annotations

from collections.abc import Sequence

MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE holds (
        hold_reference TEXT PRIMARY KEY,
        checkout_id TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        customer_id TEXT NOT NULL,
        hold_points REAL NOT NULL,
        hold_amount REAL NOT NULL,
        state TEXT NOT NULL,
        expires_at REAL,
        answer BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'release')),
        idem_key TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        customer_id TEXT NOT NULL,
        body BLOB NOT NULL,
        amount REAL NOT NULL DEFAULT 0,
        tx_ms INTEGER,
        after_key TEXT,
        hold_reference TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'inflight', 'delivered', 'dead', 'discarded')),
        outcome TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        last_code INTEGER,
        result BLOB,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        delivered_at REAL,
        discard_reason TEXT
    );
    CREATE INDEX outbox_by_customer ON outbox (customer_id, state, id);
    CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at, id);
    CREATE INDEX outbox_by_tx_time ON outbox (customer_id, tx_ms);
    """,
    # Running totals of what is waiting, kept by triggers so the offline limits need not scan
    # the whole queue on every sale (and stay right whoever writes: service or CLI).
    """
    CREATE INDEX outbox_by_state_id ON outbox (state, id);
    CREATE TABLE outbox_totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        open_count INTEGER NOT NULL,
        open_amount REAL NOT NULL
    );
    INSERT INTO outbox_totals (id, open_count, open_amount)
        SELECT 1, COUNT(*), COALESCE(SUM(amount), 0) FROM outbox
        WHERE state IN ('pending', 'inflight');
    CREATE TRIGGER outbox_totals_insert AFTER INSERT ON outbox
    WHEN NEW.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count + 1, open_amount = open_amount + NEW.amount;
    END;
    CREATE TRIGGER outbox_totals_update AFTER UPDATE OF state ON outbox
    WHEN (OLD.state IN ('pending', 'inflight')) != (NEW.state IN ('pending', 'inflight')) BEGIN
        UPDATE outbox_totals SET
            open_count = open_count
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN 1 ELSE -1 END,
            open_amount = open_amount
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN NEW.amount
                  ELSE -NEW.amount END;
    END;
    CREATE TRIGGER outbox_totals_delete AFTER DELETE ON outbox
    WHEN OLD.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count - 1, open_amount = open_amount - OLD.amount;
    END;
    """,
    # Version 4: what the hostile review asked of the queue.
    # - the outbox table is rebuilt without the CHECK on kind (orders, cashback, customers ...
    #   are kinds too; the code's Literal is the list);
    # - uncertain: an earlier send of the row may have reached Gameball (timeout, reset, a
    #   5xx, a crash in flight), so "already exists" (9004/9001) means it landed; on a row
    #   never sent with an unknown outcome it means the id is taken by another call;
    # - blocking = 0: a refund waiting for its payment, which must not hold up the customer's
    #   later calls; note: why a delivered row redeemed nothing (redemption_failed);
    # - hold_action: what the row does to the hold it names ("burn" or "release");
    # - holds.claimed_by: the sale that names the hold, so no second sale can burn it; and the
    #   state of a redeemNow whose answer was lost (redeem_id, redeem_uncertain, error);
    # - coupon_locks: coupon locks made here, with the same claim as holds (lock_reference on
    #   the sale that burns one, or on the queued release that gives one back);
    # - holds.provisional: a hold made here while Gameball was unreachable (offline
    #   redemption), held at Gameball only at replay; absorbed_points/_value on a sale that
    #   could not redeem what the till discounted: what the merchant carries.
    # The triggers keep the queue's links true whoever writes (service or CLI).
    """
    CREATE TABLE outbox_v4 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        idem_key TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        customer_id TEXT NOT NULL,
        body BLOB NOT NULL,
        amount REAL NOT NULL DEFAULT 0,
        tx_ms INTEGER,
        after_key TEXT,
        hold_reference TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'inflight', 'delivered', 'dead', 'discarded')),
        outcome TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        last_code INTEGER,
        result BLOB,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        delivered_at REAL,
        discard_reason TEXT,
        uncertain INTEGER NOT NULL DEFAULT 0,
        blocking INTEGER NOT NULL DEFAULT 1,
        note TEXT,
        hold_action TEXT,
        lock_reference TEXT,
        absorbed_points REAL,
        absorbed_value REAL
    );
    INSERT INTO outbox_v4 (
        id, kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, after_key,
        hold_reference, state, outcome, attempts, next_attempt_at, last_error, last_code, result,
        created_at, updated_at, delivered_at, discard_reason, uncertain, hold_action)
    SELECT id, kind, idem_key, fingerprint, customer_id, body, amount, tx_ms, after_key,
        hold_reference, state, outcome, attempts, next_attempt_at, last_error, last_code, result,
        created_at, updated_at, delivered_at, discard_reason,
        CASE WHEN attempts > 0 OR state = 'inflight' THEN 1 ELSE 0 END,
        CASE WHEN kind = 'payment' AND hold_reference IS NOT NULL THEN 'burn'
             WHEN kind = 'release' THEN 'release' END
    FROM outbox;
    -- Ids are never reused, even those of rows already pruned.
    INSERT INTO sqlite_sequence (name, seq)
    SELECT 'outbox_v4', seq FROM sqlite_sequence
    WHERE name = 'outbox' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox_v4');
    UPDATE sqlite_sequence
    SET seq = MAX(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'outbox'))
    WHERE name = 'outbox_v4';
    DROP TABLE outbox;
    ALTER TABLE outbox_v4 RENAME TO outbox;
    CREATE INDEX outbox_by_customer ON outbox (customer_id, state, id);
    CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at, id);
    CREATE INDEX outbox_by_tx_time ON outbox (customer_id, tx_ms);
    CREATE INDEX outbox_by_state_id ON outbox (state, id);
    CREATE INDEX outbox_by_after_key ON outbox (after_key) WHERE after_key IS NOT NULL;
    CREATE INDEX outbox_by_hold ON outbox (hold_reference) WHERE hold_reference IS NOT NULL;
    CREATE INDEX outbox_by_lock ON outbox (lock_reference) WHERE lock_reference IS NOT NULL;
    CREATE TRIGGER outbox_totals_insert AFTER INSERT ON outbox
    WHEN NEW.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count + 1, open_amount = open_amount + NEW.amount;
    END;
    CREATE TRIGGER outbox_totals_update AFTER UPDATE OF state ON outbox
    WHEN (OLD.state IN ('pending', 'inflight')) != (NEW.state IN ('pending', 'inflight')) BEGIN
        UPDATE outbox_totals SET
            open_count = open_count
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN 1 ELSE -1 END,
            open_amount = open_amount
                + CASE WHEN NEW.state IN ('pending', 'inflight') THEN NEW.amount
                  ELSE -NEW.amount END;
    END;
    CREATE TRIGGER outbox_totals_delete AFTER DELETE ON outbox
    WHEN OLD.state IN ('pending', 'inflight') BEGIN
        UPDATE outbox_totals
        SET open_count = open_count - 1, open_amount = open_amount - OLD.amount;
    END;
    UPDATE outbox SET blocking = 0
        WHERE kind = 'refund' AND state IN ('pending', 'inflight')
          AND (last_code = 9005 OR after_key IN (SELECT idem_key FROM outbox
                                                 WHERE state IN ('pending', 'inflight')));
    ALTER TABLE holds ADD COLUMN claimed_by TEXT;
    ALTER TABLE holds ADD COLUMN redeem_id TEXT;
    ALTER TABLE holds ADD COLUMN redeem_uncertain INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE holds ADD COLUMN error BLOB;
    ALTER TABLE holds ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX holds_provisional ON holds (customer_id, created_at) WHERE provisional = 1;
    CREATE INDEX holds_redeem_id ON holds (redeem_id) WHERE redeem_id IS NOT NULL;
    UPDATE holds SET claimed_by = (
        SELECT o.idem_key FROM outbox AS o
        WHERE o.hold_action = 'burn' AND o.hold_reference = holds.hold_reference
          AND o.state NOT IN ('dead', 'discarded')
        ORDER BY o.id LIMIT 1);
    -- What a new row waits for, and what it does to its hold.
    CREATE TRIGGER outbox_parks_waiting AFTER INSERT ON outbox BEGIN
        UPDATE outbox SET blocking = 0
        WHERE after_key = NEW.idem_key AND state IN ('pending', 'inflight');
    END;
    CREATE TRIGGER outbox_claims_hold AFTER INSERT ON outbox
    WHEN NEW.hold_action = 'burn' BEGIN
        UPDATE holds SET claimed_by = NEW.idem_key WHERE hold_reference = NEW.hold_reference;
    END;
    CREATE TRIGGER outbox_releases_hold AFTER INSERT ON outbox
    WHEN NEW.hold_action = 'release' BEGIN
        UPDATE holds SET state = 'released', updated_at = NEW.created_at
        WHERE hold_reference = NEW.hold_reference AND state IN ('active', 'expired');
    END;
    -- A row left the queue: what waited for it may go now, in its place again.
    CREATE TRIGGER outbox_frees_waiting AFTER UPDATE OF state ON outbox
    WHEN OLD.state IN ('pending', 'inflight')
     AND NEW.state IN ('delivered', 'dead', 'discarded') BEGIN
        UPDATE outbox SET blocking = 1, next_attempt_at = 0
        WHERE after_key = NEW.idem_key AND state = 'pending';
    END;
    CREATE TRIGGER outbox_burns_hold AFTER UPDATE OF state ON outbox
    WHEN NEW.state = 'delivered' AND OLD.state != 'delivered' AND NEW.hold_action = 'burn'
     AND NEW.hold_reference IS NOT NULL BEGIN
        UPDATE holds SET state = 'used', updated_at = NEW.updated_at
        WHERE hold_reference = NEW.hold_reference;
    END;
    -- Refused or given up: the hold it named is free for another sale.
    CREATE TRIGGER outbox_unclaims_hold AFTER UPDATE OF state ON outbox
    WHEN NEW.state IN ('dead', 'discarded') AND NEW.hold_action = 'burn' BEGIN
        UPDATE holds SET claimed_by = NULL WHERE claimed_by = NEW.idem_key;
    END;
    CREATE TABLE coupon_locks (
        lock_reference TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        codes BLOB NOT NULL,
        state TEXT NOT NULL,
        expires_at REAL,
        claimed_by TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TRIGGER outbox_claims_lock AFTER INSERT ON outbox
    WHEN NEW.lock_reference IS NOT NULL AND NEW.kind IN ('payment', 'order') BEGIN
        UPDATE coupon_locks SET claimed_by = NEW.idem_key
        WHERE lock_reference = NEW.lock_reference;
    END;
    CREATE TRIGGER outbox_releases_lock AFTER INSERT ON outbox
    WHEN NEW.kind = 'coupon_release' BEGIN
        UPDATE coupon_locks SET state = 'released', updated_at = NEW.created_at
        WHERE lock_reference = NEW.lock_reference AND state = 'locked';
    END;
    CREATE TRIGGER outbox_burns_lock AFTER UPDATE OF state ON outbox
    WHEN NEW.state = 'delivered' AND OLD.state != 'delivered'
     AND NEW.kind IN ('payment', 'order') AND NEW.lock_reference IS NOT NULL BEGIN
        UPDATE coupon_locks SET state = 'used', updated_at = NEW.updated_at
        WHERE lock_reference = NEW.lock_reference;
    END;
    CREATE TRIGGER outbox_unclaims_lock AFTER UPDATE OF state ON outbox
    WHEN NEW.state IN ('dead', 'discarded') AND NEW.kind IN ('payment', 'order') BEGIN
        UPDATE coupon_locks SET claimed_by = NULL WHERE claimed_by = NEW.idem_key;
    END;
    -- A sale rewritten at replay no longer burns the hold or lock it named: free them; but a
    -- provisional hold stays the sale's, used (re-held at Gameball) or failed (could not be),
    -- in the same statement as the rewrite, so a restart between the two cannot spend it twice.
    CREATE TRIGGER outbox_rewrite_frees AFTER UPDATE OF hold_reference, lock_reference ON outbox
    BEGIN
        UPDATE holds
        SET state = CASE WHEN NEW.hold_reference IS NULL THEN 'failed' ELSE 'used' END,
            updated_at = NEW.updated_at
        WHERE hold_reference = OLD.hold_reference AND claimed_by = NEW.idem_key
          AND provisional = 1 AND NEW.hold_reference IS NOT OLD.hold_reference;
        UPDATE holds SET claimed_by = NULL
        WHERE hold_reference = OLD.hold_reference AND claimed_by = NEW.idem_key
          AND provisional = 0 AND NEW.hold_reference IS NOT OLD.hold_reference;
        UPDATE coupon_locks SET claimed_by = NULL
        WHERE lock_reference = OLD.lock_reference AND claimed_by = NEW.idem_key
          AND NEW.lock_reference IS NOT OLD.lock_reference;
    END;
    -- Retried by hand: it waits for nothing new, but takes its place and its hold back.
    CREATE TRIGGER outbox_retried_by_hand AFTER UPDATE OF state ON outbox
    WHEN OLD.state = 'dead' AND NEW.state = 'pending' BEGIN
        UPDATE outbox SET blocking = 0
        WHERE after_key = NEW.idem_key AND state IN ('pending', 'inflight');
        UPDATE holds SET claimed_by = NEW.idem_key
        WHERE NEW.hold_action = 'burn' AND hold_reference = NEW.hold_reference
          AND claimed_by IS NULL;
        UPDATE coupon_locks SET claimed_by = NEW.idem_key
        WHERE NEW.kind IN ('payment', 'order') AND lock_reference = NEW.lock_reference
          AND claimed_by IS NULL;
    END;
    """,
)
