"""RL² on CartPole with randomised physics (gravity, masses, pole length, force).

Each task draws its physical parameters log-uniformly from 0.5x-2x the nominal values;
a trial is ``episodes_per_trial`` episodes (up to 500 steps each) of one such cart-pole.
Measured (docs/results.md): these ranges need no adaptation. The memoryless non-meta
baseline (``--agent sb3-ppo``) balances every held-out cart-pole for the full 500 steps, and
RL² scores 997.6 of 1000. So this preset tests RL² on long trials with continuous-state physics
(and ``metarl bench rl2`` times it), not what meta-learning adds. ``--force_sign both``
reverses the push on half the tasks (action 1 pushes left), which no policy of the state
alone can balance; those tasks need adaptation within the first steps.
"""
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="rl2_cartpole_dynamics",
    family="cartpole-dynamics",
    agent="rl2",
    # Trials run up to 1000 steps: train on 100-step chunks from the recorded memory
    # (truncated BPTT) so minibatches hold many sequences instead of a few very long ones.
    agent_config=dict(hidden_size=128, trials_per_update=16, minibatches=4, epochs=4, lr=3e-4, lr_final=3e-5,
                      ent_coef=0.01, ent_coef_final=0.0, gamma=0.99, gae_lambda=0.95, value_scale=0.01,
                      bptt_chunk=100),
    train=TrainConfig(episodes_per_trial=2, total_steps=1_000_000, eval_tasks=200, checkpoint_every=10),
    description=__doc__,
    # the non-meta baseline: `--agent sb3-ppo` (stable-baselines3 PPO, memoryless MLP, same steps)
    agent_choices=("sb3-ppo",),
    choice_configs={"sb3-ppo": dict(trials_per_update=16, minibatch_size=256, epochs=10)},
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
