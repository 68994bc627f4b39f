"""Benchmarks as a record: one package per study (its README says what it answers, its canonical tables and
the command that rebuilds each), results under ``<study>/results/``; shared helpers in ``common``. Run every
script from the repository root as ``python -m benchmarks.<study>.<script>``."""
