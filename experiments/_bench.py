"""Helpers shared by the ``metarl bench`` benchmarks: run a function in a fresh process (so
its peak memory is its own), read the peak resident set size, and the ``--device`` option."""
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


def add_device_option(ap, what: str = "") -> None:
    """``--device`` (default cpu: the setting of the benchmarks' targets)."""
    ap.add_argument("--device", default="cpu", help=f"cpu (the targets' setting), cuda or cuda:N{what}")


def parsed_device(ap, text: str) -> str:
    """``--device`` resolved (``auto`` -> cuda or cpu); a bad or unavailable one is a usage error."""
    from metarl.errors import MetaRLError
    from metarl.learning.device import resolve_device

    try:
        return str(resolve_device(text))
    except MetaRLError as exc:
        ap.error(str(exc))
