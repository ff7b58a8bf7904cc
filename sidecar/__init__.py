"""Gameball POS sidecar: loyalty at the checkout, online or offline."""

__version__ = "0.1.0"
