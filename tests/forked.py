"""``python script.py`` as a new process, without paying for the imports each time.

The guides' blocks and the examples each run as a reader would run them: a script in a folder, with an
environment, as a process of its own. Each such process spends 0.4 to 0.5 s of CPU importing Headwater,
pyarrow and DuckDB before it does anything. Here one interpreter per test worker imports them once
(:data:`PRELOAD`) and forks a child per script (or ``-m`` module): the child is a new process with nothing open, which
takes the script's folder, environment, ``sys.argv`` and ``sys.path[0]``, reads nothing on its stdin,
runs the script as ``__main__`` and exits as Python does (atexit handlers, threads joined, streams
flushed; an uncaught exception prints its traceback and exits 1). ``headwater.testing``'s exactly-once
scenarios fork their killed runs the same way.

Not for a script that must run as another user: the interpreter's own library may be where that user
cannot read (a pyenv under /root), and a forked child has its paths.

What differs from ``python script.py``: modules are imported before the environment is set, so a
module that reads an environment variable when imported sees the server's (Headwater reads them when
used; ``headwater._failpoints`` is reloaded in each child), and ``PYTHONPATH`` is the server's
(:func:`tests.conftest.env_with_path`).
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

#: what the server imports before it forks: what a pipeline run imports
PRELOAD = ("headwater", "headwater.pipelines.pipeline", "pyarrow", "pyarrow.compute", "pyarrow.ipc", "duckdb")

SERVER = r"""
import importlib, json, os, runpy, signal, sys

for module in sys.argv[1:]:
    importlib.import_module(module)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(request["stdin"], os.O_RDONLY), 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.stdin = open(0, closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.alarm(request["timeout"])
        import headwater._failpoints

        importlib.reload(headwater._failpoints)
        if request["module"] is not None:
            sys.argv = [request["module"], *request["args"]]
            sys.path[0] = os.getcwd()
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        else:
            script = request["script"]
            sys.argv = [script, *request["args"]]
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name="__main__")
        sys.exit(0)  # leaves the loop: the child exits as a script's process does
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

_lock = threading.Lock()
_server: subprocess.Popen[str] | None = None


def _started() -> subprocess.Popen[str]:
    global _server
    if _server is None or _server.poll() is not None:
        from tests.conftest import env_with_path

        _server = subprocess.Popen(
            [sys.executable, "-c", SERVER, *PRELOAD],
            env=env_with_path(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(_stop, _server)
    return _server


def _stop(server: subprocess.Popen[str]) -> None:
    if server.stdin is not None:
        server.stdin.close()
    server.wait(timeout=30)


def run_python(
    script: str | Path | None = None,
    *,
    module: str | None = None,
    cwd: str | Path,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    input: str = "",
    timeout: int = 300,
) -> subprocess.CompletedProcess[str]:
    """``python script *args`` (or ``python -m module *args``) in ``cwd`` with ``env``, ``input`` on its
    stdin, in a child forked from the preloaded server: what ``subprocess.run(..., capture_output=True,
    text=True)`` returns."""
    assert (script is None) != (module is None), "give a script or a module"
    with _lock, tempfile.TemporaryDirectory(prefix="headwater-forked-") as tmp:
        stdin, out, err = Path(tmp) / "stdin", Path(tmp) / "stdout", Path(tmp) / "stderr"
        stdin.write_text(input)
        request = {
            "script": None if script is None else str(script),
            "module": module,
            "args": list(args),
            "cwd": str(cwd),
            "env": dict(env),
            "stdin": str(stdin),
            "stdout": str(out),
            "stderr": str(err),
            "timeout": timeout,
        }
        server = _started()
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        answer = server.stdout.readline()
        if not answer:
            raise AssertionError(f"the forking server died (code {server.wait()})")
        command = [sys.executable, *(["-m", module] if module is not None else [str(script)]), *args]
        return subprocess.CompletedProcess(command, int(answer), out.read_text(), err.read_text())
