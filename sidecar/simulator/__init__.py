"""A faithful local simulator of the Gameball loyalty API v4.0, for demos and tests."""

from .server import SimulatorServer, run_simulator
from .simulator import DEMO_CUSTOMERS, Simulator

__all__ = ["DEMO_CUSTOMERS", "Simulator", "SimulatorServer", "run_simulator"]
