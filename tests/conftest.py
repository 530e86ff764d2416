"""Test-wide settings: hypothesis without wall-clock deadlines (speed is measured in benchmarks, not tests)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("fundtrail", deadline=None, print_blob=True)
settings.load_profile("fundtrail")
