"""Concurrency: reader processes refreshing while one writer appends (or puts, deletes and
compacts) and commits; a second writer is locked out, or waits with ``lock_timeout``.

Records are self-checking (they carry their own index and a digest of their content), so a
reader can tell a torn or misplaced record on its own; the churn readers compare every whole
snapshot they see with the workload's model after the commit the snapshot names.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import pytest

import archive
from archive.errors import ArchiveLockedError
from tests.faults.child import last_committed, outcome
from tests.faults.tasks import _fingerprint
from tests.faults.fixtures import forker_fixture
from tests.faults.workload import Model, budget

FIGURES: Counter = Counter()
forker = forker_fixture("concurrency", FIGURES)


def wait_for(pred, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_readers_while_a_writer_appends(forker, tmp_path):
    path, log, done = tmp_path / "a", tmp_path / "w.log", tmp_path / "done"
    seconds = budget(4, 30)
    w = forker.start("stream_writer", path=str(path), log=str(log), err=str(tmp_path / "w.err"),
                     seed=1, seconds=seconds)
    readers = [forker.start("reader", path=str(path), done=str(done), seed=r, out=str(tmp_path / f"r{r}.json"),
                            err=str(tmp_path / f"r{r}.err")) for r in range(3)]
    res = forker.wait(w, timeout=seconds + 120)
    assert res["code"] == 0, outcome(res, tmp_path / "w.err")
    total = last_committed(log, 0)
    done.touch()
    for r, pid in enumerate(readers):
        res = forker.wait(pid, timeout=120)
        assert res["code"] == 0, outcome(res, tmp_path / f"r{r}.err")
        got = json.loads((tmp_path / f"r{r}.json").read_text())
        assert got["problems"] == [], got["problems"][:5]
        assert got["final"] == total
        FIGURES["reader refreshes"] += got["refreshes"]
        FIGURES["records read and checked by readers"] += got["reads"]
    FIGURES["records committed while read"] += total
    with archive.open(path) as ar:
        assert len(ar) == total and ar.verify() == []


def test_snapshots_while_a_writer_churns_and_compacts(forker, tmp_path):
    """Readers refreshing while a writer puts, deletes and compacts: every snapshot a reader
    sees is exactly the state after one commit (old files stay readable to old snapshots,
    even once a compaction has unlinked them)."""
    path, log, done = tmp_path / "a", tmp_path / "w.log", tmp_path / "done"
    batches = budget(40, 300)
    w = forker.start("writer", path=str(path), log=str(log), err=str(tmp_path / "w.err"), mode="churn",
                     seed=77, die=None, max_batches=batches)
    wait_for(lambda: last_committed(log, 0) >= 0 and "committed" in (log.read_text() if log.exists() else ""))
    readers = [forker.start("snapshot_reader", path=str(path), done=str(done), out=str(tmp_path / f"r{r}.json"),
                            err=str(tmp_path / f"r{r}.err")) for r in range(2)]
    res = forker.wait(w, timeout=600)
    assert res["code"] == 0, outcome(res, tmp_path / "w.err")
    done.touch()
    models = [Model("churn", 77)]
    for _ in range(batches):
        models.append(models[-1].step())
    want = {m.batch: _fingerprint([rec for _, rec in m.items]) for m in models}
    compactions = (log.read_text()).count("compacted")
    for r, pid in enumerate(readers):
        res = forker.wait(pid, timeout=120)
        assert res["code"] == 0, outcome(res, tmp_path / f"r{r}.err")
        got = json.loads((tmp_path / f"r{r}.json").read_text())
        assert got["errors"] == [], got["errors"][:3]
        for b, fps in got["snapshots"].items():
            assert fps == [want[int(b)]], f"reader {r} saw a snapshot at batch {b} that no commit made"
        assert str(batches - 1) in got["snapshots"]
        FIGURES["snapshots checked against the model"] += len(got["snapshots"])
        FIGURES["reader refreshes"] += got["refreshes"]
    FIGURES["compactions under readers"] += compactions
    assert compactions >= 2


def test_second_writer_is_locked_out_then_waits(forker, tmp_path):
    path, log = tmp_path / "a", tmp_path / "w.log"
    w = forker.start("stream_writer", path=str(path), log=str(log), err=str(tmp_path / "w.err"),
                     seed=2, seconds=1.0, hold=2.0)
    wait_for(lambda: last_committed(log, 0) > 0)
    t = time.monotonic()
    with pytest.raises(ArchiveLockedError):
        archive.open(path, "a")
    assert time.monotonic() - t < 1.0  # lock_timeout=0 fails at once
    t = time.monotonic()
    with pytest.raises(ArchiveLockedError):
        archive.open(path, "a", lock_timeout=0.3)
    assert 0.25 < time.monotonic() - t < 10
    with archive.open(path) as ar:  # readers are never locked out
        assert len(ar) > 0
    t = time.monotonic()
    with archive.open(path, "a", lock_timeout=60) as ar:  # waits for the writer to close
        waited = time.monotonic() - t
        total = last_committed(log, 0)  # the writer's last commit came before it let go
        assert len(ar) == total
        ar.extend([{"i": total + j} for j in range(5)])
    res = forker.wait(w)
    assert res["code"] == 0, outcome(res, tmp_path / "w.err")
    assert waited > 0.2
    with archive.open(path) as ar:
        assert len(ar) == total + 5 and ar.verify() == []
    FIGURES["second writers locked out"] += 2
