"""Threads and memory for the NumPy kernels.

NumPy's own loops run on one thread; OpenBLAS runs its matrix products on its own threads. A
kernel that splits its work into independent chunks (rows of a convolution's output, channel
blocks of a depthwise convolution) hands them to :func:`parallel_map`, which spreads them over a
small pool (NumPy releases the GIL inside its loops and BLAS calls) and keeps OpenBLAS
single-threaded meanwhile, so the two never oversubscribe the cores. :func:`scratch` gives each
thread a reusable work buffer, so chunked kernels do not page in fresh memory for every chunk.
:func:`keep_freed_memory` asks glibc's allocator to keep freed memory for reuse, as onnxruntime's
arena does: otherwise every large tensor is a fresh mmap, paid for again in page faults.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import itertools
import os
import queue
import threading
from typing import Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

_threads = max(1, os.cpu_count() or 1)
_pool: "_Pool | None" = None
_lock = threading.Lock()
_local = threading.local()
_blas_setter = None


def _openblas_setter():
    """``set_num_threads`` of the OpenBLAS that NumPy was built with (None if not found)."""
    global _blas_setter
    if _blas_setter is not None:
        return _blas_setter or None
    _blas_setter = False
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            fn = getattr(lib, sym, None)
            if fn is not None:
                _blas_setter = fn
                return fn
    return None


def set_blas_threads(n: int) -> bool:
    """Best effort: set OpenBLAS's thread count. False when NumPy's BLAS is not OpenBLAS."""
    fn = _openblas_setter()
    if fn is None:
        return False
    fn(int(n))
    return True


def threads() -> int:
    """How many threads the kernels use (default: the machine's cores)."""
    return _threads


def set_threads(n: int) -> None:
    """Use ``n`` threads: the kernels' pool and OpenBLAS alike."""
    global _threads, _pool
    n = max(1, int(n))
    with _lock:
        if _pool is not None and n != _threads:
            _pool.close()
            _pool = None
        _threads = n
    set_blas_threads(n)


class _Pool:
    """Persistent workers, each fed through its own queue.

    A hand-off is one queue put that wakes a worker and one get that collects it: on a 2-core
    VM (2026-12-06) a round trip of SimpleQueue costs ~45 us against ~130 us through
    concurrent.futures' executor and futures, and every parallel kernel pays it."""

    def __init__(self, workers: int) -> None:
        self.inboxes: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(workers)]
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = threading.Lock()  # one parallel_map at a time; others run serially
        self.threads = [
            threading.Thread(target=self._serve, args=(box,), daemon=True, name=f"graphconv-{i}")
            for i, box in enumerate(self.inboxes)
        ]
        for t in self.threads:
            t.start()

    def _serve(self, box: queue.SimpleQueue) -> None:
        _local.worker = True
        while (job := box.get()) is not None:
            try:
                job()
            except BaseException as e:  # handed to the caller, which re-raises it
                self.done.put(e)
            else:
                self.done.put(None)

    def run(self, job: Callable[[], None], helpers: int) -> None:
        """``job`` on ``helpers`` workers and on the calling thread; re-raises the first error."""
        for box in self.inboxes[:helpers]:
            box.put(job)
        error = None
        try:
            job()
        except BaseException as e:
            error = e
        for _ in range(helpers):
            r = self.done.get()
            if error is None:
                error = r
        if error is not None:
            raise error

    def close(self) -> None:
        for box in self.inboxes:
            box.put(None)
        for t in self.threads:
            t.join()


def _get_pool() -> _Pool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = _Pool(_threads - 1)
        return _pool


def parallel_map(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """Call ``fn(item)`` for every item, spread over the threads. The calls must write disjoint
    memory. With one thread, one item, when already inside a worker, or while another thread's
    call holds the pool, runs them in order."""
    if _threads <= 1 or len(items) <= 1 or getattr(_local, "worker", False):
        for it in items:
            fn(it)
        return
    pool = _get_pool()
    if not pool.busy.acquire(blocking=False):
        for it in items:
            fn(it)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL: dynamic scheduling

    def work() -> None:
        while (i := next(counter)) < len(items):
            fn(items[i])

    try:
        with single_threaded_blas():
            _local.worker = True
            try:
                pool.run(work, min(_threads, len(items)) - 1)
            finally:
                _local.worker = False
    finally:
        pool.busy.release()


def serial_map(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """Call ``fn(item)`` for every item in order on this thread (memory-bound work and many
    small matrix products, where a second thread only adds contention)."""
    with single_threaded_blas():
        for it in items:
            fn(it)


# A product of fewer multiply-adds runs OpenBLAS on one thread: below, waking its other threads
# costs more than they save (2-core VM, 2026-12-06, between other work: 80x80 @ 80x784 128 us on
# one thread, 148 on two; 240x240 @ 240x196 219 against 180; 512x512 @ 512x196 854 against 521).
BLAS_THREADED_MACS = 1 << 23


def blas_threads_for(macs: int):
    """Context for one matrix product of ``macs`` multiply-adds (per product of a batch):
    OpenBLAS on one thread when that is small, else on its own threads."""
    if macs < BLAS_THREADED_MACS:
        return single_threaded_blas()
    return contextlib.nullcontext()


_blas_single_depth = 0


@contextlib.contextmanager
def single_threaded_blas():
    """OpenBLAS on one thread inside the block (nestable): the pool's threads make their own
    products, and OpenBLAS's workers must not compete with them for the cores. (Running every
    kernel this way, with the pool splitting every large product, measured slower on GoogLeNet
    than leaving OpenBLAS its threads outside the chunked kernels.)"""
    global _blas_single_depth
    if _blas_single_depth == 0 and _threads > 1:
        set_blas_threads(1)
    _blas_single_depth += 1
    try:
        yield
    finally:
        _blas_single_depth -= 1
        if _blas_single_depth == 0 and _threads > 1:
            set_blas_threads(_threads)


_allocator_tuned = False


def keep_freed_memory() -> None:
    """Once per process, on glibc: serve tensors up to 32 MB (the most glibc allows) from the heap
    instead of fresh mmaps, and keep up to 1 GB of freed heap instead of returning it at once.
    Peak memory is unchanged; only the reuse of freed memory is. A no-op elsewhere."""
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 64 << 20)


def scratch(size: int) -> np.ndarray:
    """A float32 work buffer of ``size`` elements, owned by the calling thread and reused by its
    next call (so the caller must be done with the previous one)."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1 << 16), dtype=np.float32)
        _local.buf = buf
    return buf[:size]


def chunks(total: int, per_chunk: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(total)`` in pieces of ``per_chunk``."""
    per_chunk = max(1, per_chunk)
    return [(s, min(total, s + per_chunk)) for s in range(0, total, per_chunk)]
