"""Shared test settings: hypothesis profiles and the path to the shared real data.

Profiles (pick with HYPOTHESIS_PROFILE): ``dev`` (default, fast), ``ci`` (what .ci/run uses),
``slow`` (many more examples, run by hand: ``make test-slow``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "slow", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Real public data shipped beside the repo (../shared/data); tests that need it fail loudly
#: when it is missing rather than skipping, since CI always has it.
SHARED_DATA = Path(os.environ.get("ARCHIVE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def loghub_lines(path: Path) -> list:
    """A loghub file's lines (split on newlines): str where a line is UTF-8, the raw bytes
    where it is not."""
    out: list = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line)
    return out


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}; set ARCHIVE_SHARED_DATA"
    return SHARED_DATA
