"""MAML / Meta-SGD on a classification family (``fewshot-classification``): the cross-entropy
inner step by hand, batched and looped meta-gradients, the trial interface (support plan,
adapted queries), options that make no sense for classification, and a seeded smoke-train."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import DEVICES, one_line

import metarl
from metarl.agents.maml import MAMLAgent, MetaSGDAgent
from metarl.agents.maml_eval import draw_examples, inner_step_curves, mean_ci
from metarl.agents.protonet import shown_before_in_round, support_prediction
from metarl.errors import ConfigError
from metarl.evaluation.evaluator import evaluate
from metarl.learning import functional as F

WAYS = 5


@pytest.fixture(scope="module")
def family():
    return metarl.make_family("fewshot-classification", ways=WAYS, shots=1)


def _data(agent, n_tasks=3, k=20, seed=0):
    """x [B, S, in], y [B, S, W], xq, yq of n_tasks train tasks (S = the family's support set)."""
    x, labels = draw_examples(agent.family, agent.family.sample(n_tasks, seed=seed), k, seed=seed)
    x, y = torch.as_tensor(x), agent.targets(labels[..., 0])
    s = agent.config()["support"]
    return x[:, :s], y[:, :s], x[:, s:], y[:, s:]


def test_cross_entropy_by_hand():
    out = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    want = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2
    assert F.loss_of(out, y, "cross_entropy").item() == pytest.approx(want, rel=1e-6)
    assert F.loss_of(out, y, "mse").item() == pytest.approx((1 + 0 + 0 + 1) / 4)
    with pytest.raises(ValueError, match="hinge"):
        F.loss_of(out, y, "hinge")


def test_classes_shown_earlier_in_the_round_by_hand():
    shown = shown_before_in_round(torch.tensor([[2, 0, 1, 1, 2, 0]]), 3)[0]   # two rounds of 3 classes
    want = [[0, 0, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert shown.int().tolist() == want
    step_by_step = [support_prediction(torch.zeros(1, 3), [torch.tensor([c]) for c in [2, 0, 1, 1, 2, 0][:t]], 3)
                    for t in range(6)]   # all scores equal: the smallest label not yet shown
    assert [int(p) for p in step_by_step] == [0, 0, 1, 0, 0, 0]


def test_agent_picks_the_cross_entropy_and_the_familys_support_set(family):
    agent = MAMLAgent(family, device="cpu")
    assert agent.loss == "cross_entropy" and agent.out_dim == WAYS
    assert agent.config()["support"] == family.support_size == WAYS
    assert MAMLAgent(metarl.make_family("sinusoid"), device="cpu").config()["support"] == 10
    assert agent.targets(np.array([[0, 4]])).tolist() == [[[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]]


def test_adapted_params_equal_a_hand_written_cross_entropy_step(family):
    agent = MAMLAgent(family, inner_lr=0.3, device="cpu")
    xs, ys, _, _ = _data(agent)
    adapted = agent.adapt((xs[0], ys[0].argmax(-1)), steps=1)   # integer labels, one task
    loss = torch.nn.functional.cross_entropy(agent.net(xs[0]), ys[0].argmax(-1))
    grads = torch.autograd.grad(loss, list(agent.params.values()))
    for (name, p), g in zip(agent.params.items(), grads):
        torch.testing.assert_close(adapted[name], p.detach() - 0.3 * g, rtol=1e-5, atol=1e-6)
    after = torch.nn.functional.cross_entropy(F.forward(agent.net, adapted, xs[0]), ys[0].argmax(-1))
    assert after < loss   # one step lowers the support loss


@pytest.mark.parametrize("cls", [MAMLAgent, MetaSGDAgent])
@pytest.mark.parametrize("first_order", [False, True])
def test_vmap_stacked_and_loop_meta_gradients_agree(family, cls, first_order):
    agent = cls(family, inner_lr=0.3, inner_steps=2, first_order=first_order, device="cpu")
    data = _data(agent, n_tasks=4)
    tensors = list(agent.params.values()) + (list(agent.lrs.values()) if agent.learn_lr else [])
    grads, pres = {}, {}
    for batching in ("loop", "vmap", "stacked"):
        post, pres[batching] = agent.meta_losses(*data, batching=batching)
        grads[batching] = torch.autograd.grad(post.mean(), tensors)
    for batching in ("vmap", "stacked"):
        torch.testing.assert_close(pres["loop"], pres[batching])
        for a, b in zip(grads["loop"], grads[batching]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _train_briefly(agent, family, updates=3, trials=16):
    """A few updates (meta-batches smaller than the collected batch), so predictions are not uniform."""
    for i in range(updates):
        venv = family.make_vector_env(trials, family.support_size + 6)
        agent.update(agent.collect(venv, family.sample(trials, seed=100 + i), seed=100 + i))


@pytest.mark.parametrize("cls, ways, shots, batching", [(MAMLAgent, 5, 1, "stacked"), (MAMLAgent, 3, 3, "vmap"),
                                                        (MetaSGDAgent, 4, 2, "stacked")])
def test_act_follows_the_support_plan_and_collect_stats_say_what_act_does(cls, ways, shots, batching):
    family = metarl.make_family("fewshot-classification", ways=ways, shots=shots)
    agent = cls(family, inner_lr=0.4, inner_steps=2, meta_batch=4, epochs=2, batching=batching, device="cpu")
    _train_briefly(agent, family)
    tasks, k = family.sample(200, split="test", seed=3), family.support_size + 7
    r = evaluate(agent, tasks, episodes=k, seed=3).episode_returns      # [tasks, episodes], 1 = right label
    assert set(np.unique(r)) <= {0.0, 1.0}
    assert r[:, ways - 1: family.support_size: ways].min() == 1.0      # a round's last class is the one left
    venv = family.make_vector_env(len(tasks), k)
    stats = agent.collect(venv, tasks, seed=3).stats                   # batched, on the same trials
    assert stats["trial_return"] == pytest.approx(r.sum(1).mean(), abs=1e-6)
    assert stats["support_accuracy"] == pytest.approx(r[:, :family.support_size].mean(), abs=1e-6)
    assert stats["query_accuracy"] == pytest.approx(r[:, family.support_size:].mean(), abs=1e-6)


def test_a_classification_family_without_a_support_plan_gets_plain_argmax(family):
    class NoPlan(type(family)):
        support_size = None

    plain = NoPlan(ways=WAYS, shots=2)
    agent = MAMLAgent(plain, inner_lr=0.4, device="cpu")
    assert agent.config()["support"] == 10 and agent._round is None
    tasks = plain.sample(100, split="test", seed=4)
    r = evaluate(agent, tasks, episodes=16, seed=4).episode_returns
    state, venv = agent.init_state(len(tasks)), plain.make_vector_env(len(tasks), 16)
    obs, _ = venv.reset(seed=[4 + i for i in range(len(tasks))], options={"tasks": list(tasks)})
    x = torch.as_tensor(obs[:, agent.layout.obs])
    assert (agent.act(obs, state)[0] == agent.net(x).argmax(-1).numpy()).all()   # no round rule
    stats = agent.collect(plain.make_vector_env(len(tasks), 16), tasks, seed=4).stats
    assert stats["trial_return"] == pytest.approx(r.sum(1).mean(), abs=1e-6)


def test_options_that_make_no_sense_for_classification_are_refused(family):
    with pytest.raises(ConfigError) as e:
        MAMLAgent(family, resplit=True)
    assert "resplit" in one_line(e) and "classification" in one_line(e)
    with pytest.raises(ConfigError) as e:
        MAMLAgent(family, support=10)
    assert "support=10" in one_line(e) and "support set of 5 examples" in one_line(e)
    agent = MAMLAgent(family, device="cpu")
    x = np.zeros((5, agent.in_dim), np.float32)
    for labels, words in [(np.array([0, 1, 2, 3, 7]), "[0, 4], got [7]"),
                          (torch.tensor([-1, 1, 2, 3, 9]), "[0, 4], got [-1, 9]"),
                          (["a", "b", "c", "d", "e"], "a pair (x, y) of numeric arrays"),
                          (np.zeros(5, np.float32), "or integer labels [B, K]")]:
        with pytest.raises(ConfigError) as e:
            agent.adapt((x, labels))
        assert words in one_line(e), one_line(e)
    with pytest.raises(ConfigError) as e:
        inner_step_curves(agent, family.sample(3, split="test"), steps=1, support=3, pretrained=False)
    assert "support=3" in one_line(e)


def test_accuracy_ci_is_clipped_to_one():
    mean, low, high = mean_ci(np.array([1.0, 1.0, 1.0, 0.9]), high=1.0)
    assert mean == pytest.approx(0.975) and low < mean and high == 1.0
    assert mean_ci(np.array([1.0, 1.0, 1.0, 0.9]))[2] > 1.0


def test_regression_keeps_the_written_out_meta_gradient_and_classification_uses_autograd(family, monkeypatch):
    from metarl.learning import relu_mlp

    calls = []
    real = relu_mlp.meta_losses
    monkeypatch.setattr(relu_mlp, "meta_losses", lambda *a, **k: calls.append(1) or real(*a, **k))
    for fam, expected in ((metarl.make_family("sinusoid"), 1), (family, 0)):
        calls.clear()
        agent = MAMLAgent(fam, batching="stacked", device="cpu")
        xs, ys, xq, yq = _data(agent) if fam is family else [torch.as_tensor(a) for a in _sinusoid(fam)]
        agent.meta_losses(xs, ys, xq, yq)
        assert len(calls) == expected


def _sinusoid(fam):
    x, y = draw_examples(fam, fam.sample(3, seed=0), 20, seed=0)
    return x[:, :10], y[:, :10], x[:, 10:], y[:, 10:]


def test_the_preset_script_writes_the_accuracy_curves(tmp_path, capsys):
    from metarl.experiments._inner_steps import train_and_report_inner_steps
    from metarl.experiments.maml_fewshot import EXPERIMENT

    run = tmp_path / "run"
    argv = ["--total_steps", "4000", "--hidden_sizes", "[16]", "--eval_tasks", "30", "--quiet", "true",
            "--run_dir", str(run), "--torch_threads", "1"]
    assert train_and_report_inner_steps(EXPERIMENT, argv) == 0
    import json

    out = json.loads((run / "eval" / "inner_steps.json").read_text())
    assert out["metric"] == "query_accuracy" and set(out["curves"]) == {"maml", "pretrained"}
    assert len(out["curves"]["pretrained"]["mean"]) == 11 and 0 <= out["curves"]["maml"]["ci_low"][3] <= 1
    assert "held-out query accuracy after n inner steps" in capsys.readouterr().out


def test_maml_learns_to_classify_held_out_classes(tmp_path):
    """Seeded, seconds: after one inner step MAML's query accuracy on unseen classes is far
    above chance (0.2) and its unadapted accuracy; the trial return beats random guessing."""
    run = metarl.train("fewshot-classification", "maml", episodes_per_trial=20, total_steps=60_000, seed=0,
                       run_dir=str(tmp_path / "run"), quiet=True, eval_tasks=300, baselines=True, torch_threads=1,
                       hidden_sizes=[64, 64], inner_lr=0.4, trials_per_update=32, meta_batch=32, batching="stacked",
                       family_kwargs={"ways": WAYS, "shots": 1})
    curve = run.report.inner_steps["maml"]
    assert curve["metric"] == "query_accuracy" and curve["steps"] == [0, 1, 2, 3]
    acc = [p["mean"] for p in curve["per_step"]]
    assert acc[1] > 0.5 and acc[1] > acc[0] + 0.25, acc   # measured: 0.197 -> 0.646 (0.704 after 2)
    random = run.report.baselines["random"]["trial_return"]
    assert run.report.summary["trial_return"] > random + 5, (run.report.summary["trial_return"], random)  # 11.95, 3.99


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batching", ["stacked", "vmap"])
def test_cuda_graph_meta_steps_equal_eager_ones_for_the_cross_entropy(family, batching, device):
    """The cross-entropy meta-step (stacked: autograd through expanded per-task parameters)
    replayed from captured CUDA graphs moves the parameters as the eager one; CPU: nothing captured."""
    runs = {}
    for graph in (True, False):
        agent = MetaSGDAgent(family, batching=batching, cuda_graph=graph, device=device, inner_steps=2,
                             trials_per_update=20, meta_batch=16, seed=4)
        for i in range(3):
            agent.update(agent.collect(family.make_vector_env(20, 12), family.sample(20, seed=i), seed=i))
        runs[graph] = agent
    assert runs[True]._step_graph.captured == (2 if device == "cuda" else 0)
    for p, q in zip(runs[True]._meta_params, runs[False]._meta_params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_update_does_not_label_cross_entropies_as_mse(family):
    """A batch built by hand (plain dict stats, as the benchmark does) gets no regression stats
    from a classifier's losses."""
    from metarl.agents.maml import SupervisedBatch

    agent = MAMLAgent(family, device="cpu")
    xs, ys, xq, yq = _data(agent, n_tasks=4)
    batch = SupervisedBatch(torch.cat([xs, xq], 1), torch.cat([ys, yq], 1), 5, {"env_steps": 0})
    out = agent.update(batch)
    assert "support_mse" not in batch.stats and "trial_return" not in batch.stats
    assert np.isfinite(out["query_loss"])
