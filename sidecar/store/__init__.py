"""Everything on disk: the SQLite database and its migrations, every SQL statement, the outbox's
state machine, the holds made on this terminal, and sealing at rest."""
