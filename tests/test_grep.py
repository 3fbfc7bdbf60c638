"""Grep on log lines: the root path ``$``, template pruning (archive.engine.grep), the CLI.

The pruning must never drop a matching line: every search here is compared with a plain
Python filter over the lines, on synthetic logs (hypothesis) and on every loghub file, and
with the pruning switched off; and it must prune: groups are counted.
"""
from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archive
from archive.cli import main
from archive.engine import chunkio, grep
from archive.query import ROOT, Compare, Contains, QuerySyntaxError, parse
from archive.query.values import format_literal, format_path
from tests.conftest import loghub_lines

LOGHUB_PATTERNS = [
    "error", "Exception", "blk_", "10.251", "session opened", "ERROR", "WARN", "failed",
    "INFO", "Connection", "0x", "1.0", "root", "kernel", "authentication failure",
    "xyzzy", "no such phrase anywhere", "RAS KERNEL", ":50010", "=0", "-1", ", ", "\r",
]


# --------------------------------------------------------------------------- the root path
def test_root_path_parses_and_prints():
    e = parse('$ contains "ERROR"')
    assert e == Contains(ROOT, "ERROR") and e.paths == ((),) and str(e) == '$ contains "ERROR"'
    for text in ['$ matches "^a+"', "exists $", "not $ == null", '$ in ["a", b"b"]',
                 '"x" <= $ and `$` == 1', "($ startswith b'\\xff' or a.b == 2)"]:
        e = parse(text)
        assert parse(str(e)) == e and str(parse(str(e))) == str(e)
    assert parse('"x" == $') == parse('$ == "x"')
    assert parse("`$` == 1").paths == (("$",),)  # a key named "$" is another path
    assert format_path(ROOT) == "$" and format_path(("$",)) == "`$`"
    with pytest.raises(TypeError):
        Compare((), "==", 1)  # a bare () is refused (ROOT is the way to say it)


@pytest.mark.parametrize("text,where", [
    ("$.a == 1", "takes no keys"), ("$ == $", "comparing two paths"), ("$$ == 1", "expected an operator"),
    ("exists", "expected a path after 'exists'"), ("$", "missing operator after path $"),
    ("a.$ == 1", "expected a key after '.'"),
])
def test_root_path_errors(text, where):
    with pytest.raises(QuerySyntaxError) as ei:
        parse(text)
    assert where in str(ei.value)


def test_root_path_semantics():
    assert parse('$ contains "b"').matches("abc") and not parse('$ contains "b"').matches({"x": "b"})
    assert parse('$ contains b"\\xff"').matches(b"a\xff") and not parse('$ contains "a"').matches(b"a")
    assert parse("$ == 3").matches(3) and parse("exists $").matches(None)
    assert parse('$ contains "x"').matches(["x"])  # list records: element membership
    e = parse('$ matches "^k"')
    col = np.empty(3, dtype=object)
    col[:] = ["kernel", b"k", "ok"]
    assert e.evaluate({(): col}, 3).tolist() == [True, False, False]


def test_root_path_in_scan(tmp_path):
    recs = ["alpha one", b"\xffbeta", {"k": "alpha"}, "gamma", 7, ["alpha"]]
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend(recs)
    with archive.open(tmp_path / "a") as ar:
        assert list(ar.scan(where='$ contains "alpha"')) == ["alpha one", ["alpha"]]
        assert list(ar.scan(where='$ startswith b"\\xff"')) == [b"\xffbeta"]
        assert list(ar.scan(where="$ > 5")) == [7]
        assert list(ar.scan(where='k == "alpha"')) == [{"k": "alpha"}]


def test_contains_on_lists_is_not_pruned_by_templates(tmp_path):
    lines = [f"worker {i} finished job {i * 7} in {i % 13} ms" for i in range(60)]
    recs = lines[:30] + [["xyzzy", 1]] + lines[30:] + [b"\xff raw xyzzy"]
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend(recs)
    with archive.open(tmp_path / "a") as ar:
        refs = ar._view.group_refs[0]
        assert (refs[refs["col"] == ar._view.col_ids[((), "str")]]["enc"] == 160).all()
        assert list(ar.scan(where='$ contains "xyzzy"')) == [["xyzzy", 1]]
        assert list(ar.scan(where='$ contains "xyzzy" or $ contains b"xyzzy"')) == [["xyzzy", 1], recs[-1]]
        assert list(ar.scan(where='$ matches "xyzzy"')) == []
        assert list(ar.scan(where='$ contains "job 7 in"')) == [lines[1]]


# --------------------------------------------------------------------------- synthetic logs
_WORDS = ["root", "alice", "bob", "svc-1", "a.b", "x"]
_SYNTH = [
    lambda r: f"2018-03-24 17:{r.randrange(60):02d}:{r.randrange(60):02d} INFO dfs.DataNode: Receiving block "
              f"blk_{r.randrange(-10**12, 10**12)} src: /10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}"
              f":{r.randrange(50000, 50020)}",
    lambda r: f"Mar 24 17:{r.randrange(60):02d} sshd[{r.randrange(30000)}]: session opened for user "
              f"{r.choice(_WORDS)} by (uid={r.randrange(3)})",
    lambda r: f"[{r.randrange(10**6)}.{r.randrange(1000):03d}] ERROR worker {r.randrange(16)}: Exception "
              f"0x{r.randrange(2**40):x} in {r.choice(_WORDS)}",
    lambda r: f"kernel: eth{r.randrange(4)} link up, speed {r.choice([10, 100, 1000])} Mb/s id={r.randrange(2**32):X}",
    lambda r: f"WARN cache miss ratio {r.random():.3f} for key {r.choice(_WORDS)}{r.randrange(99)} ttl=-{r.randrange(9)}",
]
_SYNTH_PATTERNS = ["ERROR", "blk_-", "blk_12", "session opened", "uid=2", "0xff", "eth3 link", "Mb/s id=A",
                   "10.2", ":5001", "WARN", "ratio 0.", "-5", "xyzzy", "DataNode: Receiving", "alice",
                   "for user bob", "17:3", "]: s", "speed 10 ", "ttl=-", "error"]


def _grep_check(ar, lines, where, test):
    want = [ln for ln in lines if test(ln)]
    assert list(ar.scan(where=where)) == want, where
    return want


def _skipped(ar, expr) -> int:
    return sum(not grep.may_match_templates(ar, g, parse(expr)) for g in range(len(ar._view.group_first)))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), runs=st.lists(st.tuples(st.integers(0, len(_SYNTH) - 1),
                                                               st.integers(1, 120)), min_size=1, max_size=8),
       extra=st.lists(st.integers(0, 10**6), max_size=4), as_bytes=st.booleans())
def test_synthetic_logs_never_lose_a_line(tmp_path_factory, seed, runs, extra, as_bytes):
    import random
    r = random.Random(seed)
    lines: list = []
    for t, n in runs:
        lines += [_SYNTH[t](r) for _ in range(n)]
    if as_bytes:  # non-UTF-8 lines are bytes records with their own template column
        lines = [ln.encode() + b"\xff" for ln in lines]
    path = tmp_path_factory.mktemp("synth") / "a"
    with archive.open(path, "a", group_rows=48) as ar:
        ar.extend(lines)
    pats = _SYNTH_PATTERNS + [lines[i % len(lines)][j % 20: j % 20 + 1 + i % 9].decode()
                              if as_bytes else lines[i % len(lines)][j % 20: j % 20 + 1 + i % 9]
                              for i, j in zip(extra, extra[::-1])]
    with archive.open(path) as ar:
        for pat in pats:
            lit = pat.encode() if as_bytes else pat
            _grep_check(ar, lines, f"$ contains {format_literal(lit)}", lambda ln, lit=lit: lit in ln)
            _grep_check(ar, lines, f"$ startswith {format_literal(lit)}", lambda ln, lit=lit: ln.startswith(lit))
            rx = re.compile(b"(?i)" + re.escape(lit) if as_bytes else "(?i)" + re.escape(lit))
            _grep_check(ar, lines, f"$ matches {format_literal(rx.pattern)}", lambda ln, rx=rx: bool(rx.search(ln)))
        rx = re.compile(rb"ERROR|blk_\d" if as_bytes else r"ERROR|blk_\d")
        _grep_check(ar, lines, f"$ matches {format_literal(rx.pattern)} and not $ contains "
                               f"{format_literal(b'x' if as_bytes else 'x')}",
                    lambda ln: bool(rx.search(ln)) and (b"x" if as_bytes else "x") not in ln)


def test_synthetic_logs_prune(tmp_path):
    import random
    r = random.Random(7)
    lines = [_SYNTH[t](r) for t in range(len(_SYNTH)) for _ in range(200)]  # one template per run
    with archive.open(tmp_path / "a", "a", group_rows=100) as ar:
        ar.extend(lines)
    with archive.open(tmp_path / "a") as ar:
        n = len(ar._view.group_first)
        assert n == 10
        assert _skipped(ar, '$ contains "session opened"') == 8
        assert _skipped(ar, '$ contains "blk_-"') == 8        # blk_ static, then an <int>
        assert _skipped(ar, '$ contains "Mb/s id=F"') == 8    # into an uppercase <hex>
        assert _skipped(ar, '$ contains "xyzzy"') == 10
        assert _skipped(ar, '$ contains "xyzzy" or $ contains "ERROR"') == 8
        assert _skipped(ar, '$ contains "ERROR" and uid == 3') == 8
        assert _skipped(ar, 'not $ contains "ERROR"') == 0
        assert _skipped(ar, '$ matches "(?i)error|^kernel"') == 6
        assert _skipped(ar, '$ startswith "kernel: eth"') == 8
        assert _skipped(ar, '$ matches "kernel: eth[4-9]"') == 8
        assert _skipped(ar, '$ contains "17:"') == 4          # only timestamps hold "17:"


# --------------------------------------------------------------------------- loghub
@pytest.fixture(scope="module")
def loghub(tmp_path_factory, shared_data):
    """One archive per loghub file (256-line groups) and its lines."""
    out = []
    root = tmp_path_factory.mktemp("loghub")
    for f in sorted((shared_data / "loghub").glob("*_2k.log")):
        lines = loghub_lines(f)
        with archive.open(root / f.stem, "a", group_rows=256) as ar:
            ar.extend(lines)
        out.append((root / f.stem, lines))
    assert len(out) == 16
    return out


def test_loghub_grep_matches_python_filter(loghub, monkeypatch):
    skipped = total = 0
    for path, lines in loghub:
        with archive.open(path) as ar:
            groups = len(ar._view.group_first)
            for pat in LOGHUB_PATTERNS:
                where = f"$ contains {format_literal(pat)} or $ contains {format_literal(pat.encode())}"
                want = _grep_check(ar, lines, where,
                                   lambda ln, p=pat: (p if isinstance(ln, str) else p.encode()) in ln)
                skipped += _skipped(ar, where)
                total += groups
                if not want:
                    continue
                rx = "(?i)" + re.escape(pat)
                _grep_check(ar, lines, f"$ matches {format_literal(rx)}",
                            lambda ln, rx=re.compile(rx): isinstance(ln, str) and bool(rx.search(ln)))
    assert skipped > total // 2  # measured: 1852 of 2944 (groups without a match: 2178)
    # the same scans without the pruning give the same lines (the filter above is the model)
    monkeypatch.setattr(grep, "may_match_templates", lambda *a: True)
    path, lines = loghub[5]
    with archive.open(path) as ar:
        assert list(ar.scan(where='$ contains "blk_"')) == [ln for ln in lines if "blk_" in ln]


def _count_decodes(monkeypatch, calls: list) -> None:
    """Append every chunk ref decoded to ``calls`` (one at a time or in a batch)."""
    real = chunkio.decode_ref

    def one(view, ref, kind):
        calls.append(ref)
        return real(view, ref, kind)

    def batch(view, refs, threads=2):
        return [one(view, r, k) for r, k in refs]
    for name, fn in (("decode_ref", one), ("decode_refs", batch)):
        monkeypatch.setattr(chunkio, name, fn)


def test_loghub_absent_pattern_decodes_nothing(loghub, monkeypatch):
    calls = []
    _count_decodes(monkeypatch, calls)
    path = next(p for p, _ in loghub if p.name.startswith("Apache"))
    with archive.open(path) as ar:
        assert list(ar.scan(where='$ contains "xyzzy"')) == []
        assert list(ar.scan(where='$ contains "blk_" and $ contains "error"')) == []
        assert calls == []
        assert list(ar.scan(where='$ contains "mod_jk"'))
        assert calls  # a group that may match is decoded


def test_cli_grep_on_loghub(loghub, capsysbinary, monkeypatch):
    from archive.cli import commands
    for path, lines in loghub[::3]:
        for pat, flags in [("error", []), ("session opened", []), ("ERROR", ["-i"]),
                           (r"blk_-?\d+ ", ["--regex"]), ("xyzzy", [])]:
            assert main(["grep", str(path), pat, *flags]) in (0, 1)
            got = capsysbinary.readouterr().out
            test = commands._root_filter(pat, "--regex" in flags, "-i" in flags)
            want = b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\n" for ln in lines if test(ln))
            assert got == want
            assert main(["grep", str(path), pat, *flags, "--count"]) == (0 if want else 1)
            assert capsysbinary.readouterr().out == b"%d\n" % want.count(b"\n")
    # the text-archive path is a where scan (so the pruning applies)
    seen = []
    real = archive.Archive.scan
    monkeypatch.setattr(archive.Archive, "scan", lambda self, columns=None, where=None:
                        seen.append(where) or real(self, columns, where))
    assert main(["grep", str(loghub[0][0]), "Connection", "--limit", "1"]) == 0
    assert seen == ['$ contains "Connection" or $ contains b"Connection"']


# --------------------------------------------------------------------------- time ranges
def test_time_range_skips_groups_by_statistics(tmp_path, shared_data, monkeypatch):
    with gzip.open(shared_data / "zeek" / "dns.json.gz") as f:
        recs = [json.loads(line) for line in f.readlines()[30000:42000]]  # 17:27..17:32, ~in order
    with archive.open(tmp_path / "a", "a", group_rows=1000) as ar:
        ar.extend(recs)
    where = "ts >= '2018-03-24T17:30' and ts < '2018-03-24T17:31'"

    def hit(r):
        return "2018-03-24T17:30" <= r["ts"] < "2018-03-24T17:31"
    want = [r for r in recs if hit(r)]
    needed = len({i // 1000 for i, r in enumerate(recs) if hit(r)})  # groups holding a match
    assert 0 < len(want) < len(recs) // 3 and needed <= 6
    calls = []
    _count_decodes(monkeypatch, calls)
    with archive.open(tmp_path / "a") as ar:
        assert len(ar._view.group_first) == 12
        ts_col = ar._view.col_ids[(("ts",), "str")]
        assert list(ar.scan(where=where)) == want
    decoded = sum(1 for ref in calls if ref["col"] == ts_col)
    assert needed <= decoded <= needed + 2  # every other group skipped by its ts min/max


def test_writer_view_and_replaced_records(tmp_path):
    """Groups flushed but not committed, the pending group, and records replaced by put()."""
    import random
    r = random.Random(3)
    lines = [_SYNTH[i // 100 % 2](r) for i in range(1000)]
    keys = [f"k{i}" for i in range(len(lines))]
    with archive.open(tmp_path / "a", "a", group_rows=100) as ar:
        ar.extend(lines[:950], keys=keys[:950])  # 9 groups flushed, 50 rows pending
        assert list(ar.scan(where='$ contains "session opened"')) == [x for x in lines[:950]
                                                                      if "session opened" in x]
        ar.commit()
        ar.extend(lines[950:], keys=keys[950:])
        ar.put("k5", "Mar 24 17:00 sshd[1]: session opened for user zed by (uid=0)")
        ar.put("k150", "blk_1 replaced")
        ar.delete("k7")
        want = [x for i, x in enumerate(lines) if i != 7]
        want[5] = "Mar 24 17:00 sshd[1]: session opened for user zed by (uid=0)"
        want[149] = "blk_1 replaced"
        for pat in ["session opened", "blk_1 r", "zed", "xyzzy", "DataNode"]:
            got = list(ar.scan(where=f"$ contains {format_literal(pat)}"))
            assert got == [x for x in want if pat in x], pat
    with archive.open(tmp_path / "a") as ar:
        for pat in ["session opened", "blk_1 r", "zed", "xyzzy", "DataNode"]:
            assert list(ar.scan(where=f"$ contains {format_literal(pat)}")) == [x for x in want if pat in x]
