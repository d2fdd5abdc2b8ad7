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
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

_threads = max(1, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
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
        for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                    "openblas_set_num_threads64_", "openblas_set_num_threads"):
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
            _pool.shutdown(wait=True)
            _pool = None
        _threads = n
    set_blas_threads(n)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="graphconv")
        return _pool


def parallel_map(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """Call ``fn(item)`` for every item, spread over the threads. The calls must write disjoint
    memory. With one thread, one item, or when already inside a worker, runs them in order."""
    if _threads <= 1 or len(items) <= 1 or getattr(_local, "worker", False):
        for it in items:
            fn(it)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL: dynamic scheduling

    def work() -> None:
        _local.worker = True
        try:
            while (i := next(counter)) < len(items):
                fn(items[i])
        finally:
            _local.worker = False

    pool = _get_pool()
    with single_threaded_blas():
        futures = [pool.submit(work) for _ in range(min(_threads, len(items)) - 1)]
        try:
            work()
        finally:
            for f in futures:
                f.result()


def serial_map(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """Call ``fn(item)`` for every item in order on this thread (memory-bound work and many
    small matrix products, where a second thread only adds contention)."""
    with single_threaded_blas():
        for it in items:
            fn(it)


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
