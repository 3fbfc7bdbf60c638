"""Round trips of the real data in ../shared/data through the public API."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import archive
from archive.query import parse
from tests.conftest import loghub_lines
from tests.strategies import exact


def _zeek(shared: Path) -> list:
    with gzip.open(shared / "zeek" / "dns.json.gz", "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def _simdjson(shared: Path, name: str) -> list:
    doc = json.loads((shared / "simdjson" / name).read_text(encoding="utf-8"))
    if name == "twitter.json":
        return doc["statuses"]
    if name == "canada.json":
        return doc["features"]
    if name == "citm_catalog.json":
        return list(doc["events"].values()) + doc["performances"]
    if isinstance(doc, dict):
        return list(doc.values())
    return doc


def _loghub(shared: Path) -> list:
    out: list = []
    for p in sorted((shared / "loghub").glob("*_2k.log")):
        out += loghub_lines(p)
    return out


SETS = ["zeek", "twitter.json", "canada.json", "citm_catalog.json", "gsoc-2018.json",
        "github_events.json", "loghub"]


def _records(shared: Path, name: str) -> list:
    if name == "zeek":
        return _zeek(shared)
    if name == "loghub":
        return _loghub(shared)
    return _simdjson(shared, name)


@pytest.mark.parametrize("name", SETS)
def test_round_trip(shared_data, tmp_path, name):
    recs = _records(shared_data, name)
    with archive.open(tmp_path / "a", "a", group_rows=4096) as ar:
        ar.extend(recs)
    with archive.open(tmp_path / "a") as ar:
        assert len(ar) == len(recs)
        assert exact(list(ar.scan())) == exact(recs)
        rng = np.random.default_rng(0)
        pos = rng.permutation(len(recs))[:200]  # distinct: a repeated huge record would only test memory
        assert exact(ar.take(pos)) == exact([recs[i] for i in pos])
        assert exact(ar[-1]) == exact(recs[-1])
        assert ar.verify() == []


@pytest.fixture(scope="module")
def zeek_archive(tmp_path_factory):
    from tests.conftest import SHARED_DATA
    recs = _zeek(SHARED_DATA)
    path = tmp_path_factory.mktemp("zeek") / "a"
    with archive.open(path, "a", group_rows=8192) as ar:
        ar.extend(recs, keys=[r["uid"] + str(i) for i, r in enumerate(recs)])
    return path, recs


WHERES = [
    "qtype_name == 'AAAA'",
    "`id.resp_p` == 53 and rcode_name != 'NOERROR'",
    "`id.orig_p` >= 60000 or `id.orig_p` < 100",
    "query startswith 'www.' and not AA == true",
    "query contains 'google'",
    "answers contains '8.8.8.8'",
    "not exists answers",
    "rcode_name in ['NXDOMAIN', 'SERVFAIL'] and ts > '2018-03-24T17:30'",
    "query matches '^[0-9]+\\\\.'",
    "ts < '2000'",
]


@pytest.mark.parametrize("where", WHERES)
def test_where_against_plain_filter(zeek_archive, where):
    path, recs = zeek_archive
    expr = parse(where)
    with archive.open(path) as ar:
        got = list(ar.scan(where=where))
        assert exact(got) == exact([r for r in recs if expr.matches(r)])
        proj = list(ar.scan(columns=[("query",), ("id.orig_h",)], where=where))
        want = [{k: r[k] for k in r if k in ("query", "id.orig_h")} for r in recs if expr.matches(r)]
        assert proj == want


def test_keys_replace_delete_and_reopen(zeek_archive, tmp_path):
    _, recs = zeek_archive
    keys = [r["uid"] + str(i) for i, r in enumerate(recs[:3000])]
    with archive.open(tmp_path / "a", "a", group_rows=1000) as ar:
        ar.extend(recs[:3000], keys=keys)
        ar.commit()
        assert exact(ar.get_many([keys[5], "nope", keys[2999]])) == exact([recs[5], None, recs[2999]])
        ar.put(keys[10], {"replaced": 1})
        ar.delete(keys[11])
        with pytest.raises(archive.KeyExistsError):
            ar.append({}, key=keys[12])
    with archive.open(tmp_path / "a") as ar:
        assert len(ar) == 2999
        assert ar[10] == {"replaced": 1} and ar.get(keys[10]) == {"replaced": 1}
        assert ar.get(keys[11]) is None and exact(ar[11]) == exact(recs[12])
        assert ar.verify() == []
    with archive.open(tmp_path / "a", "a") as ar:
        before = ar.stats()["segment_bytes"]
        ar.compact()
        assert ar.stats()["segment_bytes"] <= before
        assert ar[10] == {"replaced": 1} and exact(ar[11]) == exact(recs[12])
        assert exact(ar.get(keys[2999])) == exact(recs[2999])


def test_stats_skip_groups_without_decoding(zeek_archive, monkeypatch):
    path, recs = zeek_archive
    from archive.engine import chunkio
    calls = []
    for name in ("decode_ref", "decode_refs"):  # every chunk the engine reads goes through these
        real = getattr(chunkio, name)
        monkeypatch.setattr(chunkio, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    with archive.open(path) as ar:
        assert list(ar.scan(where="ts < '2000'")) == []  # every group ruled out by min/max
        assert list(ar.scan(where="no_such_field == 1")) == []
        assert calls == []
        assert len(list(ar.scan(where="ts >= '2018'"))) == len(recs)  # the probe does see decodes
    assert calls


def test_column_and_chunks(zeek_archive):
    path, recs = zeek_archive
    with archive.open(path) as ar:
        ts = ar.column("ts")
        assert ts.dtype == object and ts.tolist() == [r["ts"] for r in recs]
        ports = ar.column(("id.orig_p",))
        assert ports.dtype == np.int64 and ports.tolist() == [r["id.orig_p"] for r in recs]
        coll = ar.chunks(("id.orig_p",))
        assert len(coll) >= 2 and coll.size > 0
        from archive.codec.chunk import decode_chunk
        kinds = {decode_chunk(c)[0] for c in coll}
        assert kinds == {"int"}
