"""ProtoNet (Snell et al. 2017) on 5-way 1-shot classification of held-out classes.

``fewshot-classification`` is a synthetic class pool seen through a fixed random nonlinear
renderer (no dataset download); test tasks use classes that training never sees. A trial
is the 5 support examples (one per class, in random order) followed by 15 queries, so the
trial return is the number of correct predictions out of 20. The evaluation puts the
nearest-centroid baseline (the same classifier on raw features, no learning) and random
guessing beside it: what ProtoNet's learned embedding adds is the gap to nearest-centroid (a
learned embedding, not episodic training as such: docs/results.md).
"""
from metarl.training.config import Experiment, TrainConfig
from metarl.training.runner import main_for

EXPERIMENT = Experiment(
    name="protonet_fewshot",
    family="fewshot-classification",
    agent="protonet",
    family_kwargs={"ways": 5, "shots": 1},
    agent_config=dict(hidden_sizes=[64, 64], embedding=32, lr=1e-3, lr_final=1e-4, trials_per_update=32, epochs=1),
    train=TrainConfig(episodes_per_trial=20, total_steps=400_000, eval_tasks=1000, checkpoint_every=100),
    description=__doc__,
)

if __name__ == "__main__":
    raise SystemExit(main_for(EXPERIMENT))
