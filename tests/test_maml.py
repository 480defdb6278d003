"""MAML / Meta-SGD on one-step supervised families: gradient correctness, batching, options,
the act/observe trial interface, and a seeded smoke-train on sinusoid."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import metarl
from helpers import DEVICES
from metarl.agents.maml import MAMLAgent, MetaSGDAgent, SupervisedBatch
from metarl.agents.maml_eval import draw_examples, inner_step_curves, pretrain_multitask
from metarl.errors import ConfigError, MetaRLError
from metarl.learning import functional as F
from metarl.learning import relu_mlp

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def family():
    return metarl.make_family("sinusoid")


def _data(family, n_tasks=4, k=10, q=10, seed=0, dtype=torch.float32):
    x, y = draw_examples(family, family.sample(n_tasks, seed=seed), k + q, seed=seed)
    x, y = torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=dtype)
    return x[:, :k], y[:, :k], x[:, k:], y[:, k:]


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


def _tiny(seed=0):
    """A float64 1-3-1 ReLU MLP, its params, and a scalar learning-rate dict."""
    torch.manual_seed(seed)
    net = F.mlp(1, 1, (3,)).double()
    params = dict(net.named_parameters())
    return net, params, {k: torch.tensor(0.05, dtype=torch.float64) for k in params}


# ---- the inner step ------------------------------------------------------------------------------
def test_adapted_params_equal_hand_written_sgd_step(family):
    agent = MAMLAgent(family, inner_lr=0.03, device="cpu")
    xs, ys, _, _ = _data(family, n_tasks=1)
    adapted = agent.adapt((xs[0], ys[0]))
    params = list(agent.net.parameters())
    loss = ((agent.net(xs[0]) - ys[0]) ** 2).mean()
    for (name, p), g in zip(agent.net.named_parameters(), torch.autograd.grad(loss, params)):
        torch.testing.assert_close(adapted[name], p.detach() - 0.03 * g, rtol=0, atol=1e-6)
    two = agent.adapt((xs[0], ys[0]), steps=2)  # a second step from the first one's params
    loss1 = F.net_loss(agent.net, adapted, xs[0], ys[0])
    p1 = {k: v.requires_grad_(True) for k, v in adapted.items()}
    g1 = torch.autograd.grad(F.net_loss(agent.net, p1, xs[0], ys[0]), list(p1.values()))
    for (name, p), g in zip(p1.items(), g1):
        torch.testing.assert_close(two[name], p.detach() - 0.03 * g, rtol=0, atol=1e-6)
    assert float(loss1.detach()) < float(loss.detach())


def test_one_inner_step_lowers_the_support_loss(family):
    agent = MAMLAgent(family, device="cpu")
    xs, ys, _, _ = _data(family, n_tasks=16, seed=3)
    before = ((F.batched_forward(agent.net, F.sgd_path(agent.net, agent.params, agent.lrs, xs, ys, 0)[0], xs) - ys)
              ** 2).mean(dim=(1, 2))
    after = ((F.batched_forward(agent.net, agent.adapt((xs, ys)), xs) - ys) ** 2).mean(dim=(1, 2))
    assert bool((after < before).all())


# ---- meta-gradients ------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", [F.meta_losses, F.meta_losses_stacked, F.meta_losses_loop])
def test_second_order_meta_gradient_matches_finite_differences(family, impl):
    net, params, lrs = _tiny()
    xs, ys, xq, yq = _data(family, n_tasks=3, k=5, q=5, dtype=torch.float64)
    names = list(params)

    def meta_loss(flat):
        p, i = {}, 0
        for k in names:
            n = params[k].numel()
            p[k] = flat[i:i + n].view_as(params[k])
            i += n
        return impl(net, p, lrs, xs, ys, xq, yq, 2, False)[0].mean()

    flat = torch.cat([params[k].detach().reshape(-1) for k in names]).requires_grad_(True)
    analytic = torch.autograd.grad(meta_loss(flat), flat)[0]
    eps, numeric, base = 1e-6, torch.zeros_like(flat), flat.detach()
    for i in range(len(flat)):
        e = torch.zeros_like(base)
        e[i] = eps
        plus, minus = (base + e).requires_grad_(True), (base - e).requires_grad_(True)
        numeric[i] = (meta_loss(plus) - meta_loss(minus)).detach() / (2 * eps)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_first_order_drops_exactly_the_second_order_term(family):
    """One step: d/dθ L_q(θ - a g(θ)) = (I - a H_s) ∇L_q(θ'); first order keeps ∇L_q(θ') only."""
    net, params, lrs = _tiny(seed=1)
    xs, ys, xq, yq = _data(family, n_tasks=1, k=5, q=5, dtype=torch.float64)
    a, plist = 0.05, list(params.values())
    second = _grads(F.meta_losses(net, params, lrs, xs, ys, xq, yq, 1, False)[0].mean(), plist)
    first = _grads(F.meta_losses(net, params, lrs, xs, ys, xq, yq, 1, True)[0].mean(), plist)
    # by hand: adapted params, query gradient there, Hessian-vector product of the support loss
    g = torch.autograd.grad(F.net_loss(net, params, xs[0], ys[0]), plist, create_graph=True)
    adapted = {k: (p - a * gi).detach().requires_grad_(True) for (k, p), gi in zip(params.items(), g)}
    v = torch.autograd.grad(F.net_loss(net, adapted, xq[0], yq[0]), list(adapted.values()))
    hv = torch.autograd.grad(g, plist, grad_outputs=v)
    for f, s, vi, hvi in zip(first, second, v, hv):
        torch.testing.assert_close(f, vi, rtol=1e-10, atol=1e-12)            # first order = ∇L_q(θ')
        torch.testing.assert_close(s - f, -a * hvi, rtol=1e-8, atol=1e-10)   # the dropped term exactly


def test_explicit_stacked_gradients_equal_autograd_per_task(family):
    """stacked_mse_grads (hand-written batched backward) = autograd.grad of each task's MSE."""
    net = F.mlp(1, 1, (8, 6)).double()
    xs, ys, _, _ = _data(family, n_tasks=3, k=5, q=1, dtype=torch.float64)
    stack = {k: (v.detach() + 0.1 * torch.randn(3, *v.shape, generator=torch.Generator().manual_seed(i),
                                                 dtype=torch.float64)) for i, (k, v) in enumerate(net.named_parameters())}
    losses, grads = F.stacked_mse_grads(net, stack, xs, ys)
    for t in range(3):
        p = {k: v[t].clone().requires_grad_(True) for k, v in stack.items()}
        loss = F.net_loss(net, p, xs[t], ys[t])
        ref = torch.autograd.grad(loss, list(p.values()))
        torch.testing.assert_close(losses[t], loss.detach(), rtol=1e-12, atol=1e-14)
        for k, r in zip(p, ref):
            torch.testing.assert_close(grads[k][t], r, rtol=1e-10, atol=1e-12)


def test_hand_written_hessian_vector_product_equals_autograd(family):
    """relu_mlp.minus_hvp: v - H u of each task's support MSE at per-task params, as autograd's
    double backward computes it (float64, 3 tasks, a 1-8-6-1 ReLU MLP)."""
    net = F.mlp(1, 1, (8, 6)).double()
    xs, ys, _, _ = _data(family, n_tasks=3, k=5, q=1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    stack = {k: v.detach() + 0.1 * torch.randn(3, *v.shape, generator=gen, dtype=torch.float64)
             for k, v in net.named_parameters()}
    u = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in stack.items()}
    v = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in stack.items()}
    names = relu_mlp.linear_names(net)
    ws, bs = [stack[f"{n}.weight"] for n in names], [stack[f"{n}.bias"] for n in names]
    _, _, _, deltas, (acts, masks) = relu_mlp.mse_grads(ws, bs, xs, ys)
    pick = lambda d, kind: [d[f"{n}.{kind}"] for n in names]  # noqa: E731
    out_w, out_b = relu_mlp.minus_hvp(ws, acts, masks, deltas, pick(u, "weight"), pick(u, "bias"), 2.0 / 5,
                                      pick(v, "weight"), pick(v, "bias"))
    for t in range(3):
        p = {k: s[t].clone().requires_grad_(True) for k, s in stack.items()}
        g = torch.autograd.grad(F.net_loss(net, p, xs[t], ys[t]), list(p.values()), create_graph=True)
        hu = dict(zip(p, torch.autograd.grad(g, list(p.values()), grad_outputs=[u[k][t] for k in p])))
        for n, ow, ob in zip(names, out_w, out_b):
            for kind, got in (("weight", ow), ("bias", ob)):
                key = f"{n}.{kind}"
                torch.testing.assert_close(got[t], v[key][t] - hu[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layers", ["tanh", "ends_in_relu", "adjacent_linear"])
def test_stacked_meta_losses_fall_back_to_autograd_for_other_layers(family, layers):
    """Nets not shaped Linear (ReLU Linear)* are not what the hand-written gradients handle: the
    autograd path gives vmap's numbers."""
    nn = torch.nn
    net = {"tanh": nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)),
           "ends_in_relu": nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1), nn.ReLU()),
           "adjacent_linear": nn.Sequential(nn.Linear(1, 8), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))}[layers]
    params, lrs = dict(net.named_parameters()), {k: torch.tensor(0.05) for k, _ in net.named_parameters()}
    xs, ys, xq, yq = _data(family, n_tasks=4, seed=5)
    with pytest.raises(TypeError, match="Linear"):
        F.stacked_mse_grads(net, params, xs, ys)
    a = F.meta_losses_stacked(net, params, lrs, xs, ys, xq, yq, 1)[0]
    b = F.meta_losses(net, params, lrs, xs, ys, xq, yq, 1)[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for ga, gb in zip(_grads(a.mean(), list(params.values())), _grads(b.mean(), list(params.values()))):
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("cls", [MAMLAgent, MetaSGDAgent])
def test_vmap_stacked_and_loop_meta_gradients_agree(family, cls, first_order, device):
    agent = cls(family, inner_steps=2, first_order=first_order, device=device, seed=1)
    xs, ys, xq, yq = (t.to(device) for t in _data(family, n_tasks=25, seed=2))
    tensors = list(agent.params.values()) + (list(agent.lrs.values()) if agent.learn_lr else [])
    grads = {}
    for mode in ("vmap", "stacked", "loop"):
        post, pre = agent.meta_losses(xs, ys, xq, yq, batching=mode)
        grads[mode] = (_grads(post.mean(), tensors), post.detach(), pre.detach())
    for mode in ("stacked", "loop"):
        for a, b in zip(grads["vmap"][0], grads[mode][0]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grads["vmap"][1], grads[mode][1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads["vmap"][2], grads[mode][2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [MAMLAgent, MetaSGDAgent])
def test_stacked_gradient_of_pre_and_post_losses_agrees_with_vmap(family, cls):
    """A loss that also uses the pre-adaptation support losses (gradient g_0 per task) and
    weights tasks unequally: the written-out backward gets the same gradients as autograd."""
    agent = cls(family, inner_steps=1, device="cpu", seed=3)
    xs, ys, xq, yq = _data(family, n_tasks=6, seed=4)
    tensors = list(agent.params.values()) + (list(agent.lrs.values()) if agent.learn_lr else [])
    weights = torch.linspace(0.5, 2.0, 6)
    grads = []
    for mode in ("vmap", "stacked"):
        post, pre = agent.meta_losses(xs, ys, xq, yq, batching=mode)
        grads.append(_grads((weights * post).sum() + 0.3 * pre.sum(), tensors))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_metasgd_rates_start_at_inner_lr_and_are_learned(family):
    agent = MetaSGDAgent(family, inner_lr=0.02, device="cpu")
    assert all(torch.equal(lr, torch.full_like(agent.params[k], 0.02)) for k, lr in agent.lrs.items())
    xs, ys, xq, yq = _data(family, n_tasks=8)
    post, _ = agent.meta_losses(xs, ys, xq, yq)
    grads = _grads(post.mean(), list(agent.lrs.values()))
    assert all(g.abs().sum() > 0 for g in grads)
    agent.update(SupervisedBatch(torch.cat([xs, xq], 1), torch.cat([ys, yq], 1), 10, {"env_steps": 160}))
    assert any(not torch.allclose(lr, torch.full_like(lr, 0.02)) for lr in agent.lrs.values())
    # first order: the rates' gradient is still exact, -g(θ) * ∇L_q(θ') (one step)
    fo = MetaSGDAgent(family, inner_lr=0.02, first_order=True, device="cpu")
    post, _ = fo.meta_losses(xs[:1], ys[:1], xq[:1], yq[:1])
    g_lr = _grads(post.mean(), list(fo.lrs.values()))
    plist = list(fo.params.values())
    g = torch.autograd.grad(F.net_loss(fo.net, fo.params, xs[0], ys[0]), plist)
    adapted = {k: (p - 0.02 * gi).detach().requires_grad_(True) for (k, p), gi in zip(fo.params.items(), g)}
    v = torch.autograd.grad(F.net_loss(fo.net, adapted, xq[0], yq[0]), list(adapted.values()))
    for a, gi, vi in zip(g_lr, g, v):
        torch.testing.assert_close(a, -gi * vi, rtol=1e-5, atol=1e-8)


# ---- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, words", [
    ({"inner_steps": 0}, "inner_steps"), ({"inner_steps": -1}, "inner_steps"), ({"inner_steps": 1.5}, "inner_steps"),
    ({"inner_lr": 0}, "inner_lr"), ({"inner_lr": -0.01}, "inner_lr"), ({"inner_lr": "0.01"}, "inner_lr"),
    ({"inner_lr": float("nan")}, "inner_lr"), ({"inner_lr": True}, "inner_lr"), ({"meta_lr": 0.0}, "meta_lr"),
    ({"meta_lr_final": -1e-4}, "meta_lr_final"), ({"first_order": "yes"}, "first_order"),
    ({"hidden_sizes": "40"}, "hidden_sizes"), ({"hidden_sizes": [40, 0]}, "hidden_sizes"),
    ({"meta_batch": 50, "trials_per_update": 25}, "meta_batch"), ({"batching": "threads"}, "batching"),
    ({"support": 0}, "support"), ({"epochs": 0}, "epochs"), ({"resplit": 1}, "resplit"),
])
@pytest.mark.parametrize("name", ["maml", "metasgd"])
def test_bad_options_fail_early_with_one_line(family, name, options, words):
    with pytest.raises(ConfigError) as exc:
        metarl.make_agent(name, family, **options)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_rl_families_get_the_rl_class_and_the_supervised_class_refuses_them():
    bandit = metarl.make_family("bandit", arms=5)
    assert type(metarl.make_agent("maml", bandit)).__name__ == "MAMLRLAgent"
    with pytest.raises(ConfigError, match="supervised") as exc:
        MAMLAgent(bandit)
    assert "\n" not in str(exc.value)


def test_trial_without_queries_is_refused(family):
    agent = MAMLAgent(family, support=10, device="cpu")
    with pytest.raises(ConfigError, match="episodes_per_trial=10"):
        agent.collect(family.make_vector_env(25, 10), family.sample(25), seed=0)


def test_registered():
    assert {"maml", "metasgd"} <= set(metarl.list_agents())


# ---- trials: act / observe / collect --------------------------------------------------------------
def test_act_adapts_after_the_support_set_and_needs_labels(family):
    agent = MAMLAgent(family, support=3, device="cpu")
    tasks = family.sample(5, split="test", seed=1)
    venv = family.make_vector_env(5, 6)
    obs, _ = venv.reset(seed=7, options={"tasks": tasks})
    state, xs, ys, preds = agent.init_state(5), [], [], []
    for _ in range(6):
        xs.append(obs[:, :1].copy())
        action, state = agent.act(obs, state)
        preds.append(action)
        obs, reward, _, _, info = venv.step(action)
        state = agent.observe(state, info)
        ys.append(info["target"].copy())
        np.testing.assert_allclose(reward, -(action[:, 0] - info["target"]) ** 2, rtol=1e-5)
    x, y = np.stack(xs, 1), np.stack(ys, 1)[..., None]
    with torch.no_grad():
        np.testing.assert_allclose(np.stack(preds[:3], 1), agent.net(torch.as_tensor(x[:, :3])).numpy(), atol=1e-6)
        adapted = agent.adapt((x[:, :3], y[:, :3]))
        post = F.batched_forward(agent.net, adapted, torch.as_tensor(x[:, 3:])).numpy()
    np.testing.assert_allclose(np.stack(preds[3:], 1), post, atol=1e-6)
    state = agent.init_state(5)
    _, state = agent.act(obs, state)
    with pytest.raises(MetaRLError, match="observe"):
        agent.act(obs, state)


def test_collect_stats_equal_evaluation_returns(family):
    agent = MAMLAgent(family, trials_per_update=8, meta_batch=8, device="cpu")
    tasks = family.sample(8, seed=4)
    report = metarl.evaluate(agent, tasks, episodes=15, seed=11)
    lazy = agent.collect(family.make_vector_env(8, 15), tasks, seed=11)
    filled = agent.collect(family.make_vector_env(8, 15), tasks, seed=11)
    expected = report.episode_returns.sum(1).mean()
    assert lazy.stats["trial_return"] == pytest.approx(expected, rel=1e-5)
    agent.update(filled)  # the first meta-step fills the same numbers before it changes the params
    assert filled.stats["trial_return"] == pytest.approx(expected, rel=1e-5)
    assert filled.stats["query_mse"] == pytest.approx(-report.episode_returns[:, 10:].mean(), rel=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_non_finite_meta_loss_raises_for_the_trainers_divergence_guard(family, device):
    agent = MAMLAgent(family, batching="stacked", device=device)
    x, y = (torch.as_tensor(a, device=device) for a in draw_examples(family, family.sample(25, seed=0), 20, seed=0))
    bad = y.clone()
    bad[3, 12] = float("nan")  # one query label of one task
    before = {k: v.detach().clone() for k, v in agent.params.items()}
    with pytest.raises(FloatingPointError, match="non-finite meta-loss nan"):
        agent.update(SupervisedBatch(x, bad, 10, {"env_steps": 0}))
    assert all(torch.equal(before[k], v) for k, v in agent.params.items())  # raised before the step
    agent.update(SupervisedBatch(x, y, 10, {"env_steps": 0}))  # on CUDA: the same captured graph, now finite
    assert all(torch.isfinite(v).all() and not torch.equal(before[k], v) for k, v in agent.params.items())


def test_same_seed_same_initial_parameters(family):
    a, b, c = (MAMLAgent(family, device="cpu", seed=s) for s in (7, 7, 8))
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert not torch.equal(a.params["0.weight"], c.params["0.weight"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batching", ["stacked", "vmap"])
@pytest.mark.parametrize("cls", [MAMLAgent, MetaSGDAgent])
def test_cuda_graph_meta_steps_equal_eager_ones(family, cls, batching, device):
    """Meta-steps replayed from captured CUDA graphs (two meta-batch shapes: 25 tasks, then the
    epoch's last 5) move the parameters as the eager steps do; on CPU nothing is captured."""
    runs = {}
    for graph in (True, False):
        agent = cls(family, batching=batching, cuda_graph=graph, device=device, inner_steps=2, epochs=2,
                    resplit=True, trials_per_update=30, meta_batch=25, seed=4)
        metrics = []
        for i in range(3):
            x, y = (torch.as_tensor(a, device=device)
                    for a in draw_examples(family, family.sample(30, seed=i), 20, seed=i))
            metrics.append(agent.update(SupervisedBatch(x, y, 10, {"env_steps": 0})))
        runs[graph] = agent, metrics
    (graphed, m_graph), (eager, m_eager) = runs[True], runs[False]
    assert graphed._step_graph.captured == (2 if device == "cuda" else 0)
    assert eager._step_graph.captured == 0
    for p, q in zip(graphed._meta_params, eager._meta_params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    for a, b in zip(m_graph, m_eager):
        assert a == pytest.approx(b, rel=1e-5)


def test_state_dict_round_trip(family):
    a = MetaSGDAgent(family, device="cpu", seed=0)
    xs, ys, xq, yq = _data(family, n_tasks=8)
    a.update(SupervisedBatch(torch.cat([xs, xq], 1), torch.cat([ys, yq], 1), 10, {"env_steps": 160}))
    b = MetaSGDAgent(family, device="cpu", seed=5)
    b.load_state_dict(a.state_dict())
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k]) and torch.equal(a.lrs[k], b.lrs[k])



def test_checkpoint_keeps_only_learned_rates(family):
    """MAML's fixed step is the inner_lr option, not checkpoint state: a MAML checkpoint stores no
    rates, an older one that stored them loads with the configured step, and a Meta-SGD agent
    refuses a checkpoint without its learned rates instead of silently keeping its initial ones."""
    maml = MAMLAgent(family, inner_lr=0.01, device="cpu", seed=0)
    state = maml.state_dict()
    assert state["lrs"] == {}
    old = dict(state, lrs={k: torch.tensor(0.5) for k in maml.params})  # as checkpoints before the change
    other = MAMLAgent(family, inner_lr=0.03, device="cpu", seed=1)
    other.load_state_dict(old)
    assert all(float(v) == pytest.approx(0.03) for v in other.lrs.values())
    assert all(torch.equal(maml.params[k], other.params[k]) for k in maml.params)
    with pytest.raises(MetaRLError, match="no learned inner learning rates"):
        MetaSGDAgent(family, device="cpu").load_state_dict(state)


# ---- learning ------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_smoke_train_beats_pretrained_baseline(family, tmp_path, device):
    """Seeded, a few seconds: held-out MSE after one inner step far below the pretrained regressor's."""
    run = metarl.train("sinusoid", "maml", episodes_per_trial=20, total_steps=100_000, seed=0,
                       run_dir=str(tmp_path / "run"), quiet=True, eval_tasks=100, eval_tasks_periodic=50,
                       baselines=False, torch_threads=1, epochs=4, resplit=True, meta_lr=4e-3, meta_lr_final=1e-4,
                       batching="stacked", device=device)
    assert run.agent.device.type == device
    assert (tmp_path / "run" / "eval" / "report.json").exists()
    tasks = family.sample(300, split="test", seed=1000)
    pretrained = pretrain_multitask(run.agent, iterations=500, pool_tasks=500, seed=0)
    out = inner_step_curves(run.agent, tasks, steps=2, seed=1000, pretrained=pretrained)
    maml, base = out["curves"]["maml"], out["curves"]["pretrained"]
    assert out["steps"] == [0, 1, 2] and out["n_tasks"] == 300
    assert maml["ci_low"][1] <= maml["mean"][1] <= maml["ci_high"][1]
    assert maml["mean"][1] < 0.7 * base["mean"][1]  # measured: 1.26 vs 2.62
    assert maml["mean"][1] < 0.7 * maml["mean"][0]  # measured: 1.26 vs 2.87
    episodes = run.report.summary["per_episode"]  # query phase (adapted) beats support phase (unadapted)
    assert np.mean([p["mean"] for p in episodes[10:]]) > np.mean([p["mean"] for p in episodes[:10]]) + 0.5
