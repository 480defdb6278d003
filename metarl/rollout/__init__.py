"""How experience is collected: trials, vectors of trials, GAE."""
from metarl.rollout.multiproc import ProcessTrialVectorEnv, RolloutWorkerError
from metarl.rollout.resample import ResamplingTrialEnv
from metarl.rollout.trial import TrialLayout, TrialWrapper
from metarl.rollout.vector import NativeTrialVectorEnv, SyncTrialVectorEnv, TrialVectorEnv

__all__ = ["ResamplingTrialEnv", "TrialLayout", "TrialWrapper", "TrialVectorEnv", "NativeTrialVectorEnv",
           "SyncTrialVectorEnv", "ProcessTrialVectorEnv", "RolloutWorkerError"]
