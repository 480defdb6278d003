"""ProcessTrialVectorEnv (trials stepped in worker processes) and the sampler choice.

Bit-identity with SyncTrialVectorEnv for the same seeds, tasks and actions; one-line errors
from workers; clean exit on close(), on a worker's death and on the parent's death.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import metarl
from metarl import ParamSpace, ParamSpec, Task, TaskFamily
from metarl.errors import ConfigError, MetaRLError
from metarl.rollout import sampler as sampler_mod
from metarl.rollout.multiproc import ProcessTrialVectorEnv, RolloutWorkerError
from metarl.rollout.vector import SyncTrialVectorEnv

from helpers import one_line


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pids, timeout=20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def assert_same_step(a, b, where):
    for name, x, y in zip(("obs", "reward", "terminated", "truncated"), a[:4], b[:4]):
        assert x.dtype == y.dtype and x.shape == y.shape, f"{where}: {name}"
        np.testing.assert_array_equal(x, y, err_msg=f"{where}: {name}")
    assert list(a[4]) == list(b[4]) or set(a[4]) == set(b[4]), f"{where}: info keys {list(a[4])} vs {list(b[4])}"
    for k in b[4]:
        assert a[4][k].dtype == b[4][k].dtype, f"{where}: info[{k!r}] dtype"
        np.testing.assert_array_equal(a[4][k], b[4][k], err_msg=f"{where}: info[{k!r}]")


def run_both(fam, num_envs, episodes, resets, workers=2, seed=0, dtype=None, local=True):
    """Step a process env and a sync env side by side through ``resets`` = [(seed, tasks)],
    each until every trial has finished plus 2 steps, with actions of ``dtype`` (default:
    the action space's); returns the steps per reset."""
    proc = ProcessTrialVectorEnv(fam, num_envs, episodes, workers=workers, local_block=local)
    sync = SyncTrialVectorEnv(fam, num_envs, episodes)
    rng = np.random.default_rng(seed)
    space = sync.single_action_space
    lengths = []
    try:
        assert proc.single_observation_space == sync.single_observation_space
        assert proc.single_action_space == space and proc.max_trial_steps == sync.max_trial_steps
        for r, (s, tasks) in enumerate(resets):
            a, b = proc.reset(seed=s, options={"tasks": tasks}), sync.reset(seed=s, options={"tasks": tasks})
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1]["episode_index"], b[1]["episode_index"])
            extra = 0
            for t in range(sync.max_trial_steps + 3):
                acts = rng.uniform(space.low * 1.25, space.high * 1.25, (num_envs, *space.shape))
                acts = acts.astype(dtype or space.dtype)
                out_s = sync.step(acts)
                assert_same_step(proc.step(acts), out_s, f"reset {r} step {t}")
                if (out_s[2] | out_s[3]).all():
                    extra += 1
                    if extra == 2:  # finished slots repeat their last values
                        break
            lengths.append(t + 1)
    finally:
        proc.close()
        sync.close()
    return lengths


@pytest.mark.parametrize("local", [True, False])
def test_process_env_is_bit_identical_to_sync_on_mujoco(local):
    """hopper-dynamics: per-slot dynamics, early terminations (trials of different lengths),
    uneven blocks (2 + 2 + 1 with the local block, 3 + 2 without); then a second reset with
    new tasks and seed=None (streams continue), and one with a list of seeds."""
    fam = metarl.make_family("hopper-dynamics", horizon=25)
    lengths = run_both(fam, 5, 2, [(7, fam.sample(5, seed=1)), (None, fam.sample(5, seed=2)),
                                   ([3, 1, 4, 1, 5], fam.sample(5, seed=3))], local=local)
    assert all(n <= 2 * 25 + 2 for n in lengths)


def test_process_env_is_bit_identical_to_sync_on_metaworld():
    fam = metarl.make_family("ml1", env_name="reach-v3", horizon=12)
    run_both(fam, 3, 2, [(0, fam.sample(3, split="test", seed=0)), (5, fam.sample(3, seed=1))], workers=2)


def test_one_worker_other_action_dtypes_and_repr():
    fam = metarl.make_family("cheetah-vel", horizon=5)
    run_both(fam, 2, 1, [(0, fam.sample(2, seed=0))], workers=1, local=False, dtype=np.float64)
    run_both(RaisingFamily(), 3, 2, [(0, raising_tasks([0, 0, 0]))], workers=1, dtype=object)  # sent inline
    venv = ProcessTrialVectorEnv(fam, 3, 1, workers=2)
    assert venv.workers == 2 and venv.blocks == [(0, 1), (1, 2), (2, 3)] and len(venv.pids) == 2
    assert "workers=2 local_block=True" in repr(venv)
    venv.close()
    venv = ProcessTrialVectorEnv(fam, 3, 1, workers=2, local_block=False)
    assert venv.blocks == [(0, 2), (2, 3)] and "local_block=False" in repr(venv)
    venv.close()
    venv = ProcessTrialVectorEnv(fam, 1, 1)  # one slot: one worker, no local block
    assert venv.workers == 1 and venv.blocks == [(0, 1)] and "local_block=False" in repr(venv)
    venv.close()
    with pytest.raises(ConfigError) as e:
        ProcessTrialVectorEnv(fam, 2, 1, workers=2)
    assert "workers=2 plus the local block" in one_line(e)


def test_torch_threads_are_limited_during_a_pass_and_restored():
    torch = pytest.importorskip("torch")
    fam = metarl.make_family("cheetah-vel", horizon=3)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        venv = ProcessTrialVectorEnv(fam, 2, 1)
        venv.reset(seed=0, options={"tasks": fam.sample(2)})
        assert torch.get_num_threads() == 1
        for _ in range(3):
            assert torch.get_num_threads() == 1
            *_, term, trunc, _ = venv.step(np.zeros((2, 6), np.float32))
        assert (term | trunc).all() and torch.get_num_threads() == 2  # every trial ended
        venv.reset(seed=0, options={"tasks": fam.sample(2)})
        assert torch.get_num_threads() == 1
        venv.close()  # mid-pass
        assert torch.get_num_threads() == 2
        off = ProcessTrialVectorEnv(fam, 2, 1, limit_torch_threads=False)
        off.reset(seed=0, options={"tasks": fam.sample(2)})
        assert torch.get_num_threads() == 2
        off.close()
    finally:
        torch.set_num_threads(before)


# ---- errors and process lifetime ---------------------------------------------------------------
class RaisingEnv(gym.Env):
    """Counts steps; raises RuntimeError at the step ``task.params["fail_at"]`` of an episode."""

    def __init__(self, task):
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.task, self.t = task, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = (options or {}).get("task", self.task)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == self.task.params["fail_at"]:
            raise RuntimeError(f"boom at step {self.t}\nsecond line")
        return np.full(1, self.t, np.float32), 1.0, False, self.t >= 10, {}


class RaisingFamily(TaskFamily):
    name = "test-multiproc-raising"
    params = ParamSpace([ParamSpec("fail_at", 0, 100)])
    max_episode_steps = 10
    step_cost = "heavy"

    def sample_params(self, rng, split):
        return {"fail_at": 0}

    def make_env(self, task):
        return RaisingEnv(task)


def raising_tasks(fail_at):
    return [Task("test-multiproc-raising", {"fail_at": f}, task_id=f"r/{i}") for i, f in enumerate(fail_at)]


def test_worker_exception_is_one_line_and_names_the_worker():
    venv = ProcessTrialVectorEnv(RaisingFamily(), 4, 1, workers=2, local_block=False)
    venv.reset(seed=0, options={"tasks": raising_tasks([0, 0, 0, 3])})
    venv.step(np.zeros((4, 1), np.float32))
    venv.step(np.zeros((4, 1), np.float32))
    with pytest.raises(RolloutWorkerError) as e:
        venv.step(np.zeros((4, 1), np.float32))
    msg = one_line(e)
    assert "rollout worker 1 (slots 2-3" in msg and "RuntimeError: boom at step 3 second line" in msg
    # the worker survives its env's error: a new reset works
    obs, _ = venv.reset(seed=0, options={"tasks": raising_tasks([0, 0, 0, 0])})
    assert obs.shape == (4, venv.layout.dim)
    venv.close()


def test_an_error_in_the_local_block_is_raised_as_the_sync_env_would():
    venv = ProcessTrialVectorEnv(RaisingFamily(), 3, 1, workers=2)  # slot 0 is stepped in this process
    venv.reset(seed=0, options={"tasks": raising_tasks([1, 0, 0])})
    with pytest.raises(RuntimeError, match="boom at step 1"):
        venv.step(np.zeros((3, 1), np.float32))
    obs, _ = venv.reset(seed=0, options={"tasks": raising_tasks([0, 0, 0])})  # the workers stayed in step
    out = venv.step(np.zeros((3, 1), np.float32))
    assert obs.shape == (3, venv.layout.dim) and out[4]["active"].all()
    venv.close()


def test_metarl_errors_keep_their_class():
    fam = metarl.make_family("ml1", env_name="reach-v3", horizon=5)
    good = fam.sample(2, seed=0)
    p = dict(good[1].params)
    bad = Task("ml1", {**p, "rand_vec": [0.0, 0.8, 0.02, 0.0, 0.85, 0.2]}, task_id="close")
    venv = ProcessTrialVectorEnv(fam, 2, 1, workers=2, local_block=False)
    with pytest.raises(ConfigError) as e:  # reach-v3's reset constraints, raised in worker 1
        venv.reset(seed=0, options={"tasks": [good[0], bad]})
    assert "rollout worker 1" in one_line(e) and "reset constraints" in str(e.value)
    with pytest.raises(ConfigError) as e:  # checked in the parent, before any worker is asked
        venv.reset(seed=0, options={"tasks": good[:1]})
    assert "num_envs=2" in one_line(e)
    venv.close()


def test_close_ends_the_workers_and_use_after_close_fails():
    fam = metarl.make_family("cheetah-vel", horizon=5)
    venv = ProcessTrialVectorEnv(fam, 2, 1)
    pids = venv.pids
    venv.reset(seed=0, options={"tasks": fam.sample(2)})
    venv.close()
    assert wait_gone(pids, timeout=5.0)
    venv.close()  # twice is fine
    with pytest.raises(MetaRLError) as e:
        venv.reset(seed=0, options={"tasks": fam.sample(2)})
    assert "close" in one_line(e)


def test_a_dead_worker_is_reported_and_the_env_shuts_down():
    fam = metarl.make_family("cheetah-vel", horizon=5)
    venv = ProcessTrialVectorEnv(fam, 4, 1, workers=2, local_block=False)
    venv.reset(seed=0, options={"tasks": fam.sample(4)})
    os.kill(venv.pids[1], 9)
    with pytest.raises(RolloutWorkerError) as e:
        venv.step(np.zeros((4, 6), np.float32))
    msg = one_line(e)
    assert "rollout worker 1 (slots 2-3" in msg and "died" in msg
    assert wait_gone(venv.pids, timeout=5.0)
    with pytest.raises(RolloutWorkerError) as e:
        venv.reset(seed=0, options={"tasks": fam.sample(4)})
    assert "shut down after an error" in one_line(e)


def test_a_worker_dead_before_the_send_is_reported_as_died():
    """Once the killed worker has exited, sending to it fails (a broken pipe) before any reply
    is read: still "died", with its exit code, not "cannot be reached"."""
    fam = metarl.make_family("cheetah-vel", horizon=5)
    venv = ProcessTrialVectorEnv(fam, 4, 1, workers=2, local_block=False)
    venv.reset(seed=0, options={"tasks": fam.sample(4)})
    os.kill(venv.pids[1], 9)
    venv._w.procs[1].wait(timeout=10)
    with pytest.raises(RolloutWorkerError) as e:
        venv.step(np.zeros((4, 6), np.float32))
    msg = one_line(e)
    assert "rollout worker 1 (slots 2-3" in msg and "died during step (exit code -9)" in msg, msg
    assert wait_gone(venv.pids, timeout=5.0)


def test_workers_exit_when_the_parent_dies():
    script = textwrap.dedent("""
        import os, metarl
        from metarl.rollout.multiproc import ProcessTrialVectorEnv
        fam = metarl.make_family("cheetah-vel", horizon=5)
        venv = ProcessTrialVectorEnv(fam, 3, 1, workers=2)
        venv.reset(seed=0, options={"tasks": fam.sample(3)})
        print(*venv.pids, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    pids = [int(x) for x in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    assert wait_gone(pids, timeout=10.0)


def test_a_family_that_cannot_be_pickled_is_refused():
    fam = RaisingFamily()
    fam.hook = lambda: None
    with pytest.raises(ConfigError) as e:
        ProcessTrialVectorEnv(fam, 2, 1)
    assert "sampler='sync'" in one_line(e)


# ---- the sampler choice ------------------------------------------------------------------------
def test_sampler_choice(monkeypatch):
    monkeypatch.delenv(sampler_mod.ENV_VAR, raising=False)
    monkeypatch.setattr("metarl.rollout.multiproc.usable_cpus", lambda: 2)
    cheetah = metarl.make_family("cheetah-vel")            # heavy, 200-step episodes
    cartpole = metarl.make_family("cartpole-dynamics")     # light
    resolve = sampler_mod.resolve_sampler
    assert resolve(cheetah, 16, 2) == "process"            # 6400 steps per pass
    assert resolve(cheetah, 2, 2) == "sync"                # small: start-up would dominate
    assert resolve(cheetah, 1, 100) == "sync"              # one slot
    assert resolve(cartpole, 64, 2) == "sync"
    assert resolve(cheetah, 2, 2, "process") == "process" and resolve(cheetah, 64, 2, "sync") == "sync"
    monkeypatch.setattr("metarl.rollout.multiproc.usable_cpus", lambda: 1)
    assert resolve(cheetah, 64, 2) == "sync"
    monkeypatch.setenv(sampler_mod.ENV_VAR, "process")
    assert resolve(cartpole, 2, 1) == "process" and resolve(cheetah, 2, 2, "auto") == "sync"
    monkeypatch.setenv(sampler_mod.ENV_VAR, "threads")
    with pytest.raises(ConfigError) as e:
        resolve(cheetah, 16, 2)
    msg = one_line(e)
    assert "METARL_SAMPLER='threads'" in msg and "sync" in msg and "process" in msg
    with pytest.raises(ConfigError) as e:
        cheetah.make_vector_env(2, 1, sampler="ray")
    assert "sampler='ray'" in one_line(e)


def test_make_vector_env_builds_the_chosen_env(monkeypatch):
    monkeypatch.delenv(sampler_mod.ENV_VAR, raising=False)
    fam = metarl.make_family("cheetah-vel", horizon=5)
    venv = fam.make_vector_env(3, 1, sampler="process")
    assert isinstance(venv, ProcessTrialVectorEnv)
    venv.close()
    assert isinstance(fam.make_vector_env(3, 1), SyncTrialVectorEnv)  # 15 steps per pass: in-process
    bandit = metarl.make_family("bandit", arms=3)
    assert not isinstance(bandit.make_vector_env(64, 10), (SyncTrialVectorEnv, ProcessTrialVectorEnv))
    # a native family accepts (and checks) the argument, and keeps its batched env
    assert type(bandit.make_vector_env(4, 2, sampler="process")) is type(bandit.make_vector_env(4, 2))
    with pytest.raises(ConfigError) as e:
        bandit.make_vector_env(4, 2, sampler="fast")
    assert "sampler='fast'" in one_line(e)
