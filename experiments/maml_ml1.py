"""MAML on Meta-World ML1 (slow, needs Meta-World): reach-v3 by default (``--env_name push-v3``).

Official ML1 split; 500-step episodes. MAML as in Meta-World's baseline: one inner
policy-gradient step on 10 episodes per task (linear feature baseline), TRPO outer step
through it; MLP 2x100 Gaussian policy (std 1 at start). One meta-iteration collects
10 tasks x 10 episodes x 500 steps x 2 = 100k steps. The report gives success and return
after 0..3 inner steps on the held-out goals. Meta-World's reference: MAML ML1 reach
test success near 100% after long training (Yu et al. 2019, figure 6).
``--family ml10`` / ``--family ml45`` run the same recipe on Meta-World's multi-class
benchmarks (held-out task classes; success per class in the report).
"""
from metarl.experiments._families import METAWORLD_SIBLINGS
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="maml_ml1",
    family="ml1",
    agent="maml",
    family_kwargs=dict(env_name="reach-v3"),
    agent_config=dict(hidden_sizes=[100, 100], inner_lr=0.1, inner_steps=1, trajectories=10, meta_batch=10,
                      outer="trpo", max_kl=0.01, cg_subsample=0.25, gamma=0.99),
    train=TrainConfig(episodes_per_trial=3, total_steps=3_000_000, eval_tasks=20, eval_tasks_periodic=5,
                      eval_every=5, checkpoint_every=5, baselines=False, inner_steps_eval=3),
    description=__doc__,
    family_choices=METAWORLD_SIBLINGS,
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
