"""Drives a run: the jitted pieces of `loop.py` in order, with evaluation, metrics, progress
events, checkpoints and resumption between them. No learning happens here.

A run is a fixed list of tasks derived from the config (`schedule.build_tasks`: source
episodes, model fits, data regeneration, pretraining, online chunks), each run by the handler
of its type (`handlers.py`) and reported to a `progress.Progress` (one event per task, and one
when each phase starts). The checkpoint records the index of the next task, so a resumed run
replays exactly the remaining tasks with exactly the saved state and keys, and ends with the
same numbers as an uninterrupted one; `schedule.should_checkpoint` decides when to save.

Every checkpoint also records the run's identity (`config.identity`) and task list; a resume
whose config or code differs is refused. All such decisions (is the workdir free, does the
checkpoint belong to this config, which checkpoint is intact) are taken under the workdir's
lock (`workdir.acquire`: one run per workdir) before anything in the workdir is written
(`workdir.check_start`), so a refused run leaves it exactly as it was.

A run that has to stop for its environment (a full disk, a permission taken away, SIGINT or
SIGTERM) raises a one-line RunError saying where it stopped and whether --resume continues
it; every write is atomic, so nothing already written is lost.
"""
from __future__ import annotations

import contextlib
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wombet_jax import budget, errors, loop
from wombet_jax.errors import UserError
from wombet_jax.harness import checkpointing, dataset, handlers, policy, reference, results
from wombet_jax.harness import config as config_lib
from wombet_jax.harness import progress as progress_lib
from wombet_jax.harness import schedule, workdir as workdir_lib, writers


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


def write_config(workdir: str, pipe: loop.Pipeline, offline_stats: dict | None) -> None:
  """config.json with the episode length resolved (0 in a config means the pair's own), so
  that its readers need not know each pair's default; the D_off file's statistics."""
  resolved = {**pipe.config.to_dict(), "episode_length": pipe.episode_length}
  results.atomic_write_json(os.path.join(workdir, "config.json"), resolved)
  if offline_stats is not None:
    results.atomic_write_json(os.path.join(workdir, "offline_dataset.json"), offline_stats)


def write_outputs(workdir: str, config, rows: list[dict], ref: dict | None, final: bool,
                  elapsed: float) -> dict:
  """metrics.jsonl, the plot when `final`, then summary.json (returned): a summary that says
  complete is the last file a run writes."""
  results.write_jsonl(os.path.join(workdir, "metrics.jsonl"), rows)
  if final:
    from wombet_jax.harness import plotting
    plotting.learning_curves({config.algo: rows}, os.path.join(workdir, "learning_curve.png"),
                             title=f"{config.env}")
  summary = results.summarize(rows)
  summary.update(algo=config.algo, env=config.env, complete=final, reference=ref,
                 timing={"elapsed_seconds": elapsed})
  results.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary


class Runner:
  """Owns one workdir. `run()` executes (or resumes) the task list and writes the contract."""

  def __init__(self, config, workdir: str, resume: bool = False, verbose: bool = True,
               pipeline: loop.Pipeline | None = None, shard_seeds: bool = True,
               reference_table: str | None = None, resume_workdir: str | None = None):
    """Builds the run and checks the workdir (raising UserError) without writing; `config`
    is validated by the caller (`run`, experiment.run). `reference_table`: the reference
    scores normalized_return is computed from (None: null). `resume_workdir`: the --workdir
    whose --resume continues this run, when it is not `workdir` (compare/<algo>)."""
    self.workdir, self.resume_workdir = workdir, resume_workdir or workdir
    self.resume, self.verbose, self.shard_seeds = resume, verbose, shard_seeds
    self.ckpt_dir = os.path.join(workdir, "checkpoints")
    self.lock = workdir_lib.acquire(workdir)  # held until `close`
    try:
      # D_off from a file is read and checked before anything compiles.
      rows, self.offline_stats = read_offline_dataset(config)
      # A pipeline may be shared between runs of one config (tests: compile once).
      self.pipe = pipeline if pipeline is not None else make_pipeline(config, rows)
      # Too many seeds fail here in one line instead of in (or after minutes of) compilation.
      budget.check_pipeline_fits(self.pipe, budget.device_memory_bytes())
      self.tasks = schedule.pipeline_tasks(self.pipe)
      c = self.pipe.config
      self.seeds = [c.seed + i for i in range(c.num_seeds)]
      self.ref = reference.lookup(c.env, self.pipe.episode_length, reference_table)
      self.identity = config_lib.identity(c)
      self.last_saved: int | None = None  # task index of the last checkpoint taken or restored
      self.done = 0  # tasks finished (restored ones included)
      self.trackers: writers.Trackers | None = None  # opened by `run`, once the workdir is ours
      self.progress: progress_lib.Progress | None = None
      workdir_lib.check_start(workdir, resume, self.identity, self.tasks)
    except BaseException:
      self.close()
      raise

  def close(self) -> None:
    """Releases the workdir (its lock); a Runner that is not run must be closed too."""
    self.lock.release()

  def plan(self) -> progress_lib.Plan:
    return progress_lib.Plan(self.pipe.config.algo, self.pipe.config.env, self.workdir,
                             self.tasks)

  def log(self, msg: str) -> None:
    self.progress.log(self.pipe.config.algo, msg)

  def run(self, progress: progress_lib.Progress | None = None, progress_fn=None) -> dict:
    """Runs (or resumes) the task list and returns its summary. `progress`: the experiment's
    (None: one of this run alone, into <workdir>/progress.jsonl and `progress_fn`, finished
    with its summary). An interruption or a failed write becomes a one-line RunError saying
    how to continue."""
    own = progress is None
    self.progress = progress or progress_lib.Progress(
        [self.plan()], os.path.join(self.workdir, progress_lib.FILE), progress_fn, self.verbose)
    with self._stops_cleanly():
      summary = self._run()
    if own:
      self.progress.finish({self.pipe.config.algo: summary}, [self.progress.path])
    return summary

  def _run(self) -> dict:
    pipe, c = self.pipe, self.pipe.config
    states = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.asarray(self.seeds, jnp.uint32)))
    states = _shard_seeds(states, c.num_seeds) if self.shard_seeds else states
    rows, start, elapsed0, skipped = [], 0, 0.0, []
    if self.resume and checkpointing.all_steps(self.ckpt_dir):
      step, states, meta, skipped = checkpointing.restore_newest_intact(
          self.ckpt_dir, states,
          lambda m: workdir_lib.check_meta(m, self.workdir, self.identity, self.tasks))
      rows, start, elapsed0 = meta["rows"], int(meta["next_task"]), float(meta["elapsed"])
      self.last_saved = self.done = start
    workdir_lib.prepare(self.workdir, skipped, self.resume and not start, self.log)
    write_config(self.workdir, self.pipe, self.offline_stats)
    if start:
      self.log(f"resumed from checkpoint {step}: task {start}/{len(self.tasks)}")
    elif self.resume:
      self.log("--resume given but no checkpoint found: starting from scratch")
    self.progress.start_run(c.algo, start)
    # One tracker run per run; after a resume the same one, handed the restored rows first.
    self.trackers = writers.open_trackers(c.writers, self.workdir, c.to_dict(),
                                          name=f"{c.algo}-{c.env}")
    self.trackers.write(rows)
    t_start, last_save = time.time() - elapsed0, time.time()
    for idx in range(start, len(self.tasks)):
      task = self.tasks[idx]
      self.progress.begin(c.algo, idx)
      t0 = time.time()
      with progress_lib.CompileTimer() as compiling:
        done = handlers.HANDLERS[type(task)](self, states, task)
      self.progress.task_done(c.algo, idx, time.time() - t0, compiling.seconds, done.steps,
                              done.metrics)
      states, self.done = done.states, idx + 1
      errors.raise_pending()  # a signal whose exception a callback swallowed stops here
      if done.rows:  # trackers follow every evaluation, live
        rows += done.rows
        self.trackers.write(rows)
      target_step = (int(jax.device_get(states.target_steps[0]))
                     if isinstance(task, schedule.Chunk) else None)
      if schedule.should_checkpoint(self.tasks, idx, target_step, c.loop.checkpoint_every,
                                    time.time() - last_save):
        self._save(idx + 1, states, rows, time.time() - t_start)
        last_save = time.time()
    policy.export_run(os.path.join(self.workdir, "policy"), pipe, states, self.seeds)
    return write_outputs(self.workdir, self.pipe.config, rows, self.ref, True,
                         time.time() - t_start)

  def _save(self, next_task: int, states, rows: list[dict], elapsed: float) -> None:
    checkpointing.save(self.ckpt_dir, next_task, states,
                       {"next_task": next_task, "rows": rows, "elapsed": elapsed,
                        "tasks": schedule.to_json(self.tasks), "config": self.identity})
    self.last_saved = next_task
    policy.export_run(os.path.join(self.workdir, "policy"), self.pipe, states, self.seeds)
    write_outputs(self.workdir, self.pipe.config, rows, self.ref, False, elapsed)
    self.log(f"checkpoint saved: task {next_task}/{len(self.tasks)}")

  @contextlib.contextmanager
  def _stops_cleanly(self):
    """Signals and failed writes as one-line RunErrors; the trackers closed however it ends."""
    try:
      yield
    except (KeyboardInterrupt, errors.Interrupted) as e:
      errors.clear_pending()
      status = getattr(e, "status", 130)
      raise errors.Interrupted(
          f"interrupted by {'SIGTERM' if status == 143 else 'SIGINT'} after "
          f"{self.done}/{len(self.tasks)} tasks; "
          f"{_resumable(self.resume_workdir, self.last_saved)}", status) from None
    except errors.RunError:
      raise
    except Exception as e:
      reason = _storage_error(e)
      if reason is None:
        raise
      for path in workdir_lib.remove_orbax_temp(self.ckpt_dir):
        self.log(f"removed {path}, left by the failed save")
      raise errors.RunError(f"cannot write into {self.workdir}: {reason}; "
                            f"{_resumable(self.resume_workdir, self.last_saved)}") from None
    finally:
      if self.trackers is not None:
        self.trackers.close()
        self.trackers = None


def run(config, workdir: str, resume: bool = False, verbose: bool = True,
        pipeline: loop.Pipeline | None = None, reference_table: str | None = None,
        progress_fn=None) -> dict:
  """Validates `config` and runs its algorithm alone into `workdir` (experiment.run adds the
  compared algorithms); `progress_fn(event)` gets every progress event. Returns the summary."""
  config_lib.validate(config)
  r = Runner(config, workdir, resume=resume, verbose=verbose, pipeline=pipeline,
             reference_table=reference_table)
  try:
    return r.run(progress_fn=progress_fn)
  finally:
    r.close()
