"""Crashes: a writer process is SIGKILLed again and again, at random moments and at precise
points (mid-chunk, mid-rotation, before fsync, holding an uncommitted index transaction, just
after a commit, inside compaction's swap, between compaction's unlinks).  After every kill the
archive must hold exactly the batches committed (the last reported one, or the one after it if
the kill fell between ``commit()`` returning and the report), ``verify()`` must be clean, and
the next writer must carry on.  A campaign ends with the parent appending and checking that no
segment file is left behind that the index does not reference.

Budget: ``budget(ci, slow)`` kills per workload (HYPOTHESIS_PROFILE=slow for the long run,
FAULTS_SCALE to scale either).
"""
from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import archive
from tests.faults.child import Forker, last_committed, outcome
from tests.faults.fixtures import forker_fixture
from tests.faults.workload import Model, budget
from tests.strategies import exact

#: Kill points of each workload and how many passes through the point to allow (k is drawn
#: from 1..max), see tests/faults/kill_points.py:install_hook.
POINTS = {
    "append": {"chunk_write": 80, "rotate": 10, "rotate_empty": 10, "fsync": 15,
               "index_txn": 8, "index_committed": 8},
    "churn": {"chunk_write": 60, "rotate": 8, "fsync": 12, "index_txn": 8, "index_committed": 8,
              "swap_txn": 3, "swap_committed": 3, "unlink": 4},
}
CYCLES_PER_ARCHIVE = 10
FIGURES: Counter = Counter()
forker = forker_fixture("crash", FIGURES)


def check_state(path: Path, model: Model) -> Model:
    """The archive holds ``model`` or the model one batch on (committed, not yet reported);
    returns the one it holds.  Everything must read back exactly and verify clean."""
    nxt = model.step()
    if model.batch < 0:
        try:
            archive.open(path).close()
        except archive.ArchiveNotFoundError:  # killed while creating it: nothing to see
            FIGURES["kills during creation"] += 1
            return model
    with archive.open(path) as ar:
        got = exact(list(ar.scan()))
        for m in (model, nxt):
            if got == exact([rec for _, rec in m.items]):
                break
        else:
            raise AssertionError(f"{path}: {len(got[1])} records match neither batch {model.batch} "
                                 f"({len(model.items)} records) nor {nxt.batch} ({len(nxt.items)})")
        keys = dict(m.items)
        for k, rec in m.items:
            if k is not None:
                assert exact(ar.get(k)) == exact(rec), k
        for k, _ in nxt.items if m is model else []:
            if k is not None and k not in keys:
                assert ar.get(k) is None and k not in ar  # an uncommitted key stays invisible
        assert ar.verify() == []
    FIGURES["states verified"] += 1
    return m


def referenced_files(ar: archive.Archive) -> set[str]:
    return {fv.path.name for fv in ar._view.files.values()}


def campaign(forker: Forker, root: Path, mode: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    n_archive = 0
    killed = 0
    points = sorted(POINTS[mode])
    rng.shuffle(points)
    turn = 0
    while killed < kills:
        path, log, err = root / f"{mode}{n_archive}", root / f"{mode}{n_archive}.log", root / f"{mode}{n_archive}.err"
        n_archive += 1
        model = Model(mode, seed + n_archive)
        for _ in range(CYCLES_PER_ARCHIVE):
            die = None
            if rng.random() < 0.5:  # every kill point in turn, at a random pass through it
                point = points[turn % len(points)]
                turn += 1
                die = [point, rng.randint(1, POINTS[mode][point])]
            pid = forker.start("writer", path=str(path), log=str(log), err=str(err), mode=mode,
                               seed=model.seed, die=die, max_batches=40 if die else rng.randint(1, 30))
            if die is None:
                time.sleep(rng.uniform(0, 0.4))
                os.kill(pid, signal.SIGKILL)
            res = forker.wait(pid, timeout=120)
            assert not res["timeout"] and (res["signal"] == signal.SIGKILL or res["code"] == 0), outcome(res, err)
            if res["signal"] == signal.SIGKILL:
                killed += 1
                FIGURES[f"kills {mode} at {die[0] if die else 'random time'}"] += 1
            last = last_committed(log, -1)
            while model.batch < last:
                model = model.step()
            model = check_state(path, model)
        FIGURES[f"batches committed and verified ({mode})"] += model.batch + 1
        # The parent carries on writing: no orphan file, appends work, all still verifies.
        with archive.open(path, "a") as ar:
            on_disk = {p.name for p in path.glob("seg-*.acs")}
            assert on_disk == referenced_files(ar), "segment files nothing references were left behind"
            ar.append({"after": "crashes"}, key="final")
        with archive.open(path) as ar:
            assert len(ar) == len(model.items) + 1 and ar.get("final") == {"after": "crashes"}
            assert ar.verify() == []
    FIGURES["kills survived"] += killed


def test_crash_append(forker, tmp_path):
    """Appends (extend, extend with keys, append with long keys) killed at random."""
    campaign(forker, tmp_path, "append", budget(40, 500), seed=11)


def test_crash_churn_and_compact(forker, tmp_path):
    """Puts, deletes and appends with a compaction every few batches, killed at random."""
    campaign(forker, tmp_path, "churn", budget(30, 400), seed=23)


def test_reader_sees_no_torn_tail(forker, tmp_path):
    """After a kill mid-chunk, a *reader* opening first (no writer has trimmed yet) reads the
    committed records only; the torn bytes past the committed length stay invisible."""
    path, log, err = tmp_path / "a", tmp_path / "a.log", tmp_path / "a.err"
    res = forker.run("writer", path=str(path), log=str(log), err=str(err), mode="append", seed=5,
                     die=None, max_batches=6)
    assert res["code"] == 0, outcome(res, err)
    res = forker.run("writer", path=str(path), log=str(log), err=str(err), mode="append", seed=5,
                     die=["chunk_write", 3], max_batches=6)
    assert res["signal"] == signal.SIGKILL, outcome(res, err)
    with archive.open(path) as ar:
        committed = {fv.path.name: fv.length for fv in ar._view.files.values()}
    on_disk = {p.name: p.stat().st_size for p in path.glob("seg-*.acs")}
    assert any(on_disk[name] > length for name, length in committed.items()) or on_disk.keys() - committed, \
        "the kill was meant to leave a torn chunk past the committed length (or in a new file)"
    model = Model("append", 5)
    while model.batch < last_committed(log, -1):
        model = model.step()
    model = check_state(path, model)
    with archive.open(path, "a") as ar:  # the writer trims the torn tail
        assert {p.name: p.stat().st_size for p in path.glob("seg-*.acs")} == committed
        ar.extend([{"more": i} for i in range(30)])
    with archive.open(path) as ar:
        assert len(ar) == len(model.items) + 30 and ar.verify() == []

