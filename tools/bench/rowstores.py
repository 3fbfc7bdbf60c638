"""Row-store peers: SQLite with JSON text rows, LMDB with per-record zstd + trained dictionary,
and one zstd -19 compressed JSON-lines file.  Same interface as :mod:`peers`."""
from __future__ import annotations

import sqlite3
from typing import ClassVar

import numpy as np
import orjson
from peers import Peer, fsync, py_match


# --- row stores ------------------------------------------------------------------------------
def _json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join('."' + k.replace('"', '\\"') + '"' for k in path)


class SQLite(Peer):
    name = "sqlite"
    HOW: ClassVar[dict[str, str]] = {"get_pos": "SELECT doc WHERE pos=? (INTEGER PRIMARY KEY)",
           "get_key": "SELECT doc WHERE key=? (UNIQUE index)",
           "take": "one SELECT per position", "column": "SELECT json_extract(doc, path) ORDER BY pos",
           "filter": "SELECT doc WHERE json_extract(doc, path) op ?",
           "cold": "same connection (SQLite page cache 2 MB)", "warm": "same connection"}

    def ingest(self, lines, keys):
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.root / "db.sqlite")
        con.execute("CREATE TABLE t (pos INTEGER PRIMARY KEY, key TEXT UNIQUE, doc TEXT)")
        with con:
            con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                            ((i, k, x.decode()) for i, (k, x) in enumerate(zip(keys, lines))))
        con.close()

    def open(self, cold):
        self.con = sqlite3.connect(self.root / "db.sqlite")

    def close(self):
        self.con.close()

    def get_pos(self, i):
        return orjson.loads(self.con.execute("SELECT doc FROM t WHERE pos=?", (i,)).fetchone()[0])

    def get_key(self, k):
        return orjson.loads(self.con.execute("SELECT doc FROM t WHERE key=?", (k,)).fetchone()[0])

    def take(self, pos):
        q = self.con.execute
        return [orjson.loads(q("SELECT doc FROM t WHERE pos=?", (int(i),)).fetchone()[0]) for i in pos]

    def column(self, name):
        cur = self.con.execute("SELECT json_extract(doc, ?) FROM t ORDER BY pos", (_json_path((name,)),))
        return [r[0] for r in cur]

    def filter(self, flt):
        path, op, val = flt
        cur = self.con.execute(f"SELECT doc FROM t WHERE json_extract(doc, ?) {op.replace('==', '=')} ?",
                               (_json_path(path), val))
        return [orjson.loads(r[0]) for r in cur]


class LmdbZstd(Peer):
    name = "lmdb-zstd"
    LEVEL = 9
    HOW: ClassVar[dict[str, str]] = {"get_pos": "txn.get(pos big-endian) + zstd(dict) decompress + orjson",
           "get_key": "key DB -> pos, then as get_pos", "take": "get_pos per position",
           "column": "decompress + parse every record", "filter": "decompress + parse + test every record",
           "cold": "same env and read txn (OS page cache only)", "warm": "same"}

    def ingest(self, lines, keys):
        import lmdb
        import zstandard as zstd
        self.root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(7)
        pick = rng.choice(len(lines), min(len(lines), 20000), replace=False)
        total = sum(map(len, lines))
        try:
            d = zstd.train_dictionary(int(min(112640, max(2048, total // 50))), [lines[i] for i in pick])
            raw = d.as_bytes()
        except zstd.ZstdError:  # too few samples: plain per-record zstd
            d, raw = None, b""
        cctx = zstd.ZstdCompressor(level=self.LEVEL, dict_data=d, write_content_size=True)
        env = lmdb.open(str(self.root), map_size=max(1 << 30, total * 4), max_dbs=3, sync=True)
        recs, kdb, meta = (env.open_db(n) for n in (b"recs", b"keys", b"meta"))
        with env.begin(write=True) as txn:
            txn.put(b"dict", raw, db=meta)
            with txn.cursor(recs) as c:
                c.putmulti(((i.to_bytes(8, "big"), cctx.compress(x)) for i, x in enumerate(lines)),
                           append=True)
            with txn.cursor(kdb) as c:
                c.putmulti((k.encode(), i.to_bytes(8, "big")) for i, k in enumerate(keys))
        env.sync(True)
        env.close()

    def open(self, cold):
        import lmdb
        import zstandard as zstd
        self.env = lmdb.open(str(self.root), readonly=True, max_dbs=3, lock=False)
        self.recs, self.kdb, meta = (self.env.open_db(n, create=False) for n in (b"recs", b"keys", b"meta"))
        self.txn = self.env.begin()
        raw = self.txn.get(b"dict", db=meta)
        d = zstd.ZstdCompressionDict(raw) if raw else None
        self.dctx = zstd.ZstdDecompressor(dict_data=d)

    def close(self):
        self.txn.abort()
        self.env.close()

    def _at(self, kb: bytes):
        return orjson.loads(self.dctx.decompress(self.txn.get(kb, db=self.recs)))

    def get_pos(self, i):
        return self._at(int(i).to_bytes(8, "big"))

    def get_key(self, k):
        return self._at(self.txn.get(k.encode(), db=self.kdb))

    def take(self, pos):
        return [self._at(int(i).to_bytes(8, "big")) for i in pos]

    def _all(self):
        dec, loads = self.dctx.decompress, orjson.loads
        with self.txn.cursor(self.recs) as c:
            for _, v in c:
                yield loads(dec(v))

    def column(self, name):
        return [r.get(name) if isinstance(r, dict) else None for r in self._all()]

    def filter(self, flt):
        return [r for r in self._all() if py_match(r, flt)]


class JsonlZstd(Peer):
    name = "jsonl-zstd19"
    HOW: ClassVar[dict[str, str]] = {"get_pos": "decompress whole file + newline scan (numpy) + orjson of line i",
           "get_key": "decompress whole file + bytes.find('\\nkey\\t') + orjson of that line",
           "take": "decompress once + newline scan + orjson per position",
           "column": "decompress + parse every line", "filter": "decompress + parse + test every line",
           "cold": "file re-read and decompressed per operation (no cache)", "warm": "same",
           "note": "line = key TAB json; zstd level 19, 2 threads, one frame"}

    def ingest(self, lines, keys):
        import zstandard as zstd
        self.root.mkdir(parents=True, exist_ok=True)
        buf = b"".join(k.encode() + b"\t" + x + b"\n" for k, x in zip(keys, lines))
        f = self.root / "data.jsonl.zst"
        f.write_bytes(zstd.ZstdCompressor(level=19, threads=2).compress(buf))
        fsync(f)

    def open(self, cold):
        import zstandard as zstd
        self.dctx = zstd.ZstdDecompressor()

    def _data(self) -> bytes:
        return self.dctx.decompress((self.root / "data.jsonl.zst").read_bytes())

    @staticmethod
    def _starts(data: bytes) -> np.ndarray:
        return np.r_[0, np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1]

    @staticmethod
    def _line(data: bytes, starts: np.ndarray, i: int):
        a, b = int(starts[i]), int(starts[i + 1]) - 1
        return orjson.loads(data[data.index(b"\t", a, b) + 1:b])

    def get_pos(self, i):
        data = self._data()
        return self._line(data, self._starts(data), i)

    def get_key(self, k):
        data, kb = self._data(), k.encode() + b"\t"
        a = 0 if data.startswith(kb) else data.index(b"\n" + kb) + 1
        return orjson.loads(data[a + len(kb):data.index(b"\n", a)])

    def take(self, pos):
        data = self._data()
        st = self._starts(data)
        return [self._line(data, st, int(i)) for i in pos]

    def _all(self):
        for ln in self._data().split(b"\n"):
            if ln:
                yield orjson.loads(ln[ln.index(b"\t") + 1:])

    def column(self, name):
        return [r.get(name) if isinstance(r, dict) else None for r in self._all()]

    def filter(self, flt):
        return [r for r in self._all() if py_match(r, flt)]
