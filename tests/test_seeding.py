"""Seeding: same seed, same tasks, in this process and in any other one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metarl
from metarl.errors import ConfigError, MetaRLError
from metarl.seeding import derive_seeds, make_rng, seed_sequence

# What a fresh interpreter computes; compared with this process (and with another
# interpreter whose string hashing is salted differently).
PROBE = textwrap.dedent("""
    import json
    import numpy as np
    import metarl
    from metarl.seeding import derive_seeds, make_rng

    fam = metarl.make_family("bandit", arms=4)
    out = {
        "train": [t.to_json() for t in fam.sample(3, split="train", seed=11)],
        "test": [t.to_json() for t in fam.sample(3, split="test", seed=11)],
        "rng": make_rng(5, "bandit", "train").random(4).tolist(),
        "rng_labels": make_rng(5, "trainer", "rollout", 3).integers(0, 2**31, size=4).tolist(),
        "seeds": derive_seeds(5, 4, "workers"),
    }
    print(json.dumps(out))
""")


def probe_here() -> dict:
    fam = metarl.make_family("bandit", arms=4)
    return {
        "train": [t.to_json() for t in fam.sample(3, split="train", seed=11)],
        "test": [t.to_json() for t in fam.sample(3, split="test", seed=11)],
        "rng": make_rng(5, "bandit", "train").random(4).tolist(),
        "rng_labels": make_rng(5, "trainer", "rollout", 3).integers(0, 2**31, size=4).tolist(),
        "seeds": derive_seeds(5, 4, "workers"),
    }


def run_probe(tmp_path, hashseed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_same_seed_same_tasks_across_processes(tmp_path):
    here = probe_here()
    a = run_probe(tmp_path, "0")
    b = run_probe(tmp_path, "4242")
    assert a == here
    assert b == here
    # and the JSON parses back to the very tasks sampled here
    fam = metarl.make_family("bandit", arms=4)
    assert [metarl.Task.from_json(s) for s in a["train"]] == fam.sample(3, split="train", seed=11)


def test_same_seed_same_tasks_in_process():
    fam = metarl.make_family("bandit", arms=5)
    a = fam.sample(8, seed=3)
    b = metarl.make_family("bandit", arms=5).sample(8, seed=3)
    assert a == b
    assert [t.to_json() for t in a] == [t.to_json() for t in b]
    assert fam.sample(8, seed=np.int64(3)) == a
    # sampling does not disturb later sampling (no shared hidden state)
    fam.sample(4, seed=99, split="test")
    assert fam.sample(8, seed=3) == a


def test_different_seeds_differ():
    fam = metarl.make_family("bandit", arms=5)
    a, b = fam.sample(5, seed=0), fam.sample(5, seed=1)
    assert not set(t.params["means"] for t in a) & set(t.params["means"] for t in b)
    assert {t.task_id for t in a}.isdisjoint(t.task_id for t in b)


def test_train_and_test_differ_for_the_same_seed():
    fam = metarl.make_family("bandit", arms=5)
    train, test = fam.sample(5, split="train", seed=0), fam.sample(5, split="test", seed=0)
    assert not set(t.params["means"] for t in train) & set(t.params["means"] for t in test)
    assert all(t.split == "train" for t in train) and all(t.split == "test" for t in test)
    assert all("/train/" in t.task_id for t in train) and all("/test/" in t.task_id for t in test)


def test_tasks_within_one_draw_differ_and_ids_are_unique():
    tasks = metarl.make_family("bandit", arms=3).sample(20, seed=0)
    assert len({t.params["means"] for t in tasks}) == 20
    assert len({t.task_id for t in tasks}) == 20
    assert len(set(tasks)) == 20


def test_families_with_different_names_get_different_streams():
    a = make_rng(0, "bandit", "train").random(3)
    b = make_rng(0, "tabular-mdp", "train").random(3)
    assert not np.array_equal(a, b)


def test_generator_seed_is_the_callers_stream():
    fam = metarl.make_family("bandit", arms=3)
    rng = np.random.default_rng(0)
    first, second = fam.sample(2, seed=rng), fam.sample(2, seed=rng)
    assert first != second  # the generator advanced
    again = np.random.default_rng(0)
    assert fam.sample(2, seed=again) == first
    assert make_rng(rng) is rng


def test_make_rng_labels():
    base = make_rng(7, "a", "b").random(5)
    np.testing.assert_array_equal(base, make_rng(7, "a", "b").random(5))
    assert not np.array_equal(base, make_rng(7, "b", "a").random(5))   # order matters
    assert not np.array_equal(base, make_rng(7, "a").random(5))
    assert not np.array_equal(base, make_rng(8, "a", "b").random(5))
    assert not np.array_equal(make_rng(7, 1).random(5), make_rng(7, 2).random(5))
    # a SeedSequence plus labels is the same as the int seed plus the labels
    np.testing.assert_array_equal(make_rng(np.random.SeedSequence(7), "a", "b").random(5), base)
    np.testing.assert_array_equal(make_rng(seed_sequence(7, "a"), "b").random(5), base)


def test_derive_seeds():
    s = derive_seeds(3, 6, "workers")
    assert s == derive_seeds(3, 6, "workers")
    assert len(set(s)) == 6 and all(isinstance(x, int) and 0 <= x < 2**32 for x in s)
    assert s != derive_seeds(3, 6, "envs") and s != derive_seeds(4, 6, "workers")
    assert derive_seeds(3, 3, "workers") == s[:3]


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, True])
def test_bad_seeds_raise_config_error(seed):
    with pytest.raises(ConfigError) as e:
        make_rng(seed, "x")
    msg = str(e.value)
    assert "seed" in msg and "\n" not in msg
    with pytest.raises(MetaRLError):
        metarl.make_family("bandit").sample(2, seed=seed)


@pytest.mark.parametrize("kwargs, names", [
    ({"n": -1}, ["n", "-1"]),
    ({"n": 2.0}, ["n", "2.0"]),
    ({"n": 2, "split": "validation"}, ["split", "validation", "train", "test"]),
])
def test_bad_sample_arguments(kwargs, names):
    fam = metarl.make_family("bandit")
    n = kwargs.pop("n")
    with pytest.raises(ConfigError) as e:
        fam.sample(n, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg


def test_sample_zero_tasks():
    assert metarl.make_family("bandit").sample(0, seed=0) == []


def test_action_sampling_draws_only_from_the_given_generator():
    """The samplers every agent acts through (RL², MAML, sb3-ppo): same generator seed, same
    actions, whatever the global torch stream did; shapes kept; the draws follow the probabilities."""
    import torch

    from metarl.learning.policy_gradient import sample_categorical, sample_gaussian

    probs = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]]).expand(4, 2, 3)
    draws = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        g = torch.Generator().manual_seed(5)
        draws.append((sample_categorical(probs, g), sample_gaussian(torch.zeros(4, 2), torch.ones(2), g)))
    assert draws[0][0].shape == (4, 2) and draws[0][0].dtype == torch.long and draws[0][1].shape == (4, 2)
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    g = torch.Generator().manual_seed(0)
    assert sample_categorical(probs, g, deterministic=True).tolist() == [[1, 0]] * 4
    assert torch.equal(sample_gaussian(torch.full((3,), 2.0), torch.ones(3), g, deterministic=True), torch.full((3,), 2.0))
    many = sample_categorical(probs[0].expand(20000, 2, 3), g)
    freq = torch.stack([(many[:, 0] == k).float().mean() for k in range(3)])
    assert torch.allclose(freq, probs[0, 0], atol=0.015)
    x = sample_gaussian(torch.zeros(20000), torch.full((20000,), 3.0), g)
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 3.0) < 0.1
