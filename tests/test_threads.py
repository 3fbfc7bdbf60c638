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
