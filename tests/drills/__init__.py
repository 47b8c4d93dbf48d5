"""Reliability drills: the real server process under load while faults are injected."""
