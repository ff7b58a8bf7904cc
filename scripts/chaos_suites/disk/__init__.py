"""Chaos suite "disk": a database whose disk fills up, hits its quota or cannot be written."""

from scripts.chaos_suites.disk.suite import main

__all__ = ["main"]
