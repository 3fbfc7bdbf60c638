"""The ``archive`` command line (also ``python -m archive``): a thin layer over the library.

Commands: ingest, get, scan, grep, stats, verify, compact, export (``archive CMD --help``).
User errors print one ``archive: error: ...`` line on stderr and exit non-zero (1 for
failures, 2 for bad usage); ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from archive.cli import admin, commands, export, ingest
from archive.cli.output import CliError
from archive.errors import ArchiveError, QuerySyntaxError

PROG = "archive"
EPILOG = """\
examples:
  archive ingest dns.ar dns.json.gz --key uid
  archive scan dns.ar --where 'rcode_name == "NXDOMAIN"' --columns query,uid --format table
  archive get dns.ar 0 -1
  archive grep sys.ar 'session opened'
  archive stats dns.ar
  archive export sys.ar --format text sys.log

Run 'archive COMMAND --help' for a command's options and examples.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``archive: error:`` line (exit 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')", 2)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top parser and each command's parser (parsed directly, options and files intermixed)."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks for errors")
    p = _Parser(prog=PROG, description="Store and query JSON-like records in an archive.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    ingest.add_parser(sub, common)
    commands.add_parsers(sub, common)
    admin.add_parsers(sub, common)
    export.add_parser(sub, common)
    return p, dict(sub.choices)


def parse(argv: list[str]) -> argparse.Namespace:
    top, commands = build_parser()
    for i, arg in enumerate(argv):
        if arg == "--debug":
            continue
        if arg in commands:  # `archive [--debug] CMD ...`: let options and files intermix
            args = commands[arg].parse_intermixed_args(argv[i + 1:])
            args.debug = getattr(args, "debug", False) or "--debug" in argv[:i]
            return args
        break
    return top.parse_args(argv)  # help, version, or an error


def _version() -> str:
    from archive import __version__
    return __version__


def _message(e: BaseException) -> str:
    if isinstance(e, QuerySyntaxError):
        reason = getattr(e, "reason", None)
        if reason is not None:
            return f"bad where expression: {reason} at column {e.column}: {e.text}"  # type: ignore[attr-defined]
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and not isinstance(e, ArchiveError) and e.strerror:
        return f"{e.filename + ': ' if e.filename else ''}{e.strerror}"
    text = str(e) or type(e).__name__
    return text.splitlines()[0] if text.strip() else type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parse(argv)
        debug = bool(getattr(args, "debug", False))
        if not getattr(args, "func", None):
            raise CliError("a command is needed (see 'archive --help')", 2)
        return int(args.func(args) or 0)
    except SystemExit as e:  # --help / --version
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("archive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `archive scan ... | head`: stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except (CliError, ArchiveError, OSError, ValueError, TypeError, KeyError, IndexError) as e:
        if debug:
            raise
        code = e.code if isinstance(e, CliError) else 1
        print(f"{PROG}: error: {_message(e)}", file=sys.stderr)
        return code
