"""A writer process for the bundle crash tests (``python -m tests.faults.bundle_writer SPEC``,
SPEC a JSON object; :func:`spawn` starts one): the fault suite's ``writer`` task, with the
archive settings given in the spec (``settings``) and bundles closed after ``target`` bytes of
members instead of BUNDLE_TARGET (so a small group still spans several bundles).  It SIGKILLs itself at
``die`` = [kill point, k] (see kill_points.py), appends ``committed <batch>`` to ``log`` after
each commit, and compacts every few batches of the churn workload."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.faults.tasks import task_writer

ROOT = Path(__file__).resolve().parents[2]
#: The archive settings of the crash tests besides ``bundle_bytes``: small groups and files.
SETTINGS = {"group_rows": 5, "chunk_items": 16, "chunk_bytes": 1024, "segment_bytes": 4096, "zstd_level": 1}


def spawn(path: Path, log: Path, mode: str, bundle_bytes: int, target: int, die: list | None,
          max_batches: int) -> subprocess.Popen:
    """Start a writer process on ``path`` (workload ``mode``, seed 3); its stderr is piped."""
    spec = {"path": str(path), "log": str(log), "mode": mode, "seed": 3, "target": target, "die": die,
            "max_batches": max_batches, "settings": {**SETTINGS, "bundle_bytes": bundle_bytes}}
    return subprocess.Popen([sys.executable, "-m", "tests.faults.bundle_writer", json.dumps(spec)],
                            cwd=ROOT, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))


if __name__ == "__main__":
    task_writer(json.loads(sys.argv[1]))
