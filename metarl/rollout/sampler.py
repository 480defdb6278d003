"""Which vector of trials ``TaskFamily.make_vector_env`` builds: the sampler choice.

- ``"sync"``: ``SyncTrialVectorEnv``, one process, a loop over the slots.
- ``"process"``: ``ProcessTrialVectorEnv`` (``metarl.rollout.multiproc``): the slots split
  into one contiguous block per usable CPU, stepped by worker processes and this one.
- ``"auto"`` (default): ``"process"`` when the family's ``step_cost`` is ``"heavy"`` (a
  physics simulator: MuJoCo, Meta-World), there are at least 2 slots and 2 usable CPUs,
  and one pass over the trials is at least ``PROCESS_MIN_TRIAL_STEPS`` env steps
  (``num_envs x episodes x family.max_episode_steps``); ``"sync"`` otherwise.

Why the size threshold: starting the worker costs about 0.6 s for cheetah-vel and 1.2 s
for ml1 on 2 otherwise idle cores (0.8 s and 2.3 s at load average 3.5): a fresh
interpreter importing the simulator and building its envs; the process sampler then saves
up to half the time of each env step (less on this VM: ``metarl bench rollout``). At the
threshold (5,000 steps: about 0.35 s of single-core HalfCheetah stepping, 1.2 s of
reach-v3) a training env, reused every iteration, pays its start-up back within a few
iterations (the rl2_cheetah_vel preset's 16 trials x 2 x 200 steps = 6,400
are above it); a vector env used for a single pass, as an evaluation's is, gains only
from about 20,000 (cheetah) / 10,000 (reach-v3) steps up. Small vector envs (tests, smoke
runs with short horizons) stay in-process and start instantly.

Override: ``family.make_vector_env(n, k, sampler="sync" | "process" | "auto")`` or the
environment variable ``METARL_SAMPLER`` (same values; the argument wins). ``"process"``
applies to any family without a native batched env; those with one (bandit, tabular-mdp,
point-nav, sinusoid: ``TaskFamily.native_vector_env``) always use it.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from metarl.errors import ConfigError, check_int

if TYPE_CHECKING:
    from metarl.rollout.vector import TrialVectorEnv
    from metarl.tasks import TaskFamily

SAMPLERS = ("auto", "sync", "process")
STEP_COSTS = ("light", "heavy")
PROCESS_MIN_TRIAL_STEPS = 5_000
ENV_VAR = "METARL_SAMPLER"


def check_sampler(sampler: str, source: str = "sampler") -> None:
    """One-line ConfigError unless ``sampler`` is one of ``SAMPLERS`` (``source``: the argument
    or the environment variable it came from)."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"{source}={sampler!r} is not valid; choose one of {', '.join(SAMPLERS)}")


def resolve_sampler(family: "TaskFamily", num_envs: int, episodes: int, sampler: str | None = None) -> str:
    """``"sync"`` or ``"process"`` for this family and size (rules in the module docstring)."""
    from metarl.rollout.multiproc import usable_cpus

    source = "sampler"
    if sampler is None:
        sampler, source = os.environ.get(ENV_VAR, "").strip() or "auto", ENV_VAR
    check_sampler(sampler, source)
    if sampler != "auto":
        return sampler
    cost = getattr(family, "step_cost", "light")
    if cost not in STEP_COSTS:
        raise ConfigError(f"{type(family).__name__}.step_cost={cost!r} is not valid; choose one of "
                          f"{', '.join(STEP_COSTS)}")
    pass_steps = num_envs * episodes * int(family.max_episode_steps)
    heavy_enough = cost == "heavy" and num_envs >= 2 and pass_steps >= PROCESS_MIN_TRIAL_STEPS
    return "process" if heavy_enough and usable_cpus() >= 2 else "sync"


def make_trial_vector_env(family: "TaskFamily", num_envs: int, episodes: int,
                          sampler: str | None = None) -> "TrialVectorEnv":
    """The vector of ``num_envs`` trials of ``episodes`` episodes the sampler choice gives."""
    from metarl.rollout.vector import SyncTrialVectorEnv

    num_envs = check_int("num_envs", num_envs, low=1)
    episodes = check_int("episodes", episodes, low=1)
    if resolve_sampler(family, num_envs, episodes, sampler) == "process":
        from metarl.rollout.multiproc import ProcessTrialVectorEnv

        return ProcessTrialVectorEnv(family, num_envs, episodes)
    return SyncTrialVectorEnv(family, num_envs, episodes)
