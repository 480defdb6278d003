"""``metarl bench rl2``: RL² training throughput and quality-per-time against sb3-contrib RecurrentPPO.

For each setting (5-arm bandits with 10-pull trials; cartpole-dynamics with 2-episode
trials) both learners train for the same wall-clock budget on the same trial
observation with the same recurrent width (256), rollout size, 4 epochs, learning rate
1e-3 and entropy 0.01 (ours backpropagates through whole bandit trials and through
``--bptt-chunk``-step chunks, default 25, of the up-to-1000-step cartpole trials, started
from the recorded memory; RecurrentPPO's own sequences are cut at its minibatch
boundaries; ours is a GRU unless ``--cell lstm``, RecurrentPPO's an LSTM); each runs in
its own process (2 torch threads) so peak memory is its own.
RecurrentPPO runs with each ``--rppo-batch-sizes`` value and the fastest is the reference;
ours then takes the same number of gradient steps per epoch (minibatches = rollout steps /
that batch size) unless ``--minibatches`` says otherwise. Printed: env steps/s including
updates, our/their ratio, peak RSS, and the held-out score each reached in that budget
(quality per time). ``--device cuda`` runs both learners on a GPU (the targets are for
2 CPU cores).
"""
from __future__ import annotations

import argparse
import time

from metarl.experiments._bench import HelpFormatter, add_device_option, number, parsed_device
from metarl.experiments._bench import in_process as _in_process
from metarl.experiments._bench import peak_rss_mb as _peak_rss_mb
from metarl.learning.recurrent import CELLS

SETTINGS = {
    # name: (family, family kwargs, episodes per trial, RecurrentPPO n_steps, envs)
    "bandit": ("bandit", {"arms": 5}, 10, 200, 8),
    "cartpole": ("cartpole-dynamics", {}, 2, 1000, 8),
}


def _ours(setting: str, seconds: float, eval_tasks: int, seed: int, threads: int, trials: int | None,
          minibatches: int, bptt_chunk: int = 25, device: str = "cpu", cell: str = "gru") -> dict:
    import torch

    import metarl
    from metarl.seeding import derive_seeds, make_rng

    torch.set_num_threads(threads)
    fam_name, fam_kw, k, n_steps, n_envs = SETTINGS[setting]
    fam = metarl.make_family(fam_name, **fam_kw)
    if trials is None:  # same rollout size as RecurrentPPO: n_envs * n_steps env steps
        trials = max(minibatches, n_envs * n_steps // (k * fam.max_episode_steps))
    agent = metarl.make_agent("rl2", fam, hidden_size=256, cell=cell, trials_per_update=trials,
                              minibatches=minibatches, epochs=4, lr=1e-3, lr_final=1e-3, ent_coef=0.01,
                              ent_coef_final=0.01,
                              gamma=1.0 if setting == "bandit" else 0.99, seed=seed,
                              bptt_chunk=0 if setting == "bandit" else bptt_chunk,
                              # cartpole's per-step reward 1 gives returns up to ~100: the value head
                              # learns them scaled by 0.01 (as the rl2_cartpole_dynamics preset; with
                              # 1.0 it scored 42.5 after 60 s here, with 0.01 992.8 of 1000)
                              value_scale=1.0 if setting == "bandit" else 0.01, device=device)
    venv = fam.make_vector_env(trials, k)
    rng = make_rng(seed, "bench")
    steps, it, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = agent.collect(venv, fam.sample(trials, seed=rng), seed=derive_seeds(seed, 1, "env", it)[0])
        batch.stats["progress"] = 0.0
        agent.update(batch)
        steps += batch.num_steps
        it += 1
    elapsed = time.perf_counter() - start
    score = metarl.evaluate(agent, fam.sample(eval_tasks, split="test", seed=1000), episodes=k, seed=1000)
    return {"env_steps": steps, "seconds": elapsed, "sps": steps / elapsed, "peak_mb": _peak_rss_mb(),
            "score": score.summary["trial_return"],
            "rollout": f"{cell.upper()}, {trials} trials, {minibatches} mb" + ("" if setting == "bandit" else
                                                                   f", BPTT {bptt_chunk}")}


def _rppo(setting: str, seconds: float, eval_tasks: int, seed: int, threads: int, batch_size: int = 128,
          device: str = "cpu") -> dict:
    import torch

    import metarl
    from metarl.agents.baselines.sb3_recurrent import train_recurrent_ppo

    torch.set_num_threads(threads)
    fam_name, fam_kw, k, n_steps, n_envs = SETTINGS[setting]
    fam = metarl.make_family(fam_name, **fam_kw)
    agent, stats = train_recurrent_ppo(fam, k, seconds=seconds, num_envs=n_envs, n_steps=n_steps,
                                       hidden_size=256, n_epochs=4, learning_rate=1e-3, ent_coef=0.01,
                                       gamma=1.0 if setting == "bandit" else 0.99, seed=seed,
                                       batch_size=batch_size, device=device)
    score = metarl.evaluate(agent, fam.sample(eval_tasks, split="test", seed=1000), episodes=k, seed=1000)
    return {**stats, "peak_mb": _peak_rss_mb(), "score": score.summary["trial_return"], "batch_size": batch_size,
            "rollout": f"{n_envs}x{n_steps}, batch {batch_size}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="metarl bench rl2", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("--seconds", type=number(float, 0.0, low_open=True), default=60.0,
                    help="training wall-clock budget per learner")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                    help="which settings to run")
    ap.add_argument("--eval-tasks", type=number(int, 1), default=1000,
                    help="held-out tasks scored after training")
    ap.add_argument("--threads", type=number(int, 1), default=2, help="torch threads per learner")
    ap.add_argument("--seed", type=number(int, 0), default=0, help="seed of tasks, envs and networks")
    ap.add_argument("--rppo-batch-sizes", type=number(int, 1), nargs="+", default=[128, 1600],
                    help="RecurrentPPO minibatch sizes to try (SB3's default 128; 1600 = one minibatch per "
                         "epoch on the bandit rollout); the ratio is against the fastest")
    ap.add_argument("--minibatches", type=number(int, 0), default=0,
                    help="our minibatches per epoch (0: match the fastest RecurrentPPO: rollout steps / its "
                         "batch size, so both take the same number of gradient steps)")
    ap.add_argument("--bptt-chunk", type=number(int, 1), default=25,
                    help="cartpole: our truncated-BPTT chunk length (steps); measured: 25 trains at 1.7x the "
                         "steps/s of 100 with the same score after 40 s")
    ap.add_argument("--cell", choices=list(CELLS), default="gru",
                    help="our recurrent cell (gru: the RL² paper's; lstm: RecurrentPPO's, through oneDNN's "
                         "fused kernel on CPU)")
    add_device_option(ap, "; both learners")
    args = ap.parse_args(argv)
    device = parsed_device(ap, args.device)
    rows = []
    for s in args.settings:
        tried = [_in_process(_rppo, s, args.seconds, args.eval_tasks, args.seed, args.threads, bs, device)
                 for bs in args.rppo_batch_sizes]
        theirs = max(tried, key=lambda r: r["sps"])
        _, _, _, n_steps, n_envs = SETTINGS[s]
        mb = args.minibatches or max(1, round(n_envs * n_steps / theirs["batch_size"]))
        ours = _in_process(_ours, s, args.seconds, args.eval_tasks, args.seed, args.threads, None, mb,
                           args.bptt_chunk, device, args.cell)
        for r in tried:
            if r is not theirs:
                print(f"[{s}] RecurrentPPO {r['rollout']}: {r['sps']:.0f} steps/s, score {r['score']:.3f} "
                      "(not the fastest)", flush=True)
        rows.append((s, ours, theirs))
        print(f"[{s}] metarl rl2: {ours['sps']:.0f} steps/s, sb3-contrib RecurrentPPO: {theirs['sps']:.0f} steps/s",
              flush=True)
    print(f"\nRL² training throughput on {device}, hidden 256, {args.threads} threads, {args.seconds:.0f} s per learner "
          f"(env steps/s including updates; score = held-out trial return after that budget, "
          f"{args.eval_tasks} tasks)")
    print(f"{'setting':<10} {'learner':<26} {'rollout':<34} {'steps/s':>9} {'ratio':>6} {'peak MB':>8} {'score':>8}")
    for s, ours, theirs in rows:
        print(f"{s:<10} {'metarl rl2':<26} {ours['rollout']:<34} {ours['sps']:>9.0f} "
              f"{ours['sps'] / theirs['sps']:>6.1f} {ours['peak_mb']:>8.0f} {ours['score']:>8.3f}")
        print(f"{'':<10} {'sb3-contrib RecurrentPPO':<26} {theirs['rollout']:<34} {theirs['sps']:>9.0f} "
              f"{1.0:>6.1f} {theirs['peak_mb']:>8.0f} {theirs['score']:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
