"""Child processes of the fault tests.

Run as a script (``python tests/faults/child.py``) this is a *zygote*: it imports the package
once, then, for each JSON command line on stdin, forks a child that runs one task of
:mod:`tests.faults.tasks` (a writer session the parent will SIGKILL, a reader, a risky read
under ``RLIMIT_AS``...) and answers
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
    import tests.faults.tasks  # noqa: F401
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
        from tests.faults.tasks import TASKS
        TASKS[task](spec)
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    _zygote()
