"""``metarl bench rollout``: rollout throughput against the simulator's single-core limit.

For each setting (cheetah-vel: HalfCheetah-v5, 2-episode trials of 200 steps; ml1
reach-v3: Meta-World, 500-step episodes) it measures, one after the other in this process:

- ``raw``: one bare simulator env (the Gymnasium ``HalfCheetahEnv`` / Meta-World's Sawyer
  env, no metarl wrapper) stepped with uniform random actions: the physical single-core
  limit of this machine;
- ``collect sync`` / ``collect process``: the framework collecting whole trials with a real
  policy in the loop (an RL² agent, GRU 256, ``agent.collect`` of 64 trials: trial wrapper,
  policy forward and sampling on the [64] batch, buffers), in the in-process loop
  (``SyncTrialVectorEnv``) and in worker processes (``ProcessTrialVectorEnv``, one per
  CPU); the start-up column is the time to build the vector env;
- ``train process`` (ml1 only): full RL² training, collect + PPO update (the ``rl2_ml1``
  preset's agent settings: GRU 256, 10 trials of 3 episodes per update, 4 epochs, 250-step
  truncated BPTT), env steps/s including the updates.

Each row prints env steps/s and the ratio to the setting's ``raw`` rate. Targets (on
2 cores): collection >= 1.6x raw, RL² training on ml1 >= 0.6x raw. The figures depend on
the machine's load: the 1-minute load average is printed before and after, and each row's
``other CPUs`` column is the CPU time that processes other than this benchmark (and its
workers) used during that row, in CPUs (Linux ``/proc``; 0.00 = the row ran alone).
The policy runs on ``--device`` (default cpu, the targets' setting; cuda puts the GRU on a
GPU while the simulators stay on the CPU).
"""
from __future__ import annotations

import argparse
import os
import time

from metarl.experiments._bench import HelpFormatter, add_device_option, number, parsed_device
from metarl.rollout.multiproc import usable_cpus

SETTINGS = {
    # name: (family, family kwargs, episodes per trial, trials per collect)
    "cheetah-vel": ("cheetah-vel", {}, 2, 64),
    "ml1": ("ml1", {"env_name": "reach-v3"}, 1, 64),
}
TARGET_COLLECT, TARGET_TRAIN = 1.6, 0.6
#: the rl2_ml1 preset's agent settings (experiments/rl2_ml1.py)
ML1_TRAIN = dict(hidden_size=256, trials_per_update=10, minibatches=2, epochs=4, lr=3e-4, lr_final=3e-5,
                 ent_coef=0.0, ent_coef_final=0.0, gamma=0.99, gae_lambda=0.95, value_scale=0.01, bptt_chunk=250)
ML1_TRAIN_EPISODES = 3


class OtherLoad:
    """CPU time used by every process except ours during a measurement, in CPUs (Linux only;
    nan elsewhere): (busy ticks of the machine - ticks of this process and ``pids``) / time."""

    def __init__(self, pids=()) -> None:
        self.pids = list(pids)

    @staticmethod
    def _busy() -> int:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq

    def _ours(self) -> int:
        total = 0
        for pid in [os.getpid(), *self.pids]:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime stime
            except (FileNotFoundError, IndexError, ValueError):
                pass
        return total

    def __enter__(self) -> "OtherLoad":
        try:
            self._start = (time.perf_counter(), self._busy(), self._ours())
        except OSError:
            self._start = None
        self.cpus = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        if self._start is None:
            return
        t0, busy0, ours0 = self._start
        ticks = os.sysconf("SC_CLK_TCK")
        other = (self._busy() - busy0) - (self._ours() - ours0)
        self.cpus = max(0.0, other / ticks / max(time.perf_counter() - t0, 1e-9))


def load_average() -> float:
    """The 1-minute load average (nan where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def bare_env(family, task):
    """The simulator env alone: Meta-World's Sawyer env with the task's goal set, or the
    Gymnasium MuJoCo env inside the family's wrappers."""
    if hasattr(family, "to_metaworld_task"):
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        raw = ALL_V3_ENVIRONMENTS[task.params["env_name"]]()
        raw.set_task(family.to_metaworld_task(task))
        return raw
    return family.make_env(task).unwrapped


def _raw_loop(family, task, seed: int):
    """(bare env, random actions [256, act_dim], horizon) for ``task``."""
    import numpy as np

    raw = bare_env(family, task)
    space = raw.action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high, size=(256, *space.shape))
    raw.reset(seed=seed)
    return raw, actions.astype(space.dtype), int(family.max_episode_steps)


def _run_raw(raw, actions, horizon: int, seconds: float) -> float:
    """Steps/s of ``raw`` over ``actions`` (cycled) for ``seconds``, a reset every ``horizon``."""
    steps, t, start = 0, 0, time.perf_counter()
    while True:
        for a in actions:
            raw.step(a)
            t += 1
            if t == horizon:
                raw.reset()
                t = 0
        steps += len(actions)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def raw_rate(family, seconds: float, seed: int) -> tuple[float, float]:
    """(steps/s, other CPUs) of the bare simulator env under the family's first test task,
    uniform random actions, a reset every ``family.max_episode_steps`` steps (included)."""
    raw, actions, horizon = _raw_loop(family, family.sample(1, split="test", seed=seed)[0], seed)
    with OtherLoad() as other:
        rate = _run_raw(raw, actions, horizon, seconds)
    raw.close()
    return rate, other.cpus


def raw_child(spec: str) -> None:
    """Entry of one process of ``raw_parallel``: build the env, print "ready", wait for a line
    on stdin, run, print the rate."""
    import json
    import sys

    import metarl

    name, fam_kw, task, seconds, seed = json.loads(spec)
    raw, actions, horizon = _raw_loop(metarl.make_family(name, **fam_kw), metarl.Task.from_dict(task), seed)
    print("ready", flush=True)
    sys.stdin.readline()
    print(_run_raw(raw, actions, horizon, seconds), flush=True)


def raw_parallel(family, fam_kw: dict, copies: int, seconds: float, seed: int) -> tuple[float, float]:
    """(total steps/s, other CPUs) of ``copies`` processes each stepping its own bare env (the
    task of ``raw_rate``) at the same time: how far this machine scales with independent
    processes."""
    import json
    import subprocess
    import sys

    task = family.sample(1, split="test", seed=seed)[0].to_dict()
    spec = json.dumps([family.name, fam_kw, task, seconds, seed])
    code = f"from metarl.experiments.bench_rollout import raw_child; raw_child({spec!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(copies)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"raw benchmark process {p.pid} failed to start")
        with OtherLoad([p.pid for p in procs]) as other:
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            rates = [float(p.stdout.readline()) for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
            try:
                p.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
    return sum(rates), other.cpus


def collect_rate(family, agent, venv, trials: int, seconds: float, seed: int) -> tuple[float, int, float]:
    """(env steps/s, collects, other CPUs) of ``agent.collect`` on ``venv`` for at least
    ``seconds`` (at least one collect)."""
    from metarl.seeding import make_rng

    rng = make_rng(seed, "bench-rollout")
    steps, n, start = 0, 0, time.perf_counter()
    with OtherLoad(getattr(venv, "pids", ())) as other:
        while n == 0 or time.perf_counter() - start < seconds:
            batch = agent.collect(venv, family.sample(trials, seed=rng), seed=seed + n)
            steps += batch.stats["env_steps"]
            n += 1
    return steps / (time.perf_counter() - start), n, other.cpus


def train_rate(family, seconds: float, seed: int, sampler: str, device: str = "cpu") -> dict:
    """RL² training (collect + PPO update) with the rl2_ml1 preset's agent settings."""
    import metarl
    from metarl.seeding import make_rng

    c = ML1_TRAIN
    agent = metarl.make_agent("rl2", family, seed=seed, device=device, **c)
    venv = family.make_vector_env(c["trials_per_update"], ML1_TRAIN_EPISODES, sampler=sampler)
    rng = make_rng(seed, "bench-rollout-train")
    steps, n, t_collect, start = 0, 0, 0.0, time.perf_counter()
    with OtherLoad(getattr(venv, "pids", ())) as other:
        while n == 0 or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            batch = agent.collect(venv, family.sample(c["trials_per_update"], seed=rng), seed=seed + n)
            t_collect += time.perf_counter() - t0
            batch.stats["progress"] = 0.0
            agent.update(batch)
            steps += batch.stats["env_steps"]
            n += 1
    elapsed = time.perf_counter() - start
    venv.close()
    return {"sps": steps / elapsed, "updates": n, "collect_share": t_collect / elapsed,
            "kind": type(venv).__name__, "other": other.cpus}


def run_setting(name: str, seconds: float, train_seconds: float, seed: int, samplers: list[str],
                trials: int | None, horizon: int | None, device: str = "cpu") -> list[tuple]:
    import metarl

    fam_name, fam_kw, k, default_trials = SETTINGS[name]
    trials = trials or default_trials
    fam_kw = {**fam_kw, **({"horizon": horizon} if horizon else {})}
    family = metarl.make_family(fam_name, **fam_kw)
    family.sample(1, seed=0)  # build lazy caches (Meta-World's task lists) outside the timings
    rows = []
    raw, other = raw_rate(family, seconds, seed)
    rows.append((name, "raw single env, random actions", "1 env", raw, None, other))
    print(f"[{name}] raw: {raw:.0f} steps/s", flush=True)
    copies = usable_cpus()
    if copies > 1:
        par, other = raw_parallel(family, fam_kw, copies, seconds, seed)
        rows.append((name, f"raw, {copies} processes at once", f"{copies} x 1 env", par, None, other))
        print(f"[{name}] raw, {copies} processes at once: {par:.0f} steps/s in total", flush=True)
    agent = metarl.make_agent("rl2", family, hidden_size=256, trials_per_update=trials, seed=seed, device=device)
    for sampler in samplers:
        t0 = time.perf_counter()
        venv = family.make_vector_env(trials, k, sampler=sampler)
        start_s = time.perf_counter() - t0
        sps, n, other = collect_rate(family, agent, venv, trials, seconds, seed)
        venv.close()
        what = f"{trials} trials x {k} ep"
        rows.append((name, f"collect {sampler}, RL² policy", what, sps, start_s, other))
        print(f"[{name}] collect {sampler}: {sps:.0f} steps/s ({n} collects, start-up {start_s:.2f} s)",
              flush=True)
    if name == "ml1" and train_seconds > 0:
        tr = train_rate(family, train_seconds, seed, "process" if "process" in samplers else samplers[0], device)
        what = f"{ML1_TRAIN['trials_per_update']} trials x {ML1_TRAIN_EPISODES} ep"
        rows.append((name, f"train {'process' if 'process' in samplers else samplers[0]}, RL² collect+update",
                     what, tr["sps"], None, tr["other"]))
        print(f"[{name}] train: {tr['sps']:.0f} steps/s ({tr['updates']} updates, collection "
              f"{100 * tr['collect_share']:.0f}% of the time, {tr['kind']})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="metarl bench rollout", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("--seconds", type=number(float, 0.0, low_open=True), default=15.0,
                    help="budget of each raw / collect measurement")
    ap.add_argument("--train-seconds", type=number(float, 0.0), default=45.0,
                    help="budget of the ml1 training measurement "
                    "(0 skips it)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                    help="which settings to run")
    ap.add_argument("--samplers", nargs="+", default=["sync", "process"], choices=["sync", "process"])
    ap.add_argument("--trials", type=number(int, 1), default=None, help="trials per collect (default: 64)")
    ap.add_argument("--horizon", type=number(int, 1), default=None,
                    help="episode length (default: the family's, 200 / 500)")
    ap.add_argument("--threads", type=number(int, 1), default=1,
                    help="torch threads of this (the policy's) process (the "
                    "process sampler uses 1 while collecting; 2 OpenMP threads spin on a shared 2-core machine)")
    ap.add_argument("--seed", type=number(int, 0), default=0, help="seed of tasks, envs and networks")
    add_device_option(ap, "; the policy (the simulators step on the CPU)")
    args = ap.parse_args(argv)
    device = parsed_device(ap, args.device)
    import torch

    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    load0 = load_average()
    rows = []
    try:
        for name in args.settings:
            rows.extend(run_setting(name, args.seconds, args.train_seconds, args.seed, args.samplers,
                                    args.trials, args.horizon, device))
    finally:
        torch.set_num_threads(threads_before)
    load1 = load_average()
    print(f"\nRollout throughput, env steps/s; ratio = steps/s / the setting's raw single-env rate "
          f"({os.cpu_count()} CPUs, torch threads {args.threads}; 1-min load average {load0:.2f} before, "
          f"{load1:.2f} after)")
    print(f"{'setting':<12} {'measurement':<36} {'batch':<18} {'steps/s':>9} {'ratio':>6} {'start-up':>9} "
          f"{'other CPUs':>10}")
    for name, what, batch, sps, start_s, other in rows:
        raw = next(r[3] for r in rows if r[0] == name and r[1].startswith("raw single"))
        start = "" if start_s is None else f"{start_s:.2f} s"
        print(f"{name:<12} {what:<36} {batch:<18} {sps:>9.0f} {sps / raw:>5.2f}x {start:>9} {other:>10.2f}")
    print(f"targets: collection >= {TARGET_COLLECT}x raw on 2 cores; RL² training on ml1 >= {TARGET_TRAIN}x raw")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
