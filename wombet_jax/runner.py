"""Drives a run: the jitted pieces of `loop.py` in order, with evaluation, metrics, progress
output, checkpoints and resumption between them. No learning happens here.

A run is a fixed list of tasks derived from the config (source episodes, model fits, data
regeneration, online chunks). The checkpoint records the index of the next task, so a
resumed run replays exactly the remaining tasks with exactly the saved state and keys, and
ends with the same numbers as an uninterrupted one.
"""
from __future__ import annotations

import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wombet_jax import checkpointing, dataset, generation, loop, reference, results
from wombet_jax import world_model as wm_lib
from wombet_jax import policy
from wombet_jax.config import validate


PRETRAIN_SAVE_SECONDS = 120.0


def build_tasks(pipe: loop.Pipeline) -> list[tuple]:
  c, spec = pipe.config, pipe.spec
  tasks: list[tuple] = []
  if spec.uses_offline:
    n_rand = c.pets.random_episodes
    for e in range(n_rand + c.pets.mpc_episodes):
      tasks += [("source", e, e >= n_rand), ("fit", 0)]
    tasks.append(("regenerate", 0))
    tasks += [("pretrain", 0, start, length) for start, length in pipe.pretrain_pieces]
  tasks.append(("eval", 0))
  if spec.online:
    for k in range(c.loop.num_iterations):
      if k > 0 and spec.uses_offline and spec.refresh_each_iteration:
        tasks += [("fit", k), ("regenerate", k)]
      tasks += [("chunk", k)] * (c.loop.steps_per_iteration // c.loop.eval_every)
  return tasks


def _shard_seeds(states, num_seeds: int):
  """Shards the leading seed axis over all devices when it divides evenly."""
  devices = jax.devices()
  if len(devices) < 2 or num_seeds % len(devices):
    return states
  mesh = Mesh(np.array(devices), ("seeds",))
  sharding = NamedSharding(mesh, PartitionSpec("seeds"))
  return jax.device_put(states, sharding)


def _fmt_time(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Runner:
  """Owns one workdir. `run()` executes (or resumes) the task list and writes the contract."""

  def __init__(self, config, workdir: str, resume: bool = False, verbose: bool = True,
               pipeline: loop.Pipeline | None = None,
               shard_seeds: bool = True):
    validate(config)
    self.workdir = workdir
    self.resume = resume
    self.verbose = verbose
    self.shard_seeds = shard_seeds
    self.ckpt_dir = os.path.join(workdir, "checkpoints")
    if not resume and os.path.exists(os.path.join(workdir, "metrics.jsonl")):
      raise ValueError(f"workdir {workdir!r} already holds a run (metrics.jsonl); pass --resume "
                       "to continue it or choose another --workdir (nothing was overwritten)")
    # A pipeline may be shared between runs of one config (tests: compile once).
    self.pipe = pipeline if pipeline is not None else loop.make_pipeline(config)
    self.tasks = build_tasks(self.pipe)
    c = self.pipe.config
    self.seeds = [c.seed + i for i in range(c.num_seeds)]
    self.ref = reference.lookup(c.env, self.pipe.episode_length)

  # --- bookkeeping -------------------------------------------------------------------------
  def log(self, msg: str) -> None:
    if self.verbose:
      print(f"[{self.pipe.spec.name} {self.pipe.config.env}] {msg}", flush=True)

  def _rows(self, phase: str, iteration: int, states, returns: np.ndarray) -> list[dict]:
    c = self.pipe.config
    host = jax.device_get({"src": states.source_steps, "tgt": states.target_steps,
                           "beta": states.beta.beta, "td": states.td_error,
                           "acc": states.accept_rate, "noff": states.n_offline,
                           "train": states.train_return, "pen": states.penalty})
    rows, uses_off = [], self.pipe.spec.uses_offline
    for i, seed in enumerate(self.seeds):
      ret = float(returns[i])
      rows.append({
          "algo": c.algo, "env": c.env, "seed": seed, "phase": phase, "iteration": iteration,
          "source_env_steps": int(host["src"][i]), "target_env_steps": int(host["tgt"][i]),
          "return": ret,
          "normalized_return": (reference.normalize(ret, self.ref) if phase != "source"
                                else None),
          # Offline-data fields are null for algorithms without D_off (SAC, TD3, PPO).
          "beta": float(host["beta"][i]) if uses_off else None,
          "td_error": float(host["td"][i]),
          "accept_rate": float(host["acc"][i]) if uses_off else None,
          "n_offline": int(host["noff"][i]) if uses_off else None,
          # Mean lambda_Q u(s', a') in the critic targets: null without a model penalty
          # and before the first update (nan in the state).
          "penalty": (float(host["pen"][i]) if self.pipe.spec.uses_model_penalty
                      and np.isfinite(host["pen"][i]) else None),
          "train_return": float(host["train"][i])})
    return rows

  def _write_outputs(self, rows: list[dict], final: bool, timing: dict) -> dict:
    results.write_jsonl(os.path.join(self.workdir, "metrics.jsonl"), rows)
    summary = results.summarize(rows)
    summary.update(algo=self.pipe.config.algo, env=self.pipe.config.env, complete=final,
                   reference=self.ref, timing=timing)
    results.atomic_write_json(os.path.join(self.workdir, "summary.json"), summary)
    return summary

  # --- the run -----------------------------------------------------------------------------
  def run(self) -> dict:
    pipe, c = self.pipe, self.pipe.config
    os.makedirs(self.workdir, exist_ok=True)
    results.atomic_write_json(os.path.join(self.workdir, "config.json"), c.to_dict())
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(self.seeds, jnp.uint32))
    states = pipe.init(keys)
    if self.shard_seeds:
      states = _shard_seeds(states, c.num_seeds)
    rows: list[dict] = []
    start, elapsed0 = 0, 0.0
    step = checkpointing.latest_step(self.ckpt_dir) if self.resume else None
    if step is not None:
      states, meta = checkpointing.restore(self.ckpt_dir, step, states)
      self._check_same_tasks(meta)
      rows, start, elapsed0 = meta["rows"], int(meta["next_task"]), float(meta["elapsed"])
      self.log(f"resumed from checkpoint {step}: task {start}/{len(self.tasks)}")
    elif self.resume:
      self.log("--resume given but no checkpoint found: starting from scratch")

    t_start = time.time() - elapsed0
    self._last_save = time.time()
    chunk_times: list[float] = []
    total_chunks = sum(t[0] == "chunk" for t in self.tasks)
    done_chunks = sum(t[0] == "chunk" for t in self.tasks[:start])
    for idx in range(start, len(self.tasks)):
      task = self.tasks[idx]
      kind, k = task[0], task[1]
      t0 = time.time()
      if kind == "source":
        states, ret = pipe.source_episode(states, task[2])
        ret = np.asarray(jax.device_get(ret))
        rows += self._rows("source", 0, states, ret)
        self.log(f"source episode {k + 1} ({'MPC' if task[2] else 'random'}): source return "
                 f"{ret.mean():.2f} ± {ret.std():.2f}")
      elif kind == "fit":
        states, info = pipe.fit_model(states)
        wm_lib.check_finite(info, where=f"world-model fit (iteration {k})")
        self.log(f"iteration {k}: model fit, holdout loss "
                 f"{np.mean(jax.device_get(info['holdout_loss'])):.4f}")
      elif kind == "regenerate":
        states, info = pipe.regenerate(states)
        self._check_accepted(info, k)
        if c.generation.export:
          self._export(info, k)
        self.log(f"iteration {k}: generated {c.generation.num_trajectories} trajectories, "
                 f"accept rate {np.mean(jax.device_get(info['accept_rate'])):.2f}, "
                 f"|D_off| = {int(np.mean(jax.device_get(info['n_offline'])))}")
      elif kind == "pretrain":
        states, info = pipe.pretrain(states, task[2], task[3])
        done = task[2] + task[3]
        self._check_finite_info(info, f"offline pretraining (updates {task[2]}-{done})")
        self.log(f"offline pretraining: {done}/{c.loop.offline_steps} updates "
                 f"({time.time() - t0:.1f} s)")
      elif kind == "eval":
        ret = np.asarray(jax.device_get(pipe.evaluate(states)))
        rows += self._rows("eval", k, states, ret)
        self.log(f"initial evaluation: return {ret.mean():.2f} ± {ret.std():.2f}")
      elif kind == "chunk":
        t_glob = int(jax.device_get(states.target_steps[0]))
        states, info = pipe.chunk(states, jnp.int32(t_glob))
        ret = np.asarray(jax.device_get(pipe.evaluate(states)))
        rows += self._rows("eval", k, states, ret)
        self._check_finite_returns(ret, t_glob + c.loop.eval_every)
        dt = time.time() - t0
        chunk_times.append(dt)
        done_chunks += 1
        steady = np.mean(chunk_times[1:]) if len(chunk_times) > 1 else dt
        norm = [r["normalized_return"] for r in rows[-len(self.seeds):]]
        norm_s = (f" (normalised {np.mean(norm):.1f})" if all(n is not None for n in norm)
                  else "")
        self.log(f"iter {k + 1}/{c.loop.num_iterations} | target steps "
                 f"{t_glob + c.loop.eval_every}/{total_chunks * c.loop.eval_every} | return "
                 f"{ret.mean():.2f} ± {ret.std():.2f}{norm_s} | "
                 + (f"beta {np.mean(jax.device_get(info['beta'])):.2f} | "
                    if self.pipe.spec.uses_offline else "")
                 + (f"penalty {np.mean(jax.device_get(info['penalty'])):.3f} | "
                    if self.pipe.spec.uses_model_penalty else "") +
                 f"{c.loop.eval_every * c.num_seeds / dt:.0f} steps/s | "
                 f"ETA {_fmt_time(steady * (total_chunks - done_chunks))}")
      elapsed = time.time() - t_start
      timing = {"elapsed_seconds": elapsed}
      if self._should_checkpoint(idx, states):
        checkpointing.save(self.ckpt_dir, idx + 1, states,
                           {"next_task": idx + 1, "rows": rows, "elapsed": elapsed,
                            "tasks": [list(t) for t in self.tasks]})
        self._last_save = time.time()
        policy.export_run(os.path.join(self.workdir, "policy"), pipe, states, self.seeds)
        self._write_outputs(rows, final=False, timing=timing)
        self.log(f"checkpoint saved: task {idx + 1}/{len(self.tasks)}")
    policy.export_run(os.path.join(self.workdir, "policy"), pipe, states, self.seeds)
    summary = self._write_outputs(rows, final=True, timing={"elapsed_seconds":
                                                            time.time() - t_start})
    self._plot(rows)
    return summary

  def _should_checkpoint(self, idx: int, states) -> bool:
    kind = self.tasks[idx][0]
    if kind == "chunk":
      t = int(jax.device_get(states.target_steps[0]))
      return idx == len(self.tasks) - 1 or t % self.pipe.config.loop.checkpoint_every == 0
    # The end of the source phase / data generation (and pretraining) is expensive to redo;
    # within pretraining, save every few minutes (a piece can take a minute on a CPU).
    nxt = self.tasks[idx + 1][0] if idx + 1 < len(self.tasks) else None
    if kind == "pretrain":
      return nxt != "pretrain" or time.time() - self._last_save >= PRETRAIN_SAVE_SECONDS
    return kind == "regenerate" and nxt != "pretrain"

  def _check_same_tasks(self, meta: dict) -> None:
    """A checkpoint stores the index of the next task; it only means the same thing under the
    task list it was written with (a changed config or code version shifts the indices)."""
    saved = meta.get("tasks")
    if saved is None:  # written before checkpoints recorded their task list
      return
    now = [list(t) for t in self.tasks]
    if saved != now:
      diff = next((i for i, (a, b) in enumerate(zip(saved, now)) if a != b),
                  min(len(saved), len(now)))
      raise ValueError(
          f"cannot resume {self.workdir!r}: its checkpoint was written for a different task "
          f"list ({len(saved)} tasks, this config/code gives {len(now)}; first difference at "
          f"task {diff}: {saved[diff] if diff < len(saved) else None} vs "
          f"{now[diff] if diff < len(now) else None}). Resume with the config and code that "
          "started the run, or start a new --workdir; nothing was changed.")

  def _check_finite_info(self, info: dict, where: str) -> None:
    """Raises FloatingPointError naming the loss and the seeds whose last update was NaN/inf
    (blocks on the device, so the caller's timing covers the work)."""
    for path, v in jax.tree_util.tree_flatten_with_path(jax.device_get(info))[0]:
      v = np.asarray(v)
      if v.dtype.kind != "f" or np.all(np.isfinite(v)):
        continue
      per_seed = v.reshape(len(self.seeds), -1)
      bad = [s for s, x in zip(self.seeds, per_seed) if not np.all(np.isfinite(x))]
      raise FloatingPointError(f"{where}: {jax.tree_util.keystr(path)} is not finite for "
                               f"seeds {bad}; the last checkpoint is kept")

  def _check_finite_returns(self, ret: np.ndarray, step: int) -> None:
    if not np.all(np.isfinite(ret)):
      raise FloatingPointError(f"evaluation return is not finite at target step {step} for "
                               f"seeds {[s for s, r in zip(self.seeds, ret) if not np.isfinite(r)]}")

  def _export(self, info: dict, k: int) -> None:
    ro, f = jax.device_get((info["rollouts"], info["filtered"]))
    for i, seed in enumerate(self.seeds):
      one = lambda x: x[i]
      path = os.path.join(self.workdir, "datasets", f"iter{k}_seed{seed}.npz")
      dataset.save(path, dataset.arrays_from_rollouts(jax.tree_util.tree_map(one, ro),
                                                      jax.tree_util.tree_map(one, f)))
    self.log(f"iteration {k}: exported generated data to {self.workdir}/datasets/")

  def _check_accepted(self, info: dict, k: int) -> None:
    generation.check_accepted(jax.device_get(info), self.seeds, self.pipe.config.filter, k)

  def _plot(self, rows: list[dict]) -> None:
    from wombet_jax import plotting
    path = os.path.join(self.workdir, "learning_curve.png")
    plotting.learning_curves({self.pipe.config.algo: rows}, path,
                             title=f"{self.pipe.config.env}")


def run(config, workdir: str, resume: bool = False, verbose: bool = True,
        pipeline: loop.Pipeline | None = None) -> dict:
  return Runner(config, workdir, resume=resume, verbose=verbose, pipeline=pipeline).run()
