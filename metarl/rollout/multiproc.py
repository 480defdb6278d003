"""Trials stepped in worker processes, for simulator-bound families (MuJoCo, Meta-World).

``ProcessTrialVectorEnv(family, num_envs, episodes)`` splits the ``num_envs`` slots into
one contiguous block per usable CPU (sizes differ by at most one). Each block is a
``SyncTrialVectorEnv`` stepped synchronously: block 0 by this process itself (the "local
block"), the others by one worker process each (``local_block=False``: every block in a
worker). On 2 cores this scales where Gymnasium's ``AsyncVectorEnv`` (a process and a pipe
round trip per env and step) is slower than a plain loop.

Data path of ``step(actions [B, ...])``: the actions go into a shared memory segment (dtype
and values kept; inline through the socket when they do not fit) and each worker gets a
short message on its socket; the blocks are stepped in parallel and write ``obs [B, D]``
float32, ``reward [B]`` float32, ``terminated`` / ``truncated`` / ``active`` /
``episode_end [B]`` bool and ``episode_index [B]`` int64 into their rows of the segment; a
worker's reply carries only the family's optional info arrays (``success``, ``target``)
for its rows. Protocol: ``metarl.rollout.worker``. Same API and values as
``SyncTrialVectorEnv`` (``metarl.rollout.vector``): slot ``i`` of both is the same
``TrialWrapper`` env reset with the same seed, so for the same seeds, tasks and actions
every output is bit-identical.

Processes: a worker is a fresh interpreter (``subprocess`` exec of ``sys.executable``,
i.e. the "spawn" start method, never ``fork``: the parent holds torch's threads). Unlike
``multiprocessing``'s spawn it does not re-run the parent's ``__main__`` script, so a user
script without an ``if __name__ == "__main__"`` guard still works when the sampler picks
processes. The shared segment is an anonymous ``memfd`` (an unlinked temporary file where
there is none) inherited by the workers: nothing to unlink, nothing left behind if the
parent is killed (``multiprocessing.shared_memory`` would need its resource tracker, which
in Python < 3.13 unlinks a segment when the first attached process exits). Workers ignore
SIGINT (Ctrl-C reaches the trainer, which finishes its iteration), exit on ``close()``,
when the env is garbage collected or the interpreter exits, and when the parent dies (their
socket reaches end-of-file). An exception in a worker surfaces in the parent as a one-line
``RolloutWorkerError`` (a ``MetaRLError``) naming the worker, its slots and the original
error; a ``MetaRLError`` raised in a worker (e.g. a ``ConfigError`` for a bad goal) keeps
its class.

Torch threads: while a pass over the trials is under way (from ``reset`` until every trial
has ended, or ``close``), the parent's torch intra-op threads are limited to 1 (then
restored). The policy runs in the parent between steps; with 2 OpenMP threads, the idle one
spin-waits on a core a worker needs: measured on 2 shared cores, RL² collection for
cheetah-vel fell from 6,300 to 1,300 steps/s (with ``OMP_WAIT_POLICY=PASSIVE`` both thread
counts gave the same rate). Updates between passes keep every thread.
``limit_torch_threads=False`` turns this off.
"""
from __future__ import annotations

import json
import math
import mmap
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import weakref
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from metarl.errors import ConfigError, MetaRLError, check_int, one_line
from metarl.rollout.vector import SyncTrialVectorEnv, TrialVectorEnv, _slot_seeds
from metarl.rollout.worker import recv_msg, segment_layout, send_msg, shared_views

if TYPE_CHECKING:
    from metarl.tasks import TaskFamily

START_TIMEOUT_S = 300.0     # building the envs in a worker (imports included)
CLOSE_TIMEOUT_S = 10.0
#: single-threaded numeric libraries in workers: the cores belong to the workers themselves
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class RolloutWorkerError(MetaRLError):
    """A rollout worker process failed or died (one line: worker, slots, original error)."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---- the parent side ---------------------------------------------------------------------------
class _Workers:
    """The processes, sockets and shared segment of one env; ``shutdown`` is its finalizer
    (it must not refer to the env itself)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.conns: list[Connection] = []
        self.mem_fd: int | None = None
        self.mem: mmap.mmap | None = None

    def shutdown(self) -> None:
        for c in self.conns:
            try:
                send_msg(c, ("close", None))
            except (OSError, ValueError):
                pass
        for p in self.procs:
            try:
                p.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for c in self.conns:
            c.close()
        self.conns.clear()
        if self.mem_fd is not None:
            os.close(self.mem_fd)
            self.mem_fd = None
        if self.mem is not None:
            try:
                self.mem.close()
            except BufferError:  # arrays over it still alive (garbage collection): freed with them
                pass
            self.mem = None


def _anonymous_file() -> int:
    """A file descriptor of an anonymous, resizable shared-memory file."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("metarl-rollout", os.MFD_CLOEXEC)
    fd, path = tempfile.mkstemp(prefix="metarl-rollout-")
    os.unlink(path)
    return fd


def _spawn_worker(sock_fd: int, mem_fd: int) -> subprocess.Popen:
    # the parent's import path (families defined beside its scripts), passed in the environment
    path = json.dumps([p for p in sys.path if p])
    code = ("import json, os, sys; sys.path[:0] = json.loads(os.environ.pop('METARL_WORKER_PATH')); "
            f"from metarl.rollout.worker import worker_main; worker_main({sock_fd}, {mem_fd})")
    env = {**WORKER_ENV, **os.environ, "METARL_WORKER_PATH": path}
    return subprocess.Popen([sys.executable, "-c", code], pass_fds=(sock_fd, mem_fd), env=env,
                            stdin=subprocess.DEVNULL, close_fds=True)


class ProcessTrialVectorEnv(TrialVectorEnv):
    """``num_envs`` trials stepped by ``workers`` processes and, with ``local_block`` (default),
    by this process too. Same API and values as ``SyncTrialVectorEnv`` (module docstring):
    ``reset(seed, options={"tasks": [...]})`` -> obs [B, D]; ``step(actions [B, ...])`` ->
    obs [B, D], reward [B], terminated [B], truncated [B], info of [B] arrays.

    ``local_block=True``: the slots are split into ``workers + 1`` blocks and this process
    steps the first one itself (in a ``SyncTrialVectorEnv``) while the workers step theirs,
    instead of sleeping until they answer; default ``workers`` = usable CPUs - 1 (at least 1).
    On a virtual machine a process that sleeps for milliseconds wakes up late: measured on
    the 2-vCPU machine, a 2 ms task sent to another process came back after 2.5 ms with one
    worker and 3.2 ms with two. ``local_block=False``: ``workers`` (default: usable CPUs)
    blocks, all in worker processes. ``self.blocks`` lists every block's slots ``(lo, hi)``.
    """

    def __init__(self, family: "TaskFamily", num_envs: int, episodes: int, *, workers: int | None = None,
                 local_block: bool = True, limit_torch_threads: bool = True) -> None:
        num_envs = check_int("num_envs", num_envs, low=1)
        episodes = check_int("episodes", episodes, low=1)
        local = int(bool(local_block) and not (workers is None and num_envs == 1))  # 1 slot: in the worker
        if workers is None:
            w = max(1, min(usable_cpus() - local, num_envs - local))
        else:
            w = check_int("workers", workers, low=1)
        if w + local > num_envs:
            raise ConfigError(f"workers={w}{' plus the local block' if local else ''} exceeds num_envs={num_envs}; "
                              "each block needs at least one slot")
        n = w + local
        sizes = [num_envs // n + (i < num_envs % n) for i in range(n)]
        self.blocks = [(sum(sizes[:i]), sum(sizes[: i + 1])) for i in range(n)]
        self._wblocks = self.blocks[local:]  # the workers' blocks
        self._local: SyncTrialVectorEnv | None = None
        family.sample(1, seed=0)  # build lazy per-process caches (Meta-World's task lists) once, here
        try:
            blob = pickle.dumps(family)
        except Exception as exc:  # noqa: BLE001 - e.g. a family holding a lambda
            raise ConfigError(f"family {family.name!r} cannot be sent to rollout worker processes "
                              f"({one_line(exc)}); use sampler='sync'") from None
        self._limit_threads = bool(limit_torch_threads)
        self._saved_threads: int | None = None
        self._w = _Workers()
        self._finalizer = weakref.finalize(self, self._w.shutdown)
        self._broken: str | None = None
        try:
            self._w.mem_fd = _anonymous_file()
            for _ in self._wblocks:
                mine, theirs = socket.socketpair()
                with theirs:
                    self._w.procs.append(_spawn_worker(theirs.fileno(), self._w.mem_fd))
                self._w.conns.append(Connection(mine.detach()))
            def build_local():  # while the workers start
                if local:
                    lo, hi = self.blocks[0]
                    self._local = SyncTrialVectorEnv(family, hi - lo, episodes)

            spaces = self._request("init", [(blob, num_envs, episodes, lo, hi) for lo, hi in self._wblocks],
                                   build_local)
            if self._local is not None:
                spaces.insert(0, (self._local.layout.inner_observation_space, self._local.single_action_space))
            obs_space, act_space = spaces[0]
            for i, (o, a) in enumerate(spaces):
                if o != obs_space or a != act_space:
                    raise MetaRLError(f"block {i} of family {family.name!r} has spaces {o} / {a}, block 0 "
                                      f"{obs_space} / {act_space}")
            super().__init__(family, num_envs, episodes, obs_space, act_space)
            # room for actions of up to 8-byte items in the action space's shape; others go inline
            self._row_bytes = 8 * max(1, int(np.prod(act_space.shape or (1,), dtype=np.int64)))
            _, _, size = segment_layout(num_envs, self.layout.dim, self._row_bytes)
            os.ftruncate(self._w.mem_fd, size)
            self._w.mem = mmap.mmap(self._w.mem_fd, size)
            self._request("attach", [(size, self.layout.dim, self._row_bytes)] * w)
            os.close(self._w.mem_fd)
            self._w.mem_fd = None
        except BaseException:
            self._finalizer()
            raise
        self._views = shared_views(self._w.mem, num_envs, self.layout.dim, self._row_bytes)
        self._info_fill: dict[str, np.ndarray] = {}

    @property
    def workers(self) -> int:
        """Number of worker processes."""
        return len(self._wblocks)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers, in block order."""
        return [p.pid for p in self._w.procs]

    # ---- protocol --------------------------------------------------------------------------
    def _name(self, i: int) -> str:
        lo, hi = self._wblocks[i]
        return f"rollout worker {i} (slots {lo}-{hi - 1}, pid {self._w.procs[i].pid})"

    def _local_share(self, fn):
        """``fn(lo, hi)`` bound to the local block's slots, or None when workers step every block."""
        if self._local is None:
            return None
        lo, hi = self.blocks[0]
        return lambda: fn(lo, hi)

    def _request(self, cmd: str, args: list, local_fn=None) -> list:
        """Send ``cmd`` with ``args[i]`` to worker i, run ``local_fn()`` (the local block's share)
        meanwhile, then read every reply (all of them, so the protocol stays in step) and raise
        the first worker error, else the local block's error, if any."""
        if self._broken:
            raise RolloutWorkerError(f"this ProcessTrialVectorEnv was shut down after an error "
                                     f"({self._broken}); make a new one")
        if not self._finalizer.alive:
            raise MetaRLError("ProcessTrialVectorEnv used after close()")
        for i, (c, a) in enumerate(zip(self._w.conns, args)):
            try:
                send_msg(c, (cmd, a))
            except (OSError, ValueError) as exc:
                # a worker killed a moment ago may fail the send (a broken pipe) rather than the reply
                self._fail_dead(i, cmd, wait_s=1.0,
                                otherwise=f"{self._name(i)} cannot be reached during {cmd}: {one_line(exc)}")
        local_error = None
        if local_fn is not None:
            try:
                local_fn()
            except Exception as exc:  # noqa: BLE001 - raised once the workers have answered
                local_error = exc
        replies, first_error = [], None
        for i, c in enumerate(self._w.conns):
            try:
                if cmd == "init" and not c.poll(START_TIMEOUT_S):
                    self._fail(f"{self._name(i)} did not start within {START_TIMEOUT_S:.0f} s")
                status, payload = recv_msg(c)
            except (EOFError, OSError):
                self._fail_dead(i, cmd, wait_s=1.0)
            if status == "error" and first_error is None:
                cls, text = payload
                first_error = (cls, f"{self._name(i)} failed during {cmd}: {text}")
            replies.append(payload)
        if first_error is not None:
            cls, text = first_error
            raise (cls if isinstance(cls, type) and issubclass(cls, MetaRLError) else RolloutWorkerError)(text)
        if local_error is not None:
            raise local_error
        return replies

    def _fail_dead(self, i: int, cmd: str, *, wait_s: float, otherwise: str | None = None) -> None:
        """Raise "worker i died during cmd (exit code c)" once it has exited within ``wait_s``;
        else ``otherwise`` (or the same text with exit code None)."""
        try:
            code = self._w.procs[i].wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            code = None
        if code is None and otherwise is not None:
            self._fail(otherwise)
        self._fail(f"{self._name(i)} died during {cmd} (exit code {code})")

    def _fail(self, text: str) -> None:
        self._broken = text
        self._restore_threads()
        self._finalizer()
        raise RolloutWorkerError(text)

    # ---- torch threads during a pass ---------------------------------------------------------
    def _single_thread(self) -> None:
        torch = sys.modules.get("torch")  # never imported here: only a parent that uses torch has it
        if self._limit_threads and torch is not None and self._saved_threads is None:
            n = torch.get_num_threads()
            if n > 1:
                torch.set_num_threads(1)
                self._saved_threads = n

    def _restore_threads(self) -> None:
        if self._saved_threads is not None:
            sys.modules["torch"].set_num_threads(self._saved_threads)
            self._saved_threads = None

    # ---- VectorEnv API ---------------------------------------------------------------------
    def reset(self, *, seed=None, options: dict | None = None):
        self.tasks = self._check_tasks(options)
        self._single_thread()
        seeds = _slot_seeds(seed, self.num_envs)

        def local_reset(lo: int, hi: int) -> None:
            obs, _ = self._local.reset(seed=seeds[lo:hi], options={"tasks": self.tasks[lo:hi]})
            self._views["obs"][lo:hi] = obs

        self._request("reset", [(seeds[lo:hi], self.tasks[lo:hi]) for lo, hi in self._wblocks],
                      self._local_share(local_reset))
        self._done = np.zeros(self.num_envs, dtype=bool)
        return self._views["obs"].copy(), {"episode_index": np.zeros(self.num_envs, dtype=np.int64)}

    def step(self, actions):
        actions = self._check_actions(actions)
        nbytes = actions.dtype.itemsize * math.prod(actions.shape[1:])
        if actions.dtype.hasobject or nbytes > self._row_bytes:
            args = [("inline", actions[lo:hi]) for lo, hi in self._wblocks]
        else:  # the usual case: through the shared segment, dtype and values kept
            rows = self._views["actions"]
            rows[:, :nbytes] = np.ascontiguousarray(actions).reshape(self.num_envs, -1).view(np.uint8)
            args = [("shared", actions.dtype.str, actions.shape[1:])] * len(self._wblocks)
        v = self._views
        local_extra: list = []

        def local_step(lo: int, hi: int) -> None:
            v["obs"][lo:hi], v["reward"][lo:hi], v["terminated"][lo:hi], v["truncated"][lo:hi], info = \
                self._local.step(actions[lo:hi])
            for k in ("active", "episode_index", "episode_end"):
                v[k][lo:hi] = info.pop(k)
            local_extra.append(info or None)

        worker_extras = self._request("step", args, self._local_share(local_step))
        extras = local_extra + worker_extras
        info: dict[str, Any] = {k: v[k].copy() for k in ("active", "episode_index", "episode_end")}
        for k in dict.fromkeys(k for e in extras if e for k in e):  # optional keys, first-seen order
            if k not in self._info_fill:
                first = next(np.asarray(e[k]) for e in extras if e and k in e)
                self._info_fill[k] = np.zeros_like(first[0])
            fill = self._info_fill[k]
            info[k] = np.concatenate([e[k] if e and k in e else np.broadcast_to(fill, (hi - lo, *fill.shape))
                                      for e, (lo, hi) in zip(extras, self.blocks)])
        for k, fill in self._info_fill.items():  # a key once seen stays, as in SyncTrialVectorEnv
            if k not in info:
                info[k] = np.broadcast_to(fill, (self.num_envs, *fill.shape)).copy()
        term, trunc = v["terminated"].copy(), v["truncated"].copy()
        self._done = term | trunc
        if self._done.all():
            self._restore_threads()
        return v["obs"].copy(), v["reward"].copy(), term, trunc, info

    def close_extras(self, **kwargs: Any) -> None:
        self._restore_threads()
        self._views = {}
        if self._local is not None:
            self._local.close()
        self._finalizer()

    def __repr__(self) -> str:
        return (f"<ProcessTrialVectorEnv {self.family.name!r} num_envs={self.num_envs} "
                f"workers={self.workers} local_block={self._local is not None} episodes={self.episodes}>")
