"""The Python API on bad input: one clear ConfigError naming the bad value (registration
clashes, generators and None as tasks, family options given twice, checkpoints that do not
fit, actions outside the space, files that are not reports, wrong observation widths)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import metarl
from metarl.errors import ConfigError
from metarl.evaluation.report import EvalReport
from metarl.evaluation.stats import summarize


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_registering_a_taken_name_is_refused_unless_replace():
    class Other(metarl.TaskFamily):
        name = "test-other"

    with pytest.raises(ConfigError) as err:
        metarl.register_family("bandit")(Other)
    assert "'bandit' is already registered" in one_line(err) and "replace=True" in str(err.value)
    assert type(metarl.make_family("bandit")).__name__ == "BanditFamily"       # unchanged

    def constant(family, **config):
        return metarl.make_agent("random", family, **config)

    metarl.register_agent("test-api-constant")(constant)
    metarl.register_agent("test-api-constant")(constant)          # the same definition again: fine
    with pytest.raises(ConfigError, match="'test-api-constant' is already registered"):
        metarl.register_agent("test-api-constant")(lambda family: None)
    metarl.register_agent("test-api-constant", replace=True)(constant)
    assert metarl.Agent is metarl.learning.agent.Agent


def test_evaluate_takes_any_iterable_of_tasks_and_rejects_none():
    family = metarl.make_family("bandit", arms=2)
    agent = metarl.make_agent("bandit-greedy", family)
    tasks = family.sample(6, split="test", seed=0)
    from_list = metarl.evaluate(agent, tasks, episodes=3).episode_returns
    from_generator = metarl.evaluate(agent, (t for t in tasks), episodes=3).episode_returns
    np.testing.assert_array_equal(from_list, from_generator)
    with pytest.raises(ConfigError) as err:
        metarl.evaluate(agent, None, episodes=3)
    assert "tasks must be a list of Task" in one_line(err) and "NoneType" in str(err.value)
    with pytest.raises(ConfigError, match="family must be a TaskFamily or a family name"):
        metarl.make_agent("random", None)


def test_train_refuses_family_options_for_a_built_family(tmp_path):
    family = metarl.make_family("bandit", arms=5)
    for extra in ({"arms": 3}, {"family_kwargs": {"arms": 3}}):
        with pytest.raises(ConfigError) as err:
            metarl.train(family, "rl2", episodes_per_trial=5, total_steps=1000, run_dir=str(tmp_path / "r"), **extra)
        assert "['arms'] are options of the family" in one_line(err) and "make_family('bandit'" in str(err.value)
    with pytest.raises(ConfigError, match="metarl baselines FAMILY"):
        metarl.train("bandit", "random", episodes_per_trial=5, total_steps=1000, run_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_loading_a_checkpoint_that_does_not_fit_names_the_difference(tmp_path):
    family = metarl.make_family("bandit", arms=5)
    path = tmp_path / "a.pt"
    metarl.make_agent("rl2", family, hidden_size=8).save(path)
    with pytest.raises(ConfigError) as err:
        metarl.make_agent("rl2", family, hidden_size=16).load(path)
    assert "hidden_size: saved 8, this agent 16" in one_line(err)
    with pytest.raises(ConfigError) as err:
        metarl.make_agent("rl2", metarl.make_family("bandit", arms=3), hidden_size=8).load(path)
    assert "other parameter shapes (another family?)" in one_line(err)
    with pytest.raises(ConfigError, match="holds a 'rl2' agent; this agent is 'bandit-ucb'"):
        metarl.make_agent("bandit-ucb", family).load(path)
    metarl.make_agent("rl2", family, hidden_size=8, lr=0.1).load(path)   # other training options: fine


def test_actions_outside_a_discrete_space_are_refused_before_stepping():
    family = metarl.make_family("bandit", arms=5)
    env = metarl.TrialWrapper(family.make_env(family.sample(1, seed=0)[0]), episodes=3)
    env.reset(seed=0)
    for bad in (-1, 5):
        with pytest.raises(ConfigError) as err:
            env.step(bad)
        assert f"[{bad}] outside the action space: accepted integers 0..4" in one_line(err)
    obs, *_ = env.step(np.int64(4))                  # the wrapper is still usable
    assert np.flatnonzero(obs[env.layout.prev_action]).tolist() == [4]
    venv = family.make_vector_env(3, 2)
    venv.reset(seed=0, options={"tasks": family.sample(3, seed=0)})
    with pytest.raises(ConfigError, match=r"\[0, -1, 2\] outside the action space"):
        venv.step(np.array([0, -1, 2]))


def test_rl2_act_checks_the_observation_width():
    agent = metarl.make_agent("rl2", metarl.make_family("bandit", arms=5), hidden_size=8)
    with pytest.raises(ConfigError) as err:
        agent.act(np.zeros((2, 5), np.float32), agent.init_state(2))
    assert f"shape [B, {agent.layout.dim}]" in one_line(err) and "got [2, 5]" in str(err.value)


def test_rl2_reward_scale_must_be_positive_and_reaches_the_network():
    bandit = metarl.make_family("bandit", arms=2)
    for bad in (0, -0.1, "0.1", float("nan")):
        with pytest.raises(ConfigError) as err:
            metarl.make_agent("rl2", bandit, hidden_size=8, reward_scale=bad)
        assert "reward_scale" in one_line(err)
    assert metarl.make_agent("rl2", bandit, hidden_size=8).net.reward_input is None   # the reward as it is
    agent = metarl.make_agent("rl2", bandit, hidden_size=8, reward_scale=0.1, reward_clip=0.5)
    assert agent.net.reward_input == (agent.layout.prev_reward, 0.1, 0.5)


def test_report_files_that_are_not_reports(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "broken.json").write_text("{not json")
    returns = np.ones((2, 2))
    future = EvalReport(returns, None, summarize(returns), ["a", "b"]).to_dict()
    future["version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(future))
    for name, words in [("other.json", "is not an evaluation report"), ("broken.json", "cannot read"),
                        ("future.json", "version 99 report"), ("missing.json", "cannot read")]:
        with pytest.raises(ConfigError) as err:
            EvalReport.from_json(tmp_path / name)
        assert words in one_line(err), name
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError):
        EvalReport(returns, None, summarize(returns), ["a", "b"]).to_json(tmp_path / "adir")
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("family, bad, words", [
    ("bandit", [0, -1], "[0, -1] outside the action space: accepted integers 0..4"),
    ("bandit", [5, 0], "[5, 0] outside the action space"),
    ("tabular-mdp", [0, 5], "[0, 5] outside the action space"),
    ("point-nav", np.zeros((2, 3)), "expected [2, 2]"),
    ("cartpole-dynamics", [0, 2], "[0, 2] outside the action space: accepted integers 0..1"),   # per-slot loop env
])
def test_vector_envs_refuse_bad_actions_before_any_slot_steps(family, bad, words):
    fam = metarl.make_family(family)
    venv = fam.make_vector_env(2, 2)
    venv.reset(seed=0, options={"tasks": fam.sample(2, seed=0)})
    before = venv._episode.copy()
    with pytest.raises(ConfigError) as err:
        venv.step(np.asarray(bad))
    assert words in one_line(err)
    np.testing.assert_array_equal(venv._episode, before)


def test_bandit_range_options_must_be_numbers():
    for kw, words in [({"low": "a"}, "low must be a number, got 'a'"), ({"low": None}, "low must be a number"),
                      ({"low": False, "high": True}, "low must be a number, got False")]:
        with pytest.raises(ConfigError) as err:
            metarl.make_family("bandit", **kw)
        assert words in one_line(err)


def test_non_finite_box_actions_are_refused():
    fam = metarl.make_family("point-nav")
    venv = fam.make_vector_env(3, 2)
    venv.reset(seed=0, options={"tasks": fam.sample(3, seed=0)})
    # FloatingPointError, like a non-finite loss: the trainer turns it into TrainingDiverged
    with pytest.raises(FloatingPointError) as err:
        venv.step(np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, np.inf]]))
    assert "non-finite actions for slot(s) [1, 2]" in one_line(err)
    env = metarl.TrialWrapper(fam.make_env(fam.sample(1, seed=0)[0]), episodes=2)
    env.reset(seed=0)
    with pytest.raises(FloatingPointError, match="non-finite action"):
        env.step(np.array([np.nan, 0.0], np.float32))
    env.step(np.array([0.05, 0.0], np.float32))          # still usable


def test_a_policy_with_nan_parameters_stops_training_as_diverged(tmp_path):
    import torch

    from metarl.training.config import Experiment
    from metarl.training.rundir import new_run_dir
    from metarl.training.trainer import Trainer, TrainingDiverged

    exp = Experiment(name="nan_nav", family="point-nav", agent="rl2", family_kwargs={"horizon": 5})
    exp = exp.with_overrides({"episodes_per_trial": 2, "total_steps": 200, "quiet": True, "hidden_size": 8,
                              "trials_per_update": 4, "baselines": False, "run_root": str(tmp_path)})
    trainer = Trainer(exp)
    with torch.no_grad():
        for p in trainer.agent.net.parameters():
            p.fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as err:
        trainer.run(new_run_dir(exp, None))
    assert "training diverged at iteration 1" in one_line(err) and "non-finite action" in str(err.value)


def test_non_finite_parameters_are_never_checkpointed(tmp_path):
    import torch

    from metarl.training.config import Experiment
    from metarl.training.rundir import new_run_dir
    from metarl.training.trainer import Trainer, TrainingDiverged

    exp = Experiment(name="nan_ckpt", family="bandit", agent="rl2", family_kwargs={"arms": 2})
    exp = exp.with_overrides({"episodes_per_trial": 3, "total_steps": 10_000, "quiet": True, "hidden_size": 8,
                              "trials_per_update": 8, "baselines": False, "checkpoint_every": 1,
                              "run_root": str(tmp_path)})
    trainer = Trainer(exp)
    update, calls = trainer.agent.update, []

    def breaking_update(batch):          # the second update leaves NaN weights behind finite metrics
        metrics = update(batch)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                next(trainer.agent.net.parameters()).fill_(float("nan"))
        return metrics

    trainer.agent.update = breaking_update
    run_dir = new_run_dir(exp, None)
    with pytest.raises(TrainingDiverged) as err:
        trainer.run(run_dir)
    assert "training diverged at iteration 2: non-finite values in" in one_line(err)
    assert "the last good checkpoint (iteration 1)" in str(err.value)
    kept = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)
    assert kept["iteration"] == 1
