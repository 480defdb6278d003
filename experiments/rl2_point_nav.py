"""RL² on 2D point navigation (the MAML paper's task, Finn et al. 2017).

Goal uniform in [-0.5, 0.5]^2, actions clipped to [-0.1, 0.1], reward = -distance to
the goal, 100 steps per episode. A trial of ``episodes_per_trial`` episodes lets the
agent find the goal in the first episode and go straight to it in later ones.
"""
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="rl2_point_nav",
    family="point-nav",
    agent="rl2",
    agent_config=dict(hidden_size=128, trials_per_update=64, minibatches=4, epochs=4, lr=3e-4, lr_final=3e-5,
                      ent_coef=0.0, ent_coef_final=0.0, gamma=0.99, gae_lambda=0.95, value_scale=0.1),
    train=TrainConfig(episodes_per_trial=2, total_steps=2_000_000, eval_tasks=500, checkpoint_every=20),
    description=__doc__,
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
