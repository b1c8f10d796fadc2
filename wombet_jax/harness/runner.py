"""Drives a run: the jitted pieces of `loop.py` in order, with evaluation, metrics, progress
output, checkpoints and resumption between them. No learning happens here.

A run is a fixed list of tasks derived from the config (`schedule.build_tasks`: source
episodes, model fits, data regeneration, pretraining, online chunks), each run by the handler
of its type. The checkpoint records the index of the next task, so a resumed run replays
exactly the remaining tasks with exactly the saved state and keys, and ends with the same
numbers as an uninterrupted one.

Every checkpoint also records the run's identity (`config.identity`) and task list; a resume
whose config or code differs is refused. All such decisions (is the workdir free, does the
checkpoint belong to this config, which checkpoint is intact) are taken under the workdir's
lock (`workdir.acquire`: one run per workdir) before anything in the workdir is written, so a
refused run leaves it exactly as it was.

A run that has to stop for its environment (a full disk, a permission taken away, SIGINT or
SIGTERM) raises a one-line RunError saying where it stopped and whether --resume continues
it; every write is atomic, so nothing already written is lost.
"""
from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wombet_jax import budget, generation, health, loop
from wombet_jax import errors
from wombet_jax.errors import NonFiniteError, UserError
from wombet_jax.harness import checkpointing, dataset, policy, reference, results, schedule
from wombet_jax.harness import config as config_lib
from wombet_jax.harness import source_phase, workdir as workdir_lib, writers


PRETRAIN_SAVE_SECONDS = 120.0


def _shard_seeds(states, num_seeds: int):
  """Shards the leading seed axis over all devices when it divides evenly."""
  devices = jax.devices()
  if len(devices) < 2 or num_seeds % len(devices):
    return states
  mesh = Mesh(np.array(devices), ("seeds",))
  sharding = NamedSharding(mesh, PartitionSpec("seeds"))
  return jax.device_put(states, sharding)


def read_offline_dataset(config):
  """(rows, stats) of `config.offline.dataset` for an algorithm with D_off (`dataset.load_offline`,
  checked against the pair's dimensions), or (None, None) where D_off is generated."""
  from wombet_jax.agents import registry as algo_registry
  from wombet_jax.envs import make_pair
  if not (config.offline.dataset and algo_registry.get(config.algo).uses_offline):
    return None, None
  pair = make_pair(config.env, config.episode_length or None)
  rows, stats = dataset.load_offline(config.offline.dataset, pair.obs_dim, pair.act_dim)
  cap, max_n = config.loop.offline_capacity, config.offline.max_transitions
  if not max_n and stats["rows_used"] > cap:
    raise UserError(f"config.offline.dataset={config.offline.dataset!r} is invalid: its "
                    f"{stats['rows_used']} transitions do not fit loop.offline_capacity={cap}; "
                    "raise that, or draw fewer with offline.max_transitions")
  return rows, stats


def make_pipeline(config, offline_data=None) -> loop.Pipeline:
  """loop.make_pipeline, with the validators of its pieces (agent, world model, planner,
  filter) reported as UserError: building traces nothing, so a ValueError there is a field."""
  try:
    return loop.make_pipeline(config, offline_data=offline_data)
  except UserError:
    raise
  except ValueError as e:
    raise UserError(str(e)) from e


def _fmt_time(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# --- the run's decisions, as functions of what they read ------------------------------------
def _check_workdir(workdir: str, steps: list[int], outputs: list[str]) -> None:
  """A fresh run needs a workdir without another run's outputs (`outputs`: the names of
  workdir.RUN_OUTPUTS found there) or checkpoints (`steps`: the checkpoint steps found
  there); raises UserError naming what it holds."""
  held = list(outputs) + ([f"checkpoints {sorted(steps)}"] if steps else [])
  if held:
    raise UserError(f"--workdir={workdir!r} is invalid: it already holds a run "
                    f"({', '.join(held)}); pass --resume to continue it or choose another "
                    "--workdir (nothing was changed)")


def _check_meta(meta: dict, workdir: str, identity: dict, tasks: list[schedule.Task]) -> None:
  """Raises UserError unless the checkpoint `meta` was written by a config of this `identity`
  (config.identity) and this task list."""
  missing = [k for k in ("config", "tasks") if k not in meta]
  if missing:
    raise UserError(f"--resume of {workdir!r} is invalid: its checkpoint records no "
                    f"{' or '.join(missing)} to compare this run with; start a new "
                    "--workdir; nothing was changed.")
  diffs = config_lib.identity_differences(meta["config"], identity)
  if diffs:
    raise UserError(
        f"--resume of {workdir!r} is invalid: its checkpoints belong to another config "
        f"({'; '.join(diffs)}). Resume with the config that started the run (only "
        f"{', '.join('config.' + f for f in config_lib.RESUME_SAFE_FIELDS)} may change) or "
        "choose another --workdir; nothing was changed.")
  _check_same_tasks(meta["tasks"], tasks, workdir)


def _check_same_tasks(saved: list[list], tasks: list[schedule.Task], workdir: str) -> None:
  """A checkpoint stores the index of the next task; it only means the same thing under the
  task list it was written with (`saved`, its JSON form; a changed config or code version
  shifts the indices). Raises UserError naming the first differing task."""
  now = schedule.to_json(tasks)
  if saved != now:
    diff = next((i for i, (a, b) in enumerate(zip(saved, now)) if a != b),
                min(len(saved), len(now)))
    raise UserError(
        f"cannot resume {workdir!r}: its checkpoint was written for a different task "
        f"list ({len(saved)} tasks, this config/code gives {len(now)}; first difference at "
        f"task {diff}: {saved[diff] if diff < len(saved) else None} vs "
        f"{now[diff] if diff < len(now) else None}). Resume with the config and code that "
        "started the run, or start a new --workdir; nothing was changed.")


def _kept(last_saved: int | None) -> str:
  """What a failed run leaves: `last_saved` is the task index of its last checkpoint."""
  if last_saved is None:
    return "the run stopped before its first checkpoint"
  return f"the run stopped; its last checkpoint (task {last_saved}) is kept"


def _resumable(workdir: str, last_saved: int | None) -> str:
  """What a run stopped by its environment (not by its numbers) leaves, and how to go on."""
  if last_saved is None:
    return (f"the run stopped before its first checkpoint; --resume --workdir={workdir} "
            "starts it again")
  return (f"the run stopped; its last checkpoint (task {last_saved}) is kept and "
          f"--resume --workdir={workdir} continues from it")


def _storage_error(e: BaseException) -> str | None:
  """The one-line reason of a failed write, or None if `e` is not one: an OSError, or orbax's
  error for a full disk (tensorstore's RESOURCE_EXHAUSTED, raised as another type)."""
  if isinstance(e, OSError):
    return errors.os_error(e)
  text = str(e)
  for needle in ("RESOURCE_EXHAUSTED", "No space left", "PERMISSION_DENIED",
                 "Permission denied", "Read-only file system"):
    if needle in text:
      line = next((ln for ln in text.splitlines() if needle in ln), text)
      return line.strip()[:300]
  return None


def _check_health(info: dict, where: str, unit: str, seeds: list[int],
                  last_saved: int | None) -> None:
  """Raises NonFiniteError naming what was not finite, the first {unit} it happened at and
  the seeds it happened to (from the piece's loop.Health; blocks on the device)."""
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
      + (f" (later for seeds {later})" if later else "") + f"; {_kept(last_saved)}")


def _check_finite_returns(ret: np.ndarray, step: int, seeds: list[int],
                          last_saved: int | None) -> None:
  """Raises NonFiniteError naming the seeds whose evaluation return at target `step` is not
  finite."""
  if not np.all(np.isfinite(ret)):
    bad = [s for s, r in zip(seeds, ret) if not np.isfinite(r)]
    raise NonFiniteError(f"evaluation return is not finite at target step {step} for seeds "
                         f"{bad}; {_kept(last_saved)}")


def _should_checkpoint(tasks: list[schedule.Task], idx: int, target_step: int | None,
                       checkpoint_every: int, seconds_since_save: float) -> bool:
  """Whether to checkpoint after task `idx`: after a chunk when `target_step` (the target
  steps it reached; only read for chunks) is a multiple of `checkpoint_every` or the run ends;
  after the source phase / data generation (and pretraining), which is expensive to redo;
  within pretraining every PRETRAIN_SAVE_SECONDS (a piece can take a minute on a CPU)."""
  task = tasks[idx]
  if isinstance(task, schedule.Chunk):
    return idx == len(tasks) - 1 or target_step % checkpoint_every == 0
  nxt = tasks[idx + 1] if idx + 1 < len(tasks) else None
  if isinstance(task, schedule.Pretrain):
    return (not isinstance(nxt, schedule.Pretrain)
            or seconds_since_save >= PRETRAIN_SAVE_SECONDS)
  return isinstance(task, schedule.Regenerate) and not isinstance(nxt, schedule.Pretrain)


class Runner:
  """Owns one workdir. `run()` executes (or resumes) the task list and writes the contract."""

  def __init__(self, config, workdir: str, resume: bool = False, verbose: bool = True,
               pipeline: loop.Pipeline | None = None,
               shard_seeds: bool = True, reference_table: str | None = None,
               resume_workdir: str | None = None):
    """Validates everything and checks the workdir (raising UserError) without writing.
    `reference_table`: the reference scores normalized_return is computed from (None: the
    rows' normalized_return is null). `resume_workdir`: the --workdir whose --resume
    continues this run, when it is not `workdir` (a comparison run under compare/<algo>)."""
    config_lib.validate(config)
    self.workdir = workdir
    self.resume_workdir = resume_workdir or workdir
    self.resume = resume
    self.verbose = verbose
    self.shard_seeds = shard_seeds
    self.ckpt_dir = os.path.join(workdir, "checkpoints")
    self.lock = workdir_lib.acquire(workdir)  # held until `close`
    try:
      self._init(config, pipeline, reference_table)
    except BaseException:
      self.close()
      raise

  def _init(self, config, pipeline, reference_table) -> None:
    # D_off from a file is read and checked before anything compiles.
    offline_rows, self.offline_stats = read_offline_dataset(config)
    # A pipeline may be shared between runs of one config (tests: compile once).
    self.pipe = (pipeline if pipeline is not None
                 else make_pipeline(config, offline_data=offline_rows))
    # Too many seeds fail here in one line instead of in (or after minutes of) compilation.
    budget.check_pipeline_fits(self.pipe, budget.device_memory_bytes())
    self.tasks = schedule.pipeline_tasks(self.pipe)
    c = self.pipe.config
    self.seeds = [c.seed + i for i in range(c.num_seeds)]
    self.ref = reference.lookup(c.env, self.pipe.episode_length, reference_table)
    self.identity = config_lib.identity(c)
    self._last_saved: int | None = None  # task index of the last checkpoint taken or restored
    self._done = 0  # tasks finished (restored ones included)
    self.jsonl = writers.JsonlWriter(os.path.join(self.workdir, "metrics.jsonl"))
    self.trackers: writers.Trackers | None = None  # opened by `run`, once the workdir is ours
    self._check_start()

  def close(self) -> None:
    """Releases the workdir (its lock); a Runner that is not run must be closed too."""
    self.lock.release()

  # --- bookkeeping -------------------------------------------------------------------------
  def log(self, msg: str) -> None:
    if self.verbose:
      print(f"[{self.pipe.config.algo} {self.pipe.config.env}] {msg}", flush=True)

  def _rows(self, phase: str, iteration: int, states, returns: np.ndarray) -> list[dict]:
    c = self.pipe.config
    host = jax.device_get({"src": states.source_steps, "tgt": states.target_steps,
                           "beta": states.beta.beta, "acc": states.accept_rate,
                           "noff": states.n_offline, "train": states.train_return,
                           "metrics": states.metrics})
    rows, uses_off = [], self.pipe.spec.uses_offline
    for i, seed in enumerate(self.seeds):
      ret = float(returns[i])
      row = {
          "algo": c.algo, "env": c.env, "seed": seed, "phase": phase, "iteration": iteration,
          "source_env_steps": int(host["src"][i]), "target_env_steps": int(host["tgt"][i]),
          "return": ret,
          "normalized_return": (reference.normalize(ret, self.ref) if phase != "source"
                                else None),
          # Offline-data fields are null for algorithms without D_off (SAC, TD3, PPO).
          "beta": float(host["beta"][i]) if uses_off else None,
          "accept_rate": float(host["acc"][i]) if uses_off else None,
          "n_offline": int(host["noff"][i]) if uses_off else None,
          "train_return": float(host["train"][i])}
      # The agent's diagnostics, by name: null where the agent has none, or before its
      # first update.
      row.update(dict.fromkeys(results.AGENT_KEYS))
      row.update({name: results.finite_or_none(v[i]) for name, v in host["metrics"].items()})
      rows.append(row)
    return rows

  def _write_outputs(self, rows: list[dict], final: bool, timing: dict) -> dict:
    """metrics.jsonl, the plot when `final`, then summary.json: a summary that says
    complete is the last file a run writes."""
    self.jsonl.write(rows)
    if final:
      self._plot(rows)
    summary = results.summarize(rows)
    summary.update(algo=self.pipe.config.algo, env=self.pipe.config.env, complete=final,
                   reference=self.ref, timing=timing)
    results.atomic_write_json(os.path.join(self.workdir, "summary.json"), summary)
    return summary

  # --- deciding whether the run may proceed (nothing is written here) ---------------------
  def _check_start(self) -> None:
    """A fresh run needs a free workdir; a resumed one a newest readable checkpoint of the
    same identity (checked again, with fallback to older checkpoints, when `run` restores)."""
    policy_dir = os.path.join(self.workdir, "policy")
    if os.path.islink(policy_dir):
      raise UserError(f"--workdir={self.workdir!r} is invalid: {policy_dir} is a symbolic link; "
                      "a run writes (and deletes old files in) its own policy/ folder only "
                      "(nothing was changed)")
    steps = checkpointing.all_steps(self.ckpt_dir)
    if not self.resume:
      _check_workdir(self.workdir, steps, workdir_lib.outputs(self.workdir))
      return
    for step in steps:
      try:
        meta = checkpointing.read_meta(self.ckpt_dir, step)
      except Exception:  # an incomplete checkpoint: `run` reports it and falls back
        continue
      self._check_checkpoint(meta)
      return

  def _check_checkpoint(self, meta: dict) -> None:
    """Raises UserError unless the checkpoint was written by this config and task list."""
    _check_meta(meta, self.workdir, self.identity, self.tasks)

  def _prepare_workdir(self, skipped: list[tuple[int, str]], restored: bool) -> None:
    """The run may proceed: set corrupt checkpoints aside, remove temporary files of
    interrupted writes and, when a --resume finds no checkpoint, what the stopped run wrote
    (its rows and datasets would otherwise mix with this run's), then write config.json."""
    for step, reason in skipped:
      where = checkpointing.set_aside(self.ckpt_dir, step)
      self.log(f"{reason}; moved it to {where} and fell back to an older checkpoint")
    os.makedirs(self.workdir, exist_ok=True)
    for path in workdir_lib.remove_temp_files(self.workdir):
      self.log(f"removed {path}, left by an interrupted write")
    if self.resume and not restored:
      gone = workdir_lib.remove_outputs(self.workdir)
      if gone:
        self.log(f"removed {', '.join(gone)} of the run that stopped before its first "
                 "checkpoint")
    # The episode length resolved (0 in a config means the pair's own), so that readers of
    # config.json need not know each pair's default.
    resolved = {**self.pipe.config.to_dict(), "episode_length": self.pipe.episode_length}
    results.atomic_write_json(os.path.join(self.workdir, "config.json"), resolved)
    if self.offline_stats is not None:
      results.atomic_write_json(os.path.join(self.workdir, "offline_dataset.json"),
                                self.offline_stats)

  # --- the run -----------------------------------------------------------------------------
  def run(self) -> dict:
    """Runs (or resumes) the task list; an interruption or a failed write becomes a one-line
    RunError saying how to continue."""
    try:
      return self._run()
    except KeyboardInterrupt:
      raise self._interrupted("SIGINT", 130) from None
    except errors.Interrupted as e:
      raise self._interrupted("SIGTERM" if e.status == 143 else "SIGINT", e.status) from None
    except errors.RunError:
      raise
    except Exception as e:
      reason = _storage_error(e)
      if reason is None:
        raise
      for path in workdir_lib.remove_orbax_temp(self.ckpt_dir):
        self.log(f"removed {path}, left by the failed save")
      raise errors.RunError(f"cannot write into {self.workdir}: {reason}; "
                            f"{_resumable(self.resume_workdir, self._last_saved)}") from None
    finally:
      if self.trackers is not None:
        self.trackers.close()
        self.trackers = None

  def _interrupted(self, signal_name: str, status: int) -> errors.Interrupted:
    where = f" after {self._done}/{len(self.tasks)} tasks"
    return errors.Interrupted(f"interrupted by {signal_name}{where}; "
                              f"{_resumable(self.resume_workdir, self._last_saved)}", status)

  def _open_trackers(self, rows: list[dict]) -> None:
    """One tracker run per run; after a resume it is the same one, handed the restored rows
    first (it skips what it already holds)."""
    c = self.pipe.config
    self.trackers = writers.open_trackers(c.writers, self.workdir, c.to_dict(),
                                          name=f"{c.algo}-{c.env}")
    self.trackers.write(rows)

  def _run(self) -> dict:
    pipe, c = self.pipe, self.pipe.config
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(self.seeds, jnp.uint32))
    states = pipe.init(keys)
    if self.shard_seeds:
      states = _shard_seeds(states, c.num_seeds)
    rows: list[dict] = []
    start, elapsed0, skipped, restored = 0, 0.0, [], False
    if self.resume and checkpointing.all_steps(self.ckpt_dir):
      step, states, meta, skipped = checkpointing.restore_newest_intact(
          self.ckpt_dir, states, self._check_checkpoint)
      rows, start, elapsed0 = meta["rows"], int(meta["next_task"]), float(meta["elapsed"])
      self._last_saved, self._done, restored = start, start, True
    self._prepare_workdir(skipped, restored)
    if start:
      self.log(f"resumed from checkpoint {step}: task {start}/{len(self.tasks)}")
    elif self.resume:
      self.log("--resume given but no checkpoint found: starting from scratch")
    self._open_trackers(rows)

    t_start = time.time() - elapsed0
    self._last_save = time.time()
    # The online phase's progress, for the Chunk handler's rate and ETA.
    self._chunk_times: list[float] = []
    self._total_chunks = sum(isinstance(t, schedule.Chunk) for t in self.tasks)
    self._done_chunks = sum(isinstance(t, schedule.Chunk) for t in self.tasks[:start])
    for idx in range(start, len(self.tasks)):
      task = self.tasks[idx]
      states, new_rows = self._HANDLERS[type(task)](self, states, task)
      self._done = idx + 1
      if new_rows:  # trackers follow every evaluation, live
        rows += new_rows
        self.trackers.write(rows)
      elapsed = time.time() - t_start
      timing = {"elapsed_seconds": elapsed}
      target_step = (int(jax.device_get(states.target_steps[0]))
                     if isinstance(task, schedule.Chunk) else None)
      if _should_checkpoint(self.tasks, idx, target_step, c.loop.checkpoint_every,
                            time.time() - self._last_save):
        checkpointing.save(self.ckpt_dir, idx + 1, states,
                           {"next_task": idx + 1, "rows": rows, "elapsed": elapsed,
                            "tasks": schedule.to_json(self.tasks), "config": self.identity})
        self._last_save = time.time()
        self._last_saved = idx + 1
        policy.export_run(os.path.join(self.workdir, "policy"), pipe, states, self.seeds)
        self._write_outputs(rows, final=False, timing=timing)
        self.log(f"checkpoint saved: task {idx + 1}/{len(self.tasks)}")
    policy.export_run(os.path.join(self.workdir, "policy"), pipe, states, self.seeds)
    return self._write_outputs(rows, final=True, timing={"elapsed_seconds":
                                                         time.time() - t_start})

  # --- one handler per task type: (states, task) -> (states, new metric rows) -------------
  def _source_episode(self, states, task: schedule.SourceEpisode):
    states, step = source_phase.run_task(self.pipe, states, task)
    ret = step.returns
    self.log(f"source episode {task.index + 1} ({'MPC' if task.use_planner else 'random'}): "
             f"source return {ret.mean():.2f} ± {ret.std():.2f}")
    return states, self._rows("source", 0, states, ret)

  def _fit_model(self, states, task: schedule.FitModel):
    k = task.iteration
    states, step = source_phase.run_task(self.pipe, states, task,
                                         where=f"world-model fit (iteration {k})",
                                         seeds=self.seeds)
    self.log(f"iteration {k}: model fit, holdout loss "
             f"{np.mean(jax.device_get(step.info['holdout_loss'])):.4f}")
    return states, []

  def _regenerate(self, states, task: schedule.Regenerate):
    c, k = self.pipe.config, task.iteration
    states, info = self.pipe.regenerate(states)
    if self.offline_stats is not None:
      st = self.offline_stats
      self.log(f"iteration {k}: D_off from {c.offline.dataset} ({st['rows_used']} transitions, "
               f"{st['trajectories']} trajectories, source return {st['source_return_mean']:.2f}"
               f" [{st['source_return_min']:.2f}, {st['source_return_max']:.2f}]), "
               f"|D_off| = {int(np.mean(jax.device_get(info['n_offline'])))}")
      return states, []
    self._check_accepted(info, k)
    if c.generation.export:
      self._export(info, k)
    self.log(f"iteration {k}: generated {c.generation.num_trajectories} trajectories, "
             f"accept rate {np.mean(jax.device_get(info['accept_rate'])):.2f}, "
             f"|D_off| = {int(np.mean(jax.device_get(info['n_offline'])))}")
    return states, []

  def _pretrain(self, states, task: schedule.Pretrain):
    t0 = time.time()
    states, info = self.pipe.pretrain(states, task.start, task.length)
    _check_health(info, "offline pretraining", "update", self.seeds, self._last_saved)
    self.log(f"offline pretraining: {task.end}/{self.pipe.config.loop.offline_steps} updates "
             f"({time.time() - t0:.1f} s)")
    return states, []

  def _evaluate(self, states, task: schedule.Evaluate):
    ret = np.asarray(jax.device_get(self.pipe.evaluate(states)))
    self.log(f"initial evaluation: return {ret.mean():.2f} ± {ret.std():.2f}")
    return states, self._rows("eval", 0, states, ret)

  def _chunk(self, states, task: schedule.Chunk):
    pipe, c, k = self.pipe, self.pipe.config, task.iteration
    t0 = time.time()
    t_glob = int(jax.device_get(states.target_steps[0]))
    states, info = pipe.chunk(states, jnp.int32(t_glob))
    _check_health(info, "online updates", "target step", self.seeds, self._last_saved)
    ret = np.asarray(jax.device_get(pipe.evaluate(states)))
    rows = self._rows("eval", k, states, ret)
    _check_finite_returns(ret, t_glob + c.loop.eval_every, self.seeds, self._last_saved)
    dt = time.time() - t0
    self._chunk_times.append(dt)
    self._done_chunks += 1
    steady = np.mean(self._chunk_times[1:]) if len(self._chunk_times) > 1 else dt
    norm = [r["normalized_return"] for r in rows]
    norm_s = (f" (normalised {np.mean(norm):.1f})" if all(n is not None for n in norm)
              else "")
    self.log(f"iter {k + 1}/{c.loop.num_iterations} | target steps "
             f"{t_glob + c.loop.eval_every}/{self._total_chunks * c.loop.eval_every} | return "
             f"{ret.mean():.2f} ± {ret.std():.2f}{norm_s} | "
             + (f"beta {np.mean(jax.device_get(info['beta'])):.2f} | "
                if pipe.spec.uses_offline else "")
             + "".join(f"{name} {np.mean(v):.3f} | "
                       for name, v in jax.device_get(info["metrics"]).items()
                       if name != "td_error") +
             f"{c.loop.eval_every * c.num_seeds / dt:.0f} steps/s | "
             f"ETA {_fmt_time(steady * (self._total_chunks - self._done_chunks))}")
    return states, rows

  _HANDLERS = {schedule.SourceEpisode: _source_episode, schedule.FitModel: _fit_model,
               schedule.Regenerate: _regenerate, schedule.Pretrain: _pretrain,
               schedule.Evaluate: _evaluate, schedule.Chunk: _chunk}

  def _export(self, info: dict, k: int) -> None:
    """This iteration's generated data per seed, then the run's dataset of every iteration
    so far (rewritten whole, so a killed run's file is always complete up to an iteration)."""
    ro, f = jax.device_get((info["rollouts"], info["filtered"]))
    datasets_dir = os.path.join(self.workdir, "datasets")
    parts_path = os.path.join(datasets_dir, "parts.json")
    parts = {}
    if os.path.exists(parts_path):
      with open(parts_path) as fh:
        parts = {(p["iteration"], p["seed"]): p for p in json.load(fh)}
    for i, seed in enumerate(self.seeds):
      one = lambda x: x[i]
      ro_i, f_i = jax.tree_util.tree_map(one, ro), jax.tree_util.tree_map(one, f)
      path = os.path.join(datasets_dir, f"iter{k}_seed{seed}.npz")
      dataset.save(path, dataset.arrays_from_rollouts(ro_i, f_i))
      parts[(k, int(seed))] = dataset.part_metadata(k, seed, f_i, self.pipe.config.filter)
    results.atomic_write_json(parts_path, sorted(parts.values(),
                                                 key=lambda p: (p["iteration"], p["seed"])))
    dataset.write_run_dataset(os.path.join(self.workdir, dataset.RUN_DATASET), datasets_dir,
                              dataset.run_metadata(self.pipe.config, self.pipe.pair), parts)
    self.log(f"iteration {k}: exported generated data to {datasets_dir}/ and "
             f"{dataset.RUN_DATASET}")

  def _check_accepted(self, info: dict, k: int) -> None:
    config = self.pipe.config
    generation.check_accepted(jax.device_get(info), self.seeds, config.filter,
                              config.generation.num_trajectories, k)

  def _plot(self, rows: list[dict]) -> None:
    from wombet_jax.harness import plotting
    path = os.path.join(self.workdir, "learning_curve.png")
    plotting.learning_curves({self.pipe.config.algo: rows}, path,
                             title=f"{self.pipe.config.env}")


def run(config, workdir: str, resume: bool = False, verbose: bool = True,
        pipeline: loop.Pipeline | None = None, reference_table: str | None = None) -> dict:
  r = Runner(config, workdir, resume=resume, verbose=verbose, pipeline=pipeline,
             reference_table=reference_table)
  try:
    return r.run()
  finally:
    r.close()
