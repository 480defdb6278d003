"""Helpers for the RL² run tests (test_rl2_train.py, test_rl2_run_dir.py): a seconds-long
preset, exact comparison of checkpoints and curves, hooks into ``RL2Agent.update``."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import torch

from metarl.agents.rl2 import RL2Agent
from metarl.training.checkpoint import load_checkpoint
from metarl.training.config import Experiment, TrainConfig

TRIALS, EPISODES = 16, 5
STEPS_PER_ITER = TRIALS * EPISODES  # bandit episodes are one pull: every trial is exactly 5 steps


def tiny(iterations: int = 7, **train) -> Experiment:
    """A seconds-long RL² run on 2-armed bandits with periodic evaluation and checkpoints."""
    cfg = dict(episodes_per_trial=EPISODES, total_steps=STEPS_PER_ITER * iterations, seed=3, eval_tasks=20,
               eval_tasks_periodic=20, eval_every=2, baselines=False, checkpoint_every=3, quiet=True)
    cfg.update(train)
    return Experiment(name="tiny_rl2", family="bandit", family_kwargs={"arms": 2},
                      agent_config=dict(hidden_size=16, trials_per_update=TRIALS, minibatches=2, epochs=2, lr=3e-3,
                                        device="cpu"),
                      train=TrainConfig(**cfg))


def assert_same(a, b, where="state"):
    """Exact equality of nested checkpoint contents (tensors with torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def final_state(run_dir: Path) -> dict:
    ck = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    return {k: ck[k] for k in ("iteration", "env_steps", "task_rng", "agent")}


def wait_for_next_second() -> None:
    """Start the resumed leg in a later second than the first. TensorBoard event files are
    named ...tfevents.<seconds>.<host>.<pid>.<writer counter> and read in name order; two
    legs in one process and one second differ only in the counter, compared as text (writer
    10 sorts before writer 9), so the reader would see the legs in the wrong order. A real
    resume is another process started seconds later."""
    time.sleep(1.02 - time.time() % 1.0)


def read_csv(run_dir: Path) -> list[dict]:
    with (run_dir / "progress.csv").open() as f:
        return list(csv.DictReader(f))


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    return [(e.step, e.value) for e in ea.Scalars(tag)]


def assert_same_curves(a: Path, b: Path, iterations: int) -> None:
    """progress.csv and TensorBoard of run b equal run a's: one point per iteration, same values
    (time/* columns excepted)."""
    rows_a, rows_b = read_csv(a), read_csv(b)
    assert [int(r["iteration"]) for r in rows_b] == list(range(1, iterations + 1))
    for ra, rb in zip(rows_a, rows_b):
        for key in ra:
            if not key.startswith("time/"):
                assert ra[key] == rb.get(key), (ra["iteration"], key)
    for tag in ("train/policy_loss", "rollout/return", "eval/return_episode_1"):
        assert scalars(b, tag) == scalars(a, tag), tag
    assert [s for s, _ in scalars(b, "train/policy_loss")] == list(range(1, iterations + 1))


def patch_update(monkeypatch, on_call: dict, agent_cls=RL2Agent):
    """``agent_cls.update`` with hooks: ``on_call[n]()`` runs after the n-th call (before it if the
    hook has ``before = True``; a hook that raises then stands for a crash inside that update)."""
    original = agent_cls.update
    calls = {"n": 0}

    def update(self, batch):
        calls["n"] += 1
        hook = on_call.get(calls["n"])
        if hook is not None and getattr(hook, "before", False):
            hook()
        out = original(self, batch)
        if hook is not None and not getattr(hook, "before", False):
            hook()
        return out

    monkeypatch.setattr(agent_cls, "update", update)
    return calls
