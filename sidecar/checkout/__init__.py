"""The POS-facing operations: holds (the one owner of hold rules), sales and refunds, points
quotes, balances, earning rules, caches, the outbox seen by people, and the POS models."""
