"""What the tests and the chaos, bench and fleet scripts share: real sidecar processes,
bounded waits, and small clients for the sidecar's and the simulator's APIs."""
