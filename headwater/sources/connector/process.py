"""A connector's process: JSON lines on stdout read in bulk, stderr to logging, clear failures.

:class:`ConnectorProcess` starts a command and yields its stdout as batches of parsed messages
(:meth:`~ConnectorProcess.messages`): stdout is read in chunks of up to 1 MiB, cut into lines, and a
chunk's lines are parsed with one ``orjson.loads`` of the JSON array they make (line by line only when
that fails: a line that is not JSON is logged and skipped, as Singer targets do). Its stderr goes to the
``headwater.connector.<name>`` logger, line by line, on a thread of its own, and its last lines are kept
for the error a failure raises: :class:`ConnectorError` with the command's exit code and those lines.
Closing the generator early (a failure downstream, Ctrl-C) stops the process: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from headwater.errors import SourceError
from headwater.redact import redact

#: bytes read from stdout at a time
CHUNK = 1 << 20
#: lines of stderr kept for the error message
STDERR_TAIL = 20
_STOP_SECONDS = 5.0


class ConnectorError(SourceError):
    """A connector process failed: its exit code and the last lines it wrote to stderr are in the message."""

    def __init__(self, message: str, *, exit_code: int | None = None, stderr: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.exit_code = exit_code
        self.stderr = list(stderr)


def read_messages(
    stream: IO[bytes], parse: Callable[[list[bytes]], list[dict[str, Any]]]
) -> Iterator[list[dict[str, Any]]]:
    """The JSON lines of ``stream`` as lists of messages: read in chunks of up to :data:`CHUNK` bytes,
    each chunk's complete lines parsed at once by ``parse``."""
    rest = b""
    read = getattr(stream, "read1", stream.read)
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        batch = parse(lines)
        if batch:
            yield batch
    if rest.strip():
        batch = parse([rest])
        if batch:
            yield batch


def parse_lines(lines: list[bytes], on_skip: Callable[[bytes], None]) -> list[dict[str, Any]]:
    """The JSON objects among ``lines``, parsed with one ``orjson.loads`` when every line is one
    (line by line otherwise); ``on_skip`` is told each line that is not a JSON object."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return []
    try:
        parsed = orjson.loads(b"[" + b",".join(lines) + b"]")
        if all(type(m) is dict for m in parsed):
            return parsed
    except orjson.JSONDecodeError:
        pass
    out = []
    for line in lines:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            message = None
        if type(message) is dict:
            out.append(message)
        else:
            on_skip(line)
    return out


class ConnectorProcess:
    """One run of a connector command.

    Args:
        argv: the command and its arguments.
        name: what messages and the logger call it (``tap-jsonl``).
        env: variables added to the environment of the process.
        cwd: its working folder (config and catalog files live there).
        secrets: values (passwords, tokens of its config) never shown in logs or errors.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.secrets = [s for s in secrets if s]
        self.argv = [str(a) for a in argv]
        self.name = name
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log = logging.getLogger(f"headwater.connector.{name}")
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.skipped = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: threading.Thread | None = None

    def messages(self) -> Iterator[list[dict[str, Any]]]:
        """Start the process and yield its stdout as lists of messages, in order; raise
        :class:`ConnectorError` if it exits with an error (after yielding what it wrote before)."""
        proc = self._start()
        assert proc.stdout is not None
        done = False
        try:
            yield from read_messages(proc.stdout, self._parse)
            self._finish(proc)
            done = True
        finally:
            if not done:
                self.stop()

    def output(self) -> bytes:
        """Run to the end and return stdout as it is (a discovered catalog is one JSON document that
        spans many lines); raise :class:`ConnectorError` if the process fails."""
        proc = self._start()
        assert proc.stdout is not None
        try:
            out = proc.stdout.read()
            self._finish(proc)
        finally:
            self.stop()
        return out

    def run(self) -> list[dict[str, Any]]:
        """Run to the end and return every message (for short commands: spec, check, discover)."""
        return [m for batch in self.messages() for m in batch]

    def stop(self) -> None:
        """Stop the process if it still runs: SIGTERM, then SIGKILL after a few seconds."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._stderr is not None:
            self._stderr.join(_STOP_SECONDS)

    # -- internals -------------------------------------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        self.log.debug("starting %s", " ".join(self.argv))
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise ConnectorError(
                f"could not start {self.name} ({self.argv[0]}): {exc}",
                hint="check that the connector is installed and executable",
            ) from exc
        self._proc = proc
        assert proc.stderr is not None
        self._stderr = threading.Thread(
            target=self._drain_stderr, args=(proc.stderr,), name=f"headwater-stderr-{self.name}", daemon=True
        )
        self._stderr.start()
        return proc

    def _drain_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = redact(raw.decode("utf-8", "replace").rstrip(), self.secrets)
            if line:
                self.tail.append(line)
                self.log.info("%s", line)

    def _finish(self, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        if self._stderr is not None:
            self._stderr.join()
        if self.skipped:
            self.log.warning(
                "%s wrote %d line(s) to stdout that are not JSON messages; skipped", self.name, self.skipped
            )
        if code != 0:
            shown = "\n".join(f"    {line}" for line in self.tail) or "    (nothing on stderr)"
            raise ConnectorError(
                f"{self.name} exited with code {code}; the last lines of its stderr:\n{shown}",
                hint="the rows it sent before failing are kept; fix the connector's config or input and run again",
                exit_code=code,
                stderr=list(self.tail),
            )

    def _parse(self, lines: list[bytes]) -> list[dict[str, Any]]:
        return parse_lines(lines, self._skip)

    def _skip(self, line: bytes) -> None:
        self.skipped += 1
        self.log.info("%s", redact(line.decode("utf-8", "replace").rstrip(), self.secrets))
