"""A large posting run's engine in a process of its own, beside the writing process (issue 7).

On one core a large *Post Inventory Cost to G/L* run alternates between the engine's Python
work (reading the queue, validating, building G/L rows, collecting the pre-aggregate deltas)
and SQLite's work on the rows (inserting them into their B-trees). Python threads cannot run
the two at once (the GIL is handed over on every row of an ``executemany``), processes can:

* The **writing process** (the caller of ``post_inventory_cost``) keeps the write transaction
  and does every write, exactly as a single-process run does: it applies what the engine sends
  with the very methods the in-process engine uses (``_Engine.apply_lines``, ``_emit_skip``,
  ``_end_batch``, ``_emit_groups``, ``_emit_irregular``, ``PostingLoad.add_deltas``), then writes
  the register, the posted fields and the pre-aggregate deltas, and commits. A thread reads the
  messages ahead (``_ReadAhead``) so that neither process waits on the other's long steps, and
  each side takes the work the other is too busy for: per entry (the writer is the busier) the
  engine process prepares the pre-aggregate rows (``PostingLoad.add_prepared``,
  ``stage_totals``); per posting group (the writer would wait for the engine's pass over the
  queue) the writer prepares them and sets the posted fields batch by batch
  (``_Engine.assign_posted_now``).
* The **engine process** opens its own read connection. The writing process holds the write
  lock (``BEGIN IMMEDIATE``) before it starts the engine, so the engine's snapshot is the state
  the run writes onto; nobody else can commit in between. It runs the unchanged engine
  (``_Engine.process`` per batch, ``finish_groups``) with its output methods overridden to send
  batches through a pipe.

A failure anywhere ends both: an error in the engine process comes back as an
``InvreconError`` and the writing process rolls back; a cancel or an error in the writing
process terminates the engine process. The engine process never writes, so killing either
leaves the ledger as it was. Used only for a bulk run (``posting._bulk_writes``) on a WAL-mode
ledger file; every other run stays in one process.
"""

from __future__ import annotations

import array
import collections
import contextlib
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import IO, Any

from sqlite_utils import Database

from invrecon import posting, preaggregates
from invrecon.errors import InvreconError
from invrecon.ledger import db_path, open_ledger
from invrecon.posting import (
    PostingReport,
    PostingRequest,
    _Engine,
    _pickle_lines,
    _process,
)
from invrecon.posting_rules import PostingSetup
from invrecon.preaggregates import DeltaCollector

ENABLED = True
"""Run the engine of a bulk posting run in its own process (tests switch this off to compare)."""
MIN_QUEUE = 20_000
"""Queued entries below which starting a process (about half a second) is not worth it."""
ENGINE_CACHE_KIB = 16_384
"""The engine process's SQLite page cache (the writing process keeps the ledger's 64 MiB)."""
PIPE_BYTES = 1 << 20
"""Capacity asked for the engine process's pipe (Linux's default limit for a user)."""
READ_AHEAD_BYTES = 16 << 20
"""Messages the writing process reads ahead of the one it applies, at most (``_ReadAhead``)."""
TUNABLES = (("posting", "BATCH_SIZE"), ("posting", "STAGE_KEYS"),
            ("posting", "LINES_IN_MEMORY"), ("posting", "SKIPPED_IN_MEMORY"),
            ("posting", "GROUP_LINES_IN_MEMORY"), ("posting", "GROUP_WRITE_BATCH"),
            ("preaggregates", "STAGE_KEYS"))
"""Settings (module of ``invrecon``, name) the engine process takes over from the writing
process."""
_MODULES = {"posting": posting, "preaggregates": preaggregates}


def usable(db: Database, queued: int) -> bool:
    """A large queue, on a ledger file in WAL mode (a second connection reads while this one
    writes)."""
    if not ENABLED or queued < MIN_QUEUE or os.name != "posix":  # (pipe fds passed on)
        return False
    mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
    return str(mode).lower() == "wal" and bool(db_path(db))


class _EngineProcessEngine(_Engine):
    """The engine in the engine process: its output goes into the pipe."""

    pipe: Any = None
    _skips: list[tuple]
    _lines: tuple[bytes, int] | None

    stream_skips = True  # the writing process reports progress: skips batch by batch
    _skip_nos: list[tuple[int]]
    _skip_chunk: list[tuple]

    def _prepare_output(self) -> None:
        self._skips = []
        self._skip_nos = []
        self._skip_chunk = []
        self._lines = None

    def _emit_skip(self, s: tuple) -> None:
        if self.stream_skips:
            self._skips.append(s)
            return
        # No progress to show: the skipped entries go over in whole chunks, pickled here as
        # the report's SpillList keeps them (the writing process stores the bytes as they
        # are), and their numbers batch by batch (for the final UPDATE).
        self._skip_nos.append((s[0],))
        self._skip_chunk.append(s)
        if len(self._skip_chunk) >= posting.SKIPPED_IN_MEMORY:
            self.pipe.send(("skips", pickle.dumps(self._skip_chunk,
                                                  protocol=pickle.HIGHEST_PROTOCOL)))
            self._skip_chunk = []

    def _emit_lines(self, gl_rows: list, ordinals: bytes, rel_rows: list) -> None:
        if gl_rows:
            self._lines = (_pickle_lines(gl_rows, ordinals, rel_rows), len(gl_rows))

    def _end_batch(self) -> None:
        r = self.report
        posted = None
        if self.posted_entry_nos is not None:  # per posting group: assign_posted_now
            posted = array.array("q", self.posted_entry_nos).tobytes()
            self.posted_entry_nos = []
        self.pipe.send(("batch", self._lines, self._skips, self._skip_nos, r.processed,
                        r.posted_value_entries, self.next_gl, posted))
        self._skips = []
        self._skip_nos = []
        self._lines = None
        self._hand_over_when_full()

    def _emit_deltas(self, taken: tuple) -> None:
        if self.per_group:
            # The writing process has nothing to write until the groups are made (after the
            # whole queue): it prepares the deltas itself, off this process's critical path.
            self.pipe.send(("deltas", taken))
            return
        # Per entry the writing process is the busier one: prepared here (sorted rows, the
        # totals summed), it only executes.
        agg = self.agg
        self.pipe.send(("prepared-deltas", agg.prepare(taken)))
        if agg.totals_full():
            self.pipe.send(("totals", agg.take_totals()))

    def _emit_groups(self, gl_rows: list, lines: list[tuple], multi_rows: list[tuple]) -> None:
        self.pipe.send(("groups", gl_rows, lines, multi_rows))

    def _emit_irregular(self, irregular: list[tuple[int, int]]) -> None:
        self.pipe.send(("irregular", irregular))


def _engine_process(out: IO[bytes], path: str, request_json: str,
                    numbers: tuple[int, int, int], tunables: list[tuple[str, str, int]],
                    stream_skips: bool) -> None:
    """The engine process's work: every message goes to ``out`` (see ``_send``)."""
    pipe = _Sender(out)
    try:
        for module, name, value in tunables:
            setattr(_MODULES[module], name, value)
        db = open_ledger(path, readonly=True)
        # it reads the queue once: a small page cache leaves the memory to the group buffer
        db.conn.execute(f"PRAGMA cache_size = -{ENGINE_CACHE_KIB}")
        db.conn.execute("BEGIN")  # one snapshot for the whole run
        request = PostingRequest.model_validate_json(request_json)
        report = PostingReport(request)
        setup = PostingSetup(db)
        agg = DeltaCollector()
        engine = _EngineProcessEngine(db, setup, report,
                                      per_group=request.mode == "per-posting-group",
                                      write=True, agg=agg)
        engine.pipe = pipe
        engine.stream_skips = stream_skips
        if engine.per_group:
            # the writing process sets their posted fields batch by batch: it would otherwise
            # wait for this pass over the queue (per entry it is the busier one: at the end)
            engine.posted_entry_nos = []
        # the numbers continue from what the writing process sees (the same snapshot)
        seen = (engine.next_gl, engine.txn, engine.register_no)
        if seen != tuple(numbers):
            raise InvreconError("internal error: the posting engine process sees another "
                                f"ledger state ({seen} vs {tuple(numbers)}); nothing was posted")
        _process(db, engine, request, setup.expected_cost_posting)
        if engine.per_group:
            engine.finish_groups()
        engine._emit_deltas(agg.take())
        pipe.send(("totals", agg.take_totals()))
        pipe.send(("skips-tail", engine._skip_chunk))
        pipe.send(("done", {
            "totals": report._totals, "item_columns": report.item_columns,
            "capacity_columns": report.capacity_columns,
            "dimension_overrides": report.dimension_overrides,
            "gl_entries_created": report.gl_entries_created, "next_gl": engine.next_gl,
            "txn": engine.txn}))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the writer
        message = str(exc) if isinstance(exc, InvreconError) else (
            f"internal error in the posting engine process: {exc!r}; nothing was posted")
        try:
            pipe.send(("error", message, traceback.format_exc()))
        except OSError:  # the writing process has gone: nobody to tell
            pass
        raise SystemExit(1) from None


class _Sender:
    """Messages as frames on a pipe: 8-byte length, then the pickle."""

    def __init__(self, out: IO[bytes]):
        self._out = out

    def send(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._out.write(struct.pack("<Q", len(data)))
        self._out.write(data)
        self._out.flush()


def _read_frame(inp: IO[bytes]) -> bytes | None:
    """The next message's pickle, or None at the end of the pipe."""
    head = inp.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    data = inp.read(size)
    if len(data) < size:
        return None
    return data


class _ReadAhead:
    """Drains the engine process's pipe in a thread of the writing process, up to ``limit``
    bytes ahead of the message being applied; ``get`` hands the messages over in order.

    The pipe holds 1 MiB, a few batches: while the writing process spends a few hundred
    milliseconds on one step (adding a chunk of deltas, committing a skip chunk), the engine
    process would fill it and wait, and the writing process would then wait for it in turn.
    Read ahead, each keeps going. The thread only reads bytes (the read releases the GIL); the
    writing process unpickles a message when it applies it."""

    def __init__(self, inp: IO[bytes], limit: int):
        self._inp = inp
        self._limit = limit
        self._frames: collections.deque[bytes | None | BaseException] = collections.deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="invrecon-engine-reader",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        frame: bytes | None | BaseException
        while True:
            try:
                frame = _read_frame(self._inp)
            except BaseException as exc:  # noqa: BLE001 - handed to the writing process
                frame = exc
            with self._cond:
                # (one frame is always let through, however large: the writer needs it)
                while self._frames and self._bytes >= self._limit and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._frames.append(frame)
                if isinstance(frame, bytes):
                    self._bytes += len(frame)
                self._cond.notify_all()
            if not isinstance(frame, bytes):
                return

    def get(self) -> tuple | None:
        """The next message, or None at the end of the pipe."""
        with self._cond:
            while not self._frames:
                self._cond.wait()
            frame = self._frames.popleft()
            if isinstance(frame, bytes):
                self._bytes -= len(frame)
                self._cond.notify_all()
        if isinstance(frame, BaseException):
            raise frame
        return None if frame is None else pickle.loads(frame)

    def close(self, timeout: float = 10) -> None:
        """Stop reading ahead (the engine process has ended: the thread finds the pipe's
        end)."""
        with self._cond:
            self._closed = True
            self._frames.clear()
            self._bytes = 0
            self._cond.notify_all()
        self._thread.join(timeout)


def run(db: Database, engine: _Engine, request: PostingRequest) -> None:
    """Run ``engine``'s queue in an engine process and apply its output here (the writing
    process, inside the run's write transaction); ``engine`` ends up as if it had processed
    the queue itself (``finish_groups`` included).

    The engine process is ``python -m invrecon.posting_worker`` (a fresh interpreter: nothing
    of this process is forked or re-imported), its messages come through a pipe of its own and
    its stderr goes to a temp file (quoted in the error if it ends unexpectedly)."""
    numbers = (engine.next_gl, engine.txn, engine.register_no)
    job = json.dumps({"path": db_path(db), "request": request.model_dump_json(),
                      "numbers": numbers,
                      "tunables": [(m, name, getattr(_MODULES[m], name)) for m, name in TUNABLES],
                      "stream_skips": engine.on_progress is not None})
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(posting.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    read_fd, write_fd = os.pipe()
    try:  # room for several batches: the engine runs ahead instead of waiting for each read
        import fcntl

        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):  # not Linux, or above the system's limit
        pass
    with tempfile.TemporaryFile(prefix="invrecon-engine-") as errors:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "invrecon.posting_worker", str(write_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                pass_fds=(write_fd,), env=env, close_fds=True)
        finally:
            os.close(write_fd)  # the engine process holds the only writing end: EOF at its end
        with os.fdopen(read_fd, "rb", buffering=1 << 20) as inp:
            messages = _ReadAhead(inp, READ_AHEAD_BYTES)
            try:
                assert proc.stdin is not None
                # An engine process that ends before reading its job (it could not start)
                # closes the pipe: _apply then reports how it ended.
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(job.encode())
                    proc.stdin.flush()
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
                _apply(db, engine, messages, proc, errors)
                try:  # it has sent everything: let it end on its own
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            finally:  # a failure or a cancel here: the engine process is ended
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                messages.close()


def _apply(db: Database, engine: _Engine, messages: _ReadAhead, proc: subprocess.Popen,
           errors: IO[bytes]) -> None:
    report = engine.report
    load = engine.agg
    while True:
        engine.check_cancel()
        msg = messages.get()
        if msg is None:
            proc.wait()
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise InvreconError(
                f"posting: the engine process ended unexpectedly (exit code {proc.returncode}"
                f"{': ' + tail[0] if tail else ''}); nothing was posted")
        kind = msg[0]
        if kind == "batch":
            _, lines, skips, skip_nos, processed, posted, next_gl, posted_nos = msg
            if posted_nos:
                engine.assign_posted_now(array.array("q", posted_nos))
            if lines is not None:
                data, _count = lines
                gl_rows, _ordinals, rel_rows = pickle.loads(data)
                engine.apply_lines(data, gl_rows, rel_rows)
            for s in skips:
                engine._emit_skip(s)
            engine._skipped_batch.extend(skip_nos)
            report.processed = processed
            report.posted_value_entries = posted
            report.gl_entries_created = next_gl - engine.first_gl
            engine._end_batch()
            engine.progress()
        elif kind == "skips":  # a whole chunk of skipped entries, pickled
            report.skipped.append_pickled_chunk(msg[1])
        elif kind == "skips-tail":
            for s in msg[1]:
                report.skipped.append_encoded(s)
        elif kind == "prepared-deltas":
            load.add_prepared(db.conn, msg[1])
        elif kind == "deltas":
            load.add_deltas(db.conn, msg[1])
        elif kind == "totals":
            load.stage_totals(db.conn, msg[1])
        elif kind == "groups":
            engine._emit_groups(*msg[1:])
        elif kind == "irregular":
            engine._emit_irregular(msg[1])
        elif kind == "done":
            state = msg[1]
            report._totals = state["totals"]
            report.item_columns = state["item_columns"]
            report.capacity_columns = state["capacity_columns"]
            report.dimension_overrides = state["dimension_overrides"]
            report.gl_entries_created = state["gl_entries_created"]
            engine.next_gl = state["next_gl"]
            engine.txn = state["txn"]
            return
        else:  # "error"
            raise InvreconError(msg[1])


def main(argv: list[str] | None = None) -> None:
    """``python -m invrecon.posting_worker FD``: the job (JSON) on stdin, messages to FD."""
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(sys.stdin.read())
    with os.fdopen(int(args[0]), "wb", buffering=1 << 20) as out:
        _engine_process(out, job["path"], job["request"], tuple(job["numbers"]), job["tunables"],
                        job["stream_skips"])


if __name__ == "__main__":
    main()
