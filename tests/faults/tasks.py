"""The tasks a fault-test child runs (see :mod:`tests.faults.child`), by name in :data:`TASKS`.

Each takes its JSON spec; results go to the files the spec names (a writer's ``committed``
lines, a reader's JSON at ``spec["out"]``).
"""
from __future__ import annotations

import json
import os
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from tests.faults.kill_points import install_hook


def task_writer(spec: dict) -> None:
    """A crash-test writer: batches of a workload, each committed and then reported.
    ``settings`` (default: the workload's) and ``target`` (bundles closed after this many
    member bytes) are optional (tests/faults/bundle_writer.py gives them)."""
    import archive
    from archive.storage import bundles
    from tests.faults import workload as wl

    install_hook(spec.get("die"))
    if "target" in spec:
        bundles.BUNDLE_TARGET = spec["target"]  # type: ignore[misc]  # read by each BundlePacker.add
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    ar = archive.open(spec["path"], "a", lock_timeout=30, **spec.get("settings", wl.SETTINGS))
    mode, seed = spec["mode"], spec["seed"]
    b = wl.next_batch(ar, mode)
    os.write(log, f"open {b}\n".encode())
    for _ in range(spec["max_batches"]):
        wl.apply_batch(ar, mode, seed, b)
        ar.commit()
        os.write(log, f"committed {b}\n".encode())
        if mode == "churn" and b % wl.COMPACT_EVERY == wl.COMPACT_EVERY - 1:
            ar.compact()
            os.write(log, f"compacted {b}\n".encode())
        b += 1
    ar.close()
    os.write(log, b"closed\n")


def _limit_memory(spec: dict) -> None:
    import resource
    limit = int(spec.get("as_limit", 2 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _fingerprint(rec: Any) -> str:
    import hashlib

    from tests.strategies import exact
    return hashlib.sha1(repr(exact(rec)).encode()).hexdigest()


def _err(e: BaseException) -> list:
    return [type(e).__name__, str(e), getattr(e, "path", None), getattr(e, "offset", None)]


def task_read(spec: dict) -> None:
    """Read everything of a (possibly damaged) archive under a memory limit; report per
    position a fingerprint or the error, and what verify() says.  Errors other than
    ArchiveError propagate (the child exits 1): they are findings."""
    _limit_memory(spec)
    import archive

    res: dict[str, Any] = {"records": {}, "errors": {}, "keys": {}, "key_errors": {}}
    try:
        ar = archive.open(spec["path"], spec.get("mode", "r"))
    except archive.ArchiveError as e:
        res["open_error"] = _err(e)
    else:
        res["len"] = n = len(ar)
        for i in range(min(n, spec.get("max_positions", 10**9))):
            try:
                res["records"][i] = _fingerprint(ar[i])
            except archive.ArchiveError as e:
                res["errors"][i] = _err(e)
        for k in spec.get("keys", []):
            try:
                res["keys"][k] = _fingerprint(ar.get(k))
            except archive.ArchiveError as e:
                res["key_errors"][k] = _err(e)
        for name, where in (("scan", None), ("where", spec.get("where"))):
            try:
                res[name] = len(list(ar.scan(where=where)))
            except archive.ArchiveError as e:
                res[name] = _err(e)
        res["verify"] = ar.verify()
        ar.close()
        if spec.get("append"):  # a writer on the damaged archive still appends
            with archive.open(spec["path"], "a") as w:
                w.append({"after": "damage"})
            with archive.open(spec["path"]) as ar:
                res["appended"] = len(ar) == n + 1 and ar[-1] == {"after": "damage"}
    Path(spec["out"]).write_text(json.dumps(res))


def task_decode(spec: dict) -> None:
    """Decode hostile chunks under a memory limit: each must decode or raise CorruptChunkError."""
    _limit_memory(spec)
    from archive.codec.chunk import decode_chunk
    from archive.errors import CorruptChunkError

    res = []
    for hexdata in spec["chunks"]:
        try:
            kind, values = decode_chunk(bytes.fromhex(hexdata))
            res.append(["ok", kind, len(values)])
        except CorruptChunkError as e:
            res.append(["corrupt", str(e)])
    Path(spec["out"]).write_text(json.dumps(res))


def task_stream_writer(spec: dict) -> None:
    """Appends self-checking records for ``seconds``, committing every batch and reporting
    the committed total."""
    import random

    import archive
    from tests.faults import workload as wl

    rng = random.Random(spec["seed"])
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    ar = archive.open(spec["path"], "a", **wl.SETTINGS)
    deadline = time.monotonic() + spec["seconds"]
    n = len(ar)
    while time.monotonic() < deadline:
        batch = [wl.self_checking(n + j, rng) for j in range(rng.randint(1, 30))]
        ar.extend(batch, keys=[f"r{r['i']}" for r in batch])
        ar.commit()
        n += len(batch)
        os.write(log, f"committed {n}\n".encode())
    if spec.get("hold"):  # keep the lock a little longer (the lock_timeout test waits for it)
        time.sleep(spec["hold"])
    ar.close()
    os.write(log, b"closed\n")


def _refresh(ar: Any, res: dict, last: int) -> int:
    """Move a reader to the newest commit and return its length, noting one below ``last``."""
    ar.refresh()
    res["refreshes"] += 1
    n = len(ar)
    if n < last:
        res["problems"].append(f"length went from {last} to {n}")
    return n


def task_reader(spec: dict) -> None:
    """Refreshes in a loop while a writer appends: lengths only grow, every record read is
    whole and is the one written at its position."""
    import random

    import archive
    from tests.faults import workload as wl

    rng = random.Random(spec["seed"])
    res: dict[str, Any] = {"refreshes": 0, "reads": 0, "lens": [], "problems": []}
    while not os.path.exists(Path(spec["path"]) / "index"):
        time.sleep(0.005)
    ar = None
    while ar is None:
        try:
            ar = archive.open(spec["path"])
        except archive.ArchiveError:  # created but not yet initialised
            time.sleep(0.005)
    last = 0
    done = Path(spec["done"])
    while True:
        finished = done.exists()
        n = _refresh(ar, res, last)
        res["lens"].append(n)
        if n:
            new = list(range(last, n))[-50:]
            old = [rng.randrange(n) for _ in range(10)]
            for i, rec in zip(new + old, ar.take(new + old)):
                res["reads"] += 1
                if rec.get("i") != i or rec.get("h") != wl.digest(rec):
                    res["problems"].append(f"position {i} holds {rec!r}")
            k = rng.randrange(n)
            rec = ar.get(f"r{k}")
            if rec is None or rec["i"] != k:
                res["problems"].append(f"key r{k} gives {rec!r}")
        last = max(last, n)
        if finished:
            break
    res["lens"] = res["lens"][-5:]
    res["final"] = last
    ar.close()
    Path(spec["out"]).write_text(json.dumps(res))


def task_fsize(spec: dict) -> None:
    """A writer whose files may not grow past ``limit`` bytes (a full disk, per file):
    commits until the write fails, then checks the failure left the last commit intact."""
    import resource

    import archive

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-limit writes fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (spec["limit"], spec["limit"]))
    res: dict[str, Any] = {"committed": 0}
    ar = archive.open(spec["path"], "a", **spec["settings"])
    i = 0
    try:
        while i < spec["max_records"]:
            batch = [fsize_record(i + j, spec["pad"]) for j in range(spec["batch"])]
            ar.extend(batch, keys=[f"key-{i + j:08d}" + "q" * 80 for j in range(spec["batch"])] if spec["keys"] else None)
            ar.commit()
            i += len(batch)
            res["committed"] = i
    except archive.StorageError as e:
        res["error"] = [type(e).__name__, e.errno, str(e)]
    except BaseException as e:  # what the test must not see
        res["error"] = [type(e).__name__, getattr(e, "errno", None), str(e)]
        res["unexpected"] = traceback.format_exc()
    res["len_after"] = len(ar)
    res["last_ok"] = ar[-1]["i"] == res["committed"] - 1 if len(ar) else None
    try:
        ar.close()
        res["closed"] = True
    except BaseException as e:
        res["close_error"] = [type(e).__name__, str(e)]
    Path(spec["out"]).write_text(json.dumps(res))


def fsize_record(i: int, pad: int) -> dict:
    import random
    return {"i": i, "pad": random.Random(i).randbytes(pad // 2).hex(), "r": f"{i * 2654435761 % 2**32:08x}"}


def task_map_writer(spec: dict) -> None:
    """Ingests keyed records with a small initial LMDB map, forcing it to grow repeatedly."""
    from archive.index import store
    store.INITIAL_MAP = spec["initial_map"]
    import archive

    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    ar = archive.open(spec["path"], "a")
    n, b = 0, spec["batch"]
    while n < spec["records"]:
        ar.extend([{"i": n + j} for j in range(b)], keys=[_long_key(n + j) for j in range(b)])
        ar.commit()
        n += b
        os.write(log, f"committed {n} {ar.store.map_size()}\n".encode())
    ar.close()


def _long_key(i: int) -> str:
    return f"{i:012d}-" + "k" * 87  # 100 bytes


def task_map_reader(spec: dict) -> None:
    """Reads keys while the map grows under it."""
    import random

    from archive.index import store
    store.INITIAL_MAP = spec["initial_map"]
    import archive

    rng = random.Random(1)
    res: dict[str, Any] = {"refreshes": 0, "lookups": 0, "problems": []}
    ar = archive.open(spec["path"])
    done = Path(spec["done"])
    last = 0
    while True:
        finished = done.exists()
        last = n = _refresh(ar, res, last)
        for k in [rng.randrange(n) for _ in range(20)] if n else []:
            res["lookups"] += 1
            rec = ar.get(_long_key(k))
            if rec != {"i": k}:
                res["problems"].append(f"key {k}: {rec!r}")
        if finished:
            break
    res["final"] = last
    res["map_size"] = ar.store.map_size()
    ar.close()
    Path(spec["out"]).write_text(json.dumps(res))


def task_snapshot_reader(spec: dict) -> None:
    """While a churn writer puts, deletes and compacts: after each refresh, the whole content
    and the ``__batch__`` record it names, so the parent can check every snapshot seen is
    exactly the state after one commit."""
    import archive
    from tests.faults import workload as wl

    res: dict[str, Any] = {"snapshots": {}, "refreshes": 0, "errors": []}
    ar = archive.open(spec["path"])
    done = Path(spec["done"])
    while True:
        finished = done.exists()
        ar.refresh()
        res["refreshes"] += 1
        try:
            content = list(ar.scan())
            b = ar.get(wl.BATCH_KEY)
        except archive.ArchiveError as e:
            res["errors"].append(_err(e))
            continue
        res["snapshots"].setdefault(str(-1 if b is None else b["b"]), []).append(_fingerprint(content))
        if finished:
            break
    res["snapshots"] = {k: sorted(set(v)) for k, v in res["snapshots"].items()}
    ar.close()
    Path(spec["out"]).write_text(json.dumps(res))


TASKS = {
    "writer": task_writer, "read": task_read, "decode": task_decode,
    "stream_writer": task_stream_writer, "reader": task_reader, "fsize": task_fsize,
    "map_writer": task_map_writer, "map_reader": task_map_reader,
    "snapshot_reader": task_snapshot_reader,
}
