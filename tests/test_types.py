"""The package type-checks: ``mypy archive`` (configured in pyproject.toml) finds nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_archive_is_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "archive"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"mypy archive failed:\n{proc.stdout}{proc.stderr}"
