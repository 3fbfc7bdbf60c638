"""The ``archive`` command line, in-process: reading commands, export, housekeeping, errors."""
from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import random
import subprocess
import sys

import orjson
import pytest

import archive
from archive.cli import main
from archive.query import parse

COMMANDS = ["ingest", "get", "scan", "grep", "stats", "verify", "compact", "export"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def dns(tmp_path_factory, shared_data):
    """The zeek DNS log ingested once (gzip JSON lines) and its records parsed independently."""
    src = shared_data / "zeek" / "dns.json.gz"
    path = tmp_path_factory.mktemp("dns") / "dns.ar"
    assert main(["ingest", str(path), "--format", "jsonl", "--batch", "20000", "-q", str(src)]) == 0
    with gzip.open(src) as f:
        recs = [orjson.loads(line) for line in f]
    return path, recs


@pytest.fixture
def small(tmp_path):
    """Records with bytes, non-finite floats, big ints, nesting and mixed types."""
    path = tmp_path / "small.ar"
    recs = [
        {"id": "a", "n": 1, "f": 1.5, "b": b"\x00\xff", "tags": ["x", "y"], "m": {"k": 1, "id.x": "dot"},
         "raw": b"bin GET"},
        {"id": "b", "n": 2, "f": float("nan"), "big": 2 ** 80, "m": {"k": 2}},
        {"id": "c", "n": "three", "f": float("-inf"), "s": "with,comma \"q\"\nnewline"},
        "a root string",
    ]
    with archive.open(path, "a") as ar:
        ar.extend(recs[:3], keys=["a", "b", "c"])
        ar.append(recs[3])
    return path, recs


# --------------------------------------------------------------------------- help & usage
@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_with_examples(capsys, cmd):
    code, out, _ = run(capsys, cmd, "--help")
    assert code == 0 and "examples:" in out and f"archive {cmd}" in out


def test_top_level_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in COMMANDS)
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"archive {archive.__version__}"


def test_python_dash_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "archive", "get", str(tmp_path / "none"), "0"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"archive: error: no archive at {tmp_path / 'none'}\n"


@pytest.mark.parametrize("argv,code", [
    ([], 2), (["bogus"], 2), (["scan"], 2), (["get", "x", "notint"], 2), (["scan", "x", "--limit", "z"], 2),
])
def test_usage_errors_are_one_line(capsys, argv, code):
    c, out, err = run(capsys, *argv)
    assert c == code and out == ""
    assert err.startswith("archive: error: ") and err.count("\n") == 1


@pytest.mark.parametrize("cmd", [["get", "0"], ["scan"], ["stats"], ["verify"], ["compact"], ["grep", "x"],
                                 ["export", "-"]])
def test_missing_archive(tmp_path, capsys, cmd):
    missing = tmp_path / "nope"
    code, out, err = run(capsys, cmd[0], missing, *cmd[1:])
    assert code == 1 and out == "" and "Traceback" not in err
    assert err == f"archive: error: no archive at {missing}\n" or cmd[0] == "verify"
    assert not missing.exists()


def test_debug_shows_the_exception(tmp_path, capsys):
    from archive.cli.output import CliError
    with pytest.raises(CliError, match="no archive at"):
        main(["--debug", "scan", str(tmp_path / "nope")])
    path = tmp_path / "a"
    archive.open(path, "a").close()
    with pytest.raises(archive.QuerySyntaxError):
        main(["scan", str(path), "--where", "x =", "--debug"])


# --------------------------------------------------------------------------- get
def test_get_positions_and_keys(small, capsys):
    path, _ = small
    code, out, _ = run(capsys, "get", path, "0", "-1", "--key", "b")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["b"] == {"$bytes": base64.b64encode(b"\x00\xff").decode()}
    assert lines[0]["m"] == {"k": 1, "id.x": "dot"}
    assert lines[1] == "a root string"
    assert lines[2]["f"] == {"$float": "nan"} and lines[2]["big"] == 2 ** 80
    code, out, err = run(capsys, "get", path, "--key", "a", "zz", "c")
    assert code == 1 and len(out.splitlines()) == 2 and err == "archive: error: key not found: 'zz'\n"
    code, out, err = run(capsys, "get", path, "4")
    assert code == 1 and "out of range" in err
    assert run(capsys, "get", path)[0] == 2


def test_get_matches_source(dns, capsys):
    path, recs = dns
    code, out, _ = run(capsys, "get", path, "0", "12345", "-1")
    assert code == 0 and [orjson.loads(x) for x in out.splitlines()] == [recs[0], recs[12345], recs[-1]]


# --------------------------------------------------------------------------- scan
def test_scan_where_matches_python(dns, capsys):
    path, recs = dns
    where = 'qtype_name == "AAAA" and `id.resp_p` == 53'
    code, out, _ = run(capsys, "scan", path, "--where", where)
    expr = parse(where)
    assert code == 0 and [orjson.loads(x) for x in out.splitlines()] == [r for r in recs if expr.matches(r)]
    code, out, _ = run(capsys, "scan", path, "--where", where, "--count")
    assert int(out) == sum(map(expr.matches, recs))


def test_scan_columns_formats(dns, capsys):
    path, recs = dns
    cols = ["query", ("id.orig_h",), "rtt"]
    want = [[r.get("query"), r.get("id.orig_h"), r.get("rtt")] for r in recs[:5]]
    code, out, _ = run(capsys, "scan", path, "--columns", "query, `id.orig_h`,rtt", "--limit", "5")
    assert code == 0
    got = [orjson.loads(x) for x in out.splitlines()]
    assert [[g.get("query"), g.get("id.orig_h"), g.get("rtt")] for g in got] == want
    assert all(set(g) <= {"query", "id.orig_h", "rtt"} for g in got) and cols
    code, out, _ = run(capsys, "scan", path, "--columns", "query,`id.orig_h`,rtt", "--limit", "5", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["query", "id.orig_h", "rtt"]
    assert rows[1:] == [[q or "", h or "", "" if t is None else repr(t)] for q, h, t in want]
    code, out, _ = run(capsys, "scan", path, "--columns", "query,rtt", "--limit", "3", "--format", "table")
    lines = out.splitlines()
    assert lines[0].split() == ["query", "rtt"] and set(lines[1]) <= {"-", " "} and len(lines) == 5
    assert recs[0]["query"] in lines[2]


def test_scan_csv_table_without_columns(small, capsys):
    path, recs = small
    code, out, _ = run(capsys, "scan", path, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    header = rows[0]
    assert header[:6] == ["id", "n", "f", "b", "tags", "m"] and "$" in header
    first = dict(zip(header, rows[1]))
    assert first["b"] == '{"$bytes":"AP8="}' and first["tags"] == '["x","y"]' and first["big"] == ""
    third = dict(zip(header, rows[3]))
    assert third["s"] == recs[2]["s"] and third["f"] == "-inf" and third["n"] == "three"
    assert dict(zip(header, rows[4]))["$"] == "a root string"
    code, out, _ = run(capsys, "scan", path, "--format", "table", "--where", "exists id")
    assert code == 0 and "with,comma" in out and "\\n" in out and len(out.splitlines()) == 5


def test_scan_nested_and_dotted_columns(small, capsys):
    path, _ = small
    code, out, _ = run(capsys, "scan", path, "--columns", "m.k,m.`id.x`", "--where", "exists m")
    assert code == 0 and [json.loads(x) for x in out.splitlines()] == [{"m": {"k": 1, "id.x": "dot"}},
                                                                      {"m": {"k": 2}}]


def test_scan_bad_where_is_one_line(small, capsys):
    code, out, err = run(capsys, "scan", small[0], "--where", "n >> 3")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("archive: error: bad where expression: ") and "column" in err
    code, _, err = run(capsys, "scan", small[0], "--columns", "a,`b")
    assert code == 2 and "backquote" in err


# --------------------------------------------------------------------------- grep
@pytest.fixture
def logs(tmp_path):
    src = tmp_path / "sys.log"
    src.write_bytes(b"sshd: Failed password for root\nkernel: ok\nsshd: FAILED again\r\n\xffraw Failed\nlast")
    path = tmp_path / "sys.ar"
    assert main(["ingest", str(path), "--format", "text", "-q", str(src)]) == 0
    return path


def test_grep_text_lines(logs, capsysbinary):
    assert main(["grep", str(logs), "Failed"]) == 0
    assert capsysbinary.readouterr().out == b"sshd: Failed password for root\n\xffraw Failed\n"
    assert main(["grep", str(logs), "failed", "-i", "--limit", "2"]) == 0
    assert capsysbinary.readouterr().out == b"sshd: Failed password for root\nsshd: FAILED again\r\n"
    assert main(["grep", str(logs), "--regex", r"^(kernel|last)"]) == 0
    assert capsysbinary.readouterr().out == b"kernel: ok\nlast\n"
    assert main(["grep", str(logs), "nothing here"]) == 1
    assert capsysbinary.readouterr().out == b""


def test_grep_column_uses_where(dns, small, capsys):
    path, recs = dns
    code, out, _ = run(capsys, "grep", path, "--column", "query", "WRCCDC", "-i", "--limit", "50")
    want = [r for r in recs if "wrccdc" in str(r.get("query", "")).lower()][:50]
    assert code == 0 and [orjson.loads(x) for x in out.splitlines()] == want
    code, out, _ = run(capsys, "grep", path, "--column", "`id.orig_h`", "--regex", r"^172\.31\.", "--limit", "5")
    assert code == 0 and all(orjson.loads(x)["id.orig_h"].startswith("172.31.") for x in out.splitlines())
    code, out, _ = run(capsys, "grep", small[0], "--column", "raw", "GET")  # bytes values match too
    assert code == 0 and json.loads(out)["id"] == "a"
    code, out, _ = run(capsys, "grep", small[0], "dot")  # no --column: the record's JSON text
    assert code == 0 and json.loads(out)["id"] == "a"
    code, _, err = run(capsys, "grep", small[0], "--regex", "(")
    assert code == 2 and "regular expression" in err


# --------------------------------------------------------------------------- stats / verify / compact
def test_stats_table_and_json(dns, capsys):
    path, recs = dns
    code, out, _ = run(capsys, "stats", path)
    assert code == 0 and f"{len(recs)} records" in out
    assert "$['id.orig_h']" in out and "seg-000000.acs" in out and "total" in out and "x" in out
    rtt = next(line for line in out.splitlines() if line.startswith("$.rtt "))
    assert "float" in rtt and "float-" in rtt
    code, out, _ = run(capsys, "stats", path, "--json")
    st = json.loads(out)
    assert st["records"] == len(recs) and st["paths"]["$.answers"]["types"] == ["list"]
    assert st["total_bytes"] == st["segment_bytes"] + st["index_bytes"]
    code, out, _ = run(capsys, "stats", path, "--slots")
    assert code == 0 and " tag " in out


def test_verify_ok_and_damaged(tmp_path, capsys):
    src = tmp_path / "v.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"a": i, "s": f"hello {i}"}) + b"\n" for i in range(2000)))
    path = tmp_path / "v.ar"
    assert run(capsys, "ingest", path, src)[0] == 0
    code, out, _ = run(capsys, "verify", path)
    assert code == 0 and out.startswith("ok: 2000 records, ") and out.endswith(" chunks verified\n")
    seg = path / "seg-000000.acs"
    data = bytearray(seg.read_bytes())
    assert len(data) > 120
    data[80:120] = bytes(b ^ 0xFF for b in data[80:120])
    seg.write_bytes(bytes(data))
    code, out, err = run(capsys, "verify", path)
    assert code == 1 and "corrupt chunk" in out and "damaged" in err and "Traceback" not in err


def test_compact(tmp_path, capsys):
    path = tmp_path / "c.ar"
    with archive.open(path, "a") as ar:
        # random padding: incompressible, so dropping half the records must shrink the data
        pads = [f"{random.Random(i).getrandbits(256):064x}" for i in range(3000)]
        ar.extend([{"i": i, "pad": pads[i]} for i in range(3000)], keys=[str(i) for i in range(3000)])
        ar.commit()
        for i in range(0, 3000, 2):
            ar.delete(str(i))
    code, out, _ = run(capsys, "compact", path)
    assert code == 0 and out.startswith(f"compacted {path}: 1500 records")
    before, after = map(int, out.split("(", 1)[1].split(" bytes")[0].split(" -> "))
    assert after < before  # segment bytes (the LMDB index file never shrinks)
    assert run(capsys, "verify", path)[0] == 0


# --------------------------------------------------------------------------- export
def test_export_jsonl_file_and_stdout(dns, small, tmp_path, capsys):
    path, recs = dns
    out = tmp_path / "dns.jsonl"
    assert run(capsys, "export", path, out)[0] == 0
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == recs
    code, text, _ = run(capsys, "export", small[0], "-")
    assert code == 0 and len(text.splitlines()) == 4 and json.loads(text.splitlines()[1])["big"] == 2 ** 80


def test_export_text_of_records_and_stdout(small, logs, capsysbinary):
    assert main(["export", str(logs), "--format", "text", "-"]) == 0
    assert capsysbinary.readouterr().out == (
        b"sshd: Failed password for root\nkernel: ok\nsshd: FAILED again\r\n\xffraw Failed\nlast")
    assert main(["export", str(small[0]), "--format", "text", "-"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert lines[3] == b"a root string" and json.loads(lines[0])["id"] == "a"


def test_export_parquet(dns, small, tmp_path, capsys):
    import pyarrow.parquet as pq
    path, recs = dns
    out = tmp_path / "dns.parquet"
    assert run(capsys, "export", path, "--format", "parquet", out)[0] == 0
    t = pq.read_table(out)
    assert t.num_rows == len(recs)
    assert t.column("id.orig_h").to_pylist() == [r.get("id.orig_h") for r in recs]
    assert t.column("answers").to_pylist() == [r.get("answers") for r in recs]
    assert t.column("rtt").to_pylist() == [r.get("rtt") for r in recs]
    # some records are not dicts: one _value column of JSON text (archive.arrow's rules)
    out = tmp_path / "small.parquet"  # format from the extension
    assert run(capsys, "export", small[0], out)[0] == 0
    t = pq.read_table(out)
    assert t.column_names == ["_value"] and json.loads(t.column("_value")[3].as_py()) == "a root string"


def test_export_parquet_mixed_types(tmp_path, capsys):
    import pyarrow.parquet as pq
    path = tmp_path / "m.ar"
    with archive.open(path, "a") as ar:
        ar.extend([{"n": 1, "f": 1.5, "b": b"\x00", "e": {}, "big": 2 ** 80, "l": [], "x": {"y": {}}},
                   {"n": "two", "f": float("nan"), "e": {}, "l": [], "x": {"y": {}}},
                   {"n": None, "f": 2, "big": 3}])
    assert run(capsys, "export", path, "--format", "parquet", tmp_path / "m.parquet")[0] == 0
    t = pq.read_table(tmp_path / "m.parquet")
    assert t.column("n").to_pylist() == ["1", '"two"', None]  # mixed: JSON text
    f = t.column("f").to_pylist()
    assert f[0] == 1.5 and f[1] != f[1] and f[2] == 2.0
    assert t.column("b").to_pylist() == [b"\x00", None, None]
    assert t.column("big").to_pylist() == [str(2 ** 80), None, "3"]
    assert t.column("e").to_pylist() == ["{}", "{}", None]  # Parquet has no empty struct
    assert [json.loads(v) if v else v for v in t.column("x").to_pylist()] == [{"y": {}}, {"y": {}}, None]
    empty = tmp_path / "empty.ar"
    archive.open(empty, "a").close()
    assert run(capsys, "export", empty, "--format", "parquet", tmp_path / "e.parquet")[0] == 0
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_export_parquet_without_pyarrow(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "x.parquet"
    code, _, err = run(capsys, "export", small[0], "--format", "parquet", out)
    assert code == 2 and "pip install 'archive[arrow]'" in err and err.count("\n") == 1
    assert not out.exists()


def test_export_parquet_to_stdout_refused(small, capsys):
    code, _, err = run(capsys, "export", small[0], "--format", "parquet", "-")
    assert code == 2 and "stdout" in err
