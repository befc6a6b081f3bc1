"""Benchmarks (`make bench`) and the chaos run (`make chaos`).

Each benchmark is a module ``bench/<name>.py`` with ``run(quick=False) -> list[dict]``
returning rows ``{"benchmark", "metric", "value", "unit", "target"?}`` (plus the
optional keys ``note`` and ``detail``, see ``bench.report``), runnable alone with
``python -m bench.<name>``. ``python -m bench`` runs them all, prints one table
and writes ``docs/benchmarks.md`` from that run.
"""
