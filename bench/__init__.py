"""Benchmarks: each module measures one thing, prints a table and writes bench/results/<name>.json."""
