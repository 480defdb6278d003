"""MAML on HalfCheetah target velocity (Finn et al. 2017, section 5.3; slow, needs MuJoCo).

Target velocity uniform in [0, 2] (``--vel_high 3`` for PEARL's range), reward
-|v - v*| - 0.05 |a|^2, 200-step episodes. MAML as in the paper: 2x100 ReLU Gaussian
policy, one inner policy-gradient step of size 0.1 on 20 episodes per task (linear
feature baseline), TRPO outer step (KL 0.01) through the inner step; the paper's
meta-batch is 40 tasks, the preset uses 20 to fit a 2-core budget (``--meta_batch 40``
for the paper's). One meta-iteration collects 20 x 20 x 200 x 2 = 160k steps; the preset
runs 213 of them (34.08M steps, about 50 minutes on one thread): measured with seed 0, the
return per episode on 40 test velocities rises from -141.8 before adaptation to -100.0 after
one inner step. At 63 iterations (10M steps) it had learned no adaptation yet (-174.8 / -175.8).

The held-out report gives the return after 0..3 inner steps (20 episodes each) on test
velocities, and the per-episode curve of a 3-episode trial (one-episode inner steps).
``--family ant-dir`` (or cheetah-dir, cheetah-dynamics, ant-goal, hopper-dynamics,
walker-dynamics) runs the same recipe on another 200-step MuJoCo family.
"""
from metarl.experiments._families import MUJOCO_SIBLINGS
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="maml_cheetah_vel",
    family="cheetah-vel",
    agent="maml",
    family_kwargs=dict(vel_low=0.0, vel_high=2.0, horizon=200),
    agent_config=dict(hidden_sizes=[100, 100], inner_lr=0.1, inner_steps=1, trajectories=20, meta_batch=20,
                      outer="trpo", max_kl=0.01, cg_subsample=0.25, gamma=0.99),
    train=TrainConfig(episodes_per_trial=3, total_steps=34_080_000, eval_tasks=40, eval_tasks_periodic=10,
                      eval_every=10, checkpoint_every=5, baselines=False, inner_steps_eval=3),
    description=__doc__,
    family_choices=MUJOCO_SIBLINGS,
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
