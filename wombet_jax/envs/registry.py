"""The task-pair suite as data: name -> (builder, default episode length).

Adding a pair is adding an entry here (DESIGN.md "Tasks"); nothing else branches on names.
"""
from __future__ import annotations

import numbers
from typing import Callable

from wombet_jax.envs import base, inverted_double_pendulum, mjx_tasks, pointmass, reacher

_PAIRS: dict[str, tuple[Callable[[int], base.TaskPair], int]] = {
    "pointmass": (pointmass.make_pair, pointmass.EPISODE_LENGTH),
    "halfcheetah": (mjx_tasks.make_halfcheetah, 1000),
    "hopper": (mjx_tasks.make_hopper, 1000),
    "walker2d": (mjx_tasks.make_walker2d, 1000),
    "ant": (mjx_tasks.make_ant, 1000),
    # 50 steps of 0.02 s, as in Gym's Reacher: long enough to reach any goal and hold it.
    "reacher": (reacher.make_reacher, 50),
    "inverted_double_pendulum": (inverted_double_pendulum.make_inverted_double_pendulum, 1000),
}


def names() -> tuple[str, ...]:
  """Registered pair names, pointmass first."""
  return tuple(_PAIRS)


def default_episode_length(name: str) -> int:
  if name not in _PAIRS:
    raise ValueError(f"unknown task pair {name!r}; known pairs: {', '.join(names())}")
  return _PAIRS[name][1]


def make_pair(name: str, episode_length: int | None = None) -> base.TaskPair:
  """Builds the named source/target pair.

  Args:
    name: one of names().
    episode_length: time limit; None (or 0, the config's "default" value) keeps the pair's
      default.
  """
  default_length = default_episode_length(name)
  builder = _PAIRS[name][0]
  if episode_length is None or episode_length == 0:
    episode_length = default_length
  if (isinstance(episode_length, bool) or not isinstance(episode_length, numbers.Integral)
      or episode_length < 0):
    raise ValueError(f"episode_length must be a positive int (or None / 0 for the default "
                     f"{default_length}), got {episode_length!r}")
  return builder(int(episode_length))
