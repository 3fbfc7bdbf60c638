"""Deterministic workloads shared by the fault tests and their child processes.

A workload is a sequence of *batches*, each followed by one ``commit()``.  Batch ``b`` of a
workload with seed ``s`` is a pure function of ``(s, b)``, so a parent that knows which batch
was last committed can rebuild exactly what the archive must hold (its *model*: the live
``(key, record)`` pairs in position order), and a child that reopens an archive can tell from
its content which batch comes next.

``append``: batches of varied records (keyed or not) appended with ``extend``/``append``.
``churn``: puts (new keys and in-place replacements), deletes and appends, plus a ``__batch__``
record naming the batch; the child also compacts every few batches.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any

#: Small everything: many groups, many chunks, a segment rotation every few kB.
SETTINGS = dict(group_rows=7, group_bytes=2048, chunk_items=16, chunk_bytes=1024,
                segment_bytes=4096, zstd_level=1, zstd_dict_bytes=256, bundle_bytes=40)
WORDS = ["alpha", "beta", "gamma", "δέλτα", "", "x" * 40, "emoji 😀", "tab\tnew\nline"]
BATCH_KEY = "__batch__"
COMPACT_EVERY = 4


def budget(ci: int, slow: int) -> int:
    """How many cases a fault test runs: ``ci`` under the dev/ci profiles, ``slow`` under the
    slow one; ``FAULTS_SCALE`` multiplies either."""
    n = slow if os.environ.get("HYPOTHESIS_PROFILE", "dev") == "slow" else ci
    return max(1, int(n * float(os.environ.get("FAULTS_SCALE", "1"))))


def _rng(seed: int, b: int, what: str = "") -> random.Random:
    return random.Random(f"{seed}:{b}:{what}")


def make_record(rng: random.Random, b: int, i: int) -> dict:
    rec: dict[str, Any] = {"b": b, "i": i}
    kind = rng.randrange(6)
    if kind == 0:
        rec.update(n=rng.randint(-10**6, 10**6), s=rng.choice(WORDS))
    elif kind == 1:
        rec.update(f=rng.choice([0.5, -0.0, float("inf"), rng.random()]), big=rng.choice([2**70, -2**65, 7]))
    elif kind == 2:
        rec.update(text="".join(rng.choice("abcdefgh é€😀") for _ in range(rng.randrange(600))))
    elif kind == 3:
        rec.update(raw=rng.randbytes(rng.randrange(300)), flag=rng.random() < 0.5, none=None)
    elif kind == 4:
        rec.update(tags=[rng.choice(WORDS) for _ in range(rng.randrange(5))],
                   nested={"a": {"b": [rng.randrange(100), {"c": None}]}})
    else:
        rec.update(mixed=rng.choice([1, "one", 1.0, [1, [2]], {"one": 1}, None, True, b"1"]))
    return rec


def append_batch(seed: int, b: int) -> tuple[str, list[tuple[str | None, dict]]]:
    """(style, [(key, record)]) of batch ``b`` of the append workload."""
    rng = _rng(seed, b)
    n = rng.randint(1, 25)
    style = rng.choice(["extend", "extend_keys", "append"])
    out = []
    for i in range(n):
        key = None
        if style == "extend_keys" or (style == "append" and rng.random() < 0.3):
            key = f"{seed}:{b}:{i}" if rng.random() < 0.9 else f"{b}:{i}:" + "L" * 600  # long keys
        out.append((key, make_record(rng, b, i)))
    return style, out


def churn_ops(seed: int, b: int) -> list[tuple]:
    """Operations of batch ``b`` of the churn workload (deletes apply only to present keys)."""
    rng = _rng(seed, b)
    ops: list[tuple] = []
    for i in range(rng.randint(1, 8)):
        r = rng.random()
        key = f"k{rng.randrange(24)}"
        if r < 0.5:
            ops.append(("put", key, make_record(rng, b, i)))
        elif r < 0.8:
            ops.append(("del", key))
        else:
            ops.append(("app", make_record(rng, b, i)))
    ops.append(("put", BATCH_KEY, {"b": b}))
    return ops


class Model:
    """The live (key, record) pairs a workload leaves after its batches ``0..batch``."""

    def __init__(self, mode: str, seed: int) -> None:
        self.mode, self.seed = mode, seed
        self.batch = -1
        self.items: list[tuple[str | None, Any]] = []

    def copy(self) -> "Model":
        m = Model(self.mode, self.seed)
        m.batch, m.items = self.batch, list(self.items)
        return m

    def step(self) -> "Model":
        """This model advanced by one batch (a new object)."""
        m = self.copy()
        m.batch += 1
        if self.mode == "append":
            m.items.extend(append_batch(self.seed, m.batch)[1])
            return m
        for op in churn_ops(self.seed, m.batch):
            keys = {k: i for i, (k, _) in enumerate(m.items) if k is not None}
            if op[0] == "put":
                if op[1] in keys:
                    m.items[keys[op[1]]] = (op[1], op[2])
                else:
                    m.items.append((op[1], op[2]))
            elif op[0] == "del":
                if op[1] in keys:
                    del m.items[keys[op[1]]]
            else:
                m.items.append((None, op[1]))
        return m


def apply_batch(ar: Any, mode: str, seed: int, b: int) -> None:
    """Perform batch ``b`` on an open writer (the child's side of :class:`Model.step`)."""
    if mode == "append":
        style, items = append_batch(seed, b)
        if style == "append":
            for key, rec in items:
                ar.append(rec, key=key)
        elif style == "extend_keys":
            ar.extend([r for _, r in items], keys=[k for k, _ in items])
        else:
            ar.extend([r for _, r in items])
        return
    for op in churn_ops(seed, b):
        if op[0] == "put":
            ar.put(op[1], op[2])
        elif op[0] == "del":
            if op[1] in ar:
                ar.delete(op[1])
        else:
            ar.append(op[1])


def next_batch(ar: Any, mode: str) -> int:
    """The batch a child reopening ``ar`` continues with."""
    if mode == "append":
        return ar[-1]["b"] + 1 if len(ar) else 0
    rec = ar.get(BATCH_KEY)
    return 0 if rec is None else rec["b"] + 1


def self_checking(i: int, rng: random.Random) -> dict:
    """A record that carries its own index and a digest of its content."""
    body = {"i": i, "pad": "p" * rng.randrange(200), "vals": [rng.randrange(1000) for _ in range(rng.randrange(8))]}
    body["h"] = digest(body)
    return body


def digest(rec: dict) -> str:
    clean = {k: v for k, v in rec.items() if k != "h"}
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:16]
