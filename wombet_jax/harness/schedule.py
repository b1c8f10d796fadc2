"""A run's schedule: the fixed list of tasks a config asks for, in order.

Each task is a small frozen dataclass naming one call of a pipeline piece. A checkpoint stores
the index of the next task and the whole list in its JSON form (`to_json`: the kind name, then
the task's numbers, e.g. ["source", 3, true], ["pretrain", 0, 0, 1000], ["chunk", 2]); a resume
compares that list with this config's, so the JSON form of a task is part of the checkpoint
format and must not change.

Also pure functions of the list: the phase a task belongs to (`phase`, what the progress
output announces) and after which tasks a run checkpoints (`should_checkpoint`).

Everything here is pure Python: no pipeline, no JAX.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Union


class _Task:
  """A task's checkpoint form: its kind name, then its fields in order."""
  kind: ClassVar[str]

  def to_json(self) -> list:
    return [self.kind, *dataclasses.astuple(self)]


@dataclasses.dataclass(frozen=True)
class SourceEpisode(_Task):
  """One PETS episode in the real source env: random actions, or MPC in the model."""
  index: int         # 0-based over all source episodes
  use_planner: bool  # False for the first config.pets.random_episodes
  kind: ClassVar[str] = "source"


@dataclasses.dataclass(frozen=True)
class FitModel(_Task):
  """Fits the world model on the source data collected so far."""
  iteration: int  # 0 in the source phase, k when refreshed before online iteration k
  kind: ClassVar[str] = "fit"


@dataclasses.dataclass(frozen=True)
class Regenerate(_Task):
  """Generates and filters D_off with the current model."""
  iteration: int
  kind: ClassVar[str] = "regenerate"


@dataclasses.dataclass(frozen=True)
class Pretrain(_Task):
  """Offline updates [start, start + length) on D_off before the online phase."""
  start: int
  length: int
  kind: ClassVar[str] = "pretrain"

  @property
  def end(self) -> int:
    return self.start + self.length

  def to_json(self) -> list:
    return [self.kind, 0, self.start, self.length]  # the 0: the iteration, always the first


@dataclasses.dataclass(frozen=True)
class Evaluate(_Task):
  """The evaluation before any online step (after pretraining, if any)."""
  kind: ClassVar[str] = "eval"

  def to_json(self) -> list:
    return [self.kind, 0]  # the 0: the iteration its rows carry


@dataclasses.dataclass(frozen=True)
class Chunk(_Task):
  """config.loop.eval_every online steps (with their updates), then an evaluation."""
  iteration: int
  kind: ClassVar[str] = "chunk"


Task = Union[SourceEpisode, FitModel, Regenerate, Pretrain, Evaluate, Chunk]


def source_tasks(random_episodes: int, episodes: int) -> list[Task]:
  """The source phase: `episodes` source episodes (the first `random_episodes` random, the
  rest MPC), each followed by a model fit."""
  tasks: list[Task] = []
  for e in range(episodes):
    tasks += [SourceEpisode(e, e >= random_episodes), FitModel(0)]
  return tasks


def config_source_tasks(config) -> list[Task]:
  """The source phase a run of `config` performs (config.pets' random then MPC episodes)."""
  p = config.pets
  return source_tasks(p.random_episodes, p.random_episodes + p.mpc_episodes)


def build_tasks(config, spec: Any, pretrain_pieces: list[tuple[int, int]]) -> list[Task]:
  """The run's tasks: for algorithms with D_off the source phase, a first regeneration and
  the pretraining pieces; then the initial evaluation; then for online algorithms
  config.loop.steps_per_iteration // eval_every chunks per iteration, preceded from the second
  iteration on by a refit and regeneration when the algorithm refreshes D_off.

  spec: the algorithm's registry.AlgoSpec (uses_offline, online, refresh_each_iteration);
  pretrain_pieces: the pipeline's [(start, length)] split of config.loop.offline_steps.
  """
  lo = config.loop
  tasks: list[Task] = []
  if spec.uses_offline:
    tasks += config_source_tasks(config)
    tasks.append(Regenerate(0))
    tasks += [Pretrain(start, length) for start, length in pretrain_pieces]
  tasks.append(Evaluate())
  if spec.online:
    for k in range(lo.num_iterations):
      if k > 0 and spec.uses_offline and spec.refresh_each_iteration:
        tasks += [FitModel(k), Regenerate(k)]
      tasks += [Chunk(k)] * (lo.steps_per_iteration // lo.eval_every)
  return tasks


def pipeline_tasks(pipe) -> list[Task]:
  """build_tasks for a loop.Pipeline."""
  return build_tasks(pipe.config, pipe.spec, pipe.pretrain_pieces)


def projected_seconds(tasks: list[Task], config, ep_len: int, t: dict,
                      keeps_model_data: bool) -> dict:
  """Seconds per seed of each phase of the run whose schedule is `tasks`
  (`build_tasks`), from the measured per-step times `t`: every task counted once,
  each fit over the model data it would hold at that point of the run."""
  lo, wm, gen = config.loop, config.world_model, config.generation
  proj = dict.fromkeys(("source", "fits", "generate", "pretrain", "online", "evals"), 0.0)
  data = 0  # rows of the model's real data so far
  for task in tasks:
    if isinstance(task, SourceEpisode):
      proj["source"] += ep_len * t["mpc_step" if task.use_planner else "random_step"]
      data += ep_len
    elif isinstance(task, FitModel):
      proj["fits"] += wm.max_epochs * t["fit_epoch_per_transition"] * min(data, wm.capacity)
    elif isinstance(task, Regenerate):
      proj["generate"] += gen.horizon * gen.num_trajectories * t["gen_step_per_trajectory"]
    elif isinstance(task, Pretrain):
      proj["pretrain"] += task.length * t["pretrain_update"]
    elif isinstance(task, Chunk):
      proj["online"] += lo.eval_every * t["target_step"]
      proj["evals"] += ep_len * t["eval_step"]
      data += lo.eval_every if keeps_model_data else 0
    elif isinstance(task, Evaluate):
      proj["evals"] += ep_len * t["eval_step"]
  return {k: v for k, v in proj.items() if v or k in ("online", "evals")}


def to_json(tasks: list[Task]) -> list[list]:
  """The list as a checkpoint stores it."""
  return [t.to_json() for t in tasks]


def phase(task: Task) -> str:
  """The phase of the run `task` belongs to: "source phase" (PETS episodes and their fits),
  "data generation" (the first D_off), "offline pretraining", "initial evaluation" or
  "online phase" (chunks, and the refits and regenerations between iterations)."""
  if isinstance(task, SourceEpisode) or (isinstance(task, FitModel) and task.iteration == 0):
    return "source phase"
  if isinstance(task, Regenerate) and task.iteration == 0:
    return "data generation"
  if isinstance(task, Pretrain):
    return "offline pretraining"
  if isinstance(task, Evaluate):
    return "initial evaluation"
  return "online phase"


# Within the source phase and pretraining, a checkpoint at most every this many seconds: a
# source episode or a pretraining piece can take minutes on a CPU (a halfcheetah source phase
# about an hour), and a stop must not lose all of it; a phase shorter than this is saved once,
# at its end.
SAVE_SECONDS = 120.0


def should_checkpoint(tasks: list[Task], idx: int, target_step: int | None,
                      checkpoint_every: int, seconds_since_save: float) -> bool:
  """Whether to checkpoint after task `idx`: after a chunk when `target_step` (the target
  steps it reached; only read for chunks) is a multiple of `checkpoint_every` or the run ends;
  after the source phase / data generation (and pretraining), which is expensive to redo;
  within the source phase after a model fit, and within pretraining after a piece, once
  SAVE_SECONDS have passed since the last save."""
  task = tasks[idx]
  if isinstance(task, Chunk):
    return idx == len(tasks) - 1 or target_step % checkpoint_every == 0
  nxt = tasks[idx + 1] if idx + 1 < len(tasks) else None
  if isinstance(task, Pretrain):
    return not isinstance(nxt, Pretrain) or seconds_since_save >= SAVE_SECONDS
  if isinstance(task, FitModel) and phase(task) == "source phase":
    # An episode's data and its fit are one unit: the state after the fit is saved.
    return seconds_since_save >= SAVE_SECONDS
  return isinstance(task, Regenerate) and not isinstance(nxt, Pretrain)
