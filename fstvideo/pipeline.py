"""The conversion pipeline: decode -> stylize -> smooth -> encode, as a plain loop whose three
stages overlap: a reader thread decodes ahead into a bounded queue, the calling thread runs the
net (torch releases the GIL inside its kernels; with ``workers`` > 1 it hands that many frames
to a thread pool, one torch thread each, and takes the results back in order), and a writer
thread encodes from a second bounded queue. Bounded queues keep memory flat (at most ``queue``
frames wait per stage). Smoothing runs on the calling thread, in frame order.

The sink writes to a temporary file and renames it on success, so an interrupted or failed run
leaves no output file behind.
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import OptionsError
from .media import Source, Stamp, VideoOptions, open_media, open_sink
from .stylizer import Stylizer

_END = object()  # end-of-stream marker between stages
# Bytes of frames one queue may hold: fewer than ``queue`` frames wait when frames are large (an
# 8K frame is ~100 MB), so two queues stay within ~0.5 GB whatever the resolution.
QUEUE_BYTES = 256 << 20


@dataclass(frozen=True)
class ConvertOptions:
    audio: bool = True   # copy (or transcode) the input's audio streams; False drops them
    batch: int = 1       # frames per forward pass (>1 pays on GPUs, rarely on CPU)
    queue: int = 8       # frames buffered between stages (memory: queue x frame size, per stage)
    workers: int | None = 1  # frames stylized at once, each on its own thread with 1 torch thread (CPU:
                             # frame-level parallelism; the net's small ops scale badly over cores); 1: one
                             # frame at a time on torch's default threads; None: default_workers(stylizer)
    video: VideoOptions = VideoOptions()  # encoder settings when the output is a video file


@dataclass(frozen=True)
class ConvertResult:
    frames: int      # frames written
    seconds: float   # wall-clock time of the whole conversion
    path: Path       # the finished output
    notes: tuple[str, ...] = ()  # one-line remarks from source and sink (audio re-encoded, size padded, ...)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class FrameStylizer(Protocol):
    """What :func:`convert` needs of a stylizer (a :class:`~fstvideo.Stylizer` is one): frame ->
    frame, and ``batch`` for several same-sized frames at once (called only with options.batch > 1)."""

    def __call__(self, frame: np.ndarray) -> np.ndarray: ...

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]: ...


class _Failure:
    """An exception raised in a worker thread, carried through a queue to the main thread."""

    def __init__(self, error: BaseException):
        self.error = error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Blocking put that gives up when ``stop`` is set (so threads never hang on a full queue)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _reader(source, q: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in source:
            if not _put(q, item, stop):
                return
        _put(q, _END, stop)
    except BaseException as e:  # handed to the main thread, which re-raises it
        _put(q, _Failure(e), stop)


def _writer(sink, q: queue.Queue, stop: threading.Event, errors: list) -> None:
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():  # the main thread gave up (error, Ctrl-C): stop without finishing
                    return
                continue
            if item is _END:
                return
            sink.write(*item)
    except BaseException as e:
        errors.append(e)
        stop.set()


@contextlib.contextmanager
def _torch_threads(n: int):
    """torch's intra-op threads set to ``n`` (0: unchanged) for the block, then restored."""
    import torch
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_workers(stylizer: FrameStylizer) -> int:
    """Frames stylized at once by convert: 2 for an eager net on a multi-core CPU (one torch
    thread each: 1.0-1.4x the frames/s of one frame on two threads for the fast net, whose small
    convs at 1/4-1/8 resolution split poorly across threads), else 1 (a GPU is fed best one batch
    at a time; a compiled graph is not shared across threads; any other callable: 1)."""
    if not isinstance(stylizer, Stylizer):
        return 1
    cpus = os.cpu_count() or 1
    return 2 if stylizer.device.type == "cpu" and not stylizer.options.compile and cpus >= 2 else 1


def _frames_in(q_in: queue.Queue, batch: int, stop: threading.Event):
    """(frame, stamp) lists of up to ``batch`` items from the reader until its end marker, or
    until ``stop`` is set (the writer failed: the reader then quits without an end marker)."""
    while True:
        pending: list[tuple[np.ndarray, Stamp]] = []
        while len(pending) < batch:
            try:
                item = q_in.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if isinstance(item, _Failure):
                raise item.error
            if item is _END:
                if pending:
                    yield pending
                return
            pending.append(item)
        yield pending


def _stylized(chunks, stylizer: FrameStylizer, workers: int):
    """(pending, stylized frames) per chunk, in order; ``workers`` > 1 keeps that many chunks in
    flight on a thread pool (results still come back in input order)."""
    def run(pending):
        frames = [f for f, _ in pending]
        return stylizer.batch(frames) if len(frames) > 1 else [stylizer(frames[0])]
    if workers <= 1:
        for pending in chunks:
            yield pending, run(pending)
        return
    with _torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="stylize") as pool:
        flight: deque = deque()
        for pending in chunks:
            flight.append((pending, pool.submit(run, pending)))
            if len(flight) >= workers:
                p, fut = flight.popleft()
                yield p, fut.result()
        while flight:
            p, fut = flight.popleft()
            yield p, fut.result()


def convert(src: str | Path | Source, dst: str | Path, stylizer: FrameStylizer,
            smoother: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
            progress: Callable[[int], None] | None = None,
            options: ConvertOptions = ConvertOptions()) -> ConvertResult:
    """Stylize a video or GIF into ``dst``. ``src`` is a path or a source already opened by
    :func:`~fstvideo.media.open_media` (convert closes it); ``smoother(input, stylized)`` keeps
    its own state; ``progress(n)`` is called with the number of frames just finished."""
    workers = options.workers if options.workers is not None else default_workers(stylizer)
    if options.batch < 1 or workers < 1 or options.queue < 1:
        raise OptionsError(f"batch, workers and queue must be at least 1 (got {options.batch}, "
                           f"{workers}, {options.queue})")
    start = time.perf_counter()
    stop = threading.Event()
    errors: list[BaseException] = []
    count = 0
    with src if isinstance(src, Source) else open_media(src) as source:
        depth = max(2, min(options.queue, QUEUE_BYTES // (3 * source.info.width * source.info.height)))
        q_in: queue.Queue = queue.Queue(maxsize=depth)
        q_out: queue.Queue = queue.Queue(maxsize=depth)
        sink = open_sink(dst, source.info, audio=options.audio, video=options.video)
        reader = threading.Thread(target=_reader, args=(source, q_in, stop), daemon=True, name="decode")
        writer = threading.Thread(target=_writer, args=(sink, q_out, stop, errors), daemon=True, name="encode")
        reader.start()
        writer.start()
        try:
            for pending, styled in _stylized(_frames_in(q_in, options.batch, stop), stylizer, workers):
                if stop.is_set():
                    break
                for (frame, stamp), out in zip(pending, styled):
                    if smoother is not None:
                        out = smoother(frame, out)
                    if not _put(q_out, (out, stamp), stop):
                        break
                count += len(pending)
                if progress is not None:
                    progress(len(pending))
            _put(q_out, _END, stop)
            writer.join()
            if errors:
                raise errors[0]
            sink.close()
            notes = tuple(source.notes) + tuple(sink.notes)
        except BaseException:
            stop.set()
            writer.join(timeout=5)
            sink.abort()
            raise
        finally:
            stop.set()
            reader.join(timeout=5)
    return ConvertResult(frames=count, seconds=time.perf_counter() - start, path=Path(dst), notes=notes)
