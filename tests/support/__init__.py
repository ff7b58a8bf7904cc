"""What the tests and the chaos, bench and fleet scripts share: the fixtures, real sidecar
processes, bounded waits, fake time, small clients for the sidecar's and the simulator's APIs,
Gameball's spec, and outbox rows written straight into the store."""
