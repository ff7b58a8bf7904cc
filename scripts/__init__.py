"""The repository's own tools (chaos suites, benchmarks, one-off measurements), run as modules
from the repository root (``python -m scripts.<name>``) so that ``tests.support`` imports the
standard way; scripts/chaos and scripts/bench do exactly that."""
