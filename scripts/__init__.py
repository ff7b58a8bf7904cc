"""The repository's own tools (chaos suites, benchmarks, one-off measurements), run as modules
from the repository root (``python -m scripts.<name>``) so that ``tests.support`` imports the
standard way; the shell entry points beside this file do exactly that."""
