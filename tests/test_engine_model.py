"""A Hypothesis state machine: every archive operation against a plain list + dict model.

The model is the list of live (key, record) pairs in position order plus the committed copy
of it; ``reopen`` (and ``rollback``) fall back to the committed copy, as a crash would.
"""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import archive
from tests.strategies import exact, key_positions, model_put, trees

keys = st.sampled_from([f"k{i}" for i in range(12)])
recs = st.one_of(
    st.fixed_dictionaries({"n": st.integers(-3, 3), "s": st.sampled_from(["a", "b", "c"])},
                          optional={"x": trees(4)}),
    trees(6),
)


class ArchiveModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.path = f"{self.dir}/ar"
        self.ar = archive.open(self.path, "a", group_rows=7, segment_bytes=4096, chunk_items=5)
        self.live: list[tuple[str | None, object]] = []
        self.committed: list[tuple[str | None, object]] = []

    def teardown(self) -> None:
        self.ar.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(rec=recs)
    def append(self, rec):
        pos = self.ar.append(rec)
        assert pos == len(self.live)
        self.live.append((None, rec))

    @rule(batch=st.lists(recs, max_size=20))
    def extend(self, batch):
        r = self.ar.extend(batch)
        assert list(r) == list(range(len(self.live), len(self.live) + len(batch)))
        self.live.extend((None, x) for x in batch)

    @rule(key=keys, rec=recs)
    def put(self, key, rec):
        self.ar.put(key, rec)
        model_put(self.live, key, rec)

    @rule(key=keys)
    def delete(self, key):
        idx = key_positions(self.live).get(key)
        if idx is None:
            try:
                self.ar.delete(key)
            except KeyError:
                return
            raise AssertionError("delete of a missing key did not raise KeyError")
        self.ar.delete(key)
        del self.live[idx]

    @rule()
    def commit(self):
        self.ar.commit()
        self.committed = list(self.live)

    @rule()
    def rollback(self):
        self.ar.rollback()
        self.live = list(self.committed)

    @rule()
    def reopen(self):
        # Close without commit = a crash after the last commit.
        self.ar._rollback()
        self.ar.close()
        self.ar = archive.open(self.path, "a")
        self.live = list(self.committed)

    @rule()
    def compact(self):
        self.ar.compact()
        self.committed = list(self.live)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def get_by_position(self, data):
        i = data.draw(st.integers(-len(self.live), len(self.live) - 1))
        assert exact(self.ar[i]) == exact(_lists(self.live[i][1]))

    @rule(key=keys)
    def get_by_key(self, key):
        idx = key_positions(self.live).get(key)
        want = None if idx is None else self.live[idx][1]
        assert exact(self.ar.get(key)) == exact(_lists(want))
        assert (key in self.ar) == (idx is not None)

    @rule(data=st.data())
    def take(self, data):
        if not self.live:
            return
        pos = data.draw(st.lists(st.integers(0, len(self.live) - 1), max_size=15))
        assert exact(self.ar.take(pos)) == exact([_lists(self.live[i][1]) for i in pos])

    @rule(where=st.sampled_from([None, "n == 1", "n >= 0 and s != 'b'", "not exists n", "s in ['a', 'c']"]),
          cols=st.sampled_from([None, ["n"], ["s", "x"]]))
    def scan(self, where, cols):
        from archive.query import parse
        got = list(self.ar.scan(columns=cols, where=where))
        expr = parse(where) if where else None
        want = [_lists(r) for _, r in self.live if expr is None or expr.matches(r)]
        if cols is not None:
            want = [{k: v for k, v in r.items() if k in cols} if isinstance(r, dict) else {} for r in want]
        assert exact(got) == exact(want)

    @invariant()
    def length(self):
        assert len(self.ar) == len(self.live)


def _lists(v):
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    return v


ArchiveModel.TestCase.settings = settings(stateful_step_count=30, deadline=None)
TestArchiveModel = ArchiveModel.TestCase


def test_column_numpy_types(tmp_path):
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"i": i, "f": i / 2, "m": i if i % 2 else "x"} for i in range(100)])
        assert ar.column("i").dtype == np.int64
        assert ar.column("f").dtype == np.float64
        assert ar.column("m").dtype == object and ar.column("m")[0] == "x"
        assert ar.column("nope").tolist() == [None] * 100
