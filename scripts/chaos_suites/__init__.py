"""The chaos suites ``scripts/chaos`` runs (``python -m scripts.chaos_suites``): each a module or
a package with ``main(quick: bool) -> bool`` that prints its figures, listed in ``suites``."""
