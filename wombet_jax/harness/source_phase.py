"""The source phase (PETS, paper sec. 4 step 1): source episodes in the real source env, each
followed by a world-model fit, driven through a pipeline's jitted pieces on host.

One driver for every caller: the runner executes the tasks one at a time (`run_task`, with a
checkpoint opportunity after each), the lower-bound diagnostic and the source-planner probe
iterate over the whole phase (`drive`). All of them therefore make the same calls in the same
order, and a run's source phase is the one they measure.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Sequence

import jax
import numpy as np

from wombet_jax import world_model as wm_lib
from wombet_jax.harness import schedule


@dataclasses.dataclass(frozen=True)
class Step:
  """What one source-phase task gave: an episode's source returns or a fit's info."""
  task: schedule.SourceEpisode | schedule.FitModel
  returns: np.ndarray | None = None  # (S,) on host, for a SourceEpisode
  info: dict | None = None           # the fit's metrics (device arrays), for a FitModel


def run_task(pipe, states, task, where: str = "world-model fit",
             seeds: Sequence[int] | None = None) -> tuple[Any, Step]:
  """Runs one SourceEpisode or FitModel on batched `states`. A fit that reports NaN/inf
  raises NonFiniteError (world_model.check_finite, naming `where` and the seed)."""
  if isinstance(task, schedule.SourceEpisode):
    states, ret = pipe.source_episode(states, task.use_planner)
    return states, Step(task, returns=np.asarray(jax.device_get(ret)))
  if isinstance(task, schedule.FitModel):
    states, info = pipe.fit_model(states)
    wm_lib.check_finite(info, where=where, seeds=seeds)
    return states, Step(task, info=info)
  raise TypeError(f"{task!r} is not a source-phase task (SourceEpisode or FitModel)")


def drive(pipe, states, tasks: Sequence[schedule.Task], where: str = "world-model fit",
          seeds: Sequence[int] | None = None) -> Iterator[tuple[Any, Step]]:
  """Runs `tasks` in order (e.g. schedule.config_source_tasks(config)), yielding the states
  and the Step after each."""
  for task in tasks:
    states, step = run_task(pipe, states, task, where=where, seeds=seeds)
    yield states, step
