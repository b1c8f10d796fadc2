"""Export of generated data to `.npz` with D4RL's key names, and a loader.

One file holds every valid generated transition (before filtering) plus the filter's
per-transition `accept` mask, so both D_off (accept == True) and the unfiltered data can be
read back. Rewards are the target-task rewards (relabelled); the source rewards and the model
uncertainty u(s, a) ride along.
"""
from __future__ import annotations

import io

import numpy as np

from wombet_jax.harness import results

D4RL_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
EXTRA_KEYS = ("source_rewards", "uncertainty", "accept", "trajectory")


def arrays_from_rollouts(ro, filtered) -> dict[str, np.ndarray]:
  """Host arrays in D4RL layout from `generation.Rollouts` and `generation.Filtered` (one seed)."""
  valid = np.asarray(ro.valid) > 0
  m, h = valid.shape
  terminal = np.asarray(ro.terminal) > 0
  # A trajectory that did not terminate is cut by the generation horizon: a timeout.
  last_valid = np.zeros_like(valid)
  last_valid[np.arange(m), valid.sum(1) - 1] = True
  timeouts = last_valid & ~terminal
  rows = valid.reshape(-1)
  flat = lambda x: np.asarray(x).reshape((m * h,) + np.asarray(x).shape[2:])[rows]
  accept = np.broadcast_to(np.asarray(filtered.accept)[:, None], (m, h))
  return {
      "observations": flat(ro.obs).astype(np.float32),
      "actions": flat(ro.action).astype(np.float32),
      "rewards": np.asarray(filtered.transitions.reward).reshape(-1)[rows].astype(np.float32),
      "next_observations": flat(ro.next_obs).astype(np.float32),
      "terminals": flat(terminal), "timeouts": flat(timeouts),
      "source_rewards": flat(ro.source_reward).astype(np.float32),
      "uncertainty": flat(ro.uncertainty).astype(np.float32),
      "accept": flat(accept), "trajectory": flat(np.broadcast_to(np.arange(m)[:, None], (m, h))),
  }


def save(path: str, arrays: dict[str, np.ndarray]) -> None:
  missing = [k for k in D4RL_KEYS + EXTRA_KEYS if k not in arrays]
  if missing:
    raise ValueError(f"dataset lacks keys {missing}")
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  results.atomic_write_bytes(path, buf.getvalue())


def load(path: str, filtered: bool = True) -> dict[str, np.ndarray]:
  """D4RL-style dict; `filtered=True` returns D_off only, False every generated transition."""
  with np.load(path) as f:
    data = {k: f[k] for k in f.files}
  if filtered:
    keep = data["accept"]
    data = {k: v[keep] for k, v in data.items()}
  return data
