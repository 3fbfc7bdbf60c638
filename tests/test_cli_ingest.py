"""The ``archive ingest`` command: formats, compression, stdin, keys, bad input, text fidelity."""
from __future__ import annotations

import gzip
import io
import sys

import orjson
import pytest
import zstandard

import archive
from archive.cli import main
from archive.cli.inputs import Input, read_items


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def records(path):
    with archive.open(path) as ar:
        return ar[:]


def jsonl(recs) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in recs)


# --------------------------------------------------------------------------- formats & inputs
def test_jsonl_file_summary(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    recs = [{"i": i, "s": f"v{i}"} for i in range(25)]
    src.write_bytes(jsonl(recs))
    code, out, err = run(capsys, "ingest", tmp_path / "a", src)
    assert code == 0 and err == ""
    assert out.startswith("ingested 25 records") and "archive" in out and "ratio" in out and " s" in out
    assert records(tmp_path / "a") == recs


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_compressed_by_extension_and_magic(tmp_path, capsys, kind):
    recs = [{"n": i} for i in range(100)]
    data = jsonl(recs)
    blob = gzip.compress(data) if kind == "gz" else zstandard.ZstdCompressor().compress(data)
    (tmp_path / f"in.jsonl.{kind}").write_bytes(blob)
    (tmp_path / "noext.bin").write_bytes(blob)  # detected by magic bytes alone
    assert run(capsys, "ingest", tmp_path / "a", tmp_path / f"in.jsonl.{kind}", tmp_path / "noext.bin")[0] == 0
    assert records(tmp_path / "a") == recs + recs


def test_corrupt_gzip_is_an_error(tmp_path, capsys):
    blob = gzip.compress(jsonl([{"n": i} for i in range(1000)]))
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    code, _, err = run(capsys, "ingest", tmp_path / "a", tmp_path / "x.gz")
    assert code == 1 and "cannot decompress" in err and "Traceback" not in err


@pytest.mark.parametrize("how", [[], ["-"]])
def test_stdin(tmp_path, capsys, monkeypatch, how):
    recs = [{"k": "x"}, [1, 2], "plain", None, 3.5]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(jsonl(recs))))
    assert run(capsys, "ingest", tmp_path / "a", *how)[0] == 0
    assert records(tmp_path / "a") == recs


def test_stdin_gzip_text(tmp_path, capsys, monkeypatch):
    data = b"one\ntwo\xff\nthree"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data))))
    assert run(capsys, "ingest", tmp_path / "a", "--format", "text")[0] == 0
    assert records(tmp_path / "a") == ["one", b"two\xff", "three"]
    assert run(capsys, "export", tmp_path / "a", "--format", "text", tmp_path / "o")[0] == 0
    assert (tmp_path / "o").read_bytes() == data


def test_json_array_object_and_sniffing(tmp_path, capsys):
    (tmp_path / "arr.json").write_bytes(b'[{"a": 1},\n {"a": 2}, 3]')
    (tmp_path / "obj.json").write_bytes(b'{\n  "x": {"y": [1, 2]}\n}\n')
    (tmp_path / "lines.json").write_bytes(b'{"l": 1}\n{"l": 2}\n')  # JSON lines named .json
    (tmp_path / "one.json").write_bytes(b'[1, 2]')  # a one-line document: the array's elements
    for name in ("arr", "obj", "lines", "one"):
        assert run(capsys, "ingest", tmp_path / name, tmp_path / f"{name}.json")[0] == 0
    assert records(tmp_path / "arr") == [{"a": 1}, {"a": 2}, 3]
    assert records(tmp_path / "obj") == [{"x": {"y": [1, 2]}}]
    assert records(tmp_path / "lines") == [{"l": 1}, {"l": 2}]
    assert records(tmp_path / "one") == [1, 2]
    # explicit --format jsonl keeps a one-line array as one record
    assert run(capsys, "ingest", tmp_path / "one2", "--format", "jsonl", tmp_path / "one.json")[0] == 0
    assert records(tmp_path / "one2") == [[1, 2]]


def test_twitter_single_object(tmp_path, capsys, shared_data):
    src = shared_data / "simdjson" / "twitter.json"
    assert run(capsys, "ingest", tmp_path / "t", "--format", "json", src)[0] == 0
    code, out, _ = run(capsys, "get", tmp_path / "t", "0")
    assert code == 0 and orjson.loads(out) == orjson.loads(src.read_bytes())


def test_gsoc_object_is_one_record(shared_data):
    # Only the reader: ingesting this one 12k-column record takes the engine ~45 s.
    src = shared_data / "simdjson" / "gsoc-2018.json"
    inp = Input(str(src))
    try:
        items = list(read_items(inp, "sniff"))
    finally:
        inp.close()
    assert len(items) == 1 and items[0].error is None
    assert items[0].record == orjson.loads(src.read_bytes())


def test_big_ints_exact_and_nan_rejected(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"big": 123456789012345678901234567890, "f": 0.12345678901234567890123}\n'
                    b'{"neg": -9223372036854775809, "s": "1234567890123456789012"}\n')
    assert run(capsys, "ingest", tmp_path / "a", src)[0] == 0
    assert records(tmp_path / "a") == [{"big": 123456789012345678901234567890, "f": 0.12345678901234568},
                                       {"neg": -9223372036854775809, "s": "1234567890123456789012"}]
    for bad in (b'{"x": NaN}\n', b'{"x": 1e400}\n', b'{"x": 12345678901234567890123, "y": Infinity}\n'):
        src.write_bytes(bad)
        code, _, err = run(capsys, "ingest", tmp_path / "b", src)
        assert code == 1 and "in.jsonl:1: malformed JSON" in err


# --------------------------------------------------------------------------- bad input
def _bad_file(tmp_path):
    lines = [orjson.dumps({"i": i}) for i in range(25)]
    lines[16] = b'{"i": 16,'  # line 17
    lines[21] = b"not json"  # line 22
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    return src, lines


def test_bad_line_stops_with_nothing_from_its_batch(tmp_path, capsys):
    src, _ = _bad_file(tmp_path)
    code, out, err = run(capsys, "ingest", tmp_path / "a", "--batch", "10", src)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("archive: error: ")
    assert "bad.jsonl:17: malformed JSON" in err and "Traceback" not in err
    assert len(records(tmp_path / "a")) == 10  # batch 1 committed, batch 2 (lines 11-17) not
    # appending more later works: the archive is intact
    assert run(capsys, "ingest", tmp_path / "a", "--batch", "10", src, "--skip-bad", "-q")[0] == 0
    assert len(records(tmp_path / "a")) == 33


def test_skip_bad_writes_rejects(tmp_path, capsys):
    src, lines = _bad_file(tmp_path)
    code, out, err = run(capsys, "ingest", tmp_path / "a", "--batch", "10", "--skip-bad", src)
    assert code == 0 and "2 rejected" in out
    assert "bad.jsonl:17" in err and "bad.jsonl:22" in err
    assert (tmp_path / "a.rejects").read_bytes() == lines[16] + b"\n" + lines[21] + b"\n"
    assert [r["i"] for r in records(tmp_path / "a")] == [i for i in range(25) if i not in (16, 21)]
    side = tmp_path / "side.txt"
    assert run(capsys, "ingest", tmp_path / "b", "--skip-bad", "--rejects", side, src)[0] == 0
    assert side.read_bytes().count(b"\n") == 2


def test_unstorable_record_is_found_in_its_batch(tmp_path, capsys):
    src = tmp_path / "deep.jsonl"  # 300 nested lists parse as JSON, but the engine stores 200
    src.write_bytes(jsonl([{"i": 0}, {"i": 1}]) + b'{"deep": ' + b"[" * 300 + b"]" * 300 + b"}\n"
                    + jsonl([{"i": 3}]))
    code, _, err = run(capsys, "ingest", tmp_path / "a", src)
    assert code == 1 and "deep.jsonl:3: cannot store record" in err
    assert records(tmp_path / "a") == []
    assert run(capsys, "ingest", tmp_path / "b", "--skip-bad", src)[0] == 0
    assert records(tmp_path / "b") == [{"i": 0}, {"i": 1}, {"i": 3}]


# --------------------------------------------------------------------------- keys
def test_key_field(tmp_path, capsys):
    src = tmp_path / "k.jsonl"
    src.write_bytes(jsonl([{"id": {"v": f"k{i}"}, "n": i} for i in range(5)]))
    assert run(capsys, "ingest", tmp_path / "a", "--key", "id.v", src)[0] == 0
    code, out, _ = run(capsys, "get", tmp_path / "a", "--key", "k3", "k1")
    assert code == 0 and [orjson.loads(x)["n"] for x in out.splitlines()] == [3, 1]
    # the same keys again: duplicates are bad input
    code, _, err = run(capsys, "ingest", tmp_path / "a", "--key", "id.v", src)
    assert code == 1 and "k.jsonl:1: duplicate key 'k0'" in err


@pytest.mark.parametrize("line,why", [(b'{"n": 1}', "no key field 'id'"), (b'{"id": 5}', "is int, not a string"),
                                      (b'"str"', "no key field 'id'")])
def test_bad_key_field(tmp_path, capsys, line, why):
    src = tmp_path / "k.jsonl"
    src.write_bytes(b'{"id": "a"}\n' + line + b"\n")
    code, _, err = run(capsys, "ingest", tmp_path / "a", "--key", "id", src)
    assert code == 1 and "k.jsonl:2: " in err and why in err
    assert records(tmp_path / "a") == []


def test_key_with_text_is_usage_error(tmp_path, capsys):
    (tmp_path / "t").write_text("x\n")
    code, _, err = run(capsys, "ingest", tmp_path / "a", "--format", "text", "--key", "k", tmp_path / "t")
    assert code == 2 and "--key" in err


# --------------------------------------------------------------------------- text fidelity
def _roundtrip(tmp_path, capsys, *files):
    ar = tmp_path / "ar"
    for f in files:
        assert run(capsys, "ingest", ar, "--format", "text", "-q", f)[0] == 0
    out = tmp_path / "out.txt"
    assert run(capsys, "export", ar, "--format", "text", out)[0] == 0
    return out.read_bytes()


def test_loghub_text_roundtrip_byte_exact(tmp_path, capsys, shared_data):
    logs = sorted((shared_data / "loghub").glob("*_2k.log"))
    assert len(logs) >= 16
    for i, log in enumerate(logs):
        sub = tmp_path / str(i)
        sub.mkdir()
        assert _roundtrip(sub, capsys, log) == log.read_bytes(), log.name


@pytest.mark.parametrize("data", [
    b"", b"\n", b"\n\n", b"no newline at all", b"a\nb", b"a\r\nb\r\n", b"a\r\nb\r", b"\r",
    b"x\n\n\ny\n\n", b"caf\xc3\xa9\n\xff\xfe bad utf8\nok\n", b"tail \xe9", "ünï\u2028cøde\n".encode(),
])
def test_text_roundtrip_edge_cases(tmp_path, capsys, data):
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    assert _roundtrip(tmp_path, capsys, src) == data


def test_text_concatenation_of_unterminated_files(tmp_path, capsys):
    (tmp_path / "1.txt").write_bytes(b"a\nb")
    (tmp_path / "2.txt").write_bytes(b"c\nd")
    with archive.open(tmp_path / "ar", "a") as ar:
        ar.set_attrs({"owner": "me"})
    assert _roundtrip(tmp_path, capsys, tmp_path / "1.txt", tmp_path / "2.txt") == b"a\nbc\nd"
    with archive.open(tmp_path / "ar") as ar:
        assert ar[:] == ["a", "b", "c", "d"]
        assert ar.attrs == {"owner": "me", "text": {"unterminated": [1, 3]}}


def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    import tqdm  # noqa: F401  (the optional 'progress' extra, installed by make test)
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([{"i": i} for i in range(3000)]))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, "ingest", tmp_path / "b", src)
    assert code == 0 and "ingest" in err and "records" in err and "B/s" in err
    code, _, err = run(capsys, "ingest", tmp_path / "c", "--no-progress", src)
    assert err == ""


def test_settings_at_creation(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([{"i": i} for i in range(10)]))
    assert run(capsys, "ingest", tmp_path / "a", "--setting", "group_rows=4", src)[0] == 0
    with archive.open(tmp_path / "a") as ar:
        assert ar.settings.group_rows == 4 and ar.stats()["groups"] == 3
    code, _, err = run(capsys, "ingest", tmp_path / "a", "--setting", "nope=1", src)
    assert code == 2 and "--setting" in err


def test_sniffed_json_lines_in_gzip(tmp_path, capsys):
    recs = [{"z": i} for i in range(5)]
    (tmp_path / "log.json.gz").write_bytes(gzip.compress(jsonl(recs)))  # like zeek's dns.json.gz
    assert run(capsys, "ingest", tmp_path / "a", tmp_path / "log.json.gz")[0] == 0
    assert records(tmp_path / "a") == recs


def test_locked_archive(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([{"i": 1}]))
    with archive.open(tmp_path / "a", "a"):
        for argv in (["ingest", tmp_path / "a", src], ["compact", tmp_path / "a"],
                     ["ingest", tmp_path / "a", "--wait", "0.2", src]):
            code, out, err = run(capsys, *argv)
            assert code == 1 and out == "" and err.startswith("archive: error: ") and err.count("\n") == 1
    assert run(capsys, "ingest", tmp_path / "a", "--wait", "5", src)[0] == 0
    assert records(tmp_path / "a") == [{"i": 1}]
