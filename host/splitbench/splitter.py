"""Stage 3: the head and tail of every split, for any model format.

Interfaces of the parts, for split ``k`` (the same for every format):

* head = operators ``[0, k)``; inputs = the model inputs the head's operators read (an input
  read only later, like a side input, goes straight to the tail and is part of the cut);
  outputs = the cut tensors the head computes (``Cut.head_outputs``).
* tail = operators ``[k, N)``; inputs = the cut tensors its operators read; outputs = the model
  outputs it computes.
* ``k = 0`` has no head and ``k = N`` no tail (``None``); nor has a part whose operators would
  all be weight-only (see :mod:`splitbench.cutplan`): weight-only operators are not placed by
  ``k`` but packed into each part that reads their output, so a part is the operators of its
  range that depend on the inputs plus the weight-only operators they need (``PartIO.operators``).

Tensor names are kept exactly: head outputs map to tail inputs by name. How the bytes of a part
are made is the format's business (:mod:`splitbench.formats.tflite.splitter` edits the
flatbuffer, :mod:`splitbench.formats.onnx.splitter` copies protobuf fields); this module
decides what goes into each part and writes the files.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from splitbench.cutplan import Cut, check_split, plan_cuts, weight_only_operators
from splitbench.errors import SplitbenchError
from splitbench.formats.base import PartIO, PartMaker, Segments
from splitbench.graph import ModelGraph

_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16


@dataclass(frozen=True)
class PartFiles:
    """The files of one split, as written by :meth:`ModelSplitter.write_parts`."""

    split: int
    cut: Cut
    split_dir: Path  # out_dir/split_007
    head_path: Path | None  # split_dir/head.<suffix>; None at split 0 (all on the server)
    tail_path: Path | None  # split_dir/tail.<suffix>; None at split N (all on the client)
    head_bytes: int  # file size, 0 when there is no head
    tail_bytes: int
    head_io: PartIO | None
    tail_io: PartIO | None


class ModelSplitter:
    """Makes the head and tail of any split of one model, in the model's own format.

    The boundary of every part (which operators, which tensors in and out) is decided here,
    the same way for every format; the format's :class:`~splitbench.formats.base.PartMaker`
    only turns an operator set and a boundary into file bytes. Parts are produced one at a time
    and not kept, so memory does not grow with the number of splits. ``source`` is a loaded
    :class:`ModelGraph` (whatever the format parsed is re-used) or a path to a model file.
    """

    def __init__(
        self,
        source: ModelGraph | Path | str,
        input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        from splitbench.formats import format_of_file, get_format

        if isinstance(source, ModelGraph):
            self.graph = source
            self.format = get_format(source.format)
        else:
            self.format = format_of_file(Path(source))
            self.graph = self.format.load_graph(Path(source), input_shapes)
        self.cuts: list[Cut] = plan_cuts(self.graph)
        #: how the last write_all ran: 1, or 2 with the tails written by a forked child
        self.processes_used = 1
        n = self.graph.num_operators
        self._first_use: dict[int, int] = {}
        self._last_use: dict[int, int] = {}
        self._producer: dict[int, int] = {}
        for op in self.graph.operators:
            for t in op.inputs:
                if t >= 0:
                    self._first_use.setdefault(t, op.index)
                    self._last_use[t] = op.index
            for t in op.outputs:
                self._producer.setdefault(t, op.index)
        self._weight_only = weight_only_operators(self.graph)
        # _working[k]: how many operators in [0, k) are not weight-only (a part needs one)
        self._working = [0]
        for op in self.graph.operators:
            self._working.append(self._working[-1] + (op.index not in self._weight_only))
        self._digits = max(3, len(str(n)))
        self._maker: PartMaker = self.format.part_maker(self.graph)

    # --- interfaces -----------------------------------------------------------------------------

    @property
    def num_splits(self) -> int:
        return self.graph.num_operators + 1

    def cut(self, k: int) -> Cut:
        check_split(self.graph, k)
        return self.cuts[k]

    def head_io(self, k: int) -> PartIO | None:
        """Operators, inputs and outputs of the head of split ``k``; None when the client has
        nothing to run (``k = 0``, or only weight-only operators come before ``k``)."""
        cut = self.cut(k)
        if self._working[k] == 0:
            return None
        inputs = tuple(i for i in dict.fromkeys(self.graph.inputs) if self._first_use.get(i, k) < k)
        return self._io(inputs, cut.head_outputs, range(0, k))

    def tail_io(self, k: int) -> PartIO | None:
        """Operators, inputs and outputs of the tail of split ``k``; None when the server has
        nothing to run (``k = N``, or only weight-only operators come from ``k`` on)."""
        cut = self.cut(k)
        n = self.graph.num_operators
        if self._working[n] - self._working[k] == 0:
            return None
        inputs = tuple(t for t in cut.tensors if self._last_use.get(t, -1) >= k)
        outputs = tuple(
            o for o in dict.fromkeys(self.graph.outputs) if self._producer.get(o, -1) >= k
        )
        return self._io(inputs, outputs, range(k, n))

    def _io(self, inputs: tuple[int, ...], outputs: tuple[int, ...], ops: range) -> PartIO:
        return PartIO(
            inputs=inputs,
            outputs=outputs,
            input_names=self.graph.tensor_names(inputs),
            output_names=self.graph.tensor_names(outputs),
            operators=tuple(sorted(self._with_weight_ops(ops))),
        )

    def _with_weight_ops(self, ops: range) -> set[int]:
        """The working operators of ``ops`` and the weight-only operators they need."""
        chosen: set[int] = set()
        pending = [i for i in ops if i not in self._weight_only]
        while pending:
            i = pending.pop()
            if i in chosen:
                continue
            chosen.add(i)
            for t in self.graph.operators[i].inputs:
                p = self._producer.get(t)
                if p is not None and p in self._weight_only and p not in chosen:
                    pending.append(p)
        return chosen

    def prefetch(self, splits: Iterable[int], jobs: int = 1) -> None:
        """Tell the format which parts are coming, for makers that prepare them in parallel
        (ExecuTorch lowers in ``jobs`` worker processes); others ignore it."""
        if jobs < 2:
            return
        ios = [io for k in splits for io in (self.head_io(k), self.tail_io(k)) if io is not None]
        self._maker.prefetch(ios, jobs)

    def background_pids(self) -> list[int]:
        """The processes the format started for :meth:`prefetch` that are working now
        (ExecuTorch's lowering workers); none for formats that pack parts in this process."""
        pids = getattr(self._maker, "background_pids", None)
        return [] if pids is None else list(pids())

    def close(self) -> None:
        """Stop what the format started for :meth:`prefetch` (ExecuTorch's worker processes)."""
        stop = getattr(self._maker, "close", None)
        if stop is not None:
            stop()

    # --- parts as bytes -------------------------------------------------------------------------

    def head(self, k: int) -> bytes | None:
        """The head of split ``k`` as a part file's bytes, or None (see :meth:`head_io`)."""
        segments = self._head_segments(k, self.head_io(k))
        return None if segments is None else b"".join(segments)

    def tail(self, k: int) -> bytes | None:
        """The tail of split ``k`` as a part file's bytes, or None (see :meth:`tail_io`)."""
        segments = self._tail_segments(k, self.tail_io(k))
        return None if segments is None else b"".join(segments)

    def _head_segments(self, k: int, io: PartIO | None) -> Segments | None:
        return None if io is None else self._maker.head(k, io)

    def _tail_segments(self, k: int, io: PartIO | None) -> Segments | None:
        return None if io is None else self._maker.tail(k, io)

    # --- files ----------------------------------------------------------------------------------

    def split_dir(self, out_dir: Path, k: int) -> Path:
        """``out_dir/split_007``: zero-padded so that directory listings sort by split."""
        return Path(out_dir) / f"split_{k:0{self._digits}d}"

    def write_parts(self, k: int, out_dir: Path) -> PartFiles:
        """Write ``split_<k>/head.<suffix>`` and ``split_<k>/tail.<suffix>`` (where they exist).

        Files are written under a temporary name and renamed, so an interrupted run never
        leaves a half-written part that a resumed run would trust.
        """
        files = self._unwritten(out_dir, k)
        suffix = self.format.suffix
        head = _write(files.split_dir / f"head{suffix}", self._head_segments(k, files.head_io))
        tail = _write(files.split_dir / f"tail{suffix}", self._tail_segments(k, files.tail_io))
        return _written(files, head, tail)

    def _unwritten(self, out_dir: Path, k: int) -> PartFiles:
        """Split ``k``'s folder (made) and part interfaces, before any part is written."""
        folder = self.split_dir(out_dir, k)
        folder.mkdir(parents=True, exist_ok=True)
        return PartFiles(k, self.cut(k), folder, None, None, 0, 0, self.head_io(k), self.tail_io(k))

    def write_all(
        self, out_dir: Path, splits: Iterable[int] | None = None, processes: int = 1
    ) -> Iterator[PartFiles]:
        """Write the parts of every split (or of ``splits``), one split at a time.

        ``processes=2`` (``split --all`` on a machine with two cores or more): a forked child
        packs and writes the tails while this process does the heads — the two are independent
        builders over the same parsed model — for formats whose parts are made in-process
        (TFLite, ONNX), and only while this process runs no other thread.

        Packing and writing overlap: one thread writes while this one packs the next part (a
        write system call releases the GIL), so the command runs at the speed of whichever is
        slower, usually the disk. A part maker's head stays valid until its next ``head`` call
        and its tail until its next ``tail`` call, so the head of split k is written while the
        tail of k is packed, and that tail while the head of k + 1 is packed.
        """
        ks = list(range(self.num_splits) if splits is None else splits)
        forkable = self.format.packs_in_process and hasattr(os, "fork")
        if processes >= 2 and len(ks) >= 2 and forkable and threading.active_count() == 1:
            self.processes_used = 2
            yield from self._write_all_forked(out_dir, ks)
            return
        self.processes_used = 1
        suffix = self.format.suffix
        pending: tuple[PartFiles, Future[Path | None], Future[Path | None]] | None = None
        head_written: Future[Path | None] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="splitbench-write") as writer:
            for k in ks:
                files = self._unwritten(out_dir, k)
                if head_written is not None:
                    head_written.result()  # the head maker's last part is on disk: reuse it
                head = files.split_dir / f"head{suffix}", self._head_segments(k, files.head_io)
                head_written = writer.submit(_write, *head)
                if pending is not None:
                    yield _finished(*pending)  # its tail was written before this head
                tail = files.split_dir / f"tail{suffix}", self._tail_segments(k, files.tail_io)
                tail_written = writer.submit(_write, *tail)
                pending = (files, head_written, tail_written)
            if pending is not None:
                yield _finished(*pending)

    def _write_all_forked(self, out_dir: Path, ks: list[int]) -> Iterator[PartFiles]:
        """Heads here, tails in a forked child that reports each one on a pipe as it is written.

        This process never waits for a tail while it has heads to write: heads are small for
        low ``k`` and tails for high ``k``, so waiting split by split would leave one process
        idle for much of the run. A split is yielded once both of its parts are on disk.
        """
        suffix = self.format.suffix
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # the child: tails only, then leave without running the parent's exits
            code = 0
            try:
                os.close(read_end)
                for k in ks:
                    files = self._unwritten(out_dir, k)
                    tail = self._tail_segments(k, files.tail_io)
                    written = _write(files.split_dir / f"tail{suffix}", tail) is not None
                    os.write(write_end, f"{k} {int(written)}\n".encode())
            except BaseException as exc:  # reported to the parent, never raised here
                code = 1
                fault = {"message": f"{type(exc).__name__}: {exc}"}
                if isinstance(exc, OSError) and exc.errno is not None:
                    fault.update(errno=exc.errno, strerror=exc.strerror, filename=exc.filename)
                with contextlib.suppress(OSError):
                    os.write(write_end, ("! " + json.dumps(fault) + "\n").encode())
            finally:
                os._exit(code)
        os.close(write_end)
        tails = _TailReports(read_end, child, len(ks))
        heads: list[tuple[PartFiles, Path | None]] = []  # written, their tails not yet reported
        try:
            for k in ks:
                files = self._unwritten(out_dir, k)
                head = self._head_segments(k, files.head_io)
                heads.append((files, _write(files.split_dir / f"head{suffix}", head)))
                tails.poll()
                yield from _both_written(heads, tails, suffix)
            while heads:
                tails.wait()
                yield from _both_written(heads, tails, suffix)
        finally:
            child = tails.close()
            if child:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)  # a no-op once it has finished
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child, 0)


class _TailReports:
    """The forked tail writer's reports (``"k 1"``: split k's tail written, ``"k 0"``: it has
    none), read as they come. A fault it reports, or its death, becomes ``fault``: raised by
    the caller once the splits finished before it are passed on."""

    def __init__(self, fd: int, child: int, splits: int) -> None:
        self._fd, self.child, self._splits = fd, child, splits
        self._pending = b""
        self._ended = False  # the pipe is at its end: every report is in, or the fault
        self.written: dict[int, bool] = {}
        self.fault: Exception | None = None

    def poll(self) -> None:
        """Take the reports already sent, without waiting."""
        while not self._ended and select.select([self._fd], [], [], 0)[0]:
            self._read()

    def wait(self) -> None:
        """Wait for at least one more report (or the fault)."""
        before = len(self.written)
        while not self._ended and len(self.written) == before:
            self._read()

    def _read(self) -> None:
        chunk = os.read(self._fd, 65536)
        if not chunk:
            if len(self.written) < self._splits:  # the child is gone without every report
                self._failed(b"")
            self._ended = True
            return
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if line.startswith(b"!"):
                self._failed(line)
                return
            k, written = (int(x) for x in line.split())
            self.written[k] = bool(written)

    def _failed(self, line: bytes) -> None:
        """Record the child's fault (its report ``line``, or its exit status); nothing more is
        read after it."""
        self._ended = True
        _, status = os.waitpid(self.child, 0)
        self.child = 0
        fault = json.loads(line[1:]) if line else {"message": f"status {status}"}
        if "errno" in fault:  # the child's file-system fault, as if raised here
            self.fault = OSError(fault["errno"], fault["strerror"], fault["filename"])
        else:
            self.fault = SplitbenchError(f"writing the tails failed: {fault['message']}")

    def close(self) -> int:
        """Close the pipe; the child's pid if it has not been waited for, else 0."""
        os.close(self._fd)
        return self.child


def _both_written(
    heads: list[tuple[PartFiles, Path | None]], tails: _TailReports, suffix: str
) -> Iterator[PartFiles]:
    """Take from the front of ``heads`` the splits whose tail is reported too, in order; then
    raise the child's fault, if it reported one."""
    while heads and heads[0][0].split in tails.written:
        files, head_path = heads.pop(0)
        tail_path = files.split_dir / f"tail{suffix}" if tails.written[files.split] else None
        yield _written(files, head_path, tail_path)
    if tails.fault is not None:
        raise tails.fault


def _finished(files: PartFiles, head: Future[Path | None], tail: Future[Path | None]) -> PartFiles:
    """``files`` with the paths and sizes of its parts, once both are written."""
    return _written(files, head.result(), tail.result())


def _written(files: PartFiles, head_path: Path | None, tail_path: Path | None) -> PartFiles:
    """``files`` with the paths of its written parts and their sizes on disk."""
    return replace(
        files,
        head_path=head_path,
        tail_path=tail_path,
        head_bytes=head_path.stat().st_size if head_path else 0,
        tail_bytes=tail_path.stat().st_size if tail_path else 0,
    )


def _write(path: Path, segments: Segments | None) -> Path | None:
    """Write ``segments`` as one file: a few large ``writev`` calls straight from the buffers.

    Written under a temporary name and renamed, so an interrupted run never leaves a
    half-written part that a resumed run would trust.
    """
    if segments is None:
        if path.exists():
            path.unlink()
        return None
    partial = path.with_name(path.name + ".partial")
    views = [memoryview(s).cast("B") for s in segments if len(s)]
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            while views:
                done = os.writev(fd, views[:_IOV_MAX])
                while views and done >= len(views[0]):  # a writev may be short: drop what went
                    done -= len(views[0])
                    views.pop(0)
                if done:
                    views[0] = views[0][done:]
        finally:
            os.close(fd)
        os.replace(partial, path)
    except BaseException:  # a full disk or an interruption leaves no partial file behind
        partial.unlink(missing_ok=True)
        raise
    return path
