"""Helpers shared by the ``metarl bench`` benchmarks: run a function in a fresh process (so
its peak memory is its own) and read the peak resident set size."""
from __future__ import annotations

import multiprocessing as mp
import queue
import resource


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(fn, args, q) -> None:
    q.put(fn(*args))


def in_process(fn, *args) -> dict:
    """``fn(*args)`` in a spawned process; its (picklable) result."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    while True:  # a child that dies (error, out of memory) must not leave us waiting forever
        try:
            out = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(f"benchmark worker {fn.__name__} exited with code {p.exitcode}") from None
    p.join()
    return out
