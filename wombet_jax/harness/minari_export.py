"""A run's dataset (or any file in dataset.py's D4RL layout) as a Minari dataset.

Optional: needs `pip install "wombet_jax[minari]"` (minari with its HDF5 storage). Rows are cut
into episodes where a trajectory ends (terminal or timeout) and wherever the (iteration, seed,
trajectory) of a run's dataset changes; each episode's observations are its rows' observations
plus the last next_observation, as Minari stores them. The task pairs are not Gymnasium
environments, so the dataset has no env spec: its observation and action spaces are given
(Box, actions in [-1, 1]) and the run's metadata is its description (JSON).
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator

import numpy as np

from wombet_jax.harness import dataset

ALGORITHM = "WOMBET generated data: MPC in a world model of the source task, dual filter"


def episode_slices(data: dict[str, np.ndarray]) -> list[slice]:
  """Consecutive row ranges of `data`, one per episode."""
  n = len(data["rewards"])
  end = np.asarray(data["terminals"], bool) | np.asarray(data["timeouts"], bool)
  for key in ("iteration", "seed", "trajectory"):
    if key in data:
      v = np.asarray(data[key])
      end[:-1] |= v[1:] != v[:-1]
  if n:
    end[-1] = True
  stops = np.flatnonzero(end) + 1
  starts = np.concatenate([[0], stops[:-1]])
  return [slice(int(a), int(b)) for a, b in zip(starts, stops)]


@contextlib.contextmanager
def _datasets_root(root: str | None) -> Iterator[None]:
  """Minari reads its datasets folder from MINARI_DATASETS_PATH at each call."""
  old = os.environ.get("MINARI_DATASETS_PATH")
  if root is not None:
    os.environ["MINARI_DATASETS_PATH"] = root
  try:
    yield
  finally:
    if root is not None:
      if old is None:
        os.environ.pop("MINARI_DATASETS_PATH")
      else:
        os.environ["MINARI_DATASETS_PATH"] = old


def export(path: str, dataset_id: str, filtered: bool = True, root: str | None = None,
           author: str | None = None) -> Any:
  """Writes the dataset file at `path` (D_off only with `filtered`) as the Minari dataset
  `dataset_id` (e.g. "wombet/halfcheetah/dataset-v0") under `root` (default: Minari's own
  folder); returns the `minari.MinariDataset`."""
  import gymnasium
  import minari
  from minari.data_collector import EpisodeBuffer
  data = dataset.load(path, filtered=filtered)
  try:
    meta = dataset.read_metadata(path)
  except ValueError:  # a per-iteration file or a user's own: no metadata entry
    meta = {"source": os.path.basename(path)}
  obs_dim, act_dim = data["observations"].shape[1], data["actions"].shape[1]
  episodes = []
  for i, s in enumerate(episode_slices(data)):
    obs = np.concatenate([data["observations"][s], data["next_observations"][s][-1:]])
    episodes.append(EpisodeBuffer(
        id=i, observations=obs.astype(np.float32),
        actions=data["actions"][s].astype(np.float32),
        rewards=data["rewards"][s].astype(np.float64),
        terminations=np.asarray(data["terminals"][s], bool),
        truncations=~np.asarray(data["terminals"][s], bool) & (
            np.arange(s.stop - s.start) == s.stop - s.start - 1)))
  with _datasets_root(root):
    return minari.create_dataset_from_buffers(
        dataset_id, episodes, algorithm_name=ALGORITHM, author=author,
        observation_space=gymnasium.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=gymnasium.spaces.Box(-1.0, 1.0, (act_dim,), np.float32),
        description=json.dumps({**meta, "filtered": filtered}, sort_keys=True),
        data_format="hdf5")
