"""Few-shot classification family, ProtoNet and the nearest-centroid baseline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import one_line

import metarl
from metarl.agents.protonet import logits, prototypes, trial_predictions
from metarl.errors import ConfigError, MetaRLError


@pytest.mark.parametrize("feedback", [False, True])
def test_single_and_vector_envs_agree_and_support_is_balanced(feedback):
    fam = metarl.make_family("fewshot-classification", ways=3, shots=2, dim=6, label_feedback=feedback)
    tasks = fam.sample(4, split="test", seed=1)
    k = 10
    venv = fam.make_vector_env(4, k)
    obs_v, _ = venv.reset(seed=[7, 8, 9, 10], options={"tasks": tasks})
    rows_v, labels_v = [obs_v], []
    for _ in range(k):
        obs_v, r, _, _, info = venv.step(np.full(4, 1, dtype=np.int64))
        rows_v.append(obs_v)
        labels_v.append(info["target"])
        assert np.array_equal(r, (info["target"] == 1).astype(np.float32))
    labels_v = np.stack(labels_v, 1)
    for i, task in enumerate(tasks):
        env = metarl.TrialWrapper(fam.make_env(task), episodes=k)
        obs, _ = env.reset(seed=7 + i)
        assert np.array_equal(obs, rows_v[0][i])
        labels = []
        for t in range(k):
            obs, _, _, _, info = env.step(1)
            labels.append(info["target"])
            assert np.array_equal(obs, rows_v[t + 1][i])
        assert labels == labels_v[i].tolist()
        if feedback:   # the label revealed last, one-hot after the 6 features; none at the trial's start
            revealed = np.array([r[:, 6:9] for r in rows_v])[:, i]          # [k + 1, 3]
            assert not revealed[0].any() and (revealed[1:].argmax(1) == labels_v[i]).all()
        # support: two rounds, each a permutation of the 3 labels
        assert sorted(labels[:3]) == [0, 1, 2] and sorted(labels[3:6]) == [0, 1, 2]
        obs, _ = env.reset()    # a new trial of the same task restarts the support plan
        again = [env.step(0)[4]["target"] for _ in range(6)]
        assert sorted(again[:3]) == [0, 1, 2] and sorted(again[3:]) == [0, 1, 2]


def test_test_classes_are_never_trained_on_and_bad_tasks_are_refused():
    fam = metarl.make_family("fewshot-classification", ways=5, classes=60, test_classes=20)
    train = np.asarray([t.params["classes"] for t in fam.sample(300, split="train", seed=0)])
    test = np.asarray([t.params["classes"] for t in fam.sample(300, split="test", seed=0)])
    assert train.max() < 40 <= test.min() and test.max() <= 59
    assert all(len(set(row)) == 5 for row in np.concatenate([train, test]))
    for bad in ([1, 2, 3, 4], [1, 1, 2, 3, 4], [1, 2, 3, 4, 60], [0, 1, 2, 3, 2.5], [True, 1, 2, 3, 4]):
        with pytest.raises(MetaRLError) as e:
            fam.make_env(metarl.Task(fam.name, {"classes": bad}))
        assert "classes" in one_line(e)
    with pytest.raises(ConfigError) as e:
        metarl.make_family("fewshot-classification", ways=5, classes=8)
    assert "classes=8" in one_line(e)


def test_task_noise_and_nuisance_scale_shape_the_examples():
    """A task's noise spreads a class's examples and its nuisance_scale adds class-free variation:
    with both 0 every example of a class is the same point; both come from the train boxes."""
    fam = metarl.make_family("fewshot-classification", ways=3, shots=2)
    tasks = fam.sample(200, seed=1)
    noise = np.array([t.params["noise"] for t in tasks])
    scale = np.array([t.params["nuisance_scale"] for t in tasks])
    assert 0.25 <= noise.min() < noise.max() <= 0.35 and 0.8 <= scale.min() < scale.max() <= 1.2
    calm = metarl.Task(fam.name, {**tasks[0].params, "noise": 0.0, "nuisance_scale": 0.0})
    venv = fam.make_vector_env(1, 6)
    obs, _ = venv.reset(seed=[0], options={"tasks": [calm]})
    seen = {}
    for _ in range(6):
        x = obs[0, :fam.dim].copy()
        obs, _, _, _, info = venv.step(np.zeros(1, dtype=np.int64))
        seen.setdefault(int(info["target"][0]), []).append(x)
    assert all(np.array_equal(v[0], v[1]) for v in seen.values()) and len(seen) == 3
    noisy = metarl.Task(fam.name, {**tasks[0].params, "noise": 0.0, "nuisance_scale": 1.0})
    obs, _ = venv.reset(seed=[0], options={"tasks": [noisy]})
    first = obs[0, :fam.dim].copy()
    label = venv.step(np.zeros(1, dtype=np.int64))[4]["target"][0]
    assert not np.allclose(first, seen[int(label)][0])   # same class, moved by the nuisance
    for bad, words in (({"noise_low": 0.5, "noise_high": 0.4}, "noise_high=0.4"),
                       ({"nuisance_scale_high": 9.0}, "nuisance_scale_high=9.0")):
        with pytest.raises(ConfigError) as e:
            metarl.make_family("fewshot-classification", **bad)
        assert words in one_line(e), one_line(e)
    with pytest.raises(MetaRLError) as e:
        fam.make_env(metarl.Task(fam.name, {**tasks[0].params, "noise": -0.1}))
    assert "noise" in one_line(e)


def test_prototype_math_by_hand():
    emb = torch.tensor([[[0.0], [2.0], [10.0], [1.5], [9.0]]])     # [B=1, k=5, E=1]
    y = torch.tensor([[0, 0, 1, 1, 0]])
    protos, counts = prototypes(emb[:, :3], y[:, :3], 3)
    assert protos[0, :, 0].tolist() == [1.0, 10.0, 0.0] and counts[0].tolist() == [2.0, 1.0, 0.0]
    lg = logits(emb[:, 3:], protos[:, None], counts[:, None])   # one prototype set per task
    assert lg[0, 0, :2].tolist() == [-0.25, -72.25] and torch.isinf(lg[0, :, 2]).all()
    # 2-way 2-shot: support rounds [1, 0] and [0, 1], then two queries
    emb = torch.tensor([[[0.0], [10.0], [8.0], [1.0], [2.0], [9.5]]])
    y = torch.tensor([[1, 0, 0, 1, 1, 0]])
    # t=0: no prototype, smallest label 0; t=1: 1 shown in the round, so 0; t=2: new round, 8.0 is
    # nearer class 0 (10.0) than class 1 (0.0); t=3: 0 shown, so 1; queries: means 9.0 / 0.5
    assert trial_predictions(emb, y, 4, 2)[0].tolist() == [0, 0, 0, 1, 1, 0]


def test_support_rounds_are_permuted_and_query_labels_uniform():
    fam = metarl.make_family("fewshot-classification", ways=4, shots=2, dim=4)
    n, k = 800, 16
    venv = fam.make_vector_env(n, k)
    venv.reset(seed=list(range(n)), options={"tasks": fam.sample(n, split="train", seed=0)})
    labels = np.stack([venv.step(np.zeros(n, dtype=np.int64))[4]["target"] for _ in range(k)], 1)
    assert all(sorted(row[:4]) == [0, 1, 2, 3] and sorted(row[4:8]) == [0, 1, 2, 3] for row in labels.tolist())
    for column in (labels[:, 0], labels[:, 4], labels[:, 8:].reshape(-1)):   # round starts, queries
        freq = np.bincount(column, minlength=4) / len(column)
        assert np.all(np.abs(freq - 0.25) < 0.06), freq
    assert np.mean(np.any(labels[:, :4] != labels[:, 4:8], axis=1)) > 0.9   # each round its own order


def test_nearest_centroid_acts_as_trial_predictions_say():
    fam = metarl.make_family("fewshot-classification", ways=4, shots=2, dim=8)
    tasks = fam.sample(30, split="test", seed=3)
    agent = metarl.make_agent("nearest-centroid", fam)
    report = metarl.evaluate(agent, tasks, episodes=14, seed=5)
    venv = fam.make_vector_env(30, 14)
    obs, _ = venv.reset(seed=[5 + i for i in range(30)], options={"tasks": tasks})
    xs, ys = [], []
    for _ in range(14):
        xs.append(obs[:, agent.layout.obs])
        obs, _, _, _, info = venv.step(np.zeros(30, dtype=np.int64))
        ys.append(info["target"])
    x, y = torch.as_tensor(np.stack(xs, 1)), torch.as_tensor(np.stack(ys, 1))
    correct = (trial_predictions(x, y, 8, 4) == y).numpy().astype(float)
    assert np.array_equal(report.episode_returns, correct)
    assert report.summary["last"] > 0.4      # 4-way: chance is 0.25
    # the last example of each support round is always right: it is the one class left
    assert report.episode_returns[:, 3].mean() == 1.0 and report.episode_returns[:, 7].mean() == 1.0
    proto = metarl.make_agent("protonet", fam, seed=1)                 # an (untrained) embedding, too
    rep = metarl.evaluate(proto, tasks, episodes=14, seed=5)
    with torch.no_grad():
        assert np.array_equal(rep.episode_returns,
                              (trial_predictions(proto.embed(x), y, 8, 4) == y).numpy().astype(float))


def test_protonet_update_loss_is_the_query_cross_entropy():
    from metarl.agents.protonet import LabelledTrials

    fam = metarl.make_family("fewshot-classification", ways=3, shots=1, dim=5)
    agent = metarl.make_agent("protonet", fam, hidden_sizes=[8], embedding=4, seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 5, generator=gen)
    y = torch.tensor([[2, 0, 1, 0, 1, 2, 2], [0, 1, 2, 1, 1, 0, 2]])
    with torch.no_grad():   # by hand: per task, class means of the 3 support embeddings
        expect, terms = 0.0, 0
        for b in range(2):
            e = agent.net(x[b])
            protos = torch.stack([e[:3][y[b, :3] == c].mean(0) for c in range(3)])
            for q in range(3, 7):
                lg = -((e[q] - protos) ** 2).sum(-1)
                expect += float(-torch.log_softmax(lg, 0)[y[b, q]])
                terms += 1
    out = agent.update(LabelledTrials(x, y, {"env_steps": 14}))
    assert out["query_loss"] == pytest.approx(expect / terms, rel=1e-5)


def test_protonet_learns_an_embedding_that_beats_nearest_centroid(tmp_path):
    """Seeded smoke-train: a few seconds of ProtoNet beats nearest-centroid on raw features of
    held-out classes by a clear margin (and random by far)."""
    run = metarl.train("fewshot-classification", "protonet", episodes_per_trial=20, total_steps=120_000, seed=0,
                       run_dir=str(tmp_path / "run"), eval_tasks=300, quiet=True)
    s, b = run.report.summary, run.report.baselines
    assert s["trial_return"] > b["nearest-centroid"]["trial_return"] + 1.5, (s["trial_return"], b)
    assert b["nearest-centroid"]["trial_return"] > b["random"]["trial_return"] + 3
    again = metarl.train("fewshot-classification", "protonet", episodes_per_trial=20, total_steps=20_000, seed=0,
                         run_dir=str(tmp_path / "a"), eval_tasks=20, quiet=True, baselines=False)
    twice = metarl.train("fewshot-classification", "protonet", episodes_per_trial=20, total_steps=20_000, seed=0,
                         run_dir=str(tmp_path / "b"), eval_tasks=20, quiet=True, baselines=False)
    for p, q in zip(again.agent.net.parameters(), twice.agent.net.parameters()):
        assert torch.equal(p, q)   # same seed, same CPU: same parameters


def test_protonet_bad_input():
    fam = metarl.make_family("fewshot-classification")
    for call, words in [
        (lambda: metarl.make_agent("protonet", metarl.make_family("bandit")), ["few-shot classification", "bandit"]),
        (lambda: metarl.make_agent("nearest-centroid", metarl.make_family("sinusoid")), ["classifies", "sinusoid"]),
        (lambda: metarl.make_agent("protonet", fam, lr=0), ["lr=0"]),
        (lambda: metarl.make_agent("protonet", fam, hidden_sizes="64"), ["hidden_sizes"]),
        (lambda: metarl.make_agent("protonet", fam).check_trial_length(5), ["trials of 5 episodes", "support"]),
        (lambda: metarl.make_agent("protonet", fam, support=3), ["support"]),
        (lambda: fam.make_env(metarl.Task(fam.name, {"classes": [-1, 1, 2, 3, 4]})),
         ["classes=(-1, 1, 2, 3, 4)", "[0, 199]", "training tasks use 0-149"]),
    ]:
        with pytest.raises(ConfigError) as e:
            call()
        assert all(w in one_line(e) for w in words), one_line(e)


def test_baselines_that_cannot_run_such_short_trials_are_skipped():
    from metarl.evaluation.evaluator import evaluate_baselines

    fam = metarl.make_family("fewshot-classification")
    out = evaluate_baselines(fam, fam.sample(10, split="test", seed=0), episodes=5)
    assert "trials of 5 episodes leave no query examples" in out["nearest-centroid"]["skipped"]
    assert out["random"]["trial_return"] >= 0


def test_metric_and_gradient_agents_read_only_the_features_under_label_feedback():
    """With label_feedback the observation carries the previous label too; nearest-centroid,
    ProtoNet and MAML read only the example's features, so they act exactly as without it."""
    from metarl.evaluation.evaluator import evaluate

    plain = metarl.make_family("fewshot-classification")
    fed = metarl.make_family("fewshot-classification", label_feedback=True)
    assert fed.example_dim == plain.example_dim == 32
    tasks = fed.sample(40, split="test", seed=0)
    for name in ("nearest-centroid", "protonet", "maml"):
        a, b = metarl.make_agent(name, fed), metarl.make_agent(name, plain)
        ra = evaluate(a, tasks, episodes=12, seed=0).episode_returns
        rb = evaluate(b, tasks, episodes=12, seed=0).episode_returns
        assert np.array_equal(ra, rb), name
