"""``TaskFamily``: a seeded distribution over tasks with train and test splits."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from metarl.errors import ConfigError, MetaRLError, check_choice, check_int
from metarl.seeding import make_rng, seed_sequence
from metarl.tasks.params import ParamSpace
from metarl.tasks.task import Task

if TYPE_CHECKING:
    from metarl.rollout.vector import TrialVectorEnv


class TaskFamily:
    """Base class for task families. Subclass it and register with ``@metarl.register_family``.

    Subclasses set ``name`` and ``params`` and implement ``make_env``. The default
    ``sample`` draws each task's parameters with ``sample_params`` from a generator
    derived from ``(seed, family name, split)``, so train and test tasks are
    separately seeded draws; families with a spatially held-out test region override
    ``sample_params``.

    Attributes:
        kind: ``"rl"`` or ``"supervised"`` (one-step episodes; ``info["target"]`` holds the label).
        max_episode_steps: the longest one episode can be (trial length = episodes x this at most).
        has_success: whether ``info["success"]`` is defined.
        step_cost: ``"light"`` (numpy, classic control: a step costs about as much as the
            Python around it) or ``"heavy"`` (a physics simulator: MuJoCo, Meta-World). The
            default ``make_vector_env`` steps large vectors of heavy families in worker
            processes (``metarl.rollout.sampler``).
    """

    name: str = ""
    params: ParamSpace = ParamSpace([])
    kind: str = "rl"
    max_episode_steps: int = 1
    has_success: bool = False
    step_cost: str = "light"
    #: registered agent names the evaluator runs beside a trained agent on the same test tasks
    baselines: tuple[str, ...] = ("random",)

    # ---- sampling -------------------------------------------------------------------------
    def sample(self, n: int, *, split: str = "train",
               seed: "int | np.random.Generator" = 0) -> list[Task]:
        """``n`` tasks from ``split`` ("train" or "test"). Same seed, same tasks, in any process."""
        n = check_int("n", n, low=0)
        check_choice("split", split, ("train", "test"))
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"{type(self).__name__} has no name; set the class attribute `name` "
                              "or register it with @metarl.register_family('name')")
        if isinstance(seed, np.random.Generator) and split != "train":
            # A caller-owned Generator is the train stream itself (the trainer's task stream; its
            # draws are unchanged). Other splits take one draw from it and mix in family and split,
            # so the same generator state never yields the train tasks as test tasks.
            seed = np.random.default_rng(seed_sequence(int(seed.integers(2**63)), self.name, split))
        rng = make_rng(seed, self.name, split)
        # A caller-owned Generator gives a fresh draw each call: tag ids with a draw from it so
        # ids stay unique across calls (an int seed names the draw itself).
        tag = f"s{seed}" if isinstance(seed, (int, np.integer)) else f"r{int(rng.integers(2**32)):08x}"
        tasks = []
        for i in range(n):
            params = self.sample_params(rng, split)
            if not isinstance(params, dict):
                raise MetaRLError(f"{type(self).__name__}.sample_params must return a dict, "
                                  f"got {type(params).__name__}")
            tasks.append(Task(self.name, params, task_id=f"{self.name}/{split}/{tag}/{i}", split=split))
        return tasks

    def sample_params(self, rng: np.random.Generator, split: str) -> dict[str, Any]:
        """Parameters of one task. Default: every spec uniformly from its train box."""
        return self.params.sample(rng)

    def task_group(self, task: Task) -> str | None:
        """The class ``task`` belongs to, for per-class results (Meta-World: the env name), or
        None when the family has no classes (the default)."""
        return None

    def task_features(self, tasks: list[Task]) -> np.ndarray:
        """Privileged description of each task, for a critic that may see what the policy must
        infer (RL²'s ``task_critic``): float32 [n_tasks, F].

        Default: every parameter of ``params`` in ParamSpace order, numeric ones in train-box
        units mapped to [-1, 1] (``2 * to_unit(v) - 1``, in log space for log-scale specs;
        array-valued parameters flattened), categorical ones one-hot over their choices.
        Values outside the train box map outside [-1, 1]. Families whose tasks carry more
        than their ParamSpace describes override this."""
        rows = []
        for task in tasks:
            self._require_params(task)
            parts = []
            for spec in self.params:
                value = task.params[spec.name]
                if spec.is_categorical:
                    parts.append(np.array([c == value for c in spec.choices] if len(spec.choices) > 1 else [],
                                          dtype=np.float32))  # one choice: nothing to tell apart
                else:
                    parts.append(2.0 * np.ravel(spec.to_unit(value)) - 1.0)
            rows.append(np.concatenate(parts) if parts else np.zeros(0))
        if not rows:
            raise ValueError("task_features needs at least one task, got an empty list")
        return np.asarray(rows, dtype=np.float32).reshape(len(tasks), -1)

    def task_feature_size(self) -> int:
        """F, the width of ``task_features`` (measured on one training task)."""
        return int(self.task_features(self.sample(1, split="train", seed=0)).shape[1])

    def validate_task(self, task: Task) -> None:
        """Raise a one-line error if ``task`` does not belong to this family or breaks hard limits."""
        if not isinstance(task, Task):
            raise MetaRLError(f"expected a metarl.Task, got {type(task).__name__}")
        if task.family != self.name:
            raise MetaRLError(f"task of family {task.family!r} given to family {self.name!r}")
        self._require_params(task)
        if len(task.params) > len(self.params.names):  # cheap test first: this runs at every reset
            unknown = sorted(set(task.params) - set(self.params.names) - set(self.required_params()))
            if unknown:  # e.g. a misspelt parameter in a hand-made task, which would be silently ignored
                raise MetaRLError(f"task {task.task_id!r} has unknown parameters {unknown}; family "
                                  f"{self.name!r} takes {sorted(set(self.params.names) | set(self.required_params()))}")
        self.params.validate(task.params)

    def _require_params(self, task: Task) -> None:
        """Raise a one-line error naming the parameters ``task`` lacks, if any."""
        missing = [k for k in self.required_params() if k not in task.params]
        if missing:
            raise MetaRLError(f"task {task.task_id!r} lacks parameters {missing}; "
                              f"family {self.name!r} needs {self.required_params()}")

    def required_params(self) -> list[str]:
        """Parameter names every task of this family must carry."""
        return self.params.names

    # ---- environments ---------------------------------------------------------------------
    def make_env(self, task: Task) -> gym.Env:
        """A Gymnasium env for ``task``; it also honours ``reset(options={"task": t})``."""
        raise NotImplementedError

    def make_vector_env(self, num_envs: int, episodes: int, *, sampler: str | None = None) -> "TrialVectorEnv":
        """``num_envs`` trials of ``episodes`` episodes stepped together.

        The default steps one ``TrialWrapper(make_env(task))`` per slot: in a loop in this
        process (``SyncTrialVectorEnv``) or, for large vectors of ``step_cost = "heavy"``
        families, in one worker process per CPU (``ProcessTrialVectorEnv``); ``sampler``
        ("auto", "sync", "process"; default: env var ``METARL_SAMPLER``, else "auto")
        overrides the choice (rules in ``metarl.rollout.sampler``). A family with a native
        batched env (``native_vector_env``: the numpy families) always uses that; ``sampler``
        is then only checked.
        """
        from metarl.rollout.sampler import check_sampler, make_trial_vector_env

        if sampler is not None:
            check_sampler(sampler)
        native = self.native_vector_env(num_envs, episodes)
        return native if native is not None else make_trial_vector_env(self, num_envs, episodes, sampler)

    def native_vector_env(self, num_envs: int, episodes: int) -> "TrialVectorEnv | None":
        """A batched env stepping all slots at once (e.g. in one numpy call), or None (the default:
        ``make_vector_env`` then builds one ``TrialWrapper`` per slot)."""
        return None

    # ---- metadata -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the family is, for reports: name, kind, parameter boxes, held-out rule."""
        return {"name": self.name, "kind": self.kind, "max_episode_steps": self.max_episode_steps,
                "params": [{"name": s.name, "low": s.low, "high": s.high, "choices": s.choices,
                            "scale": s.scale, "group": s.group, "hard": s.hard} for s in self.params],
                "held_out": self.held_out_rule}

    held_out_rule: str = "test tasks are separately seeded draws from the same distribution"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def check_param_range(family: str, what: str, value: Any, low: float, high: float) -> float:
    """Validate a numeric constructor argument of a family."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{family}: {what} must be a number, got {value!r}") from None
    if not (low <= v <= high):
        raise ConfigError(f"{family}: {what}={value!r} is outside the accepted range [{low}, {high}]")
    return v
