"""Experiment presets and typed ``--key value`` overrides.

An ``Experiment`` names a family (with options), an agent (with options) and the
trainer's ``TrainConfig``. Overrides are flat: ``--arms 10`` goes to the family,
``--hidden_size 128`` to the agent, ``--total_steps 1e6`` to the trainer; each key is
looked up in that order of specificity (trainer, family, agent) and converted to the
type of its default. An unknown key fails before anything runs, listing the keys.
"""
from __future__ import annotations

import ast
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from metarl.errors import ConfigError, check_choice, did_you_mean
from metarl.registry import agent_options, family_options


@dataclass
class TrainConfig:
    """Trainer options."""

    episodes_per_trial: int = 10
    """k: episodes of the same task in one trial (memory persists across them)."""
    total_steps: int = 1_000_000
    """Environment steps to train for."""
    # Training time = collection + updates (not periodic evaluation), counted across --resume.
    # Annealed schedules (lr, entropy) follow the larger of the step and the time fraction, so a
    # time-limited run is not bit-reproducible: rerun with the reached total_steps for that.
    time_limit: float = 0.0
    """Also stop after this many seconds of training (0: no limit); schedules then anneal on time."""
    seed: int = 0
    """Seed of everything: task draws, env streams, network init, sampling."""
    eval_tasks: int = 1000
    """Held-out test tasks in the final evaluation."""
    eval_seed: int = 1000
    """Seed of the test-task draw (fixed across runs so agents are compared on the same tasks)."""
    eval_every: int = 0
    """Evaluate on held-out tasks every N iterations (0: at each tenth of the step or time budget)."""
    eval_tasks_periodic: int = 500
    """Held-out tasks in each periodic evaluation."""
    keep_best: bool = False
    """At each periodic evaluation also score the policy on ``eval_tasks_periodic`` validation
    tasks (train split, seed ``eval_seed + 1``; never the test tasks), keep the best as
    checkpoints/best.pt and give the final evaluation that policy instead of the last one."""
    eval_deterministic: bool = False
    """Evaluate with greedy actions instead of sampling."""
    baselines: bool = True
    """Also evaluate the family's classic baselines on the same test tasks."""
    inner_steps_eval: int = 3
    """Gradient-based agents (maml, metasgd): report the held-out curve after 0..N inner steps (0: skip)."""
    checkpoint_every: int = 20
    """Write checkpoints/latest.pt every N iterations (and at the end, and on Ctrl-C)."""
    torch_threads: int = 0
    """torch intra-op threads (0: torch's default)."""
    quiet: bool = False
    """No progress bar."""
    run_root: str = "runs"
    """Directory under which run directories are created."""


class BareFlag(str):
    """The value of an option given without one (``--quiet``): true for a boolean option,
    an error for any other."""


def parse_value(key: str, text: Any, like: Any) -> Any:
    """Convert CLI text to the type of ``like`` (a default value)."""
    if not isinstance(text, str):
        return text
    if isinstance(text, BareFlag) and not isinstance(like, bool):
        raise ConfigError(f"--{key} needs a value (only true/false options may be given bare)")
    if isinstance(like, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{key} expects true/false, got {text!r}")
    if isinstance(like, (int, float)) and text.strip().lower() in ("none", "null"):
        return None   # e.g. --lr_final None (constant); the agent or trainer rejects it where it means nothing
    if isinstance(like, int):
        try:
            f = float(text)
        except ValueError:
            raise ConfigError(f"--{key} expects an integer, got {text!r}") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"--{key} expects an integer, got {text!r}")
        return int(f)
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--{key} expects a number, got {text!r}") from None
    if isinstance(like, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@dataclass
class Experiment:
    """A runnable preset: family + agent + trainer options."""

    name: str
    family: str
    agent: str = "rl2"
    family_kwargs: dict = field(default_factory=dict)
    agent_config: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    description: str = ""
    agent_choices: tuple = ()
    """Sibling agents ``--agent NAME`` may swap in (e.g. ``("metasgd",)`` on a MAML preset); the
    run is then named ``<agent>_<rest of the preset name>``."""
    choice_configs: dict = field(default_factory=dict)
    """Agent options of a sibling whose options differ from the preset agent's (e.g. the
    ``sb3-ppo`` baseline on an RL² preset): swapping it in replaces ``agent_config``. A sibling
    not listed here takes ``agent_config`` as it is (MAML -> Meta-SGD)."""
    family_choices: dict = field(default_factory=dict)
    """Sibling families ``--family NAME`` may swap in, each with its own family options
    (``{"ant-dir": {}, ...}`` on a locomotion preset whose recipe suits them): the agent, its
    options and the trainer's stay the preset's, and the run is named
    ``<agent>_<family, - as _>`` (``rl2_cheetah_vel --family ant-dir`` -> ``rl2_ant_dir``)."""

    def keys(self) -> dict[str, list[str]]:
        """Overridable keys by section."""
        return {"train": [f.name for f in dataclasses.fields(TrainConfig)],
                "family": list(family_options(self.family)),
                "agent": list(agent_options(self.agent, self.family))}

    def with_overrides(self, overrides: dict[str, Any]) -> "Experiment":
        """A copy with ``overrides`` (key -> CLI text or value) applied; unknown keys raise."""
        overrides = {k.replace("-", "_"): v for k, v in overrides.items()}
        if "family" in overrides:  # first of all: the family decides the family and agent options
            return self._with_family(parse_value("family", overrides.pop("family"), "")).with_overrides(overrides)
        if "agent" in overrides:  # first: the other keys are checked against the chosen agent's options
            return self._with_agent(parse_value("agent", overrides.pop("agent"), "")).with_overrides(overrides)
        train = dataclasses.replace(self.train)
        fam, agent = dict(self.family_kwargs), dict(self.agent_config)
        fam_opts, agent_opts = family_options(self.family), agent_options(self.agent, self.family)
        train_fields = {f.name: getattr(train, f.name) for f in dataclasses.fields(TrainConfig)}
        for key, text in overrides.items():
            if key in train_fields:
                setattr(train, key, parse_value(key, text, train_fields[key]))
            elif key in fam_opts:
                fam[key] = parse_value(key, text, fam.get(key, fam_opts[key]))
            elif key in agent_opts:
                agent[key] = parse_value(key, text, agent.get(key, agent_opts[key]))
            else:
                hint = did_you_mean(key, [*train_fields, *fam_opts, *agent_opts])
                raise ConfigError(
                    f"unknown option --{key}{hint} for experiment {self.name!r}; accepted: trainer "
                    f"{sorted(train_fields)}, family {sorted(fam_opts)}, agent {sorted(agent_opts)}")
        return dataclasses.replace(self, family_kwargs=fam, agent_config=agent, train=train)

    def with_agent_options(self, pairs: list[str]) -> tuple["Experiment", dict[str, Any]]:
        """``["reward_clip=2", ...]`` (``metarl eval --agent-option``) applied to the agent's
        options; returns the copy and the changed options with their typed values. Only the
        agent's ``eval_options`` may change, each once and to a value other than the run's."""
        from metarl.registry import agent_eval_options

        opts, allowed = agent_options(self.agent, self.family), agent_eval_options(self.agent, self.family)
        config, changed = dict(self.agent_config), {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key or not text:
                raise ConfigError(f"--agent-option expects KEY=VALUE (e.g. reward_clip=2), got {pair!r}")
            if key not in opts:
                raise ConfigError(f"--agent-option {key}: not an option of agent {self.agent!r}"
                                  f"{did_you_mean(key, list(opts))}; options it can change at evaluation: "
                                  f"{list(allowed) or 'none'}")
            if key not in allowed:
                raise ConfigError(f"--agent-option {key}: agent {self.agent!r} cannot change {key} at evaluation "
                                  f"(the trained network fixes it, or only training reads it); options it can: "
                                  f"{list(allowed) or 'none'}")
            if key in changed:
                raise ConfigError(f"--agent-option {key} is given twice ({changed[key]!r} and {text!r})")
            own = config.get(key, opts[key])
            value = parse_value(key, text, own)
            if value == own:
                raise ConfigError(f"--agent-option {key}={text}: that is the run's own value ({own!r})")
            config[key] = changed[key] = value
        return dataclasses.replace(self, agent_config=config), changed

    @staticmethod
    def option_tag(changed: dict[str, Any]) -> str:
        """``{"reward_clip": 2.0}`` -> ``"reward_clip-2"``: changed options as a directory name."""
        def text(v: Any) -> str:
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, float):
                return f"{v:g}"
            return "".join(ch for ch in str(v) if ch.isalnum() or ch in "._+-,")
        return "_".join(f"{k}-{text(v)}" for k, v in changed.items())

    def _with_agent(self, agent: str) -> "Experiment":
        """This preset with sibling agent ``agent`` (one of ``agent_choices``) in place of its own."""
        if agent == self.agent:
            return self
        check_choice("--agent", agent, (self.agent, *self.agent_choices))
        suffix = self.name.split("_", 1)[1] if "_" in self.name else self.name
        configs = dict(self.choice_configs)
        for sibling in self.agent_choices:  # siblings without options of their own share the preset agent's
            configs.setdefault(sibling, dict(self.agent_config))
        config = configs.pop(agent)
        configs[self.agent] = dict(self.agent_config)   # so that it can swap back, with any overrides
        return dataclasses.replace(self, agent=agent, name=f"{agent}_{suffix}", agent_config=dict(config),
                                   choice_configs=configs,
                                   agent_choices=tuple(a for a in (self.agent, *self.agent_choices) if a != agent))

    def _with_family(self, family: str) -> "Experiment":
        """This preset on sibling family ``family`` (one of ``family_choices``) with that
        family's options; the preset's own family becomes a choice, so a resumed run's
        config.yaml can swap back."""
        if family == self.family:
            return self
        check_choice("--family", family, (self.family, *self.family_choices))
        choices = {name: dict(kw) for name, kw in self.family_choices.items() if name != family}
        choices[self.family] = dict(self.family_kwargs)
        return dataclasses.replace(self, family=family, name=f"{self.agent}_{family.replace('-', '_')}",
                                   family_kwargs=dict(self.family_choices[family]), family_choices=choices)

    def sibling_flags(self, run: "Experiment") -> str | None:
        """The ``--family`` / ``--agent`` flags that turn this preset into ``run``'s experiment
        (``""`` when it is this preset; None when no choice of the preset gives it)."""
        flags, exp = [], self
        if run.family != exp.family and run.family in exp.family_choices:
            exp, flags = exp._with_family(run.family), flags + [f"--family {run.family}"]
        if run.agent != exp.agent and run.agent in exp.agent_choices:
            exp, flags = exp._with_agent(run.agent), flags + [f"--agent {run.agent}"]
        return " ".join(flags) if exp.name == run.name else None

    def to_dict(self) -> dict:
        return {"experiment": self.name, "description": self.description,
                "family": {"name": self.family, "kwargs": self.family_kwargs, "choices": self.family_choices},
                "agent": {"name": self.agent, "config": self.agent_config, "choices": list(self.agent_choices),
                          "choice_configs": self.choice_configs},
                "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> "Experiment":
        return cls(name=d["experiment"], family=d["family"]["name"], agent=d["agent"]["name"],
                   family_kwargs=dict(d["family"].get("kwargs", {})), agent_config=dict(d["agent"].get("config", {})),
                   train=TrainConfig(**d["train"]), description=d.get("description", ""),
                   agent_choices=tuple(d["agent"].get("choices", ())),
                   choice_configs=dict(d["agent"].get("choice_configs", {})),
                   family_choices=dict(d["family"].get("choices", {})))


def parse_overrides(argv: list[str]) -> dict[str, str]:
    """``["--a", "1", "--b=2", "--flag", "--run-dir", "x"]`` -> {"a": "1", "b": "2", "flag": "true",
    "run_dir": "x"} (dashes in keys become underscores; a bare flag's value is a ``BareFlag``)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--") or tok == "--":
            raise ConfigError(f"expected --key value, got {tok!r}")
        key = tok[2:]
        if "=" in key:
            key, val = key.split("=", 1)
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            val = argv[i + 1]
            i += 2
        else:
            val = BareFlag("true")
            i += 1
        key = key.replace("-", "_")
        if key in out:  # the later one would win silently, and the earlier one would never be checked
            raise ConfigError(f"--{key} is given twice ({str(out[key])!r}, then {str(val)!r}); give it once")
        out[key] = val
    return out
