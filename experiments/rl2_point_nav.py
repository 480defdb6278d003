"""RL² on 2D point navigation (the MAML paper's task, Finn et al. 2017).

Goal uniform in [-0.5, 0.5]^2, actions clipped to [-0.1, 0.1], reward = minus the squared
distance to the goal (as ``maml_point_nav``, so the two presets solve the same task;
``--reward distance`` for the Euclidean one), 100 steps per episode. A trial of
``episodes_per_trial`` episodes lets the agent find the goal in the first episode and go
straight to it in later ones. The policy acts in [-1, 1] units mapped onto the action box
(``action_units="unit"``): in env units its initial noise was six times the action range,
and with that and 64-trial updates RL² learned no adaptation in 2M steps (both episodes
-40 with the Euclidean reward); 16-trial updates at a higher learning rate do (docs/results.md).
The previous-reward input is clipped to [-2, 2] (``reward_clip=2``; inside the goal box the
reward never goes below -2): without it 2 of 5 seeds ran away (trial returns of -6838 and
-13408), with it none did, and 3 of 5 learned to adapt against 1 of 5 (docs/results.md).
"""
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="rl2_point_nav",
    family="point-nav",
    agent="rl2",
    family_kwargs={"reward": "squared"},
    agent_config=dict(hidden_size=128, trials_per_update=16, minibatches=2, epochs=4, lr=1e-3, lr_final=1e-4,
                      ent_coef=0.0, ent_coef_final=0.0, gamma=0.99, gae_lambda=0.95, value_scale=0.1,
                      action_units="unit", reward_clip=2.0),
    train=TrainConfig(episodes_per_trial=2, total_steps=2_000_000, eval_tasks=500, checkpoint_every=20),
    description=__doc__,
    # the non-meta baseline: `--agent sb3-ppo` (stable-baselines3 PPO, memoryless MLP, same steps)
    agent_choices=("sb3-ppo",),
    choice_configs={"sb3-ppo": dict(trials_per_update=16, minibatch_size=256, epochs=10)},
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
