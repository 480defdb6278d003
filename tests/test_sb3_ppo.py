"""``sb3-ppo``: stable-baselines3's PPO as the non-meta baseline under the metarl Trainer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import metarl
from metarl.agents.baselines.sb3_ppo import SB3PPOAgent
from metarl.errors import ConfigError
from metarl.experiments.rl2_point_nav import EXPERIMENT as POINT_NAV
from metarl.rollout.episodes import Episodes
from metarl.training.checkpoint import load_checkpoint
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import run_experiment
from helpers import DEVICES
from rl2_runs import assert_same, final_state, patch_update, read_csv, wait_for_next_second


def test_advantages_bootstrap_a_time_limit_cut_and_not_a_termination():
    """Hand-computed GAE (gamma = lambda = 0.5) with V(s) = s[0]: slot 0 is a 3-step episode cut
    by the time limit (its last step bootstraps from V(final_obs) = 4), slot 1 a 2-step episode
    that terminated (no bootstrap; its padded third step is zero)."""
    agent = SB3PPOAgent(metarl.make_family("point-nav"), gamma=0.5, gae_lambda=0.5, device="cpu")
    agent.policy.predict_values = lambda x: x[:, :1]
    obs = torch.zeros(2, 3, 2)
    obs[0, :, 0] = torch.tensor([1.0, 2.0, 3.0])
    obs[1, :2, 0] = torch.tensor([5.0, 6.0])
    eps = Episodes(obs, torch.zeros(2, 3, 2), torch.tensor([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]),
                   torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]), torch.zeros(2, dtype=torch.bool),
                   final_obs=torch.tensor([[4.0, 0.0], [7.0, 0.0]]), terminated=torch.tensor([False, True]))
    values, adv, ret = agent.advantages(eps)
    # slot 0: deltas 1 + .5*2 - 1 = 1, 0 + .5*3 - 2 = -.5, 2 + .5*4 - 3 = 1; A = d + .25 * A_next
    # slot 1: deltas 3 + .5*6 - 5 = 1, 1 - 6 = -5 (terminated)
    torch.testing.assert_close(adv, torch.tensor([[0.9375, -0.25, 1.0], [-0.25, -5.0, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[1.9375, 1.75, 4.0], [4.75, 1.0, 0.0]]))
    torch.testing.assert_close(values, torch.tensor([[1.0, 2.0, 3.0], [5.0, 6.0, 0.0]]))


@pytest.mark.parametrize("device", DEVICES)
def test_it_learns_with_the_task_in_view_and_cannot_adapt(tmp_path, device):
    """On point-nav with the goal observed (the MAML paper's oracle setting), 40k steps take it
    far above random and above -76.5, the best any policy blind to the goal can do (stay at
    the origin: -100 E|goal| per episode); being memoryless, its greedy episodes of a trial
    are identical."""
    torch.set_num_threads(1)
    fam = metarl.make_family("point-nav", observe_goal=True)
    res = metarl.train(fam, "sb3-ppo", episodes_per_trial=2, total_steps=40_000, seed=0, quiet=True,
                       run_dir=tmp_path / "run", trials_per_update=16, minibatch_size=256, epochs=5,
                       eval_tasks=100, baselines=False, device=device)
    tasks = fam.sample(200, split="test", seed=1000)
    report = metarl.evaluate(res.agent, tasks, episodes=2, deterministic=True)
    random = metarl.evaluate(metarl.make_agent("random", fam), tasks, episodes=2).summary["trial_return"]
    score = report.summary["trial_return"]
    assert score > -30.0 and score > random + 50.0, (score, random)
    assert np.array_equal(report.episode_returns[:, 0], report.episode_returns[:, 1])


def tiny_sb3(iterations: int = 7) -> Experiment:
    """A seconds-long sb3-ppo run on 2-armed bandits (16 tasks x 5 one-pull episodes per update)."""
    return Experiment(name="tiny_sb3", family="bandit", family_kwargs={"arms": 2}, agent="sb3-ppo",
                      agent_config=dict(hidden_sizes=[16], trials_per_update=16, minibatch_size=16, epochs=2,
                                        lr=3e-3, device="cpu"),
                      train=TrainConfig(episodes_per_trial=5, total_steps=80 * iterations, seed=3, eval_tasks=20,
                                        eval_tasks_periodic=20, eval_every=2, baselines=False, checkpoint_every=3,
                                        quiet=True))


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    """Crash in update 5 (checkpoint at 3): ``--resume`` redoes 4..7 and ends with the same
    parameters, optimiser and generator states as a run never interrupted (so the same seed
    also gives the same run twice)."""
    full, crash = tmp_path / "full", tmp_path / "crash"
    assert run_experiment(tiny_sb3(), ["--run_dir", str(full)]) == 0

    def die():
        raise RuntimeError("simulated crash")
    die.before = True
    patch_update(monkeypatch, {5: die}, agent_cls=SB3PPOAgent)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(tiny_sb3(), ["--run_dir", str(crash)])
    assert load_checkpoint(crash / "checkpoints" / "latest.pt")["iteration"] == 3
    monkeypatch.undo()

    wait_for_next_second()
    assert run_experiment(tiny_sb3(), ["--resume", str(crash)]) == 0
    assert_same(final_state(full), final_state(crash))
    rows = read_csv(full)
    assert {"train/policy_loss", "train/value_loss", "train/entropy", "train/approx_kl", "train/clip_fraction",
            "train/explained_variance", "rollout/return"} <= set(rows[0])
    assert [r["train/policy_loss"] for r in rows] == [r["train/policy_loss"] for r in read_csv(crash)]


def test_rl2_presets_offer_it_with_its_own_options():
    """``--agent sb3-ppo`` on an RL² preset swaps in the baseline's options (RL²'s are not
    offered to it); swapping back (as a resumed run's config.yaml would) restores RL²'s."""
    exp = POINT_NAV.with_overrides({"agent": "sb3-ppo", "minibatch_size": "128"})
    assert (exp.name, exp.agent, exp.agent_config["minibatch_size"]) == ("sb3-ppo_point_nav", "sb3-ppo", 128)
    assert "hidden_size" not in exp.agent_config
    with pytest.raises(ConfigError, match="unknown option --hidden_size.*hidden_sizes"):
        POINT_NAV.with_overrides({"agent": "sb3-ppo", "hidden_size": "32"})
    back = Experiment.from_dict(exp.to_dict()).with_overrides({"agent": "rl2"})
    assert back.agent_config == POINT_NAV.agent_config
    assert back.choice_configs == {"sb3-ppo": {**POINT_NAV.choice_configs["sb3-ppo"], "minibatch_size": 128}}


@pytest.mark.parametrize("option, value", [("minibatch_size", 1), ("epochs", 0), ("lr", 0.0), ("gamma", 1.5),
                                           ("hidden_sizes", "64"), ("clip", -0.1)])
def test_bad_options_name_the_option(option, value):
    with pytest.raises(ConfigError, match=option):
        metarl.make_agent("sb3-ppo", "point-nav", **{option: value})


def test_collect_runs_each_task_for_the_episodes_of_a_trial_env():
    """Given a trial env (one slot per task, k episodes), collect runs k one-episode slots per
    task instead; 1-pull bandit episodes: 4 tasks x 3 episodes = 12 steps."""
    fam = metarl.make_family("bandit", arms=3)
    agent = metarl.make_agent("sb3-ppo", fam, device="cpu")
    eps = agent.collect(fam.make_vector_env(4, 3), fam.sample(4, seed=0), seed=0)
    assert eps.mask.shape == (12, 1) and eps.stats["env_steps"] == 12
    assert eps.terminated.all() and eps.final_obs.shape == (12, agent.layout.obs_dim)


def test_a_sibling_without_options_of_its_own_keeps_the_preset_agents_options():
    """maml -> sb3-ppo -> metasgd: Meta-SGD gets MAML's options, not the baseline's."""
    exp = Experiment(name="maml_nav", family="point-nav", agent="maml", agent_config={"inner_lr": 0.05},
                     agent_choices=("sb3-ppo", "metasgd"), choice_configs={"sb3-ppo": {"epochs": 3}})
    ppo = exp.with_overrides({"agent": "sb3-ppo"})
    assert ppo.agent_config == {"epochs": 3}
    sgd = ppo.with_overrides({"agent": "metasgd"})
    assert (sgd.agent, sgd.agent_config) == ("metasgd", {"inner_lr": 0.05})
    assert sgd.with_overrides({"agent": "sb3-ppo"}).agent_config == {"epochs": 3}


def test_minibatches_never_end_in_a_stray_remainder():
    """97 steps in minibatches of 16: six of 16-17 steps (sb3's own split would end in a 1-step
    minibatch, which skips advantage normalisation), every step once, in seeded order."""
    agent = metarl.make_agent("sb3-ppo", "bandit", device="cpu")
    buf = agent._Buffer(97, agent.model.observation_space, agent.action_space, device="cpu", n_envs=1)
    buf.rng, buf.full = np.random.default_rng(0), True
    buf.observations[:, 0, 0] = np.arange(97)
    sizes, seen = [], []
    for mb in buf.get(16):
        sizes.append(len(mb.observations))
        seen += mb.observations[:, 0].tolist()
    assert len(sizes) == 6 and min(sizes) >= 16 and sorted(seen) == list(range(97))


@pytest.mark.parametrize("family", ["bandit", "point-nav"])
def test_diverged_parameters_raise_floating_point_error(family):
    """NaN parameters: the trainer's divergence guard (it catches FloatingPointError) stops the
    run with its message, not torch's distribution check."""
    fam = metarl.make_family(family)
    agent = metarl.make_agent("sb3-ppo", fam, device="cpu")
    with torch.no_grad():
        for p in agent.policy.parameters():
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="diverged"):
        agent.collect(agent.make_train_env(1), fam.sample(16, seed=0), seed=0)
