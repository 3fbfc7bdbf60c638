"""archive.dask on a real dask.distributed cluster of worker processes, checked against local scans."""
from __future__ import annotations

import json
import math
import os
import pickle
from collections import Counter

import pytest

import pyarrow  # noqa: F401
import dask.dataframe  # noqa: F401  (the dataframe extra must be importable)
import distributed
import pandas as pd

import dask

import archive
import archive.dask as ad

QTYPES = ["A", "AAAA", "PTR", "TXT"]


def _rec(day: int, i: int) -> dict:
    r = {"ts": day * 86400 + i * 0.5, "query": f"h{(i * 7) % 13}.example.org", "qtype_name": QTYPES[i % 4],
         "id.resp_p": 53, "rcode": 0 if i % 9 else 3, "answers": [f"10.0.{day}.{i % 250}"] * (i % 3)}
    if i % 5:
        r["rtt"] = (i % 100) / 1000
    r["code"] = i if day % 2 == 0 else str(i)  # int in some archives, str in others: JSON text
    return r


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    for day, n in enumerate([700, 450, 0, 611]):
        with archive.open(root / f"day-{day}", "a", group_rows=64) as ar:
            ar.extend([_rec(day, i) for i in range(n)])
    with archive.open_many(str(root / "day-*")) as m:
        local = list(m.scan())
    return str(root / "day-*"), local


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def test_plan_from_indexes(days):
    pattern, local = days
    parts, schema = ad.plan(pattern, partition_rows=200)
    assert sum(p.rows for p in parts) == len(local) == 1761
    # whole groups of 64: at most 200 rows => runs of 3 groups
    assert all(p.rows <= 200 and (p.g1 - p.g0) in (1, 2, 3) for p in parts)
    assert [os.path.basename(p.path) for p in parts].count("day-0") == math.ceil(700 / 192)
    assert all(type(p.path) is str and os.path.isabs(p.path) for p in parts)
    assert pickle.loads(pickle.dumps(parts)) == parts
    assert schema.field("code").metadata == {b"archive.json": b"1"}
    assert schema.field("rtt").type.id == 12  # double
    big, _ = ad.plan(pattern)
    assert len(big) == 3  # one partition per non-empty archive at the default size


def test_meta_matches_partitions(days, client):
    pattern, _ = days
    df = ad.read_archive(pattern, partition_rows=200)
    assert df.npartitions == len(ad.plan(pattern, partition_rows=200)[0])
    out = df.compute()
    assert list(out.columns) == list(df._meta.columns)
    assert dict(out.dtypes) == dict(df._meta.dtypes)
    assert str(df.dtypes["rcode"]) == "Int64" and str(df.dtypes["query"]) == "string"


def test_one_column_sum(days, client):
    pattern, local = days
    df = ad.read_archive(pattern, columns=["rtt"], partition_rows=200)
    got = df.rtt.sum().compute()
    assert math.isclose(got, sum(r["rtt"] for r in local if "rtt" in r))
    assert df.rtt.count().compute() == sum("rtt" in r for r in local)


def test_filtered_count(days, client):
    pattern, local = days
    where = 'qtype_name == "AAAA" and rcode != 0'
    want = sum(1 for r in local if r["qtype_name"] == "AAAA" and r["rcode"] != 0)
    pushed = ad.read_archive(pattern, columns=["qtype_name"], where=where, partition_rows=200)
    assert len(pushed) == want
    df = ad.read_archive(pattern, columns=["qtype_name", "rcode"], partition_rows=200)
    assert int(((df.qtype_name == "AAAA") & (df.rcode != 0)).sum().compute()) == want


def test_groupby(days, client):
    pattern, local = days
    df = ad.read_archive(pattern, columns=["query", "rtt"], partition_rows=200)
    got = df.groupby("query").agg({"rtt": ["count", "sum"]}).compute()
    got.columns = ["count", "sum"]
    cnt, tot = Counter(), Counter()
    for r in local:
        if "rtt" in r:
            cnt[r["query"]] += 1
            tot[r["query"]] += r["rtt"]
    assert {q: int(c) for q, c in got["count"].items()} == dict(cnt)
    assert all(math.isclose(got["sum"][q], tot[q], abs_tol=1e-12) for q in tot)


def test_mixed_type_column_and_order(days, client):
    pattern, local = days
    out = ad.read_archive(pattern, columns=["code", "answers"], partition_rows=200).compute()
    assert out["code"].tolist() == [json.dumps(r["code"]) for r in local]
    assert [list(a) for a in out["answers"]] == [r["answers"] for r in local]


def test_bag_of_records(days, client):
    pattern, local = days
    bag = ad.read_archive_bag(pattern, columns=["query", "rcode"], where="rcode == 3", partition_rows=200)
    want = [{"query": r["query"], "rcode": 3} for r in local if r["rcode"] == 3]
    assert bag.npartitions == len(ad.plan(pattern, partition_rows=200)[0])
    assert bag.compute() == want
    assert bag.pluck("query").frequencies().compute() and bag.count().compute() == len(want)


def test_tasks_run_in_worker_processes(days, client):
    pattern, _ = days
    df = ad.read_archive(pattern, columns=["rcode"], partition_rows=200)
    pids = df.map_partitions(lambda d: pd.DataFrame({"pid": [os.getpid()]}),
                             meta={"pid": "int64"}).compute()["pid"]
    workers = set(client.run(os.getpid).values())
    assert set(pids) <= workers and os.getpid() not in set(pids)


def test_threaded_scheduler_reads_one_archive_from_many_threads(days):
    """Partitions of one archive read concurrently in one process (LMDB: one handle each)."""
    pattern, local = days
    df = ad.read_archive(pattern, columns=["ts"], partition_rows=64)
    with dask.config.set(scheduler="threads", num_workers=4):
        assert math.isclose(df.ts.sum().compute(), sum(r["ts"] for r in local))


def test_empty_and_changed_archives(tmp_path):
    with archive.open(tmp_path / "e", "a"):
        pass
    df = ad.read_archive(str(tmp_path / "e"))
    assert len(df.compute()) == 0 and ad.read_archive_bag(str(tmp_path / "e")).compute() == []
    with archive.open(tmp_path / "c", "a", group_rows=10) as ar:
        ar.extend([{"n": i} for i in range(50)], [f"k{i}" for i in range(50)])
    parts, schema = ad.plan(str(tmp_path / "c"), partition_rows=20)
    assert len(ad.read_part_table(parts[1], schema)) == 20
    with archive.open(tmp_path / "c", "a") as ar:
        for i in range(0, 50, 3):
            ar.delete(f"k{i}")
        ar.commit()
        ar.compact()
    with pytest.raises(archive.ArchiveError, match="compacted"):
        ad.read_part_table(parts[1], schema)
    with pytest.raises(archive.QuerySyntaxError):
        ad.read_archive(str(tmp_path / "c"), where="n ==")
