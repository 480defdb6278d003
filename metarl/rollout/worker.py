"""The worker side of ``ProcessTrialVectorEnv`` (``metarl.rollout.multiproc``) and the
protocol both sides share.

A worker is started as ``python -c "...; worker_main(sock_fd, mem_fd)"`` with a socket to
the parent and an anonymous shared-memory file. Messages are plain-pickled ``(command,
argument)`` tuples; replies are ``b""`` (ok, nothing to add) or a pickled ``("ok" |
"error", payload)``:

- ``("init", (pickled family, num_envs, episodes, lo, hi))``: build a ``SyncTrialVectorEnv``
  over slots ``lo..hi-1``; reply with its (inner observation space, action space).
- ``("attach", (size, dim, row_bytes))``: map the shared segment (``segment_layout``).
- ``("reset", (seeds, tasks))``: reset the block; obs rows go to the segment.
- ``("step", ("shared", dtype, row shape) | ("inline", actions))``: step the block with its
  rows of the actions (read from the segment, or sent inline when they do not fit); outputs
  go to the segment, the reply carries the optional info arrays (``success``, ``target``).
- ``("close", None)``: close the envs and exit.

The worker also exits when the parent's end of the socket closes (the parent died).
"""
from __future__ import annotations

import mmap
import os
import pickle
import signal
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from metarl.errors import MetaRLError, one_line
from metarl.rollout.vector import SyncTrialVectorEnv

#: per-slot outputs in the shared segment, in this order: (name, dtype); obs rows are [D]
_FIELDS = (("obs", np.float32), ("reward", np.float32), ("terminated", np.bool_), ("truncated", np.bool_),
           ("active", np.bool_), ("episode_index", np.int64), ("episode_end", np.bool_))


def segment_layout(num_envs: int, dim: int, row_bytes: int) -> tuple[list[tuple[str, Any, tuple, int]], int, int]:
    """[(name, dtype, shape, byte offset)] of the output fields (8-byte aligned), the offset
    of the actions area (``row_bytes`` per slot) and the total size."""
    out, offset = [], 0
    for name, dtype in _FIELDS:
        shape = (num_envs, dim) if name == "obs" else (num_envs,)
        out.append((name, dtype, shape, offset))
        offset += -(-int(np.prod(shape)) * np.dtype(dtype).itemsize // 8) * 8
    return out, offset, offset + num_envs * row_bytes


def shared_views(buf, num_envs: int, dim: int, row_bytes: int, lo: int = 0,
           hi: int | None = None) -> dict[str, np.ndarray]:
    """Arrays over the shared buffer, rows lo..hi-1: obs [n, dim], the others [n]; and
    ``"actions"``: the raw bytes of the actions area [n, row_bytes] (uint8)."""
    fields, act_offset, _ = segment_layout(num_envs, dim, row_bytes)
    out = {name: np.ndarray(shape, dtype=dtype, buffer=buf, offset=off)[lo:hi] for name, dtype, shape, off in fields}
    out["actions"] = np.ndarray((num_envs, row_bytes), dtype=np.uint8, buffer=buf, offset=act_offset)[lo:hi]
    return out


def send_msg(conn: Connection, msg: Any) -> None:
    """Plain pickle (multiprocessing's own pickler costs tens of microseconds per message)."""
    conn.send_bytes(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))


def recv_msg(conn: Connection) -> Any:
    data = conn.recv_bytes()
    return pickle.loads(data) if data else ("ok", None)  # b"": the common "ok, nothing to add"


def actions_from(raw: np.ndarray, dtype: str, shape: tuple) -> np.ndarray:
    """Actions [n, *shape] of ``dtype`` read (copied) from their rows of raw bytes [n, row_bytes]."""
    n = raw.shape[0]
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return raw[:, :size].copy().view(dtype).reshape((n, *shape))


def error_payload(exc: BaseException) -> tuple[Any, str]:
    return (type(exc) if isinstance(exc, MetaRLError) else None), one_line(exc)


# ---- the worker process ------------------------------------------------------------------------
def worker_main(sock_fd: int, mem_fd: int) -> None:
    """Entry point of a worker: serve ``init``, ``attach``, ``reset``, ``step``, ``close`` on the
    socket ``sock_fd``; outputs go to the shared segment ``mem_fd``. Returns on ``close`` or
    when the parent's end of the socket closes (the parent exited or died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(sock_fd)
    env, mem, views = None, None, None
    try:
        try:
            cmd, arg = recv_msg(conn)
            blob, num_envs, episodes, lo, hi = arg
            family = pickle.loads(blob)
            env = SyncTrialVectorEnv(family, hi - lo, episodes)
            send_msg(conn, ("ok", (env.layout.inner_observation_space, env.single_action_space)))
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - reported to the parent, then exit
            send_msg(conn, ("error", error_payload(exc)))
            return
        while True:
            try:
                cmd, arg = recv_msg(conn)
            except (EOFError, OSError):  # the parent died or went away without a word
                return
            if cmd == "close":
                conn.send_bytes(b"")
                return
            try:
                reply = None
                if cmd == "attach":
                    size, dim, row_bytes = arg
                    mem = mmap.mmap(mem_fd, size)
                    os.close(mem_fd)
                    views = shared_views(mem, num_envs, dim, row_bytes, lo, hi)
                elif cmd == "reset":
                    seeds, tasks = arg
                    views["obs"][:], _ = env.reset(seed=seeds, options={"tasks": tasks})
                elif cmd == "step":
                    how, *what = arg  # ("shared", dtype, row shape) or ("inline", actions)
                    actions = actions_from(views["actions"], *what) if how == "shared" else what[0]
                    obs, reward, term, trunc, info = env.step(actions)
                    views["obs"][:], views["reward"][:] = obs, reward
                    views["terminated"][:], views["truncated"][:] = term, trunc
                    for k in ("active", "episode_index", "episode_end"):
                        views[k][:] = info.pop(k)
                    reply = info or None  # the optional keys (success, target) of these rows
                else:
                    raise MetaRLError(f"unknown rollout worker command {cmd!r}")
                if reply is None:
                    conn.send_bytes(b"")
                else:
                    send_msg(conn, ("ok", reply))
            except Exception as exc:  # noqa: BLE001 - the parent raises it; the env stays served
                send_msg(conn, ("error", error_payload(exc)))
    finally:
        views = None
        if env is not None:
            env.close()
        if mem is not None:
            mem.close()
        conn.close()
