"""When and how queued calls go to Gameball: one dispatcher that alone decides when a call may
go (one call per customer, nothing while offline, paused or mis-keyed), the replay loop, the
send of one row with the classification of its answer, and the account's rate budget."""
