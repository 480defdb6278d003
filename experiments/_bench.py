"""Helpers shared by the ``metarl bench`` benchmarks: run a function in a fresh process (so
its peak memory is its own), read the peak resident set size, the ``--device`` option, and
argparse types that reject impossible numbers before any work starts."""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue
import resource


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each option's default in its help line (unless
    the help already says it, e.g. "default: the family's" for a default of None)."""

    def _get_help_string(self, action):
        text = action.help or ""
        return text if "default:" in text else super()._get_help_string(action)


def number(kind: type, low: float, *, low_open: bool = False):
    """An argparse ``type``: ``kind`` (int or float) that is finite and >= ``low`` (> with
    ``low_open``); anything else is a one-line usage error naming the value and the range."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value) or (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; it must be {'>' if low_open else '>='} "
                                             f"{low:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


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
