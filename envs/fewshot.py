"""``fewshot-classification``: N-way K-shot classification as one-step episodes.

A synthetic image-free stand-in for Omniglot / mini-ImageNet (which need downloads this
project cannot assume): a fixed pool of ``classes`` classes, each a centre ``z_c`` in a
``latent``-dimensional space (N(0, I)). An example of class c is ``z_c + noise * N(0, I)``
together with ``nuisance`` dimensions of per-example variation that carry no class
information (``nuisance_scale * N(0, I)``: think pose or lighting), *rendered* through a fixed
random two-layer tanh network into ``dim`` features in [-1, 1] (pool and renderer drawn from
``dataset_seed``). In raw features the nuisance variation mixes with the class signal, so a
nearest-centroid classifier on them is a weak baseline; an embedding learned across tasks
(ProtoNet) can learn to ignore it.

A task is ``ways`` distinct classes (parameter ``classes``, their pool ids; label i is the
task's i-th class) and two ``dynamics`` parameters of how its examples look: the within-class
spread ``noise`` (train box [noise_low, noise_high]) and the nuisance strength
``nuisance_scale`` (train box [nuisance_scale_low, nuisance_scale_high]), so the environment generator can
make tasks noisier or more cluttered than any seen in training. Held-out rule: test tasks draw
their classes from the last ``test_classes`` of the pool, which training tasks never use (the
few-shot protocol of Vinyals et al. 2016 and Snell et al. 2017).

Each episode is one example: observation = its features (``Box(-1, 1, (dim,))``, float32;
``(dim + ways,)`` with ``label_feedback``, the last ``ways`` entries the previous label one-hot),
action = the predicted label (``Discrete(ways)``), reward = 1 if correct else 0, then the
episode ends with ``info["target"]`` = the true label. A trial is the support set, ``shots``
rounds of all ``ways`` labels (each round in a random order), followed by queries with
uniformly drawn labels. Per episode the env draws, from its ``np_random``: the round's
permutation (at a round's first example), or the query label, then the noise. The env counts
episodes from the trial start (``reset`` with ``options`` "task" or "trial_start", which
``TrialWrapper`` passes to envs with ``trial_aware = True``).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.errors import ConfigError, check_bool, check_float, check_int, short_repr
from metarl.envs._common import PredrawnTrialVectorEnv, check_scalar_params
from metarl.seeding import make_rng
from metarl.tasks import ParamSpace, ParamSpec, Task, TaskFamily

HIDDEN = 64   # width of the renderer's hidden layer
MAX_SCALE = 5.0   # hard limit of a task's noise and nuisance scale (latent units)


class _Dataset:
    """Class centres [classes, latent] and the renderer weights, all from ``dataset_seed``."""

    def __init__(self, classes: int, latent: int, nuisance: int, dim: int, seed: int) -> None:
        rng = make_rng(seed, "fewshot-dataset")
        self.centres = rng.standard_normal((classes, latent))
        self.w1 = rng.standard_normal((latent + nuisance, HIDDEN)) / np.sqrt(latent + nuisance)
        self.w2 = rng.standard_normal((HIDDEN, dim)) * (2.0 / np.sqrt(HIDDEN))
        self.latent, self.nuisance = latent, nuisance

    def example(self, class_ids: np.ndarray, draws: np.ndarray, noise, nuisance_scale) -> np.ndarray:
        """Features [..., dim] (float32) of examples of pool classes ``class_ids`` [...] from
        standard normal draws [..., latent + nuisance] (class noise, then nuisance), scaled by
        the tasks' ``noise`` and ``nuisance_scale`` (scalars or arrays broadcasting to [...])."""
        noise, scale = np.asarray(noise, dtype=np.float64)[..., None], np.asarray(nuisance_scale, np.float64)[..., None]
        z = self.centres[class_ids] + noise * draws[..., :self.latent]
        h = np.concatenate([z, scale * draws[..., self.latent:]], -1)
        return np.tanh(np.tanh(h @ self.w1) @ self.w2).astype(np.float32)


def _draw_example(rng: np.random.Generator, episode: int, ways: int, shots: int, perm: np.ndarray):
    """(label, perm) of episode ``episode``: a new round permutation at a support round's first
    example, or a uniform query label (the noise is drawn after this, by the caller)."""
    if episode < ways * shots:
        if episode % ways == 0:
            perm = rng.permutation(ways)
        label = int(perm[episode % ways])
    else:
        label = int(rng.integers(ways))
    return label, perm


def _spaces(fam: "FewShotClassificationFamily"):
    size = fam.dim + (fam.ways if fam.label_feedback else 0)
    return spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32), spaces.Discrete(fam.ways)


def _with_feedback(fam: "FewShotClassificationFamily", x: np.ndarray, revealed: np.ndarray) -> np.ndarray:
    """Observations [..., dim] -> [..., dim + ways] with the one-hot of the label revealed last
    (``revealed`` [...], -1: none yet: zeros), when the family has ``label_feedback``."""
    if not fam.label_feedback:
        return x.copy()
    onehot = (np.arange(fam.ways) == np.asarray(revealed)[..., None]).astype(np.float32)
    return np.concatenate([x, onehot], -1)


class FewShotEnv(gym.Env):
    """One task; each episode is one example. obs [dim]; action: label."""

    metadata = {"render_modes": []}
    trial_aware = True

    def __init__(self, family: "FewShotClassificationFamily", task: Task) -> None:
        self.family = family
        self.observation_space, self.action_space = _spaces(family)
        self._set_task(task)
        self._episode, self._perm, self.label, self._revealed = -1, np.arange(family.ways), 0, -1

    def _set_task(self, task: Task) -> None:
        self.family.validate_task(task)
        self.task = task
        self.ids = np.asarray(task.params["classes"], dtype=np.int64)
        self.noise, self.nuisance_scale = float(task.params["noise"]), float(task.params["nuisance_scale"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = options or {}
        if "task" in options:
            self._set_task(options["task"])
        self._episode = 0 if ("task" in options or options.get("trial_start")) else self._episode + 1
        if self._episode == 0:
            self._revealed = -1
        fam = self.family
        self.label, self._perm = _draw_example(self.np_random, self._episode, fam.ways, fam.shots, self._perm)
        self.x = fam.data.example(self.ids[self.label], self.np_random.standard_normal(fam.latent + fam.nuisance),
                                  self.noise, self.nuisance_scale)
        return _with_feedback(self.family, self.x, self._revealed), {}

    def step(self, action):
        reward = float(int(action) == self.label)
        self._revealed = self.label
        return _with_feedback(self.family, self.x, self._revealed), reward, True, False, {"target": self.label}


class FewShotVectorEnv(PredrawnTrialVectorEnv):
    """B tasks; slot i draws from ``rngs[i]`` in the single env's order, a whole trial at its
    start (then rendered in one batched call)."""

    def __init__(self, family: "FewShotClassificationFamily", num_envs: int, episodes: int) -> None:
        super().__init__(family, num_envs, episodes, *_spaces(family))

    def _set_tasks(self, tasks):
        self.ids = np.array([np.asarray(t.params["classes"], dtype=np.int64) for t in tasks])   # [B, ways]
        self.noise = np.array([float(t.params["noise"]) for t in tasks])                       # [B]
        self.nuisance_scale = np.array([float(t.params["nuisance_scale"]) for t in tasks])     # [B]

    def _draw_trials(self) -> dict[str, np.ndarray]:
        """Every slot's k examples: features [B, k, dim] and labels [B, k]."""
        fam, k, b = self.family, self.episodes, self.num_envs
        labels = np.zeros((b, k), dtype=np.int64)
        draws = np.zeros((b, k, fam.latent + fam.nuisance))
        for i, rng in enumerate(self.rngs):
            perm = np.arange(fam.ways)
            for e in range(k):
                labels[i, e], perm = _draw_example(rng, e, fam.ways, fam.shots, perm)
                draws[i, e] = rng.standard_normal(fam.latent + fam.nuisance)
        x = fam.data.example(np.take_along_axis(self.ids, labels, 1), draws, self.noise[:, None],
                             self.nuisance_scale[:, None])
        self.revealed = np.full(b, -1, dtype=np.int64)   # label_feedback: none revealed yet in this trial
        return {"x": x, "label": labels}

    def _observation(self) -> np.ndarray:
        return _with_feedback(self.family, self.now["x"], self.revealed)

    def _step_inner(self, actions, active):
        reward = (np.asarray(actions).reshape(-1) == self.now["label"]).astype(np.float64)
        done = np.ones(self.num_envs, dtype=bool)
        self.revealed = np.where(active, self.now["label"], self.revealed)
        return self._observation(), reward, done, ~done, {"target": self.now["label"].copy()}


class FewShotClassificationFamily(TaskFamily):
    """N-way K-shot classification on a synthetic class pool (module docstring).

    Options: ways (N, 2-50), shots (K, support examples per class, 1-50), classes (pool size),
    test_classes (the held-out part of the pool), dim (features), latent (class-space
    dimension), nuisance (dimensions of class-free variation), noise_low -> noise_high (train box
    of a task's within-class spread, latent units), nuisance_scale_low -> nuisance_scale_high
    (train box of a task's nuisance strength), dataset_seed (pool and renderer), label_feedback
    (append the one-hot of the label revealed last to each observation, zeros at a trial's
    start: what a black-box learner such as rl2 needs to learn from labels; the metric and
    gradient-based agents read only the first ``dim`` features)."""

    name = "fewshot-classification"
    kind = "supervised"
    max_episode_steps = 1
    baselines = ("random", "nearest-centroid")
    held_out_rule = "test tasks use classes never seen in training (the last test_classes of the pool)"

    def __init__(self, ways: int = 5, shots: int = 1, classes: int = 200, test_classes: int = 50, dim: int = 32,
                 latent: int = 8, nuisance: int = 8, noise_low: float = 0.25, noise_high: float = 0.35,
                 nuisance_scale_low: float = 0.8, nuisance_scale_high: float = 1.2, dataset_seed: int = 0,
                 label_feedback: bool = False) -> None:
        self.ways = check_int("fewshot-classification: ways", ways, low=2, high=50)
        self.shots = check_int("fewshot-classification: shots", shots, low=1, high=50)
        self.classes = check_int("fewshot-classification: classes", classes, low=2 * self.ways, high=100_000)
        self.test_classes = check_int("fewshot-classification: test_classes", test_classes, low=self.ways,
                                      high=self.classes - self.ways)
        self.dim = check_int("fewshot-classification: dim", dim, low=1, high=4096)
        self.latent = check_int("fewshot-classification: latent", latent, low=1, high=1024)
        self.nuisance = check_int("fewshot-classification: nuisance", nuisance, low=0, high=1024)
        box = {}
        for name, low, high in (("noise", noise_low, noise_high),
                                ("nuisance_scale", nuisance_scale_low, nuisance_scale_high)):
            low = check_float(f"fewshot-classification: {name}_low", low, low=0.0, high=MAX_SCALE)
            high = check_float(f"fewshot-classification: {name}_high", high, low=low, high=MAX_SCALE)
            box[name] = (low, high)
        if self.nuisance == 0:   # no nuisance dimensions: their scale changes nothing, so it is not a task parameter
            box["nuisance_scale"] = (box["nuisance_scale"][0],) * 2    # a zero-width box the generator leaves alone
        self.dataset_seed = check_int("fewshot-classification: dataset_seed", dataset_seed, low=0)
        self.label_feedback = check_bool("fewshot-classification: label_feedback", label_feedback)
        self.data = _Dataset(self.classes, self.latent, self.nuisance, self.dim, self.dataset_seed)
        top = float(self.classes - 1)
        self.params = ParamSpace([
            ParamSpec("classes", 0.0, top, group="task", hard=(0.0, top)),
            ParamSpec("noise", *box["noise"], group="dynamics", hard=(0.0, MAX_SCALE)),
            ParamSpec("nuisance_scale", *box["nuisance_scale"], group="dynamics", hard=(0.0, MAX_SCALE)),
        ])

    @property
    def example_dim(self) -> int:
        """Features of one example: the observation without the label-feedback block."""
        return self.dim

    @property
    def support_size(self) -> int:
        """Examples in a trial's support set: ways x shots."""
        return self.ways * self.shots

    def sample_params(self, rng, split):
        first = self.classes - self.test_classes
        pool = np.arange(first, self.classes) if split == "test" else np.arange(first)
        classes = [int(c) for c in rng.choice(pool, size=self.ways, replace=False)]
        return {"classes": classes, "noise": float(self.params["noise"].sample(rng)),
                "nuisance_scale": float(self.params["nuisance_scale"].sample(rng))}

    def validate_task(self, task: Task) -> None:
        mine = isinstance(task, Task) and task.family == self.name
        ids = task.params.get("classes") if mine else None
        if ids is not None and (  # before the base class's range check, which would not say what is wrong
                not isinstance(ids, (tuple, list)) or len(ids) != self.ways or len(set(ids)) != self.ways or
                not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < self.classes
                        for c in ids)):
            raise ConfigError(f"fewshot-classification task {task.task_id!r}: classes={short_repr(ids)} must be "
                              f"{self.ways} distinct class ids in [0, {self.classes - 1}] (ways={self.ways}; "
                              f"training tasks use 0-{self.classes - self.test_classes - 1}, test tasks the rest)")
        if mine:
            check_scalar_params(task, ["noise", "nuisance_scale"])
        super().validate_task(task)

    def make_env(self, task: Task) -> gym.Env:
        return FewShotEnv(self, task)

    def native_vector_env(self, num_envs: int, episodes: int) -> FewShotVectorEnv:
        return FewShotVectorEnv(self, num_envs, episodes)
