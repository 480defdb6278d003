"""The training loop: sample tasks -> collect trials -> update -> evaluate -> log -> checkpoint."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path


from metarl.errors import ConfigError, MetaRLError, check_int
from metarl.evaluation.evaluator import evaluate, evaluate_baselines
from metarl.evaluation.plots import plot_adaptation
from metarl.evaluation.report import EvalReport
from metarl.learning.agent import check_trial_length
from metarl.seeding import derive_seeds, make_rng
from metarl.training.checkpoint import load_agent_state, load_checkpoint, save_checkpoint
from metarl.training.config import Experiment
from metarl.training.logger import RunLogger
from metarl.training.rundir import build, library_versions, write_config


BEST_KEYS = ("iteration", "env_steps", "val_trial_return")


class TrainingDiverged(MetaRLError):
    """A non-finite loss: training stopped, the last good checkpoint is kept."""


class Trainer:
    """Runs one experiment. Construction validates the whole config (family, agent, trainer
    options) before anything is written; ``run(run_dir)`` trains in a run directory made by
    ``metarl.training.rundir.new_run_dir``."""

    def __init__(self, experiment: Experiment) -> None:
        self.exp, self.cfg = experiment, experiment.train
        check_int("episodes_per_trial", self.cfg.episodes_per_trial, low=1)
        check_int("total_steps", self.cfg.total_steps, low=1)
        check_int("checkpoint_every", self.cfg.checkpoint_every, low=1)
        check_int("eval_tasks", self.cfg.eval_tasks, low=1)
        check_int("eval_tasks_periodic", self.cfg.eval_tasks_periodic, low=1)
        check_int("eval_every", self.cfg.eval_every, low=0)
        check_int("torch_threads", self.cfg.torch_threads, low=0)
        check_int("inner_steps_eval", self.cfg.inner_steps_eval, low=0)
        check_int("seed", self.cfg.seed, low=0)
        check_int("eval_seed", self.cfg.eval_seed, low=0)
        limit = self.cfg.time_limit
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit < 0:
            raise ConfigError(f"time_limit must be a number of seconds >= 0 (0: no limit), got {limit!r}")
        self.family, self.agent = build(experiment)
        check_trial_length(self.agent, self.cfg.episodes_per_trial)   # before the run dir exists
        if not getattr(self.agent, "trainable", False):
            raise ConfigError(f"agent {experiment.agent!r} is not trainable; evaluate a baseline with "
                              f"`metarl baselines FAMILY` or metarl.evaluate(metarl.make_agent(name, family), "
                              f"tasks, episodes=...)")
        self.trials_per_update = int(self.agent.config()["trials_per_update"])
        self.iteration, self.env_steps, self.elapsed = 0, 0, 0.0
        self.task_rng = make_rng(self.cfg.seed, "train-tasks")
        self.best: dict | None = None  # keep_best: {"iteration", "env_steps", "val_trial_return"} of best.pt
        self._stop = False

    # ---- checkpoints ----------------------------------------------------------------------------
    def save(self) -> None:
        """Write checkpoints/latest.pt atomically; refuse (TrainingDiverged) parameters that are not
        finite, so the last good checkpoint is never replaced by a broken one."""
        state = self.agent.state_dict()
        broken = _non_finite(state)
        if broken:
            raise TrainingDiverged(f"training diverged at iteration {self.iteration}: non-finite values in "
                                   f"{broken[:4]}; {self._kept_checkpoint()}")
        save_checkpoint(self.ckpt_path, {
            "iteration": self.iteration, "env_steps": self.env_steps, "elapsed": self.elapsed,
            "task_rng": self.task_rng.bit_generator.state, "agent": state,
            "experiment": self.exp.to_dict(), "versions": library_versions()})

    def restore(self) -> None:
        if not self.ckpt_path.exists():
            raise MetaRLError(f"no checkpoint to resume from at {self.ckpt_path}")
        ck = load_checkpoint(self.ckpt_path)
        load_agent_state(self.agent, ck, self.ckpt_path, self.exp)
        self.iteration, self.env_steps, self.elapsed = ck["iteration"], ck["env_steps"], ck["elapsed"]
        self.task_rng.bit_generator.state = ck["task_rng"]
        if self.best_path.exists():  # (it may be newer than latest.pt: a policy of this run all the same)
            self.best = {k: v for k, v in load_checkpoint(self.best_path).items() if k in BEST_KEYS}

    @property
    def best_path(self) -> Path:
        return self.run_dir / "checkpoints" / "best.pt"

    # ---- loop -----------------------------------------------------------------------------------
    def run(self, run_dir: Path, resume: bool = False, record_config: tuple[str, ...] = ()) -> EvalReport:
        """Train (continuing from ``run_dir``'s checkpoint if ``resume``), then evaluate.

        ``record_config``: the options given with a resume (such as a larger total_steps);
        config.yaml is rewritten with this experiment once the checkpoint has loaded (empty:
        left as it is).
        """
        self.run_dir = Path(run_dir)
        self.ckpt_path = self.run_dir / "checkpoints" / "latest.pt"
        if resume:
            self.restore()
            done = self.run_dir / "eval" / "report.train.json"  # kept there once `metarl eval` has run
            done = done if done.exists() else self.run_dir / "eval" / "report.json"
            if self._budget_fraction() >= 1.0 and done.exists():
                # trained to its budget and evaluated: show that, without logging the final scalars twice
                given = [k for k in record_config if k != "quiet"]
                ignored = (f"; {', '.join('--' + k for k in given)} not applied (config.yaml unchanged)"
                           if given else "")
                print(f"{self.run_dir} has finished its budget ({self.env_steps} steps); its saved evaluation "
                      f"follows (`metarl eval {self.run_dir}` evaluates again, --total_steps N trains further)"
                      f"{ignored}", file=sys.stderr, flush=True)
                return EvalReport.from_json(done)
        if record_config:
            write_config(self.exp, self.run_dir)
        cfg, k = self.cfg, self.cfg.episodes_per_trial
        if cfg.torch_threads:
            import torch

            torch.set_num_threads(cfg.torch_threads)
        log = RunLogger(self.run_dir, start_iteration=self.iteration)
        # an agent that samples its own layout (MAML: tasks x episodes, one episode per slot) says so
        venv = (self.agent.make_train_env(k) if hasattr(self.agent, "make_train_env")
                else self.family.make_vector_env(self.trials_per_update, k))
        tenths = math.floor(self._budget_fraction() * 10)  # eval_every=0: evaluate at each new tenth
        periodic_tasks = self.family.sample(cfg.eval_tasks_periodic, split="test", seed=cfg.eval_seed)
        validation_tasks = self.family.sample(cfg.eval_tasks_periodic, split="train", seed=cfg.eval_seed + 1)
        bar = _progress(cfg.total_steps, self.env_steps, cfg.quiet, "train")
        # Ctrl-C finishes the iteration and checkpoints; signal handlers can only be set
        # from the main thread (elsewhere, e.g. a notebook worker thread, Ctrl-C just raises).
        main_thread = threading.current_thread() is threading.main_thread()
        old_handler = signal.signal(signal.SIGINT, self._on_sigint) if main_thread else None
        try:
            while self.env_steps < cfg.total_steps and not self._stop and not self._out_of_time():
                t0 = time.perf_counter()
                tasks = self.family.sample(self.trials_per_update, split="train", seed=self.task_rng)
                env_seed = derive_seeds(cfg.seed, 1, "env", self.iteration)[0]
                try:   # non-finite actions (from parameters an update broke) or a non-finite loss
                    batch = self.agent.collect(venv, tasks, seed=env_seed)
                    t1 = time.perf_counter()
                    batch.stats["progress"] = self._budget_fraction()
                    metrics = self.agent.update(batch)
                except FloatingPointError as exc:
                    raise TrainingDiverged(f"training diverged at iteration {self.iteration + 1}: {exc}; "
                                           f"{self._kept_checkpoint()}") from None
                bad = {k_: v for k_, v in metrics.items() if k_ != "explained_variance" and not math.isfinite(v)}
                if bad:
                    raise TrainingDiverged(f"training diverged at iteration {self.iteration + 1}: non-finite "
                                           f"metrics {bad}; {self._kept_checkpoint()}")
                t2 = time.perf_counter()
                self.iteration += 1
                self.env_steps += batch.num_steps
                self.elapsed += t2 - t0
                scalars = {f"train/{n}": v for n, v in metrics.items()}
                scalars.update({"rollout/return": batch.stats["trial_return"], "time/sps": batch.num_steps / (t2 - t0),
                                "time/collect_s": t1 - t0, "time/update_s": t2 - t1, "time/env_steps": self.env_steps,
                                "time/elapsed_s": self.elapsed})
                if cfg.eval_every:
                    due = self.iteration % cfg.eval_every == 0
                else:  # a tenth of the steps or, with a time limit, of the time (whichever is further)
                    now = math.floor(self._budget_fraction() * 10)
                    due, tenths = now > tenths, now
                if due:
                    scalars.update(self._periodic_eval(periodic_tasks))
                    if cfg.keep_best:
                        scalars.update(self._validate(validation_tasks))
                log.log(self.iteration, scalars)
                bar.update(batch.num_steps)
                post = {"ret": f"{batch.stats['trial_return']:.3g}", "sps": f"{scalars['time/sps']:.0f}"}
                if cfg.time_limit:  # the bar counts steps; say how much of the time budget is left
                    post["left"] = f"{max(0.0, cfg.time_limit - self.elapsed):.0f}s"
                bar.set_postfix(post, refresh=False)
                if self.iteration % cfg.checkpoint_every == 0:
                    log.flush()  # the logged rows up to a checkpoint are on disk with it
                    self.save()
            log.flush()
            self.save()
        except BaseException:
            log.close()
            raise
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, old_handler)
            bar.close()
            venv.close()
        if self.env_steps >= 1.5 * cfg.total_steps and self.iteration and not cfg.quiet:
            print(f"note: trained {self.env_steps} steps for total_steps={cfg.total_steps}: training runs whole "
                  f"updates, here about {self.env_steps // self.iteration} steps each (trials_per_update x "
                  "episodes per trial x episode length); lower trials_per_update for a smaller budget",
                  file=sys.stderr, flush=True)
        if self._stop:
            log.close()
            raise KeyboardInterrupt(f"interrupted; checkpoint saved at iteration {self.iteration} in "
                                    f"{self.ckpt_path} — continue with: metarl train {self.exp.name} "
                                    f"--resume {self.run_dir}")
        try:
            return self.final_evaluation(log)
        finally:
            log.close()

    def _out_of_time(self) -> bool:
        return bool(self.cfg.time_limit) and self.elapsed >= self.cfg.time_limit

    def _budget_fraction(self) -> float:
        """Fraction of the budget used, in [0, 1]: steps, or time when ``time_limit`` binds first."""
        frac = self.env_steps / self.cfg.total_steps
        if self.cfg.time_limit:
            frac = max(frac, self.elapsed / self.cfg.time_limit)
        return min(1.0, frac)

    def _kept_checkpoint(self) -> str:
        if self.ckpt_path.exists():
            it = load_checkpoint(self.ckpt_path)["iteration"]
            return (f"the last good checkpoint (iteration {it}) is kept at {self.ckpt_path}; lower lr or "
                    f"max_grad_norm and resume with --resume {self.run_dir}")
        return f"no checkpoint was written yet (checkpoint_every={self.cfg.checkpoint_every})"

    def _on_sigint(self, signum, frame) -> None:
        if self._stop:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop = True
        print("\nCtrl-C: finishing this iteration and saving a checkpoint (Ctrl-C again to abort)", flush=True)

    def _periodic_eval(self, tasks) -> dict[str, float]:
        k = self.cfg.episodes_per_trial
        rep = evaluate(self.agent, tasks, episodes=k, seed=self.cfg.eval_seed,
                       deterministic=self.cfg.eval_deterministic, exact=True)
        out = {f"eval/return_episode_{i + 1}": p["mean"] for i, p in enumerate(rep.summary["per_episode"])}
        out["eval/trial_return"] = rep.summary["trial_return"]
        if "value" in rep.summary.get("exact", {}):  # noise-free, where the family computes it (short bandits)
            out["eval/exact_trial_return"] = rep.summary["exact"]["value"]
        if rep.success is not None:
            out["eval/success"] = rep.summary["success_last"]
        return out

    def _validate(self, tasks) -> dict[str, float]:
        """keep_best: score the policy on validation tasks; save it as best.pt if it is the best so far."""
        rep = evaluate(self.agent, tasks, episodes=self.cfg.episodes_per_trial, seed=self.cfg.eval_seed + 1,
                       deterministic=self.cfg.eval_deterministic)
        score = float(rep.summary["trial_return"])
        if self.best is None or score > self.best["val_trial_return"]:
            self.best = {"iteration": self.iteration, "env_steps": self.env_steps, "val_trial_return": score}
            save_checkpoint(self.best_path, {**self.best, "agent": self.agent.state_dict(),
                                             "experiment": self.exp.to_dict(), "versions": library_versions()})
        return {"eval/val_trial_return": score, "eval/val_best_iteration": float(self.best["iteration"])}

    def final_evaluation(self, log: RunLogger | None = None) -> EvalReport:
        """Held-out evaluation + baselines -> eval/report.json, returns.csv, summary.csv,
        adaptation.png (+ TensorBoard).
        With keep_best, of the policy in best.pt (``meta.checkpoint`` says which)."""
        checkpoint = {"name": "latest", "iteration": self.iteration}
        if self.cfg.keep_best and self.best_path.exists():
            load_agent_state(self.agent, load_checkpoint(self.best_path), self.best_path, self.exp)
            checkpoint = {"name": "best", **self.best}
            if not self.cfg.quiet or self.best["iteration"] != self.iteration:
                print(f"keep_best: evaluating the policy of iteration {self.best['iteration']} of {self.iteration} "
                      f"(validation trial return {self.best['val_trial_return']:.4g}, {self.best_path})",
                      file=sys.stderr, flush=True)
        report = evaluate_run(self.exp, self.family, self.agent, self.run_dir, quiet=self.cfg.quiet)
        report.meta.update(iteration=self.iteration, env_steps=self.env_steps, train_seconds=round(self.elapsed, 1),
                           checkpoint=checkpoint)
        report.save(self.run_dir / "eval")
        # a copy kept by an earlier `metarl eval` is now stale (this run trained further): the next
        # `metarl eval` keeps this report instead
        (self.run_dir / "eval" / "report.train.json").unlink(missing_ok=True)
        if log is not None:
            report.to_tensorboard(log.writer, self.run_dir / "eval", self.iteration)
        return report


def _non_finite(tree, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors in a (nested) state dict holding NaN or inf."""
    import torch

    if isinstance(tree, dict):
        return [n for k, v in tree.items() for n in _non_finite(v, f"{prefix}{k}.")]
    if isinstance(tree, (list, tuple)):
        return [n for i, v in enumerate(tree) for n in _non_finite(v, f"{prefix}{i}.")]
    if isinstance(tree, torch.Tensor) and tree.is_floating_point() and not bool(torch.isfinite(tree).all()):
        return [prefix.rstrip(".")]
    return []


def evaluate_run(exp: Experiment, family, agent, run_dir: Path, *, tasks=None, quiet: bool = True,
                 label: str = "test") -> EvalReport:
    """Evaluate ``agent`` (and the family's baselines) on held-out tasks; writes the plot."""
    cfg, k = exp.train, exp.train.episodes_per_trial
    tasks = tasks if tasks is not None else family.sample(cfg.eval_tasks, split="test", seed=cfg.eval_seed)
    n_agents = 1 + (len(family.baselines) if cfg.baselines else 0)
    bar = _progress(len(tasks) * k * family.max_episode_steps * n_agents, 0, quiet, "eval")
    report = evaluate(agent, tasks, episodes=k, seed=cfg.eval_seed, deterministic=cfg.eval_deterministic,
                      progress=bar.update, exact=True)
    if cfg.baselines:
        report.baselines = evaluate_baselines(family, tasks, episodes=k, seed=cfg.eval_seed, progress=bar.update,
                                              exact=True)
    bar.close()
    device = getattr(agent, "device", None)
    report.meta.update(experiment=exp.name, agent=exp.agent, versions=library_versions(), split=label,
                       family_spec={"name": exp.family, "kwargs": exp.family_kwargs},
                       device=None if device is None else str(device))
    curves = {exp.agent: report.summary["per_episode"]}
    curves.update({n: s["per_episode"] for n, s in report.baselines.items() if "per_episode" in s})
    plot_adaptation(curves, Path(run_dir) / "eval" / "adaptation.png",
                    title=f"{exp.name}: {family.name} {label} tasks (n={len(tasks)})")
    if cfg.inner_steps_eval and callable(getattr(agent, "inner_step_curve", None)):
        curve = agent.inner_step_curve(tasks, steps=cfg.inner_steps_eval, seed=cfg.eval_seed)
        report.inner_steps[exp.agent] = curve
        plot_adaptation({exp.agent: curve["per_step"]}, Path(run_dir) / "eval" / "inner_steps.png", x_start=0,
                        xlabel="inner gradient steps", ylabel=curve["metric"].replace("_", " "),
                        title=f"{exp.name}: {family.name} {label} tasks (n={len(tasks)})")
    return report


def _progress(total: int, initial: int, quiet: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=quiet, desc=desc, unit="step", unit_scale=True,
                dynamic_ncols=True, smoothing=0.1)


__all__ = ["Trainer", "TrainingDiverged", "evaluate_run"]
