"""Child processes of the fault tests.

Run as a script (``python tests/faults/child.py``) this is a *zygote*: it imports the package
once, then, for each JSON command line on stdin, forks a child that runs one task (a writer
session the parent will SIGKILL, a reader, a risky read under ``RLIMIT_AS``...) and answers
with the child's pid; ``wait`` reaps a child and reports how it ended.  Forking a warmed-up
process costs milliseconds where starting Python costs half a second, which is what lets a CI
run afford dozens of kills.  The zygote never opens an archive itself (LMDB environments must
not cross a fork).

Tasks write what the parent must know to files named in their spec: a writer appends one
``committed <batch>`` line (unbuffered ``os.write``, so it survives SIGKILL) after each
``commit()`` returns; readers write a JSON result at the end.  A task that raises exits 1 with
its traceback in ``<spec["err"]>``: the parent fails the test and shows it.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- parent side
class Forker:
    """The parent's handle on a zygote (see the module docstring)."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        assert self._recv(60) == {"ready": True}

    def _recv(self, timeout: float) -> Any:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the zygote did not answer"
        line = self.proc.stdout.readline()
        assert line, f"the zygote died (status {self.proc.poll()})"
        return json.loads(line)

    def _ask(self, msg: dict, timeout: float = 60) -> Any:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._recv(timeout)

    def start(self, task: str, **spec: Any) -> int:
        """Fork a child running ``task``; returns its pid."""
        return self._ask({"cmd": "run", "task": task, "spec": spec})["pid"]

    def wait(self, pid: int, timeout: float = 120) -> dict:
        """Reap a child: ``{"signal": n|None, "code": n|None, "timeout": bool}`` (a child still
        running after ``timeout`` seconds is killed and reported with ``timeout`` true)."""
        return self._ask({"cmd": "wait", "pid": pid, "timeout": timeout}, timeout + 30)

    def run(self, task: str, timeout: float = 120, **spec: Any) -> dict:
        return self.wait(self.start(task, **spec), timeout)

    def close(self) -> None:
        try:
            self._ask({"cmd": "exit"}, 10)
        except (AssertionError, OSError, ValueError):
            pass
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


def outcome(res: dict, err: str | os.PathLike | None = None) -> str:
    """How a child ended, with its stderr when it failed, for assertion messages."""
    text = ""
    if err is not None and os.path.exists(err):
        text = Path(err).read_text(errors="replace")[-4000:]
    return f"{res} {text}"


def last_committed(log: Path, default: int) -> int:
    """The number of the last ``committed <n>`` line of a writer's log, or ``default`` while
    there is none (no log yet, or nothing committed)."""
    found = re.findall(r"^committed (\d+)$", log.read_text() if log.exists() else "", re.M)
    return int(found[-1]) if found else default


# --------------------------------------------------------------------------- zygote
def _zygote() -> None:
    import archive  # noqa: F401  (warm up: every child inherits the imports)
    import numpy  # noqa: F401
    import tests.faults.workload  # noqa: F401
    import tests.strategies  # noqa: F401

    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "exit":
            out.write("{}\n")
            out.flush()
            return
        if msg["cmd"] == "run":
            spec = msg["spec"]
            pid = os.fork()
            if pid == 0:
                _child(msg["task"], spec)  # never returns
            out.write(json.dumps({"pid": pid}) + "\n")
        elif msg["cmd"] == "wait":
            out.write(json.dumps(_reap(msg["pid"], msg["timeout"])) + "\n")
        out.flush()


def _reap(pid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status), "code": None, "timeout": timed_out}
    return {"signal": None, "code": os.WEXITSTATUS(status), "timeout": timed_out}


def _child(task: str, spec: dict) -> None:
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        err = os.open(spec.get("err", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(err, 1)
        os.dup2(err, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        TASKS[task](spec)
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


# --------------------------------------------------------------------------- tasks
def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_hook(die: list | None) -> None:
    """Make the process SIGKILL itself at the ``k``-th pass through one precise point."""
    if not die:
        return
    name, k = die
    calls = [0]

    def hit() -> bool:
        calls[0] += 1
        return calls[0] == k

    from archive.index import store
    from archive.storage import segments

    if name == "chunk_write":  # a torn chunk: half of it reaches the file
        orig_append = segments.SegmentWriter.append

        def append(self, data):  # type: ignore[no-untyped-def]
            if hit():
                orig_append(self, data[: max(1, len(data) // 2)])
                self._f.flush()
                _die()
            return orig_append(self, data)
        segments.SegmentWriter.append = append
    elif name in ("rotate", "rotate_empty"):  # a new segment file, with or without its header
        orig_rotate = segments.SegmentWriter._rotate

        def rotate(self):  # type: ignore[no-untyped-def]
            if hit():
                if name == "rotate_empty":
                    (self.directory / segments.segment_name(self.file_no + 1)).touch()
                else:
                    orig_rotate(self)
                    self._f.flush()
                _die()
            return orig_rotate(self)
        segments.SegmentWriter._rotate = rotate
    elif name == "fsync":  # data written, not yet synced, index not committed
        orig_fsync = os.fsync

        def fsync(fd):  # type: ignore[no-untyped-def]
            if hit():
                _die()
            return orig_fsync(fd)
        os.fsync = fsync
    elif name in ("index_txn", "index_committed", "swap_txn", "swap_committed"):
        orig_write = store.IndexStore.write

        def write(self, fn):  # type: ignore[no-untyped-def]
            counts = not name.startswith("swap") or getattr(fn, "__name__", "") == "swap"
            if counts and name.endswith("_txn") and hit():
                txn = self.env.begin(write=True)
                fn(txn)  # every put of the commit made, never committed: die holding the lock
                _die()
            result = orig_write(self, fn)
            if counts and name.endswith("_committed") and hit():
                _die()  # durable, but neither reported nor cleaned up after
            return result
        store.IndexStore.write = write
    elif name == "unlink":  # compaction committed, old files partly removed
        orig_unlink = Path.unlink

        def unlink(self, *a, **kw):  # type: ignore[no-untyped-def]
            orig_unlink(self, *a, **kw)
            if self.name.startswith("seg-") and hit():
                _die()
        Path.unlink = unlink
    else:
        raise ValueError(f"unknown kill point {name}")


def task_writer(spec: dict) -> None:
    """A crash-test writer: batches of a workload, each committed and then reported."""
    import archive
    from tests.faults import workload as wl

    _install_hook(spec.get("die"))
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    ar = archive.open(spec["path"], "a", lock_timeout=30, **wl.SETTINGS)
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
        ar.refresh()
        res["refreshes"] += 1
        n = len(ar)
        if n < last:
            res["problems"].append(f"length went from {last} to {n}")
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
        ar.refresh()
        res["refreshes"] += 1
        n = len(ar)
        if n < last:
            res["problems"].append(f"length went from {last} to {n}")
        last = n
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

if __name__ == "__main__":
    _zygote()
