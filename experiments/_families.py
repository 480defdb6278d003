"""Sibling families shared by presets whose recipe suits more than their own family
(``--family NAME``; ``Experiment.family_choices``). Each maps to the family options it runs
with: empty, so every family keeps its own defaults (200-step episodes for the MuJoCo ones)."""

# Locomotion families of the cheetah-vel presets: the same 200-step MuJoCo episodes with a
# reward (direction, goal) or the dynamics (masses, friction, damping) varying across tasks.
MUJOCO_SIBLINGS = {name: {} for name in ("cheetah-dir", "cheetah-dynamics", "ant-dir", "ant-goal",
                                         "hopper-dynamics", "walker-dynamics")}

# Meta-World benchmarks beside ML1 (500-step episodes of the same Sawyer arm; held-out task
# classes instead of held-out goals).
METAWORLD_SIBLINGS = {"ml10": {}, "ml45": {}}
