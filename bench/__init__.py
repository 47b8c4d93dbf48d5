"""Benchmarks, run with ``python -m bench.<name>`` (see the Makefile's ``bench-*`` targets)."""
