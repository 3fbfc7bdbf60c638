"""Bundles under attack: what tests/test_bundles.py and the fault suites do not probe (hostile
bundle bytes: tests/test_bundles_hostile.py).

* a state machine over archives with random ``bundle_bytes`` (0, 1..200, 16384), tiny groups
  and bundles closed after a few bytes of members (several bundles per group), against a
  plain-list model, with a reader handle that keeps an old snapshot across compactions;
* writers SIGKILLed mid-bundle, mid-commit and mid-compaction with such settings;
* generations: a stale bundle cache never serves bytes of another commit or of a rolled-back
  flush;
* threads sharing one handle's bundle cache, and threads on separate handles.
"""
from __future__ import annotations

import random
import shutil
import signal
import tempfile
import threading
import time
from unittest import mock

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import archive
from archive.codec.chunk import decode_chunk
from archive.index.records import NO_BUNDLE
from archive.query import parse
from archive.storage import bundles
from tests.faults.bundle_plant import hostile_records
from tests.faults.bundle_writer import spawn
from tests.faults.child import last_committed
from tests.faults.workload import Model
from tests.strategies import exact, key_positions, model_put, trees

# --------------------------------------------------------------------------- state machine

KEYS = st.sampled_from([f"k{i}" for i in range(8)])
WIDE = st.dictionaries(st.sampled_from([f"c{j}" for j in range(10)]), st.integers(-2**40, 2**40), max_size=10)
RECS = st.fixed_dictionaries({"s": st.sampled_from(["a", "b", "c", "dddddddddddd"])},
                             optional={"n": st.integers(-3, 3), "x": trees(4), "w": WIDE})
WHERES = [None, "n == 1", "n >= 0 and s != 'b'", "not exists n", "s in ['a', 'c']"]


class BundleMachine(RuleBasedStateMachine):
    """The live records (``live``) and the last commit (``committed``) as plain lists; a reader
    handle pinned to the commit ``snap`` until it refreshes."""

    @initialize(bundle=st.one_of(st.sampled_from([0, 16384]), st.integers(1, 200)),
                close_at=st.sampled_from([1, 64, bundles.BUNDLE_TARGET]), group_rows=st.integers(1, 6))
    def start(self, bundle: int, close_at: int, group_rows: int) -> None:
        self.patch = mock.patch.object(bundles, "BUNDLE_TARGET", close_at)
        self.patch.start()
        self.dir = tempfile.mkdtemp()
        self.path = f"{self.dir}/ar"
        self.bundle_bytes = bundle
        self.ar = archive.open(self.path, "a", group_rows=group_rows, segment_bytes=4096,
                               chunk_items=5, bundle_bytes=bundle)
        self.live: list[tuple[str | None, dict]] = []
        self.committed: list[tuple[str | None, dict]] = []
        self.reader: archive.Archive | None = None
        self.snap: list[tuple[str | None, dict]] = []

    def teardown(self) -> None:
        if hasattr(self, "ar"):
            self.patch.stop()
            self.ar.close()
            if self.reader is not None:
                self.reader.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(batch=st.lists(RECS, max_size=12))
    def extend(self, batch: list[dict]) -> None:
        self.ar.extend(batch)
        self.live.extend((None, r) for r in batch)

    @rule(key=KEYS, rec=RECS)
    def put(self, key: str, rec: dict) -> None:
        self.ar.put(key, rec)
        model_put(self.live, key, rec)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        idx = key_positions(self.live).get(key)
        if idx is not None:
            self.ar.delete(key)
            del self.live[idx]

    @rule()
    def commit_and_verify(self) -> None:
        self.ar.commit()
        self.committed = list(self.live)
        view = self.ar._view
        for refs in view.group_refs:  # bundled exactly when the payload is at most bundle_bytes
            assert ((refs["at"] != NO_BUNDLE) == (refs["raw"] <= self.bundle_bytes)).all()
        assert self.ar.verify() == []

    @rule()
    def rollback(self) -> None:
        self.ar.rollback()
        self.live = list(self.committed)

    @rule()
    def reopen(self) -> None:
        self.ar._rollback()
        self.ar.close()
        self.ar = archive.open(self.path, "a")
        self.live = list(self.committed)

    @rule()
    def compact_and_read_chunks(self) -> None:
        self.ar.compact()
        self.committed = list(self.live)
        if not self.live:
            return
        ar, view = self.ar, self.ar._view  # now one row per live record, in order
        cols = {c for c, (p, _) in enumerate(view.columns) if p == ("s",)}
        order = [int(r["col"]) for refs in view.group_refs for r in refs if int(r["col"]) in cols]
        chunks = list(ar.chunks("s"))
        assert len(chunks) == len(order)
        got = []
        for c, col in zip(chunks, order):
            _kind, values = decode_chunk(c.tobytes(), ar.dicts)  # standalone, bundled or not
            if view.columns[col][1] == "str":
                got.extend(values.tolist())
        assert got == [r["s"] for _, r in self.live]

    @rule()
    def reader_refresh(self) -> None:
        if self.reader is None:
            self.reader = archive.open(self.path, cache_bytes=1)  # no record cache
        else:
            self.reader.refresh()
        self.snap = list(self.committed)

    @precondition(lambda self: self.reader is not None)
    @rule(drop_bundles=st.booleans(), where=st.sampled_from(WHERES))
    def reader_reads_its_snapshot(self, drop_bundles: bool, where: str | None) -> None:
        r = self.reader
        assert r is not None
        if drop_bundles:  # decode again from the (possibly unlinked, still mapped) old files
            r._view.bundles.clear()
        self._check_scan(r, self.snap, where, None)
        if self.snap:
            assert exact(r[-1]) == exact(self.snap[-1][1])

    @rule(data=st.data())
    def point_reads(self, data: st.DataObject) -> None:
        if self.live:
            pos = data.draw(st.lists(st.integers(-len(self.live), len(self.live) - 1), max_size=6))
            assert exact([self.ar[i] for i in pos]) == exact([self.live[i][1] for i in pos])
            assert exact(self.ar.take(pos)) == exact([self.live[i][1] for i in pos])
        key = data.draw(KEYS)
        idx = key_positions(self.live).get(key)
        assert exact(self.ar.get(key)) == exact(None if idx is None else self.live[idx][1])

    @rule(where=st.sampled_from(WHERES), cols=st.sampled_from([None, ["n"], ["s", "w"]]))
    def scan(self, where: str | None, cols: list[str] | None) -> None:
        self._check_scan(self.ar, self.live, where, cols)
        if self.live:
            assert exact(self.ar.column("n").tolist()) == exact([r.get("n") for _, r in self.live])

    @staticmethod
    def _check_scan(ar: archive.Archive, model: list, where: str | None, cols: list[str] | None) -> None:
        expr = parse(where) if where else None
        want = [r for _, r in model if expr is None or expr.matches(r)]
        if cols is not None:
            want = [{k: v for k, v in r.items() if k in cols} for r in want]
        assert exact(list(ar.scan(columns=cols, where=where))) == exact(want)

    @invariant()
    def length(self) -> None:
        if hasattr(self, "ar"):
            assert len(self.ar) == len(self.live)


BundleMachine.TestCase.settings = settings(stateful_step_count=50, deadline=None)
TestBundleMachine = BundleMachine.TestCase


# --------------------------------------------------------------------------- crashes

#: (workload, bundle_bytes, bundle target, kill point or None for a random moment, k)
CRASHES = [
    ("append", 16384, 64, ["chunk_write", 3]), ("append", 16384, 64, ["chunk_write", 11]),
    ("append", 40, 1, ["chunk_write", 7]), ("append", 16384, 64, ["fsync", 2]),
    ("append", 200, 64, ["index_txn", 2]), ("append", 16384, bundles.BUNDLE_TARGET, ["index_committed", 3]),
    ("churn", 16384, 64, ["swap_txn", 1]), ("churn", 16384, 64, ["swap_committed", 1]),
    ("churn", 40, 1, ["unlink", 1]), ("churn", 16384, 64, ["chunk_write", 40]),
    ("append", 16384, 64, None), ("churn", 200, 1, None),
]
@pytest.mark.parametrize("mode,bundle,target,die", CRASHES, ids=lambda x: str(x))
def test_writer_killed_with_bundles(tmp_path, mode, bundle, target, die):
    """A writer killed while writing bundles (torn bundle, before fsync, inside or just after
    the index commit, inside compaction's swap or unlinks): the archive holds the last reported
    commit (or the one after it), reads back exactly, verifies clean, and the next writer
    trims the torn bytes and carries on."""
    path, log = tmp_path / "a", tmp_path / "log"
    first = spawn(path, log, mode, bundle, target, None, 5)  # something committed first
    assert first.wait(60) == 0, first.stderr.read().decode()
    proc = spawn(path, log, mode, bundle, target, die, 40 if die else 10**6)
    if die is None:
        time.sleep(0.7)
        proc.kill()
    code = proc.wait(60)
    assert code == -signal.SIGKILL, f"exit {code}: {proc.stderr.read().decode()[-3000:]}"
    model = Model(mode, 3)
    while model.batch < last_committed(log, -1):
        model = model.step()
    with archive.open(path) as ar:
        got = exact(list(ar.scan()))
        held = next((m for m in (model, model.step()) if got == exact([r for _, r in m.items])), None)
        assert held is not None, f"{len(got[1])} records match neither batch {model.batch} nor the next"
        for k, rec in held.items:
            if k is not None:
                assert exact(ar.get(k)) == exact(rec)
        assert ar.verify() == []
        assert (np.concatenate(ar._view.group_refs)["at"] != NO_BUNDLE).any()
    with archive.open(path, "a") as ar:
        ar.extend([{"after": i, "s": "x" * i} for i in range(12)])
    with archive.open(path) as ar:
        assert len(ar) == len(held.items) + 12 and ar[-1] == {"after": 11, "s": "x" * 11}
        assert ar.verify() == []
        assert {p.name for p in path.glob("seg-*.acs")} == {fv.path.name for fv in ar._view.files.values()}


def test_bundled_exactly_up_to_bundle_bytes(tmp_path):
    """With payload sizes that occur as the limit: a chunk is a bundle member exactly when its
    payload is at most bundle_bytes, and everything reads back."""
    recs = hostile_records(40)
    with archive.open(tmp_path / "probe", "a", group_rows=10, bundle_bytes=0) as ar:
        ar.extend(recs)
        sizes = sorted({int(x) for refs in ar._view.group_refs for x in refs["raw"]})
    for b in sizes[::max(1, len(sizes) // 4)]:
        with archive.open(tmp_path / str(b), "a", group_rows=10, bundle_bytes=b) as ar:
            ar.extend(recs)
        with archive.open(tmp_path / str(b)) as ar:
            refs = np.concatenate(ar._view.group_refs)
            assert (refs["raw"] == b).any()
            assert ((refs["at"] != NO_BUNDLE) == (refs["raw"] <= b)).all()
            assert list(ar.scan()) == recs and ar.verify() == []


# --------------------------------------------------------------------------- generations

def _recs(tag: str, n: int, start: int = 0) -> list[dict]:
    return [{"i": start + i, "v": f"{tag}{i}", "m": {"x": i, "t": tag}} for i in range(n)]


def test_stale_bundle_caches_never_serve_another_generation(tmp_path, monkeypatch):
    """Bundles at the same (file, segment) in two generations (a rolled-back flush rewritten,
    file numbers reused once a compaction left no file): every handle reads its own commit."""
    monkeypatch.setattr(bundles, "BUNDLE_TARGET", 64)
    path = tmp_path / "a"
    w = archive.open(path, "a", group_rows=4, bundle_bytes=16384)
    a = _recs("a", 10)
    w.extend(a, keys=[f"k{i}" for i in range(10)])
    w.commit()
    r = archive.open(path, cache_bytes=1)
    assert list(r.scan()) == a
    b1, b2 = _recs("b", 8, 10), _recs("c", 8, 10)
    w.extend(b1, keys=[f"b{i}" for i in range(8)])
    assert w.take(range(10, 18)) == b1  # the uncommitted bundles are decompressed and cached
    seen = set(w._view.bundles._items)
    w.rollback()
    w.extend(b2, keys=[f"b{i}" for i in range(8)])
    assert w.take(range(10, 18)) == b2
    assert seen & set(w._view.bundles._items), "the rewrite should reuse the rolled-back places"
    assert list(w.scan()) == a + b2
    w.commit()
    assert list(r.scan()) == a  # the reader's commit, not the writer's
    for k in [f"k{i}" for i in range(10)] + [f"b{i}" for i in range(8)]:
        w.delete(k)
    w.compact()  # nothing left: no file in the new generation
    assert not w._view.files and not list(path.glob("seg-*.acs"))
    r._view.bundles.clear()  # re-decode from the unlinked (still mapped) files
    assert list(r.scan()) == a
    c = _recs("d", 9)
    w.extend(c)
    w.commit()  # file numbers start again from 0: the reader's old file 0 is another file
    assert 0 in w._view.files and 0 in r._view.files
    assert list(r.scan()) == a and r[3] == a[3]
    r.refresh()
    assert list(r.scan()) == c and r.verify() == []
    w.close()
    r.close()


# --------------------------------------------------------------------------- threads

def test_threads_share_bundles(tmp_path, monkeypatch):
    """Threads reading members of the same bundles through one handle (one bundle cache,
    kept tiny so entries are evicted under the readers) and through a handle each."""
    monkeypatch.setattr(bundles, "BUNDLE_TARGET", 200)
    path = tmp_path / "a"
    recs = hostile_records(200)
    with archive.open(path, "a", group_rows=25, bundle_bytes=16384) as ar:
        ar.extend(recs)
    shared = archive.open(path, cache_bytes=1)
    shared._view.bundles.limit = 600  # about two bundles
    errors: list[str] = []

    def work(seed: int, own: bool) -> None:
        rng = random.Random(seed)
        ar = archive.open(path, cache_bytes=1) if own else shared
        try:
            for _ in range(60):
                pos = [rng.randrange(len(recs)) for _ in range(rng.randint(1, 4))]
                if ar.take(pos) != [recs[p] for p in pos]:
                    errors.append(f"take {pos}")
                if rng.random() < 0.1 and ar.column("w.c5").tolist() != [r["w"]["c5"] for r in recs]:
                    errors.append("column")
        except Exception as e:  # noqa: BLE001 (reported below, with the others)
            errors.append(repr(e))
        finally:
            if own:
                ar.close()

    threads = [threading.Thread(target=work, args=(i, i % 3 == 2)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(shared._view.bundles._items) <= 3
    shared.close()
    assert errors == []
