"""Benchmarks: ``make bench`` runs every ``bench_*.py`` here, ``make bench B=name`` one of them.

Each prints its figures as JSON lines ``{"bench": "name", ...}``; the figures are kept in
``docs/benchmarks.md`` with the machine and the date. Benchmarks use temporary directories and
databases and delete what they write.
"""
