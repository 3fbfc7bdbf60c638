"""Corruption: damaged segment files (bit flips, truncation, deletion) and a damaged index
(our values garbled through liblmdb; raw byte flips of data.mdb).

Every read runs in a child process under a 2 GiB address-space limit and must end normally:
no signal, no exception but ArchiveError.  Damaged chunks raise CorruptChunkError naming the
segment file and offset; records in undamaged groups read back exactly; ``verify()`` names
each damaged chunk and nothing else; a writer can still append.

liblmdb itself checks nothing in its pages: a flipped byte in data.mdb can make it read past
the file (SIGBUS) - see test_lmdb_file_byte_flips, which bounds and documents that.
"""
from __future__ import annotations

import json
import random
import re
import signal
from collections import Counter
from pathlib import Path

from tests.faults.child import outcome
from tests.faults.damage import check_positions, damaged_groups, read, rewrite_value
from tests.faults.fixtures import forker_fixture, reference_fixture
from tests.faults.workload import budget

FIGURES: Counter = Counter()
forker = forker_fixture("corruption", FIGURES)
ref = reference_fixture()


def problem_offsets(problems: list[str]) -> set[tuple[str, int]]:
    return {(Path(f).name, int(o)) for f, o in re.findall(r" in (\S+) at offset (\d+)", " ".join(problems))}


def test_segment_bit_flips(forker, ref, tmp_path):
    rng = random.Random(101)
    for case in range(budget(25, 400)):
        path = ref.copy(tmp_path / f"c{case}")
        flips: dict[str, set[int]] = {}
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(sorted(ref.file_sizes))
            pos = rng.randrange(ref.file_sizes[name])
            data = bytearray((path / name).read_bytes())
            data[pos] ^= 1 << rng.randrange(8)
            (path / name).write_bytes(bytes(data))
            flips.setdefault(name, set()).symmetric_difference_update({pos})  # two flips undo
        def hit(name, off, ln):
            return any(off <= p < off + ln for p in flips.get(name, ()))
        bad_chunks = {(n, o) for chunks in ref.chunks for n, o, ln in chunks if hit(n, o, ln)}
        bad_headers = {n for n, ps in flips.items() if any(p < 16 for p in ps)}
        res = read(forker, ref, path, append=case % 5 == 0)
        raised = check_positions(ref, res, damaged_groups(ref, hit))
        # verify names exactly the damaged chunks (and damaged file headers)
        assert problem_offsets(res["verify"]) == bad_chunks, res["verify"]
        assert sum("bad file header" in p for p in res["verify"]) == len(bad_headers)
        assert len(res["verify"]) == len(bad_chunks) + len(bad_headers), res["verify"]
        if res.get("appended") is not None:
            assert res["appended"]
        FIGURES["segment bytes flipped"] += sum(map(len, flips.values()))
        FIGURES["damaged chunks reported by verify"] += len(bad_chunks)
        FIGURES["reads refused with CorruptChunkError"] += raised


def test_segment_truncation(forker, ref, tmp_path):
    rng = random.Random(202)
    names = sorted(ref.file_sizes)
    for case in range(budget(12, 150)):
        path = ref.copy(tmp_path / f"t{case}")
        name = names[case % len(names)] if case < len(names) else rng.choice(names)
        cut = rng.choice([0, 8, 16, rng.randrange(ref.file_sizes[name])])
        with open(path / name, "r+b") as f:
            f.truncate(cut)
        def hit(n, off, ln):
            return n == name and off + ln > cut
        bad_chunks = {(n, o) for chunks in ref.chunks for n, o, ln in chunks if hit(n, o, ln)}
        res = read(forker, ref, path, append=case % 3 == 0)
        raised = check_positions(ref, res, damaged_groups(ref, hit))
        assert f"segment file {name} is {cut} bytes, committed {ref.file_sizes[name]}" in res["verify"]
        assert problem_offsets(res["verify"]) == bad_chunks, res["verify"]
        if res.get("appended") is not None:
            assert res["appended"]
        FIGURES["segment files truncated"] += 1
        FIGURES["damaged chunks reported by verify"] += len(bad_chunks)
        FIGURES["reads refused with CorruptChunkError"] += raised


def test_segment_deleted(forker, ref, tmp_path):
    for case, name in enumerate(sorted(ref.file_sizes)):
        path = ref.copy(tmp_path / f"d{case}")
        (path / name).unlink()
        def hit(n, off, ln):
            return n == name
        res = read(forker, ref, path, append=True)
        raised = check_positions(ref, res, damaged_groups(ref, hit))
        assert raised and f"segment file {name} is missing" in res["verify"]
        # one problem per segment (a chunk, or a bundle of chunks), and the file's own
        n_segments = len({(n, o) for chunks in ref.chunks for n, o, _ in chunks if n == name})
        assert sum(name in p and "missing" in p for p in res["verify"]) == n_segments + 1, res["verify"]
        assert res["appended"]  # a writer carries on (in a new file) with a file missing
        FIGURES["segment files deleted"] += 1
        FIGURES["reads refused with CorruptChunkError"] += raised


# --------------------------------------------------------------------------- the index
#: Tables whose values we garble for position reads ("keys" has its own test below, which
#: checks key reads: test_key_table_garbled).
TABLES = ("files", "segtab", "groups", "columns", "shapes", "dicts", "dead", "redirect", "meta")


def garble(rng: random.Random):
    def pick(items):
        key, value = rng.choice(items)
        how = rng.randrange(4)
        if how == 0 or len(value) == 0:
            return key, value + bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        if how == 1:
            return key, value[: rng.randrange(len(value))]
        data = bytearray(value)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return key, bytes(data)
    return pick


def test_index_values_garbled(forker, ref, tmp_path):
    """A garbled value of any table: the archive refuses to open (CorruptIndexError) or
    reads raise ArchiveError, and whatever would read back wrong is reported by verify."""
    rng = random.Random(303)
    outcomes: Counter = Counter()
    for case in range(budget(40, 600)):
        path = ref.copy(tmp_path / f"i{case}")
        table = TABLES[case % len(TABLES)]
        rewrite_value(path, table, garble(rng))
        res = read(forker, ref, path)
        FIGURES["index values garbled"] += 1
        if "open_error" in res:
            assert res["open_error"][0] in ("CorruptIndexError", "ArchiveVersionError"), res["open_error"]
            outcomes["refused to open"] += 1
            continue
        wrong = [i for i, fp in enumerate(ref.fingerprints) if res["records"].get(str(i), fp) != fp]
        wrong += [i for i in range(len(ref.fingerprints), res["len"])]
        for kind, *_ in res["errors"].values():
            assert kind in ("CorruptChunkError", "CorruptIndexError"), kind
        detected = bool(res["verify"] or res["errors"] or res["len"] != len(ref.items))
        assert not wrong or detected, f"{table}: positions {wrong[:5]} read back wrong, verify is clean"
        outcomes["detected by reads/verify" if detected else "harmless (all reads exact)"] += 1
    FIGURES.update({f"garbled index: {k}": v for k, v in outcomes.items()})


def test_key_table_garbled(forker, ref, tmp_path):
    """The key table's manifest, run heads, blocks and key sources carry checksums, and every
    hit is verified against the key stored with its row: a garbled value makes key reads raise
    CorruptIndexError or verify report it, never a silently wrong or lost record."""
    rng = random.Random(505)
    outcomes: Counter = Counter()
    for case in range(budget(24, 300)):
        path = ref.copy(tmp_path / f"k{case}")
        rewrite_value(path, "keys", garble(rng))
        res = read(forker, ref, path)
        FIGURES["key table values garbled"] += 1
        assert "open_error" not in res, res["open_error"]
        for kind, *_ in res["key_errors"].values():
            assert kind == "CorruptIndexError", kind
        wrong = [k for k, fp in ref.keys.items() if k in res["keys"] and res["keys"][k] != fp]
        detected = bool(res["verify"] or res["key_errors"])
        assert not wrong or res["verify"], f"keys {wrong[:5]} read back wrong, verify is clean"
        outcomes["detected" if detected else "harmless (all key reads exact)"] += 1
    FIGURES.update({f"garbled key table: {k}": v for k, v in outcomes.items()})


def test_index_entries_removed(forker, ref, tmp_path):
    """A missing entry (one lost put of a commit) is caught as surely as a garbled one.
    (Not so for keys, dead and redirect: a lost entry there is a lost update, which no other
    table can tell from a real one; LMDB's atomic commits mean it takes tampering, not a
    crash.)"""
    for case, table in enumerate(("files", "segtab", "groups", "columns", "shapes")):
        path = ref.copy(tmp_path / f"r{case}")
        rewrite_value(path, table, lambda items: (items[len(items) // 2][0], None))
        res = read(forker, ref, path)
        FIGURES["index entries removed"] += 1
        assert "open_error" in res or res["verify"] or res["len"] != len(ref.items), table


def test_lmdb_file_byte_flips(forker, ref, tmp_path):
    """Raw flips anywhere in data.mdb, read in a child.  liblmdb validates nothing inside its
    pages (a flipped node size makes it copy past the end of the map), so the child may die of
    SIGBUS/SIGSEGV: that is liblmdb's limit, which no Python code can catch, and the reason to
    verify untrusted archives in a subprocess.  What we do control must hold: no hang, no
    exception but ArchiveError, and no record read back wrong without verify saying so."""
    rng = random.Random(404)
    outcomes: Counter = Counter()
    for case in range(budget(30, 500)):
        path = ref.copy(tmp_path / f"m{case}")
        mdb = path / "index" / "data.mdb"
        data = bytearray(mdb.read_bytes())
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        mdb.write_bytes(bytes(data))
        out, err = Path(f"{path}.json"), Path(f"{path}.err")
        res = forker.run("read", path=str(path), out=str(out), err=str(err), keys=sorted(ref.keys),
                         timeout=120)
        FIGURES["data.mdb bytes flipped"] += 1
        assert not res["timeout"] and res["code"] in (0, None), outcome(res, err)
        if res["signal"] is not None:
            assert res["signal"] in (signal.SIGBUS, signal.SIGSEGV), outcome(res, err)
            outcomes[f"liblmdb crashed ({signal.Signals(res['signal']).name})"] += 1
            continue
        r = json.loads(out.read_text())
        if "open_error" in r:
            outcomes["refused to open"] += 1
            continue
        wrong = [i for i, fp in enumerate(ref.fingerprints) if r["records"].get(str(i), fp) != fp]
        detected = bool(r["verify"] or r["errors"] or r["len"] != len(ref.items))
        assert not wrong or detected, f"positions {wrong[:5]} read back wrong, verify is clean"
        outcomes["detected" if detected else "no visible effect"] += 1
    FIGURES.update({f"data.mdb flips: {k}": v for k, v in outcomes.items()})
