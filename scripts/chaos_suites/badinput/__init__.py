"""Chaos suite "badinput": hostile bodies, headers and raw HTTP at a real sidecar process."""

from scripts.chaos_suites.badinput.suite import main

__all__ = ["main"]
