"""``metarl bench maml``: one MAML meta-iteration, batched against the per-task loop reference.

- sinusoid (MAML paper: 2x40 MLP, meta-batch 25, K=10 support + 10 queries, one inner
  step, second order): one iteration = inner adaptation of every task + outer gradient +
  Adam step. Modes: ``stacked`` (per-task parameter stacks, batched matmuls; the preset's
  choice), ``vmap`` (``torch.func.vmap`` over tasks), ``loop`` (a Python loop over tasks)
  and ``minimal``: the same step as a bare script (``torch.func.grad`` inside ``vmap``, an
  ``nn.Sequential``, Adam; no metarl code), the yardstick for the framework's overhead.
  On CUDA the agent's modes replay each meta-step from a captured CUDA graph, and
  ``eager`` times ``stacked`` without it (``cuda_graph=False``).
- point-nav (MAML paper: 2x100 Gaussian policy, meta-batch 20 tasks x 20 episodes x 100
  steps, one inner policy-gradient step, second order): one iteration = inner adaptation
  of every task + the outer surrogate's gradient through it (the part TRPO's step is built
  on; sampling is excluded, it is the same for both). Modes: ``batched`` (the agent's
  stacked implementation) and ``loop`` (``outer_surrogate_loop``, one task at a time).
  Both do the same matrix products (counted with ``torch.utils.flop_counter``), so the
  benchmark also prints each mode's GFLOP/s and this machine's own matmul rate at the
  hidden layer's shape: their ratio bounds what any batching can gain over the loop.

Every mode runs in its own process with the same data, so its peak memory (RSS) is its
own; "+MB" is the peak above the process's memory once its data was ready. ``--device cuda``
times the same modes on a GPU (the targets are for 2 CPU cores; a GPU column "GPU MB" then
gives ``torch.cuda.max_memory_allocated``).
"""
from __future__ import annotations

import argparse
import time

from metarl.experiments._bench import HelpFormatter, add_device_option, in_process, number, parsed_device, peak_rss_mb

TARGETS = {"sinusoid": (5.0, 500.0), "point-nav": (3.0, None)}  # (ratio vs loop, meta-iterations/s)


def _timed(step, seconds: float, device: str = "cpu", windows: int = 5) -> float:
    """Calls of ``step`` per second: the median over ``windows`` equal slices of ``seconds``, so a
    burst of load from elsewhere on a shared machine moves one slice, not the figure."""
    import statistics

    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    step()  # warm-up
    sync()
    rates = []
    for _ in range(windows):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / windows:
            step()
            n += 1
        sync()  # queued GPU work counts
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def _result(rate: float, base_mb: float, device: str) -> dict:
    import torch

    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"rate": rate, "peak_mb": peak_rss_mb(), "base_mb": base_mb, "gpu_mb": gpu}


def _sinusoid(mode: str, seconds: float, threads: int, seed: int, device: str = "cpu") -> dict:
    import torch

    import metarl
    from metarl.agents.maml import MAMLAgent, SupervisedBatch
    from metarl.agents.maml_eval import draw_examples

    torch.set_num_threads(threads)
    family = metarl.make_family("sinusoid")
    x, y = (torch.as_tensor(a, device=device) for a in draw_examples(family, family.sample(25, seed=seed), 20,
                                                                      seed=seed))
    if mode == "minimal":
        step = _minimal_maml_step(x, y, support=10, seed=seed)
    else:
        agent = MAMLAgent(family, meta_batch=25, trials_per_update=25, support=10, seed=seed, device=device,
                          batching="stacked" if mode == "eager" else mode, cuda_graph=mode != "eager")
        batch = SupervisedBatch(x, y, 10, {"env_steps": 0})
        step = lambda: agent.update(batch)  # noqa: E731
    base = peak_rss_mb()
    return _result(_timed(step, seconds, device), base, device)


def _minimal_maml_step(x, y, support: int, seed: int):
    """A bare second-order MAML step on x, y [tasks, points, 1] (first ``support`` points adapt,
    the rest are queries): 2x40 ReLU MLP, one SGD step of 0.01 per task, Adam on the mean
    query MSE. Written as a user would without a framework, to time the framework against."""
    import torch
    from torch import nn
    from torch.func import functional_call, grad, vmap

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)).to(x.device)
    params = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}
    opt = torch.optim.Adam(params.values(), lr=1e-3)

    def mse(p, xb, yb):
        return ((functional_call(net, p, (xb,)) - yb) ** 2).mean()

    def query_loss(p, xt, yt):
        g = grad(mse)(p, xt[:support], yt[:support])
        return mse({k: p[k] - 0.01 * g[k] for k in p}, xt[support:], yt[support:])

    x, y = x.float(), y.float()

    def step():
        loss = vmap(query_loss, in_dims=(None, 0, 0))(params, x, y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def _point_nav(mode: str, seconds: float, threads: int, seed: int, device: str = "cpu") -> dict:
    import torch

    import metarl
    from metarl.agents.maml_rl_eval import outer_surrogate_loop

    torch.set_num_threads(threads)
    family = metarl.make_family("point-nav")
    agent = metarl.make_agent("maml", family, meta_batch=20, trajectories=20, seed=seed, device=device)
    batch = agent.collect(agent.make_train_env(1), family.sample(20, seed=seed), seed=seed)
    theta = agent.meta_parameters()
    surrogate = (lambda: agent.outer_terms(batch)[0]) if mode == "batched" else (
        lambda: outer_surrogate_loop(agent, batch))
    step = lambda: torch.autograd.grad(surrogate(), theta)  # noqa: E731
    base = peak_rss_mb()
    out = _result(_timed(step, seconds, device), base, device)
    out["gflop"] = _gflop(step)
    return out


def _gflop(step) -> float:
    """GFLOP of one call of ``step``: matrix products (forward and backward), as counted by
    ``torch.utils.flop_counter``; elementwise work is not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def _matmul_rate(seconds: float, threads: int, seed: int, device: str = "cpu") -> dict:
    """GFLOP/s of this machine's float32 matrix products at point-nav's hidden-layer shape (one
    task's 2000 steps x 100 units by a 100 x 100 weight), for one task (``mm``) and for 20 tasks
    at once (``bmm``): the ceiling any implementation of the meta-iteration can reach."""
    import torch

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    h, w = torch.randn(20, 2000, 100, generator=gen).to(device), torch.randn(20, 100, 100, generator=gen).to(device)
    flop = 2 * h.numel() * w.shape[-1]
    return {"mm": _timed(lambda: [torch.mm(h[i], w[i]) for i in range(20)], seconds / 2, device) * flop / 1e9,
            "bmm": _timed(lambda: torch.bmm(h, w), seconds / 2, device) * flop / 1e9}


SETTINGS = {"sinusoid": (_sinusoid, ("stacked", "vmap", "loop", "minimal")), "point-nav": (_point_nav, ("batched", "loop"))}


def _print_ceiling(rows: dict, peak: dict) -> None:
    """Matrix-product GFLOP per iteration and GFLOP/s of each mode, against the machine's own
    matmul rate: at equal FLOPs, no batching can beat the loop by more than ``ceiling / loop``."""
    ceiling = max(peak.values())
    for m, r in rows.items():
        print(f"{'':<10} {m:<8} {r['gflop']:.2f} GFLOP (matmuls) per iteration, {r['gflop'] * r['rate']:.0f} GFLOP/s")
    loop = rows["loop"]["gflop"] * rows["loop"]["rate"]
    print(f"{'':<10} matmul rate at the hidden layer's shape: {peak['mm']:.0f} GFLOP/s one task at a time, "
          f"{peak['bmm']:.0f} for 20 tasks batched; at the loop's FLOPs a batched mode is at most "
          f"{ceiling / loop:.1f}x the loop")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="metarl bench maml", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("--seconds", type=number(float, 0.0, low_open=True), default=10.0,
                    help="timed seconds per mode (the rate is the median of 5 equal slices)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                    help="which settings to run")
    ap.add_argument("--threads", type=number(int, 1), default=2, help="torch threads per mode")
    ap.add_argument("--seed", type=number(int, 0), default=0, help="seed of tasks, envs and networks")
    add_device_option(ap)
    args = ap.parse_args(argv)
    device = parsed_device(ap, args.device)
    gpu = device.startswith("cuda")
    print(f"MAML meta-iterations/s (second order) on {device}, {args.threads} torch threads, {args.seconds:g} s "
          "per mode (median rate of 5 slices), each mode in its own process")
    print(f"{'setting':<10} {'mode':<8} {'meta-it/s':>10} {'vs loop':>8} {'peak MB':>8} {'+MB':>6}"
          + (f" {'GPU MB':>7}" if gpu else ""))
    for name in args.settings:
        fn, modes = SETTINGS[name]
        if gpu and name == "sinusoid":
            modes = ("stacked", "eager") + modes[1:]
        rows = {m: in_process(fn, m, args.seconds, args.threads, args.seed, device) for m in modes}
        loop = rows["loop"]["rate"]
        for m, r in rows.items():
            print(f"{name:<10} {m:<8} {r['rate']:>10.1f} {r['rate'] / loop:>7.1f}x {r['peak_mb']:>8.0f} "
                  f"{r['peak_mb'] - r['base_mb']:>6.0f}" + (f" {r['gpu_mb']:>7.0f}" if gpu else ""), flush=True)
        best = max((m for m in modes if m not in ("loop", "minimal")), key=lambda m: rows[m]["rate"])
        ratio, rate = rows[best]["rate"] / loop, rows[best]["rate"]
        want_ratio, want_rate = TARGETS[name]
        verdict = [f"ratio {ratio:.1f}x (target >= {want_ratio:g}x: {'met' if ratio >= want_ratio else 'NOT met'})"]
        if want_rate:
            verdict.append(f"{rate:.0f} it/s (target >= {want_rate:g}: {'met' if rate >= want_rate else 'NOT met'})")
        if "minimal" in rows:
            verdict.append(f"{rate / rows['minimal']['rate']:.1f}x the bare-script step")
        print(f"{'':<10} best batched mode {best}: " + "; ".join(verdict))
        if "gflop" in rows["loop"]:
            _print_ceiling(rows, in_process(_matmul_rate, args.seconds, args.threads, args.seed, device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
