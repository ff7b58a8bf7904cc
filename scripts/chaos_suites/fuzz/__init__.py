"""Chaos suite "fuzz": the sidecar's own OpenAPI document turned against it by schemathesis,
online and offline, then the hypothesis properties."""

from scripts.chaos_suites.fuzz.suite import main

__all__ = ["main"]
