"""One handler per task type of the schedule (`HANDLERS`): each calls its task's pipeline piece
on the batched states, checks what the piece reports, and returns the new states, the metric
rows the task adds and the numbers its progress line shows (`Done`). No learning happens here.

A handler takes the runner (`runner.Runner`) for what the run holds: its pipeline (`pipe`),
seeds, task list, reference scores (`ref`), the statistics of a D_off read from a file
(`offline_stats`), its workdir, its last checkpoint (`last_saved`, named by the errors) and
`log` for lines that are not progress events.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax import generation, health
from wombet_jax.errors import NonFiniteError
from wombet_jax.harness import dataset, results, schedule, source_phase


@dataclasses.dataclass
class Done:
  """What a task gave: the new states, its metric rows, the numbers of its progress line and
  the env steps it took (None for a task that steps no env)."""
  states: Any
  rows: list
  metrics: dict
  steps: int | None = None


def kept(last_saved: int | None) -> str:
  """What a failed run leaves: `last_saved` is the task index of its last checkpoint."""
  if last_saved is None:
    return "the run stopped before its first checkpoint"
  return f"the run stopped; its last checkpoint (task {last_saved}) is kept"


def check_health(info: dict, where: str, unit: str, seeds: list[int],
                 last_saved: int | None) -> None:
  """Raises NonFiniteError naming what was not finite, the first {unit} it happened at and
  the seeds it happened to (from the piece's health.Health; blocks on the device)."""
  first_bad = np.asarray(jax.device_get(info["nonfinite_step"])).reshape(-1)
  if np.all(first_bad < 0):
    return
  flags = {k: np.asarray(v).reshape(-1) for k, v in jax.device_get(info["nonfinite"]).items()}
  step = int(first_bad[first_bad >= 0].min())
  at = first_bad == step
  names = [("agent parameters/optimiser state" if k == health.STATE_FLAG else k)
           for k, v in sorted(flags.items()) if np.any(v & at)]
  later = [s for s, b in zip(seeds, first_bad) if b > step]
  raise NonFiniteError(
      f"{where}: {', '.join(names)} not finite at {unit} {step} for seeds "
      f"{[s for s, a in zip(seeds, at) if a]}"
      + (f" (later for seeds {later})" if later else "") + f"; {kept(last_saved)}")


def check_finite_returns(ret: np.ndarray, step: int, seeds: list[int],
                         last_saved: int | None) -> None:
  """Raises NonFiniteError naming the seeds whose evaluation return at target `step` is not
  finite."""
  if not np.all(np.isfinite(ret)):
    bad = [s for s, r in zip(seeds, ret) if not np.isfinite(r)]
    raise NonFiniteError(f"evaluation return is not finite at target step {step} for seeds "
                         f"{bad}; {kept(last_saved)}")


def rows(run, phase: str, iteration: int, states, returns: np.ndarray) -> list[dict]:
  """results.make_rows of the run state's host copy."""
  host = jax.device_get({"source_steps": states.source_steps,
                         "target_steps": states.target_steps, "beta": states.beta.beta,
                         "accept_rate": states.accept_rate, "n_offline": states.n_offline,
                         "train_return": states.train_return, "metrics": states.metrics})
  c = run.pipe.config
  return results.make_rows(host, returns, run.seeds, c.algo, c.env, phase, iteration, run.ref,
                           run.pipe.spec.uses_offline)


def _returns(ret: np.ndarray, rows_: list[dict] | None = None) -> dict:
  """Mean and std over seeds of the returns, and of the normalised ones where all have one."""
  out = {"return_mean": float(ret.mean()), "return_std": float(ret.std())}
  if rows_ is not None:
    norm = [r["normalized_return"] for r in rows_]
    out["normalized_return_mean"] = (float(np.mean(norm)) if all(n is not None for n in norm)
                                     else None)
  return out


def _mean(x) -> float:
  return float(np.mean(jax.device_get(x)))


# --- one handler per task type: (run, states, task) -> Done -----------------------------------
def source_episode(run, states, task: schedule.SourceEpisode) -> Done:
  states, step = source_phase.run_task(run.pipe, states, task)
  ret = step.returns
  return Done(states, rows(run, "source", 0, states, ret),
              {"episode": task.index + 1, "planner": task.use_planner, **_returns(ret)},
              steps=run.pipe.episode_length * len(run.seeds))


def fit_model(run, states, task: schedule.FitModel) -> Done:
  k = task.iteration
  states, step = source_phase.run_task(run.pipe, states, task,
                                       where=f"world-model fit (iteration {k})", seeds=run.seeds)
  return Done(states, [], {"iteration": k, "holdout_loss": _mean(step.info["holdout_loss"])})


def regenerate(run, states, task: schedule.Regenerate) -> Done:
  c, k = run.pipe.config, task.iteration
  states, info = run.pipe.regenerate(states)
  n_off = int(_mean(info["n_offline"]))
  if run.offline_stats is not None:
    st = run.offline_stats
    return Done(states, [], {"iteration": k, "dataset": c.offline.dataset, "n_offline": n_off,
                             **{f: st[f] for f in ("rows_used", "trajectories",
                                                   "source_return_mean", "source_return_min",
                                                   "source_return_max")}})
  generation.check_accepted(jax.device_get(info), run.seeds, c.filter,
                            c.generation.num_trajectories, k)
  if c.generation.export:
    export_generated(run, info, k)
  return Done(states, [], {"iteration": k, "trajectories": c.generation.num_trajectories,
                           "accept_rate": _mean(info["accept_rate"]), "n_offline": n_off})


def pretrain(run, states, task: schedule.Pretrain) -> Done:
  states, info = run.pipe.pretrain(states, task.start, task.length)
  check_health(info, "offline pretraining", "update", run.seeds, run.last_saved)
  return Done(states, [], {"updates": task.end,
                           "updates_total": run.pipe.config.loop.offline_steps})


def evaluate(run, states, task: schedule.Evaluate) -> Done:
  ret = np.asarray(jax.device_get(run.pipe.evaluate(states)))
  rows_ = rows(run, "eval", 0, states, ret)
  return Done(states, rows_, {"target_steps": 0, **_returns(ret, rows_)})


def chunk(run, states, task: schedule.Chunk) -> Done:
  pipe, c, k = run.pipe, run.pipe.config, task.iteration
  t_glob = int(jax.device_get(states.target_steps[0]))
  states, info = pipe.chunk(states, jnp.int32(t_glob))
  check_health(info, "online updates", "target step", run.seeds, run.last_saved)
  ret = np.asarray(jax.device_get(pipe.evaluate(states)))
  rows_ = rows(run, "eval", k, states, ret)
  check_finite_returns(ret, t_glob + c.loop.eval_every, run.seeds, run.last_saved)
  chunks = sum(isinstance(t, schedule.Chunk) for t in run.tasks)
  metrics = {"iteration": k, "iterations": c.loop.num_iterations,
             "target_steps": t_glob + c.loop.eval_every,
             "target_steps_total": chunks * c.loop.eval_every, **_returns(ret, rows_),
             "beta": _mean(info["beta"]) if pipe.spec.uses_offline else None,
             "agent": {name: float(np.mean(v)) for name, v in
                       jax.device_get(info["metrics"]).items() if name != "td_error"}}
  return Done(states, rows_, metrics, steps=c.loop.eval_every * c.num_seeds)


HANDLERS = {schedule.SourceEpisode: source_episode, schedule.FitModel: fit_model,
            schedule.Regenerate: regenerate, schedule.Pretrain: pretrain,
            schedule.Evaluate: evaluate, schedule.Chunk: chunk}


def export_generated(run, info: dict, k: int) -> None:
  """Iteration `k`'s generated data per seed, then the run's dataset of every iteration so far
  (rewritten whole, so a killed run's file is always complete up to an iteration)."""
  ro, f = jax.device_get((info["rollouts"], info["filtered"]))
  datasets_dir = os.path.join(run.workdir, "datasets")
  parts_path = os.path.join(datasets_dir, "parts.json")
  parts = {}
  if os.path.exists(parts_path):
    with open(parts_path) as fh:
      parts = {(p["iteration"], p["seed"]): p for p in json.load(fh)}
  for i, seed in enumerate(run.seeds):
    one = lambda x: x[i]
    ro_i, f_i = jax.tree_util.tree_map(one, ro), jax.tree_util.tree_map(one, f)
    path = os.path.join(datasets_dir, f"iter{k}_seed{seed}.npz")
    dataset.save(path, dataset.arrays_from_rollouts(ro_i, f_i))
    parts[(k, int(seed))] = dataset.part_metadata(k, seed, f_i, run.pipe.config.filter)
  results.atomic_write_json(parts_path, sorted(parts.values(),
                                               key=lambda p: (p["iteration"], p["seed"])))
  dataset.write_run_dataset(os.path.join(run.workdir, dataset.RUN_DATASET), datasets_dir,
                            dataset.run_metadata(run.pipe.config, run.pipe.pair), parts)
  run.log(f"iteration {k}: exported generated data to {datasets_dir}/ and "
          f"{dataset.RUN_DATASET}")
