"""``--family NAME``: a preset's recipe on a sibling family (``Experiment.family_choices``)."""
from __future__ import annotations

import pytest

from helpers import cli
from metarl.errors import ConfigError
from metarl.training.config import Experiment, TrainConfig
from metarl.training.rundir import read_config
from metarl.training.runner import load_experiment, run_experiment
from metarl.training.trainer import Trainer

CHEETAH = load_experiment("rl2_cheetah_vel")


def test_swapping_the_family_takes_its_options_and_names_the_run():
    exp = CHEETAH.with_overrides({"family": "ant-dir", "directions": "any-angle"})
    assert (exp.name, exp.family, exp.family_kwargs) == ("rl2_ant_dir", "ant-dir", {"directions": "any-angle"})
    assert exp.agent_config == CHEETAH.agent_config and exp.train == CHEETAH.train
    assert exp.family_choices["cheetah-vel"] == CHEETAH.family_kwargs and "ant-dir" not in exp.family_choices
    with pytest.raises(ConfigError, match=r"unknown option --vel_high for experiment 'rl2_ant_dir'.*directions"):
        CHEETAH.with_overrides({"family": "ant-dir", "vel_high": "3"})
    # the order of --family and --agent does not matter: both name the run after the pair
    both = CHEETAH.with_overrides({"agent": "sb3-ppo", "family": "hopper-dynamics"})
    assert (both.name, both.agent, both.agent_config) == ("sb3-ppo_hopper_dynamics", "sb3-ppo",
                                                           CHEETAH.choice_configs["sb3-ppo"])
    # a run's config.yaml holds the choices, so it can swap back to the preset exactly
    back = Experiment.from_dict(exp.to_dict()).with_overrides({"family": "cheetah-vel"})
    assert (back.name, back.family_kwargs) == ("rl2_cheetah_vel", CHEETAH.family_kwargs)
    assert back.family_choices["ant-dir"] == {"directions": "any-angle"}


def test_a_family_the_preset_does_not_offer_is_a_one_line_error(capsys):
    with pytest.raises(ConfigError, match=r"--family='pendulum-dynamics' is not valid.*ant-dir"):
        CHEETAH.with_overrides({"family": "pendulum-dynamics"})
    assert cli(["train", "rl2_bandits", "--family", "tabular-mdp"]) == 2   # no family choices: only its own
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--family='tabular-mdp' is not valid; choose one of ['bandit']" in err[0], err


@pytest.mark.parametrize("preset", ["rl2_cheetah_vel", "maml_cheetah_vel", "rl2_ml1", "maml_ml1"])
def test_every_offered_family_builds_with_the_preset_recipe(preset):
    """Each sibling family builds its agent from the preset's options and passes the trainer's
    checks (trial length, trainable) before any run directory exists."""
    exp = load_experiment(preset)
    assert exp.family_choices, preset
    for family in exp.family_choices:
        if family == "ml45":
            continue   # building ML45's official task lists takes a minute; it shares ML10's code path
        swapped = exp.with_overrides({"family": family})
        trainer = Trainer(swapped)
        assert trainer.family.name == family and trainer.agent.name == exp.agent
        assert swapped.name == f"{exp.agent}_{family.replace('-', '_')}"


def test_a_sibling_family_run_resumes_only_as_itself(tmp_path, capsys):
    """Trained with --family, a run continues with the same --family (or its own name); the
    preset alone, or another sibling, is refused with the flags that would work."""
    preset = Experiment(name="rl2_bandits_tiny", family="bandit", agent="rl2", family_kwargs={"arms": 2},
                        agent_config=dict(hidden_size=8, trials_per_update=8, minibatches=1, epochs=1),
                        train=TrainConfig(episodes_per_trial=4, total_steps=64, eval_tasks=4, eval_tasks_periodic=2,
                                          baselines=False, quiet=True),
                        family_choices={"tabular-mdp": {"states": 3, "actions": 2, "horizon": 2},
                                        "point-nav": {}})
    run = tmp_path / "run"
    assert run_experiment(preset, ["--family", "tabular-mdp", "--run_dir", str(run)]) == 0
    cfg = read_config(run)
    assert (cfg.name, cfg.family, cfg.family_kwargs) == ("rl2_tabular_mdp", "tabular-mdp",
                                                         {"states": 3, "actions": 2, "horizon": 2})
    with pytest.raises(ConfigError, match=r"is a run of 'rl2_tabular_mdp', not 'rl2_bandits_tiny' "
                                          r"\(add --family tabular-mdp\)"):
        run_experiment(preset, ["--resume", str(run)])
    with pytest.raises(ConfigError, match=r"not 'rl2_point_nav' \(with --family tabular-mdp instead\)"):
        run_experiment(preset, ["--family", "point-nav", "--resume", str(run)])
    assert run_experiment(preset, ["--family", "tabular-mdp", "--resume", str(run), "--total_steps", "96"]) == 0
    assert cli(["train", "rl2_tabular_mdp", "--resume", str(run), "--total_steps", "200"]) == 0  # by its own name
    assert read_config(run).train.total_steps == 200
    capsys.readouterr()


def test_help_lists_the_sibling_families(capsys):
    assert cli(["train", "rl2_cheetah_vel", "--family", "ant-goal", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: metarl train rl2_ant_goal" in out and "family: ant-goal   agent: rl2" in out
    assert "--family cheetah-dir | cheetah-dynamics | ant-dir | hopper-dynamics | walker-dynamics | cheetah-vel" in out
    assert "\n  --radius " in out and "\n  --vel_high " not in out   # the options of the family it runs on
    # the preset's description is of cheetah-vel: a line before it says whose recipe this is,
    # and the family's own summary follows the family line
    assert "rl2_ant_goal is `metarl train rl2_cheetah_vel --family ant-goal`" in out
    assert "\n  Ant walking to a goal" in out
    assert cli(["train", "sb3-ppo_ml10", "--help"]) == 0
    assert "sb3-ppo_ml10 is `metarl train rl2_ml1 --family ml10 --agent sb3-ppo`" in capsys.readouterr().out
    assert cli(["train", "rl2_cheetah_vel", "--help"]) == 0
    assert "is `metarl train" not in capsys.readouterr().out           # a preset of its own


def test_a_sibling_run_name_is_an_experiment_name(capsys):
    """`metarl train rl2_ant_dir` is `metarl train rl2_cheetah_vel --family ant-dir` (and
    `sb3-ppo_point_nav` is `rl2_point_nav --agent sb3-ppo`); `metarl list` names them all."""
    assert load_experiment("rl2_ant_dir") == CHEETAH.with_overrides({"family": "ant-dir"})
    assert load_experiment("sb3-ppo_hopper_dynamics") == CHEETAH.with_overrides(
        {"family": "hopper-dynamics", "agent": "sb3-ppo"})
    assert load_experiment("sb3-ppo_point_nav") == load_experiment("rl2_point_nav").with_overrides(
        {"agent": "sb3-ppo"})
    assert cli(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()[-1]
    assert "rl2_ant_dir" in listed and "maml_ml10" in listed and "metasgd_sinusoid" in listed
    assert "rl2_cheetah_vel" not in listed     # presets are on the line above
    assert cli(["train", "rl2_ant_dirr"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'rl2_ant_dirr'" in err and "did you mean 'rl2_ant_dir'" in err, err
