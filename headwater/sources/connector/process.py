"""A connector's process: JSON lines on stdout read in bulk, stderr to logging, clear failures.

:class:`ConnectorProcess` starts a command and yields its stdout as batches of parsed messages
(:meth:`~ConnectorProcess.messages`): stdout is read ahead on a thread of its own, in chunks of up to
1 MiB through a 1 MiB pipe, so the connector never waits for Headwater's parsing and normalizing (the
two run on two cores); the lines are cut, and each stretch of lines is parsed with one ``orjson.loads``
of the JSON array they make (line by line only when that fails: a line that is not JSON is logged and
skipped, as Singer targets do), with the cyclic garbage collector held back (:func:`fewer_collections`).
Its stderr goes to the ``headwater.connector.<name>`` logger, line by line, on a thread of its own, and
its last lines are kept for the error a failure raises: :class:`ConnectorError` with the command's exit
code and those lines. Closing the generator early (a failure downstream, Ctrl-C) stops the process:
SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import collections
import fcntl
import io
import logging
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from headwater.errors import SourceError
from headwater.observe.context import carry
from headwater.redact import redact
from headwater.sources.collector import fewer_collections

#: bytes read from stdout at a time
CHUNK = 1 << 20
#: bytes read ahead of the parser at most (then the reader waits, and so does the writer)
READ_AHEAD = 64 << 20
#: a read shorter than this (the writer is slower than the reader) waits :data:`GATHER_SECONDS` before the next
SMALL_READ = 64 << 10
GATHER_SECONDS = 0.01
#: bytes handed to the parser at once at most, when the reader is ahead
JOIN = 4 << 20
#: lines of stderr kept for the error message
STDERR_TAIL = 20
_STOP_SECONDS = 5.0


#: makes messages of stdout lines, telling its second argument of each line that is not JSON
Split = Callable[[list[bytes], Callable[[bytes], None]], list[Any]]


class ConnectorError(SourceError):
    """A connector process failed: its exit code and the last lines it wrote to stderr are in the message."""

    def __init__(self, message: str, *, exit_code: int | None = None, stderr: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.exit_code = exit_code
        self.stderr = list(stderr)


def read_messages(stream: IO[bytes], parse: Callable[[list[bytes]], list[Any]]) -> Iterator[list[Any]]:
    """The JSON lines of ``stream`` as lists of messages: read ahead on a thread (:func:`read_chunks`),
    each stretch of complete lines parsed at once by ``parse``."""
    rest = b""
    with fewer_collections():
        for chunk in read_chunks(stream):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            batch = parse(lines)
            if batch:
                yield batch
        if rest.strip():
            batch = parse([rest])
            if batch:
                yield batch


def read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """The bytes of ``stream``, read on a thread of its own up to :data:`READ_AHEAD` bytes ahead of the
    consumer: the writer (a connector, a tap piped into the target) keeps running on its own core
    while Headwater parses and normalizes on another, instead of waiting on a full pipe. What was
    read meanwhile comes at once (up to :data:`JOIN` bytes), so a slow consumer gets bigger batches."""
    _widen_pipe(stream)
    chunks: collections.deque[bytes | BaseException | None] = collections.deque()
    ready = threading.Condition()
    ahead = [0]  # bytes queued
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> None:
        with ready:
            while ahead[0] >= READ_AHEAD and not stop.is_set():
                ready.wait(0.1)
            if isinstance(item, bytes):
                ahead[0] += len(item)
            chunks.append(item)
            ready.notify_all()

    def pump() -> None:
        read = getattr(stream, "read1", stream.read)
        try:
            while not stop.is_set():
                chunk = read(CHUNK)
                if not chunk:
                    break
                put(chunk)
                if len(chunk) < SMALL_READ:
                    # a writer that flushes every line would make a batch of each: let lines gather
                    time.sleep(GATHER_SECONDS)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
        put(None)

    threading.Thread(target=pump, name="headwater-read-ahead", daemon=True).start()
    try:
        while True:
            parts: list[bytes] = []
            size = 0
            with ready:
                while not chunks:
                    ready.wait()
                while chunks and size < JOIN and isinstance(chunks[0], bytes):
                    part = chunks.popleft()
                    assert isinstance(part, bytes)
                    parts.append(part)
                    size += len(part)
                ahead[0] -= size
                end = chunks[0] if not parts else False
                ready.notify_all()
            if parts:
                yield parts[0] if len(parts) == 1 else b"".join(parts)
            elif isinstance(end, BaseException):
                raise end
            else:
                return
    finally:
        stop.set()


def _widen_pipe(stream: IO[bytes]) -> None:
    """Give a pipe :data:`CHUNK` bytes of buffer (Linux; 64 KiB by default), so the writer blocks less
    often between two reads."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    try:
        fd = stream.fileno()
        if setpipe is not None and stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, setpipe, CHUNK)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a pipe, or above the system's limit: the default buffer works, only slower


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

    def messages(self, split: Split | None = None) -> Iterator[list[Any]]:
        """Start the process and yield its stdout as lists of messages, in order; raise
        :class:`ConnectorError` if it exits with an error (after yielding what it wrote before).
        ``split`` makes messages of lines (default :func:`parse_lines`), told of lines that are not JSON."""
        proc = self._start()
        assert proc.stdout is not None
        done = False
        parse = self._parse if split is None else (lambda lines: split(lines, self._skip))
        try:
            yield from read_messages(proc.stdout, parse)
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
            target=carry(self._drain_stderr), args=(proc.stderr,), name=f"headwater-stderr-{self.name}", daemon=True
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
