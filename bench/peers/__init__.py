"""Peer benchmarks: other annotation tools timed on the same input as bench/import_export.py."""
