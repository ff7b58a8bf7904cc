"""The benchmark ``scripts/bench`` runs, one module per phase (latency, offline finalize, drain,
pacing, start and RSS) around a small runner; kept import-free so that the load generator and
the bare proxy, run from here as processes of their own, start as lean as before."""
