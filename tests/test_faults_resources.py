"""Resources: a disk that fills up mid-write, and LMDB map growth under a long ingest.

The full disk is ``RLIMIT_FSIZE`` in a child (SIGXFSZ ignored, so an over-limit write fails
with EFBIG, as it would with ENOSPC): depending on sizes the segment file or LMDB's data.mdb
hits the limit first.  Either way the writer raises StorageError, the archive stays at its last
commit (readable, in the same process and after reopening) and takes appends again once there
is room.  Map growth: an ingest that outgrows the index's map (lowered to 1 MiB in the CI run,
the real 64 MiB one, with 1M records, in the slow run) while a reader process refreshes and looks keys up.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter

import pytest

import archive
from archive.errors import StorageError
from tests.faults.child import outcome
from tests.faults.tasks import _long_key, fsize_record
from tests.faults.fixtures import forker_fixture

FIGURES: Counter = Counter()
PROFILE_SLOW = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
forker = forker_fixture("resource", FIGURES)


CASES = {
    # fat incompressible records, one big segment file: the segment write fails first
    "segment file": dict(settings=dict(segment_bytes=64 << 20, group_rows=20), keys=False, pad=5000,
                         limit=2_000_000),
    # tiny records with 100-byte keys in small segments: LMDB's commit fails first
    "index": dict(settings=dict(segment_bytes=4096, chunk_bytes=1024, group_rows=50), keys=True, pad=1,
                  limit=400_000),
    # a group flush inside extend (not commit) hits the limit
    "flush inside extend": dict(settings=dict(segment_bytes=64 << 20, group_rows=5), keys=False, pad=3000,
                                limit=600_000),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_disk_full(forker, tmp_path, case):
    spec = CASES[case]
    path = tmp_path / "a"
    res = forker.run("fsize", path=str(path), out=str(tmp_path / "r.json"), err=str(tmp_path / "r.err"),
                     max_records=10**6, batch=37, **spec)
    assert res["code"] == 0, outcome(res, tmp_path / "r.err")
    got = json.loads((tmp_path / "r.json").read_text())
    assert "unexpected" not in got and got["error"][0] == "StorageError", got
    n = got["committed"]
    assert n > 0 and got["len_after"] == n and got["last_ok"] and got["closed"], got
    # Reopened with room again: exactly the committed records, clean, and it appends.
    with archive.open(path) as ar:
        assert len(ar) == n and ar.verify() == []
        for i in (0, n // 2, n - 1):
            assert ar[i] == fsize_record(i, spec["pad"])
        if spec["keys"]:
            assert ar.get(f"key-{n - 1:08d}" + "q" * 80)["i"] == n - 1
    with archive.open(path, "a") as ar:
        ar.extend([fsize_record(n + j, spec["pad"]) for j in range(50)])
    with archive.open(path) as ar:
        assert len(ar) == n + 50 and ar[-1] == fsize_record(n + 49, spec["pad"]) and ar.verify() == []
    FIGURES["disk-full failures survived"] += 1
    FIGURES["records committed before the disk filled"] += n


def test_storage_error_in_process(tmp_path, monkeypatch):
    """The same contract without a child: a failing segment write (any OSError) and a failing
    index commit each raise StorageError and leave the last commit intact and writable."""
    import os as os_mod

    from archive.storage import segments
    with archive.open(tmp_path / "a", "a", group_rows=4) as ar:
        ar.extend([{"i": i} for i in range(10)])
        ar.commit()
        real_write = segments.SegmentWriter.append

        def failing(self, data):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(segments.SegmentWriter, "append", failing)
        with pytest.raises(StorageError):
            ar.extend([{"i": i} for i in range(10, 20)])
        assert len(ar) == 10
        monkeypatch.setattr(segments.SegmentWriter, "append", real_write)
        real_fsync = os_mod.fsync
        monkeypatch.setattr(os_mod, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
        ar.extend([{"i": i} for i in range(10, 13)])
        with pytest.raises(StorageError):
            ar.commit()
        monkeypatch.setattr(os_mod, "fsync", real_fsync)
        assert len(ar) == 10 and [r["i"] for r in ar] == list(range(10))
        ar.extend([{"i": i} for i in range(10, 12)])
    with archive.open(tmp_path / "a") as ar:
        assert [r["i"] for r in ar] == list(range(12)) and ar.verify() == []


def test_map_growth_under_a_reader(forker, tmp_path):
    path, log, done = tmp_path / "a", tmp_path / "w.log", tmp_path / "done"
    if PROFILE_SLOW:  # the real 64 MiB map, outgrown by 1M records with 100-byte keys
        initial, records, batch = 64 << 20, 1_000_000, 10_000
    else:
        initial, records, batch = 1 << 18, 50_000, 1000  # the compact key index needs little
    w = forker.start("map_writer", path=str(path), log=str(log), err=str(tmp_path / "w.err"),
                     initial_map=initial, records=records, batch=batch)
    deadline = time.monotonic() + 60
    while "committed" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r = forker.start("map_reader", path=str(path), done=str(done), initial_map=initial,
                     out=str(tmp_path / "r.json"), err=str(tmp_path / "r.err"))
    res = forker.wait(w, timeout=1200)
    assert res["code"] == 0, outcome(res, tmp_path / "w.err")
    done.touch()
    res = forker.wait(r, timeout=300)
    assert res["code"] == 0, outcome(res, tmp_path / "r.err")
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["problems"] == [] and got["final"] == records and got["lookups"] > 0, got["problems"][:5]
    sizes = [int(m) for m in re.findall(r"^committed \d+ (\d+)$", log.read_text(), re.M)]
    assert sizes[-1] > initial, "the map never grew"
    FIGURES["map doublings"] += (sizes[-1] // initial).bit_length() - 1
    FIGURES["key lookups during growth"] += got["lookups"]
    with archive.open(path) as ar:
        assert len(ar) == records
        for i in (0, records // 3, records - 1):
            assert ar.get(_long_key(i)) == {"i": i}
        assert ar.verify() == []
