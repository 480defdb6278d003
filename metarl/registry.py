"""Families and agents by name. Built-ins are imported lazily, on first use.

Core code reaches concrete families and agents only through this module, so
``metarl.tasks``/``rollout``/``training`` never import ``metarl.envs`` or
``metarl.agents`` directly.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from metarl.errors import ConfigError, UnknownNameError, did_you_mean


class ByFamilyKind:
    """An agent name served by a different class per family kind (``family.kind``: "rl" or
    "supervised"), e.g. ``maml``: the same algorithm, a different inner loss. Each entry is
    a "module:attribute" string or the class itself."""

    def __init__(self, **by_kind: Any) -> None:
        self.by_kind = by_kind

    def for_kind(self, kind: str, name: str) -> Any:
        if kind not in self.by_kind:
            raise ConfigError(f"agent {name!r} does not support {kind!r} families; it supports "
                              f"{sorted(self.by_kind)} families")
        return _resolve(self.by_kind[kind])


# name -> "module:attribute" (lazy) or the registered object itself
_FAMILIES: dict[str, Any] = {
    "bandit": "metarl.envs.bandit:BanditFamily",
    "tabular-mdp": "metarl.envs.tabular_mdp:TabularMDPFamily",
    "point-nav": "metarl.envs.point_nav:PointNavFamily",
    "cartpole-dynamics": "metarl.envs.classic_control:CartPoleDynamicsFamily",
    "pendulum-dynamics": "metarl.envs.classic_control:PendulumDynamicsFamily",
    "sinusoid": "metarl.envs.sinusoid:SinusoidFamily",
    "fewshot-classification": "metarl.envs.fewshot:FewShotClassificationFamily",
    "cheetah-vel": "metarl.envs.mujoco_tasks:CheetahVelFamily",
    "cheetah-dir": "metarl.envs.mujoco_tasks:CheetahDirFamily",
    "ant-dir": "metarl.envs.mujoco_tasks:AntDirFamily",
    "ant-goal": "metarl.envs.mujoco_tasks:AntGoalFamily",
    "cheetah-dynamics": "metarl.envs.mujoco_dynamics:CheetahDynamicsFamily",
    "hopper-dynamics": "metarl.envs.mujoco_dynamics:HopperDynamicsFamily",
    "walker-dynamics": "metarl.envs.mujoco_dynamics:Walker2dDynamicsFamily",
    "ml1": "metarl.envs.metaworld_tasks:ML1Family",
    "ml10": "metarl.envs.metaworld_tasks:ML10Family",
    "ml45": "metarl.envs.metaworld_tasks:ML45Family",
}
_AGENTS: dict[str, Any] = {
    "rl2": "metarl.agents.rl2:RL2Agent",
    "maml": ByFamilyKind(supervised="metarl.agents.maml:MAMLAgent", rl="metarl.agents.maml_rl:MAMLRLAgent"),
    "metasgd": ByFamilyKind(supervised="metarl.agents.maml:MetaSGDAgent",
                            rl="metarl.agents.maml_rl:MetaSGDRLAgent"),
    "random": "metarl.agents.baselines.random_agent:RandomAgent",
    "bandit-greedy": "metarl.agents.baselines.bandit:GreedyAgent",
    "bandit-eps-greedy": "metarl.agents.baselines.bandit:EpsilonGreedyAgent",
    "bandit-ucb": "metarl.agents.baselines.bandit:UCBAgent",
    "bandit-ucb1": "metarl.agents.baselines.bandit:UCB1Agent",
    "bandit-thompson": "metarl.agents.baselines.bandit:ThompsonAgent",
    "bandit-gittins": "metarl.agents.baselines.bandit_gittins:GittinsBanditAgent",
    "bandit-bayes-optimal": "metarl.agents.baselines.bandit_bayes:BayesOptimalBanditAgent",
    "psrl": "metarl.agents.baselines.psrl:PSRLAgent",
    "sb3-ppo": "metarl.agents.baselines.sb3_ppo:SB3PPOAgent",
    "protonet": "metarl.agents.protonet:ProtoNetAgent",
    "nearest-centroid": "metarl.agents.protonet:NearestCentroidAgent",
}


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        hint = f" (use @register_{kind}(\"my-name\") with a name)" if callable(name) else ""
        raise ConfigError(f"register_{kind} needs a non-empty string name, got {name!r}{hint}")
    return name


def _resolve(entry: Any) -> Any:
    if isinstance(entry, str):
        module, attr = entry.split(":")
        return getattr(importlib.import_module(module), attr)
    return entry


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    if not isinstance(name, str) or name not in table:
        raise UnknownNameError(f"unknown {kind} {name!r}{did_you_mean(name, table)}; available: {sorted(table)}")
    return _resolve(table[name])


def _keyword_options(factory: Callable) -> dict[str, Any] | None:
    """{option: default} of a constructor's keyword options (``self``/``family`` excluded;
    ``inspect.Parameter.empty`` where there is no default), or None when it takes
    ``**kwargs`` or has no inspectable signature (then any option is passed through)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "family")}


def _call_checked(kind: str, name: str, factory: Callable, *args, **kwargs):
    """Call ``factory`` after checking keyword names, so a typo gets a one-line error."""
    accepted = _keyword_options(factory)
    if accepted is not None:
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise ConfigError(f"{kind} {name!r} got unknown option(s) {unknown}{did_you_mean(unknown, accepted)}; "
                              f"accepted: {list(accepted)}")
    return factory(*args, **kwargs)


def family_options(name: str) -> dict[str, Any]:
    """Options of family ``name`` and their defaults ({} if it takes arbitrary ``**kwargs``)."""
    return _keyword_options(_lookup(_FAMILIES, "family", name)) or {}


def _family_kind(family: Any) -> str:
    """``kind`` of a TaskFamily, or of a registered family's class given its name."""
    if isinstance(family, str):
        family = _lookup(_FAMILIES, "family", family)
    return getattr(family, "kind", "rl")


def agent_options(name: str, family: Any = None) -> dict[str, Any]:
    """Options of agent ``name`` and their defaults ({} if it takes arbitrary ``**kwargs``).
    For an agent that depends on the family's kind (``ByFamilyKind``), ``family`` (a
    TaskFamily or a family name) picks the class; without it, the union of all kinds'."""
    out: dict[str, Any] = {}
    for factory in _agent_factories(name, family):
        out = {**(_keyword_options(factory) or {}), **out}
    return out


def agent_eval_options(name: str, family: Any = None) -> tuple[str, ...]:
    """The options of agent ``name`` that may change when its trained weights are evaluated
    (the classes' ``eval_options``; same ``family`` rule as ``agent_options``)."""
    out: list[str] = []
    for factory in _agent_factories(name, family):
        out += [o for o in getattr(factory, "eval_options", ()) if o not in out]
    return tuple(out)


def _agent_factories(name: str, family: Any) -> list:
    """The class(es) behind agent ``name``: the one for ``family``'s kind, or every kind's
    without a family (first kind first), for an agent that depends on it."""
    entry = _lookup(_AGENTS, "agent", name)
    if not isinstance(entry, ByFamilyKind):
        return [entry]
    kinds = [_family_kind(family)] if family is not None else list(entry.by_kind)
    return [entry.for_kind(kind, name) for kind in kinds]


def agent_option_docs(name: str, family: Any = None) -> dict[str, str]:
    """Option -> description, read from the ``Options:`` paragraph of the agent class's
    docstring (``a (what a is), b, c -> d (what c and d are), ...``); options the paragraph
    names without a description map to "". Same ``family`` rule as ``agent_options``."""
    out: dict[str, str] = {}
    for factory in _agent_factories(name, family):
        out = {**_class_option_docs(factory), **out}
    return out


def family_option_docs(name: str) -> dict[str, str]:
    """Option -> description for family ``name``, from its class's (and base classes')
    ``Options:`` docstring paragraphs, as ``agent_option_docs``."""
    return _class_option_docs(_lookup(_FAMILIES, "family", name))


def family_summary(name: str) -> str:
    """The first paragraph of family ``name``'s class docstring, on one line."""
    doc = _lookup(_FAMILIES, "family", name).__doc__ or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _class_option_docs(cls: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for base in reversed(getattr(cls, "__mro__", (cls,))):  # a subclass (metasgd, ml1) adds to its base's
        out = {**out, **option_docs(base.__doc__ or "")}
    return out


def option_docs(doc: str) -> dict[str, str]:
    """Parse ``Options: a (desc), b -> b_final (desc), c.`` (up to a blank line) into
    {"a": "desc", "b": "desc", "b_final": "desc", "c": ""}; commas inside parentheses
    belong to the description."""
    start = doc.find("Options:")
    if start < 0:
        return {}
    text = " ".join(doc[start + len("Options:"):].split("\n\n")[0].split()).rstrip(".")
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = {}
    for item in (i.strip() for i in items):
        names, _, desc = item.partition(" (")
        desc = desc[:-1] if desc.endswith(")") else desc
        for n in names.replace("`", "").split("->"):
            if n.strip().isidentifier():
                out[n.strip()] = desc.strip()
    return out


# ---- families ----------------------------------------------------------------------------
def list_families() -> list[str]:
    """Names accepted by ``make_family``."""
    return sorted(_FAMILIES)


def _check_free(table: dict[str, Any], kind: str, name: str, obj: Any, replace: bool) -> None:
    """A name already taken is an error unless ``replace`` -- or unless it is the same definition
    again (same module and qualified name: a notebook cell or a module run twice)."""
    old = table.get(name)
    if old is None or replace:
        return
    where = old if isinstance(old, str) else f"{getattr(old, '__module__', '?')}:{getattr(old, '__qualname__', old)}"
    if where == f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', obj)}":
        return
    raise ConfigError(f"{kind} {name!r} is already registered ({where}); pick another name, or pass "
                      f"replace=True to register_{kind} to replace it")


def register_family(name: str, *, replace: bool = False) -> Callable:
    """Decorator: register a TaskFamily subclass (or a factory returning one) under ``name``.
    A name already taken (built-in families included) is refused unless ``replace=True``."""
    _check_name("family", name)

    def deco(obj):
        if not callable(obj):
            raise ConfigError(f"register_family({name!r}) decorates a TaskFamily subclass or a factory, "
                              f"got {obj!r}")
        _check_free(_FAMILIES, "family", name, obj, replace)
        _FAMILIES[name] = obj
        # A class without its own ``name`` takes the registered one (an inherited name, e.g.
        # a subclass of BanditFamily, would make its tasks claim the parent family).
        if inspect.isclass(obj) and not obj.__dict__.get("name"):
            obj.name = name
        return obj
    return deco


def make_family(name: str, **kwargs):
    """Build the family ``name`` with its options, e.g. ``make_family("bandit", arms=5)``."""
    from metarl.tasks.family import TaskFamily

    factory = _lookup(_FAMILIES, "family", name)
    family = _call_checked("family", name, factory, **kwargs)
    if not isinstance(family, TaskFamily):
        raise ConfigError(f"family {name!r}: its factory returned {type(family).__name__}, not a TaskFamily")
    if not getattr(family, "name", ""):
        family.name = name  # a factory-built family without a name of its own
    family.spec = {"name": name, "kwargs": dict(kwargs)}
    return family


def family_from_spec(spec: dict):
    """Rebuild a family from ``family.spec`` (as stored in a run's config)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"a family spec is a dict {{'name': ..., 'kwargs': {{...}}}}, got {spec!r}")
    return make_family(spec["name"], **(spec.get("kwargs") or {}))


# ---- agents ------------------------------------------------------------------------------
def list_agents() -> list[str]:
    """Names accepted by ``make_agent``."""
    return sorted(_AGENTS)


def register_agent(name: str, *, replace: bool = False) -> Callable:
    """Decorator: register an Agent class (``metarl.Agent`` subclass) or a factory
    ``f(family, **config)`` under ``name``. A name already taken is refused unless ``replace=True``."""
    _check_name("agent", name)

    def deco(obj):
        if not callable(obj):
            raise ConfigError(f"register_agent({name!r}) decorates an Agent class or a factory, got {obj!r}")
        _check_free(_AGENTS, "agent", name, obj, replace)
        _AGENTS[name] = obj
        return obj
    return deco


def make_agent(name: str, family, **config):
    """Build agent ``name`` for ``family`` (a TaskFamily or a family name)."""
    from metarl.tasks.family import TaskFamily

    if isinstance(family, str):
        family = make_family(family)
    if not isinstance(family, TaskFamily):
        raise ConfigError(f"make_agent({name!r}, family): family must be a TaskFamily or a family name "
                          f"(see metarl.list_families()), got {type(family).__name__} {family!r:.60}")
    factory = _lookup(_AGENTS, "agent", name)
    if isinstance(factory, ByFamilyKind):
        factory = factory.for_kind(_family_kind(family), name)
    agent = _call_checked("agent", name, factory, family, **config)
    return agent


# ---- external evaluation protocols -----------------------------------------------------------
# name -> "module:function(agent, family, *, num_evals, seed) -> dict" (lazy, like the tables above)
_PROTOCOLS: dict[str, str] = {
    "metaworld": "metarl.agents.metaworld_adapter:official_metalearning_evaluation",
}


def evaluation_protocol(name: str) -> Callable:
    """An external benchmark's own evaluation function by name (``metarl eval --protocol``)."""
    return _lookup(_PROTOCOLS, "evaluation protocol", name)
