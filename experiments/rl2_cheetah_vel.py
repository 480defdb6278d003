"""RL² on HalfCheetah target velocity (slow, needs MuJoCo).

Target velocity uniform in [0, 2] (MAML paper; ``--vel_high 3`` for PEARL's range),
reward -|v - v*| - 0.05 |a|^2, 200-step episodes; a trial is 2 episodes of one target, so
the agent can identify the velocity in the first and track it from the start of the
second. GRU 256 as in Meta-World+/AMAGO-style RL² baselines; 200-step truncated BPTT
chunks from the recorded memory.

The same recipe runs on the other 200-step MuJoCo families: ``--family ant-dir`` (or
cheetah-dir, cheetah-dynamics, ant-goal, hopper-dynamics, walker-dynamics), with that
family's options; the run is then named ``rl2_ant_dir``.
"""
from metarl.experiments._families import MUJOCO_SIBLINGS
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="rl2_cheetah_vel",
    family="cheetah-vel",
    agent="rl2",
    family_kwargs=dict(vel_low=0.0, vel_high=2.0, horizon=200),
    agent_config=dict(hidden_size=256, trials_per_update=16, minibatches=4, epochs=4, lr=3e-4, lr_final=3e-5,
                      ent_coef=0.0, ent_coef_final=0.0, gamma=0.99, gae_lambda=0.95, value_scale=0.01,
                      bptt_chunk=200),
    train=TrainConfig(episodes_per_trial=2, total_steps=5_000_000, eval_tasks=100, eval_tasks_periodic=20,
                      checkpoint_every=10, baselines=True),
    description=__doc__,
    family_choices=MUJOCO_SIBLINGS,
    # the non-meta baseline: `--agent sb3-ppo` (stable-baselines3 PPO, memoryless MLP, same steps)
    agent_choices=("sb3-ppo",),
    choice_configs={"sb3-ppo": dict(trials_per_update=16, minibatch_size=256, epochs=10)},
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
