"""Chaos suite "soak": tills selling at a store's pace for minutes while Gameball flaps."""

from scripts.chaos_suites.soak.suite import main

__all__ = ["main"]
