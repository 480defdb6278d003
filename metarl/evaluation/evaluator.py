"""Held-out evaluation: one trial of k episodes per task, memory fresh at each trial start."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from metarl.errors import ConfigError, MetaRLError, check_int
from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import summarize, summarize_groups
from metarl.learning.agent import check_trial_length
from metarl.tasks import Task


def _checked_inputs(agent, tasks, seed, batch_size) -> list[Task]:
    """``evaluate``'s arguments (it is ``run_trials``' only caller), checked before any env is
    built: an agent made by ``make_agent``, a sequence of Tasks, a seed >= 0, a batch size >= 1."""
    if not hasattr(agent, "family") or not callable(getattr(agent, "act", None)):
        raise ConfigError(f"evaluate needs an agent built with metarl.make_agent(name, family), got "
                          f"{type(agent).__name__} {agent!r:.60}")
    hint = "tasks must be a list of Task (e.g. family.sample(n, split='test', seed=...)), got "
    if isinstance(tasks, Task):
        raise ConfigError(hint + "one Task")
    try:
        tasks = list(tasks)       # once: a generator can be read only once
    except TypeError:
        raise ConfigError(hint + f"{type(tasks).__name__} {tasks!r:.60}") from None
    if not all(isinstance(t, Task) for t in tasks):
        raise ConfigError(hint + f"{[type(t).__name__ for t in tasks][:5]}")
    check_int("seed", seed, low=0)
    check_int("batch_size", batch_size, low=1)
    return tasks


def _split_label(tasks: Sequence[Task]) -> str:
    """The tasks' split, or ``"mixed (test, train)"`` when they come from several."""
    splits = sorted({t.split for t in tasks})
    return splits[0] if len(splits) == 1 else f"mixed ({', '.join(splits)})"


def run_trials(agent, tasks: Sequence[Task], *, episodes: int, seed: int = 0, deterministic: bool = False,
               batch_size: int = 1000, progress=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns per task x episode index [n, k] and success [n, k] (None if undefined).

    Tasks are run ``batch_size`` at a time in the family's vector env; task i's env slot is
    seeded with ``seed + i``, so the environments' randomness does not depend on
    ``batch_size``. The agent's own sampling (``agent.reseed(seed)`` once, then one stream
    for the whole evaluation, drawn for a batch of slots at a time) does: a stochastic agent
    scored on more than ``batch_size`` tasks gives other (equally valid) numbers with another
    ``batch_size``. Same seed and ``batch_size`` on the same CPU: the same numbers.
    """
    family = agent.family
    if callable(getattr(agent, "reseed", None)):  # agents built on metarl.learning.Agent have it
        agent.reseed(seed)
    n = len(tasks)
    returns = np.zeros((n, episodes))
    success = np.zeros((n, episodes), dtype=bool) if family.has_success else None
    for start in range(0, n, batch_size):
        chunk = list(tasks[start : start + batch_size])
        b = len(chunk)
        venv = family.make_vector_env(b, episodes)
        obs, _ = venv.reset(seed=[seed + start + i for i in range(b)], options={"tasks": chunk})
        state = agent.init_state(b)
        rows = np.arange(start, start + b)
        for _ in range(venv.max_trial_steps):
            action, state = agent.act(obs, state, deterministic=deterministic)
            obs, reward, term, trunc, info = venv.step(action)
            state = agent.observe(state, info) if hasattr(agent, "observe") else state
            active, ep = info["active"], np.minimum(info["episode_index"], episodes - 1)
            np.add.at(returns, (rows[active], ep[active]), reward[active])
            if success is not None and "success" in info:
                hit = active & np.asarray(info["success"], dtype=bool)
                success[rows[hit], ep[hit]] = True
            if progress is not None:
                progress(int(active.sum()))
            if bool(np.all(term | trunc)):
                break
        venv.close()
    return returns, success


def exact_value(agent, episodes: int) -> dict | None:
    """The exact expected trial return of ``agent``'s greedy policy under its family's task
    prior, where the family can compute one (``family.exact_value``, e.g. bandits with short
    trials): {"value", ...}; {"skipped": reason} where it cannot for this setting; None for
    families without it."""
    hook = getattr(agent.family, "exact_value", None)
    if not callable(hook):
        return None
    try:
        return hook(agent, episodes)
    except ConfigError as exc:
        return {"skipped": str(exc)}


def evaluate(agent, tasks: Sequence[Task], *, episodes: int, seed: int = 0, deterministic: bool = False,
             batch_size: int = 1000, progress=None, exact: bool = False) -> EvalReport:
    """Meta-test ``agent`` on ``tasks``: one trial of ``episodes`` episodes each.

    Returns an EvalReport with ``episode_returns`` [n_tasks, episodes], ``success`` (same
    shape, or None when the family defines no success) and a summary (trial return with
    95% bootstrap CI and IQM, first/last episode return, gain; for a family with classes,
    ``per_class``: the same per class, success per episode index included; with ``exact``,
    ``exact``: see ``exact_value``, where the family has one).

    Tasks run ``batch_size`` at a time; environments are seeded per task, so a deterministic
    agent scores the same whatever ``batch_size``, but a sampling agent's numbers change
    with it (see ``run_trials``). Same seed and ``batch_size`` on the same CPU: same numbers.
    """
    episodes = check_int("episodes", episodes, low=1)
    tasks = _checked_inputs(agent, tasks, seed, batch_size)
    check_trial_length(agent, episodes)
    if not tasks:
        raise MetaRLError("evaluate needs at least one task")
    returns, success = run_trials(agent, tasks, episodes=episodes, seed=seed, deterministic=deterministic,
                                  batch_size=batch_size, progress=progress)
    meta = {"agent": getattr(agent, "name", type(agent).__name__), "family": agent.family.name,
            "split": _split_label(tasks), "episodes": episodes, "seed": seed, "deterministic": deterministic,
            "batch_size": batch_size}
    summary = summarize(returns, success, seed=seed)
    groups = [agent.family.task_group(t) for t in tasks]
    if all(g is not None for g in groups):  # a family with classes (Meta-World): results per class
        summary["per_class"] = summarize_groups(returns, success, groups)
    if exact and (value := exact_value(agent, episodes)) is not None:
        summary["exact"] = value
    return EvalReport(returns, success, summary, [t.task_id for t in tasks], meta=meta)


def evaluate_baselines(family, tasks: Sequence[Task], *, episodes: int, seed: int = 0,
                       names: Sequence[str] | None = None, progress=None, exact: bool = False) -> dict[str, dict]:
    """Summaries of the family's classic baselines (``family.baselines``) on ``tasks``.

    A baseline that cannot run in this setting (e.g. exact Bayes-optimal on too large a
    problem) is reported as ``{"skipped": reason}``.
    """
    from metarl.registry import agent_options, make_agent

    out: dict[str, dict] = {}
    for name in (family.baselines if names is None else names):
        offered = {"horizon": episodes, "seed": seed}
        params = agent_options(name, family)  # an unknown name: one-line error listing the agents
        try:
            agent = make_agent(name, family, **{k: v for k, v in offered.items() if k in params})
            check_trial_length(agent, episodes)   # e.g. no queries after a support set: skipped, not fatal
        except ConfigError as exc:
            out[name] = {"skipped": str(exc)}
            continue
        out[name] = evaluate(agent, tasks, episodes=episodes, seed=seed, progress=progress, exact=exact).summary
    return out
