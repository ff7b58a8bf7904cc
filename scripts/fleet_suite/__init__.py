"""scripts/fleet: many real sidecars on one Gameball account, reconnected at once after an
outage, measured per pacing mode against the account's budget (see ``__main__``)."""
