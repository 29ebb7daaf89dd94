"""Benchmarks: `heatkeeper bench season|bus|ingest|station` (each a module with add_arguments/run).

`main` is the dispatcher; every benchmark prints its figures and ratios measured side by side
in one run, with `--json` for machines.
"""
