"""MAML / Meta-SGD on RL families: policy-gradient pieces against hand-computed values, the
TRPO machinery, meta-gradients (batched vs a per-task loop, finite differences, first
order), trial boundaries when acting, options, and a seeded smoke-train on point-nav."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

import metarl
from helpers import DEVICES
from metarl.agents.maml_rl import MAMLRLAgent, MetaSGDRLAgent
from metarl.agents.maml_rl_eval import outer_surrogate_loop
from metarl.agents.maml_rl_outer import first_order_metric
from metarl.errors import ConfigError
from metarl.learning import functional as F
from metarl.learning import policy_gradient as pg
from metarl.learning.trpo import conjugate_gradient, flat, hessian_vector_product, line_search
from metarl.rollout.episodes import Episodes

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def nav():
    return metarl.make_family("point-nav", horizon=10)


# ---- policy-gradient pieces ------------------------------------------------------------------------
def test_returns_to_go_by_hand():
    r = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    out = pg.returns_to_go(r, torch.tensor([[1.0, 1.0, 1.0, 0.0]]), gamma=0.5)
    torch.testing.assert_close(out, torch.tensor([[2.75, 3.5, 3.0, 0.0]]))


def test_linear_baseline_fits_each_task_on_its_own():
    gen = torch.Generator().manual_seed(0)
    obs = torch.rand(2, 3, 6, 1, generator=gen)                       # [M=2, N=3, T=6, d=1]
    t = (torch.arange(6.0) / 100).view(1, 1, 6)
    coef = torch.tensor([[2.0], [-5.0]]).view(2, 1, 1)
    returns = coef * obs[..., 0] + 40.0 * t + 1.0                     # linear in the features
    mask = torch.ones(2, 3, 6)
    mask[1, 2, 4:] = 0                                                # a shorter episode
    fitted = pg.linear_baseline(obs, returns * mask, mask, reg=1e-10)
    torch.testing.assert_close(fitted, returns * mask, atol=1e-4, rtol=0)
    ridge = pg.linear_baseline(obs, returns * mask, mask)  # the default ridge term shrinks it a little
    torch.testing.assert_close(ridge, returns * mask, atol=1e-2, rtol=0)


def test_task_normalize_standardises_each_task_over_real_steps():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0], [10.0, 30.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    out = pg.task_normalize(x, mask)
    torch.testing.assert_close(out, torch.tensor([[-1.2247, 0.0, 1.2247, 0.0], [-1.0, 1.0, 0.0, 0.0]]),
                               atol=1e-4, rtol=0)


def test_distributions_match_torch_distributions():
    gen = torch.Generator().manual_seed(1)
    mean, mean1, a = (torch.randn(5, 3, generator=gen) for _ in range(3))
    log_std, log_std1 = torch.randn(3, generator=gen) * 0.3, torch.randn(3, generator=gen) * 0.3
    n0, n1 = Normal(mean, log_std.exp()), Normal(mean1, log_std1.exp())
    torch.testing.assert_close(pg.gaussian_log_prob(mean, log_std, a), n0.log_prob(a).sum(-1))
    torch.testing.assert_close(pg.gaussian_kl(mean, log_std, mean1, log_std1), kl_divergence(n0, n1).sum(-1))
    logits, logits1 = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    act = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(pg.categorical_log_prob(logits, act), Categorical(logits=logits).log_prob(act))
    torch.testing.assert_close(pg.categorical_kl(logits, logits1),
                               kl_divergence(Categorical(logits=logits), Categorical(logits=logits1)))


def test_fisher_products_equal_the_kl_hessian_where_new_equals_old():
    """Output-space Fisher products against autograd's Hessian of KL(old || new) at new = old
    (Gaussian in (mean, log std); categorical in logits, where it holds at any old)."""
    gen = torch.Generator().manual_seed(2)
    mean, log_std = torch.randn(3, dtype=torch.float64, generator=gen), torch.randn(3, dtype=torch.float64, generator=gen) * 0.5
    t = torch.randn(6, dtype=torch.float64, generator=gen)
    z = torch.cat([mean, log_std])
    hess = torch.autograd.functional.hessian(lambda u: pg.gaussian_kl(mean, log_std, u[:3], u[3:]), z)
    torch.testing.assert_close(torch.cat(pg.gaussian_fisher_product(log_std, t[:3], t[3:])), hess @ t)
    logits, old, u = (torch.randn(4, dtype=torch.float64, generator=gen) for _ in range(3))
    hess = torch.autograd.functional.hessian(lambda l1: pg.categorical_kl(old, l1), logits)
    torch.testing.assert_close(pg.categorical_fisher_product(logits, u), hess @ u)


def test_first_order_metric_without_inner_step_is_the_plain_fisher(nav):
    """meta=False (the pretrained reference): no inner step, theta' = theta for every task."""
    agent = _agent(nav, meta=False)
    batch = _batch(agent, nav)
    theta = agent.meta_parameters()
    exact = hessian_vector_product(torch.autograd.grad(agent.outer_terms(batch)[1], theta, create_graph=True), theta)
    v = torch.randn(sum(p.numel() for p in theta), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(first_order_metric(agent, batch, damping=0.0)(v), exact(v), atol=1e-8, rtol=1e-5)


def test_first_order_metric_equals_the_exact_one_for_discrete_actions():
    family = metarl.make_family("tabular-mdp", horizon=5)
    agent = metarl.make_agent("maml", family, hidden_sizes=[8], meta_batch=3, trajectories=2, inner_lr=1e-9,
                              device="cpu")
    batch = agent.collect(agent.make_train_env(1), family.sample(3, seed=0), seed=0)
    theta = agent.meta_parameters()
    exact = hessian_vector_product(torch.autograd.grad(agent.outer_terms(batch)[1], theta, create_graph=True), theta)
    cheap = first_order_metric(agent, batch, damping=0.0, subsample=0.5)
    v = torch.randn(sum(p.numel() for p in theta), generator=torch.Generator().manual_seed(4))
    full = first_order_metric(agent, batch, damping=0.0)
    torch.testing.assert_close(full(v), exact(v), atol=1e-6, rtol=1e-4)
    assert float(v @ cheap(v)) > 0 and not torch.allclose(cheap(v), full(v))  # half the episodes: another estimate


# ---- TRPO machinery ----------------------------------------------------------------------------------
def test_conjugate_gradient_solves_a_known_quadratic():
    gen = torch.Generator().manual_seed(2)
    m = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=6)   # exact in n iterations (up to rounding)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), atol=1e-8, rtol=1e-8)


def test_hessian_vector_product_of_a_quadratic():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    g = torch.autograd.grad(0.5 * x @ a @ x, [x], create_graph=True)
    hvp = hessian_vector_product(g, [x], damping=0.1)
    v = torch.tensor([1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(hvp(v), a @ v + 0.1 * v)


def test_line_search_backtracks_to_the_first_acceptable_point():
    evaluate = lambda x: (-float((x - 3.0) ** 2), float(x ** 2) / 100)  # noqa: E731  (objective, kl)
    x0, step = torch.tensor(0.0), torch.tensor(10.0)
    x, obj, kl, j = line_search(evaluate, x0, step, max_kl=0.3, baseline=-9.0)
    assert (float(x), j) == (5.0, 1) and obj == -4.0 and kl == 0.25   # x=10 is worse than the baseline
    x, obj, kl, j = line_search(evaluate, x0, step, max_kl=0.1, baseline=-9.0)
    assert (float(x), j) == (2.5, 2)                                    # x=5 breaks the KL bound
    x, obj, kl, j = line_search(evaluate, x0, step, max_kl=0.1, baseline=10.0, backtracks=4)
    assert (float(x), j, obj, kl) == (0.0, -1, 10.0, 0.0)               # nothing accepted: stay


# ---- meta-gradients ------------------------------------------------------------------------------------
def _agent(family, cls=MAMLRLAgent, **kw):
    """A tiny agent in float64 (for tight gradient checks)."""
    opts = dict(hidden_sizes=[8], meta_batch=3, trajectories=2, inner_lr=0.5, device="cpu", seed=0)
    agent = cls(family, **{**opts, **kw})
    agent.net.double()
    agent.params = dict(agent.net.named_parameters())
    agent.params["log_std"] = torch.full((2,), -0.5, dtype=torch.float64, device=agent.device, requires_grad=True)
    lr = agent.config()["inner_lr"]
    agent.lrs = {k: (torch.full_like(p, lr) if agent.learn_lr else torch.tensor(lr, dtype=torch.float64, device=agent.device))
                 .detach().requires_grad_(agent.learn_lr) for k, p in agent.params.items()}
    return agent


def _batch(agent, family, seed=0):
    """A collected meta-batch with its tensors in the agent's dtype (collect works in float32)."""
    batch = agent.collect(agent.make_train_env(1), family.sample(agent.config()["meta_batch"], seed=seed), seed=seed)
    dt = agent.params["log_std"].dtype
    cast = lambda e: Episodes(e.obs.to(dt), e.actions.to(dt), e.rewards.to(dt), e.mask.to(dt), e.success)  # noqa
    batch.rounds = [cast(e) for e in batch.rounds]
    batch.advs = [a.to(dt) for a in batch.advs]
    with torch.no_grad():
        q = batch.rounds[-1]
        old = agent.dist(agent.adapted(batch, create_graph=False), q.obs.flatten(1, 2))
        batch.old_dist = tuple(t.detach() for t in old)
        batch.old_logp = agent.log_prob(batch.old_dist, q.actions.flatten(1, 2)).detach()
    return batch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", [MAMLRLAgent, MetaSGDRLAgent])
@pytest.mark.parametrize("inner_steps", [1, 2])
def test_batched_meta_gradient_equals_per_task_loop(nav, cls, inner_steps, device):
    agent = _agent(nav, cls, inner_steps=inner_steps, device=device)
    batch = _batch(agent, nav)
    theta = agent.meta_parameters()
    batched = torch.autograd.grad(agent.outer_terms(batch)[0], theta)
    looped = torch.autograd.grad(outer_surrogate_loop(agent, batch), theta)
    for a, b in zip(batched, looped):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_batched_meta_gradient_equals_loop_for_discrete_actions():
    family = metarl.make_family("tabular-mdp", horizon=5)
    agent = metarl.make_agent("maml", family, hidden_sizes=[8], meta_batch=3, trajectories=2, device="cpu")
    batch = agent.collect(agent.make_train_env(1), family.sample(3, seed=0), seed=0)
    theta = agent.meta_parameters()
    batched = torch.autograd.grad(agent.outer_terms(batch)[0], theta)
    looped = torch.autograd.grad(outer_surrogate_loop(agent, batch), theta)
    for a, b in zip(batched, looped):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_second_order_meta_gradient_matches_finite_differences(nav):
    agent = _agent(nav)
    batch = _batch(agent, nav)
    theta = agent.meta_parameters()
    grad = flat(torch.autograd.grad(agent.outer_terms(batch)[0], theta))
    x0 = flat(theta).detach().clone()

    def f(x):
        with torch.no_grad():
            i = 0
            for p in theta:
                p.copy_(x[i:i + p.numel()].view_as(p))
                i += p.numel()
            return float(agent.outer_terms(batch, create_graph=False)[0])
    gen = torch.Generator().manual_seed(3)
    for idx in torch.randint(0, len(x0), (6,), generator=gen).tolist():
        e = torch.zeros_like(x0)
        e[idx] = 1e-5
        fd = (f(x0 + e) - f(x0 - e)) / 2e-5
        assert fd == pytest.approx(float(grad[idx]), abs=1e-6, rel=1e-4)
    f(x0)


def test_first_order_drops_exactly_the_second_order_term(nav):
    agent = _agent(nav, first_order=True)
    batch = _batch(agent, nav)
    theta = list(agent.params.values())
    fo = torch.autograd.grad(agent.outer_terms(batch)[0], theta)
    # by hand: the first-order meta-gradient is the sum over tasks of the gradient at theta'_m
    with torch.no_grad():
        adapted = agent.adapted(batch, create_graph=False)
    leaves = {k: v.detach().requires_grad_(True) for k, v in adapted.items()}
    q = batch.rounds[-1]
    new = agent.dist(leaves, q.obs.flatten(1, 2))
    ratio = torch.exp(agent.log_prob(new, q.actions.flatten(1, 2)) - batch.old_logp)
    mask = q.mask.flatten(1, 2)
    surr = ((ratio * batch.advs[-1].flatten(1, 2) * mask).sum(1) / mask.sum(1)).mean()
    by_hand = [g.sum(0) for g in torch.autograd.grad(surr, list(leaves.values()))]
    for a, b in zip(fo, by_hand):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-7)
    so = torch.autograd.grad(outer_surrogate_loop(agent, batch, first_order=False), theta)
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(fo, so))  # the dropped term is not zero


@pytest.mark.parametrize("cls", [MAMLRLAgent, MetaSGDRLAgent])
def test_first_order_metric_is_exact_without_inner_step_curvature(nav, cls):
    """At theta_old the KL's Hessian is J^T H J (its gradient is 0); with inner_lr -> 0 the
    inner steps' Jacobian J has no second-order part, so the cheap metric equals the exact
    Hessian through the inner steps (for Meta-SGD including the step-size block)."""
    agent = _agent(nav, cls, inner_lr=1e-9)
    batch = _batch(agent, nav)
    theta = agent.meta_parameters()
    kl = agent.outer_terms(batch)[1]
    exact = hessian_vector_product(torch.autograd.grad(kl, theta, create_graph=True), theta)
    cheap = first_order_metric(agent, batch, damping=0.0)
    v = torch.randn(sum(p.numel() for p in theta), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    torch.testing.assert_close(cheap(v), exact(v), atol=1e-8, rtol=1e-5)
    assert float(v @ cheap(v)) > 0


def test_inner_step_equals_a_hand_written_reinforce_step(nav):
    agent = _agent(nav, inner_lr=0.3)
    batch = _batch(agent, nav)
    eps, adv = batch.rounds[0], batch.advs[0]
    adapted = agent.inner_step(agent.stack(3, detach=True), eps, adv, create_graph=False)
    for m in range(3):
        p = {k: v.detach().clone().requires_grad_(True) for k, v in agent.params.items()}
        mean = F.forward(agent.net, {k: v for k, v in p.items() if k != "log_std"},
                         eps.obs[m].flatten(0, 1).double())
        logp = Normal(mean, p["log_std"].exp()).log_prob(eps.actions[m].flatten(0, 1)).sum(-1)
        mask = eps.mask[m].flatten()
        loss = -(logp * adv[m].flatten() * mask).sum() / mask.sum()
        for (k, v), g in zip(p.items(), torch.autograd.grad(loss, list(p.values()))):
            torch.testing.assert_close(adapted[k][m], v.detach() - 0.3 * g, atol=1e-10, rtol=1e-8)


def test_one_inner_step_lowers_each_tasks_inner_loss(nav):
    agent = _agent(nav, inner_lr=0.01)
    batch = _batch(agent, nav)
    eps, adv = batch.rounds[0], batch.advs[0]
    theta = agent.stack(3, detach=True)
    before = agent.inner_loss(theta, eps, adv)
    after = agent.inner_loss(agent.inner_step(theta, eps, adv, create_graph=False), eps, adv)
    assert bool((after < before).all()), (before, after)


# ---- acting in trials ----------------------------------------------------------------------------------
def test_act_takes_one_inner_step_per_finished_episode_on_that_episode(nav):
    agent = MAMLRLAgent(nav, hidden_sizes=[16], device="cpu", seed=1)
    tasks = nav.sample(4, split="test", seed=2)
    venv = nav.make_vector_env(4, 3)
    obs, _ = venv.reset(seed=0, options={"tasks": tasks})
    state = agent.init_state(4)
    theta = agent.stack(4, detach=True)
    rewards, params_seen = [], []
    for t in range(venv.max_trial_steps):
        action, state = agent.act(obs, state)
        params_seen.append({k: v.clone() for k, v in state.params.items()})
        obs, reward, term, trunc, info = venv.step(action)
        rewards.append(torch.as_tensor(reward, dtype=torch.float32))
    h = nav.horizon
    for t in range(h):  # episode 1: the meta-parameters
        assert all(torch.equal(params_seen[t][k], theta[k]) for k in theta)
    first = Episodes(torch.stack(state.obs[:h], 1)[:, None], torch.stack(state.actions[:h], 1)[:, None],
                     torch.stack(rewards[:h], 1)[:, None], torch.ones(4, 1, h), torch.zeros(4, 1, dtype=torch.bool))
    expected = agent.inner_step(theta, first, agent.advantages(first), create_graph=False)
    for k in theta:  # episode 2 acts with one step on episode 1
        torch.testing.assert_close(params_seen[h][k], expected[k].detach())
        assert all(torch.equal(params_seen[t][k], params_seen[h][k]) for t in range(h, 2 * h))
    second = Episodes(torch.stack(state.obs[h:2 * h], 1)[:, None], torch.stack(state.actions[h:2 * h], 1)[:, None],
                      torch.stack(rewards[h:2 * h], 1)[:, None], torch.ones(4, 1, h),
                      torch.zeros(4, 1, dtype=torch.bool))
    expected2 = agent.inner_step(params_seen[h], second, agent.advantages(second), create_graph=False)
    for k in theta:
        torch.testing.assert_close(params_seen[2 * h][k], expected2[k].detach())


def test_evaluate_and_inner_step_curve_shapes(nav):
    agent = MAMLRLAgent(nav, hidden_sizes=[16], trajectories=3, device="cpu")
    tasks = nav.sample(5, split="test", seed=3)
    rep = metarl.evaluate(agent, tasks, episodes=3, seed=0)
    assert rep.episode_returns.shape == (5, 3)
    curve = agent.inner_step_curve(tasks, steps=2, seed=0)
    assert curve["steps"] == [0, 1, 2] and curve["trajectories"] == 3 and len(curve["per_step"]) == 3
    assert curve == agent.inner_step_curve(tasks, steps=2, seed=0)   # reproducible
    assert len(curve["success_per_step"]) == 3


# ---- options, registry, discrete actions, persistence ---------------------------------------------------
@pytest.mark.parametrize("name, options, words", [
    ("maml", {"inner_steps": 0}, "inner_steps"), ("maml", {"inner_lr": -0.1}, "inner_lr"),
    ("maml", {"inner_lr": "fast"}, "inner_lr must be a number"), ("maml", {"outer": "sgd"}, "outer"),
    ("maml", {"metric": "fisher"}, "metric"), ("maml", {"cg_subsample": 2.0}, "cg_subsample"),
    ("maml", {"gamma": 1.5}, "gamma"), ("metasgd", {"meta": False}, "meta=false"),
    ("maml", {"trajectory": 5}, "unknown option"), ("maml", {"action_units": "raw"}, "action_units"),
])
def test_bad_options_fail_early_with_one_line(nav, name, options, words):
    with pytest.raises(ConfigError) as exc:
        metarl.make_agent(name, nav, **options)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_unit_actions_reach_the_env_mapped_and_are_stored_unclipped(nav):
    """action_units='unit': a sample goes to the env through ``BoxActions`` (tests/test_action_box.py);
    the stored action (for log-probs) is the unclipped sample."""
    params = {"mean": torch.tensor([[[-1.0, 0.5]], [[3.0, -0.2]]]), "log_std": torch.zeros(2, 2)}
    for units, expect in (("unit", [[-0.1, 0.05], [0.1, -0.02]]), ("env", [[-0.1, 0.1], [0.1, -0.1]])):
        agent = metarl.make_agent("maml", nav, action_units=units, device="cpu")
        agent.dist = lambda p, x: (p["mean"], p["log_std"].unsqueeze(1))
        stored, env_a = agent.sample(params, torch.zeros(2, 1, 2), agent.generator, deterministic=True)
        assert torch.equal(stored, params["mean"].flatten(0, 1))
        np.testing.assert_allclose(env_a, expect, rtol=0, atol=1e-7)


def test_registry_picks_the_class_by_family_kind(nav):
    from metarl.registry import agent_options

    assert isinstance(metarl.make_agent("maml", nav), MAMLRLAgent)
    assert isinstance(metarl.make_agent("metasgd", nav), MetaSGDRLAgent)
    assert "trajectories" in agent_options("maml", "point-nav") and "support" not in agent_options("maml", nav)
    assert "support" in agent_options("maml", "sinusoid") and "trajectories" not in agent_options("maml", "sinusoid")
    assert {"support", "trajectories"} <= set(agent_options("maml"))


@pytest.mark.parametrize("family_name, kwargs", [("tabular-mdp", {"horizon": 5}), ("cartpole-dynamics", {})])
def test_discrete_actions_collect_and_update(family_name, kwargs):
    family = metarl.make_family(family_name, **kwargs)
    agent = metarl.make_agent("maml", family, hidden_sizes=[16], meta_batch=2, trajectories=2, device="cpu")
    before = flat(agent.meta_parameters()).detach().clone()
    out = agent.update(agent.collect(agent.make_train_env(1), family.sample(2, seed=0), seed=0))
    assert all(math.isfinite(v) for v in out.values())
    assert out["step_accepted"] == 0.0 or not torch.equal(before, flat(agent.meta_parameters()).detach())


def test_ppo_outer_updates_within_a_small_kl(nav):
    agent = MAMLRLAgent(nav, hidden_sizes=[16], meta_batch=4, trajectories=4, outer="ppo", meta_lr=1e-3,
                        device="cpu")
    before = flat(agent.meta_parameters()).detach().clone()
    out = agent.update(agent.collect(agent.make_train_env(1), nav.sample(4, seed=0), seed=0))
    assert not torch.equal(before, flat(agent.meta_parameters()).detach())
    assert 0 <= out["kl"] < 0.05 and 0 <= out["clip_fraction"] <= 1


def test_state_dict_round_trip_continues_identically(nav):
    a = MAMLRLAgent(nav, hidden_sizes=[16], meta_batch=2, trajectories=2, device="cpu")
    venv = a.make_train_env(1)
    a.update(a.collect(venv, nav.sample(2, seed=0), seed=0))
    b = MAMLRLAgent(nav, hidden_sizes=[16], meta_batch=2, trajectories=2, device="cpu", seed=5)
    b.load_state_dict(a.state_dict())
    ba, bb = a.collect(venv, nav.sample(2, seed=1), seed=1), b.collect(venv, nav.sample(2, seed=1), seed=1)
    torch.testing.assert_close(ba.rounds[-1].actions, bb.rounds[-1].actions)


# ---- learning ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_smoke_train_post_update_return_beats_pre_update(tmp_path, device):
    res = metarl.train("point-nav", "maml", episodes_per_trial=2, total_steps=16 * 10 * 10 * 100 * 2, seed=0,
                       run_dir=str(tmp_path / "run"), eval_tasks=40, eval_tasks_periodic=10, baselines=False,
                       quiet=True, inner_steps_eval=1, meta_batch=10, trajectories=10, cg_subsample=0.25,
                       hidden_sizes=[64, 64], device=device)
    assert res.agent.device.type == device
    curve = res.report.inner_steps["maml"]["per_step"]
    assert curve[1]["mean"] > curve[0]["mean"] + 5.0, curve
    assert curve[1]["ci_low"] > curve[0]["ci_high"], curve
    assert (res.run_dir / "eval" / "inner_steps.png").exists()
    import json

    saved = json.loads((res.run_dir / "eval" / "report.json").read_text())
    assert saved["inner_steps"]["maml"]["steps"] == [0, 1]
