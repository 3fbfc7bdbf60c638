"""Codec and engine used from several threads at once.

zstd contexts are not thread-safe; a shared one corrupts its state and can kill the process.
The work runs in a child process so a crash is reported as a failure, not a dead test run.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import sys, threading, tempfile
    import numpy as np
    import archive
    from archive.codec.chunk import ChunkEncoder, decode_chunk

    rng = np.random.default_rng(7)
    cols = [("int", rng.integers(0, 1 << 40, 20000)),
            ("float", rng.normal(size=20000)),
            ("str", np.array([f"host-{i % 97}.example/{i}" for i in range(20000)], dtype=object))]
    errors = []

    def codec_work():
        enc = ChunkEncoder(3)          # one encoder per thread; selection shares nothing
        for _ in range(6):
            for kind, values in cols:
                chunk = enc.encode(kind, values)
                back_kind, back = decode_chunk(chunk.data)
                if back_kind != kind or list(back) != list(values):
                    errors.append(kind)

    path = tempfile.mkdtemp() + "/a"
    recs = [{"i": i, "host": f"h{i % 13}", "msg": f"GET /x/{i} 200 {i * 3}"} for i in range(30000)]
    with archive.open(path, "a", group_rows=1024) as ar:
        ar.extend(recs, keys=[f"k{i}" for i in range(len(recs))])
    reader = archive.open(path, cache_bytes=1)   # one handle shared by every thread

    def read_work(seed):
        r = np.random.default_rng(seed)
        for _ in range(40):
            i = int(r.integers(0, len(recs)))
            if reader[i] != recs[i] or reader.get(f"k{i}") != recs[i]:
                errors.append(("read", i))

    threads = [threading.Thread(target=codec_work) for _ in range(3)]
    threads += [threading.Thread(target=read_work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader.close()
    print("errors", errors)
    sys.exit(1 if errors else 0)
""")


def test_codec_and_reads_from_many_threads() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "errors []" in done.stdout


def test_one_handle_shared_by_readers_and_a_writer(tmp_path) -> None:
    """Reads through a shared handle stay exact and its cache accounting stays true while
    another thread appends and commits through the same handle."""
    import threading

    import numpy as np

    import archive

    recs = [{"i": i, "host": f"h{i % 13}", "msg": f"GET /x/{i} 200 {i * 3}"} for i in range(6000)]
    ar = archive.open(tmp_path / "a", "a", group_rows=128, cache_bytes=60_000)
    ar.extend(recs[:3000], keys=[f"k{i}" for i in range(3000)])
    ar.commit()
    errors: list = []

    def read(seed: int) -> None:
        r = np.random.default_rng(seed)
        for _ in range(400):
            i = int(r.integers(0, 3000))
            j = int(r.integers(0, 3000))
            if ar[i] != recs[i] or ar.take([i, j]) != [recs[i], recs[j]] or ar.get(f"k{j}") != recs[j]:
                errors.append((seed, i, j))

    def write() -> None:
        for a in range(3000, 6000, 500):
            ar.extend(recs[a:a + 500], keys=[f"k{i}" for i in range(a, a + 500)])
            ar.commit()

    def guarded(fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # an exception in a thread must fail the test, not just warn
            errors.append(repr(e))

    threads = [threading.Thread(target=guarded, args=(read, s)) for s in range(3)]
    threads.append(threading.Thread(target=guarded, args=(write,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert ar._cached_bytes == sum(size for _, size in ar._groups.values())
        assert len(ar) == len(recs) and ar.take(range(0, 6000, 7)) == recs[::7]
    finally:
        ar.close()
