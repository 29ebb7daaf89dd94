"""Benchmarks: `heatkeeper bench season|bus|ingest` (each a module with add_arguments/run)."""
