"""Offline data as `.npz` files with D4RL's key names: the export of generated data, its
reader, and the checked reader of a run's D_off from a file (`config.offline.dataset`).

One exported file holds every valid generated transition (before filtering) plus the filter's
per-transition `accept` mask, so both D_off (accept == True) and the unfiltered data can be
read back. Rewards are the target-task rewards (relabelled); the source rewards and the model
uncertainty u(s, a) ride along.

A run with `generation.export` writes one such file per iteration and seed
(`datasets/iter<k>_seed<s>.npz`, as it goes) and, after each iteration, the run's dataset
`dataset.npz`: every iteration and seed so far in one file, with per-row `iteration` and `seed`
columns and a `metadata` entry (JSON: env, episode length, source and target reward, filter
settings and each part's realised thresholds, generation settings, the code's commit).
`load_run`/`read_metadata` read it; `load` reads either kind.

`load_offline` reads any file in that layout (an export, `experiments/oracle_dataset.py`'s
output, a run's dataset, or a user's own data): it checks keys, shapes, lengths and values
and raises one UserError naming the file and the problem before anything is compiled.
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from typing import Any, Mapping

import numpy as np

from wombet_jax.envs import Transition
from wombet_jax.errors import UserError
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
  """A run's export: the D4RL keys and EXTRA_KEYS."""
  _save(path, arrays, D4RL_KEYS + EXTRA_KEYS)


def save_d4rl(path: str, arrays: dict[str, np.ndarray]) -> None:
  """Any dataset with at least the D4RL keys (e.g. `experiments/oracle_dataset.py`'s)."""
  _save(path, arrays, D4RL_KEYS)


def _save(path: str, arrays: dict[str, np.ndarray], keys: tuple[str, ...]) -> None:
  missing = [k for k in keys if k not in arrays]
  if missing:
    raise ValueError(f"dataset lacks keys {missing}")
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  results.atomic_write_bytes(path, buf.getvalue())


def load(path: str, filtered: bool = True) -> dict[str, np.ndarray]:
  """D4RL-style dict; `filtered=True` returns D_off only, False every generated transition.
  A run's dataset's `metadata` entry is left out (`read_metadata`)."""
  def bad(what: str) -> UserError:
    return UserError(f"dataset {path!r} is invalid: {what}")

  try:
    with np.load(path, allow_pickle=False) as f:
      data = {k: f[k] for k in f.files if k != METADATA_KEY}
  except FileNotFoundError:
    raise bad("no such file") from None
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise bad(f"not a readable .npz file ({type(e).__name__}: {e})") from None
  lengths = {k: (v.shape[0] if v.ndim else None) for k, v in data.items()}
  if len(set(lengths.values())) > 1:
    raise bad(f"its arrays have different lengths {lengths}; every key holds one row per "
              "transition")
  for k, v in data.items():
    if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
      rows = ~np.isfinite(v.reshape(len(v), -1)).all(axis=1)
      raise bad(f"{k!r} has non-finite values in {int(rows.sum())} rows (first: row "
                f"{int(np.argmax(rows))})")
  if filtered:
    if "accept" not in data:
      raise bad("has no 'accept' mask, so D_off cannot be told apart; read it with "
                "filtered=False")
    keep = data["accept"].astype(bool)
    data = {k: v[keep] for k, v in data.items()}
  return data


# What `load_offline` needs; the source reward is "source_rewards" where the file has it (an
# export, whose "rewards" are already target rewards), else "rewards" (a source-task dataset).
OFFLINE_KEYS = ("observations", "actions", "next_observations", "terminals", "timeouts")
# The envs' action box: a row outside it could not have been executed.
ACTION_BOUND = 1.0 + 1e-5


def trajectory_returns(rewards: np.ndarray, ends: np.ndarray) -> np.ndarray:
  """Undiscounted return of each trajectory of consecutive rows; a trajectory ends at a row
  where `ends` is True (terminal or timeout), and rows after the last end form one more."""
  rewards = np.asarray(rewards, np.float64)
  cut = np.flatnonzero(np.asarray(ends, bool)) + 1
  if not cut.size or cut[-1] != rewards.size:
    cut = np.append(cut, rewards.size)
  starts = np.concatenate([[0], cut[:-1]])
  return np.add.reduceat(rewards, starts) if rewards.size else np.zeros(0)


def load_offline(path: str, obs_dim: int, act_dim: int) -> tuple[Transition, dict]:
  """D_off's rows from the file at `path`: a host `Transition` (N, ...) whose reward is the
  source reward (the run relabels it with r_T), and statistics of the file (rows, trajectories,
  per-trajectory source return, sha256). Rows with `accept` False are dropped where the file
  has that key. Raises UserError naming the file and what is wrong."""
  def bad(what: str) -> UserError:
    return UserError(f"config.offline.dataset={path!r} is invalid: {what}")

  try:
    with open(path, "rb") as f:
      raw = f.read()
    with np.load(io.BytesIO(raw), allow_pickle=False) as f:
      data = {k: f[k] for k in f.files}
  except FileNotFoundError:
    raise bad("no such file") from None
  except IsADirectoryError:
    raise bad("a directory, not a .npz file") from None
  except PermissionError:
    raise bad("not readable (permission denied)") from None
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise bad(f"not a readable .npz file ({type(e).__name__}: {e})") from None
  reward_key = "source_rewards" if "source_rewards" in data else "rewards"
  missing = [k for k in OFFLINE_KEYS + (reward_key,) if k not in data]
  if missing:
    raise bad(f"lacks keys {missing}; needs {list(OFFLINE_KEYS)} and 'rewards' (the source "
              "reward) or 'source_rewards'")
  n = data["observations"].shape[0] if data["observations"].ndim else 0
  want = {"observations": (n, obs_dim), "actions": (n, act_dim),
          "next_observations": (n, obs_dim), "terminals": (n,), "timeouts": (n,),
          reward_key: (n,)}
  if "accept" in data:
    want["accept"] = (n,)
  for k, shape in want.items():
    if data[k].shape != shape:
      raise bad(f"{k!r} has shape {data[k].shape}; this task pair needs {shape} (rows "
                f"from 'observations', obs_dim {obs_dim}, act_dim {act_dim})")
  for k in want:
    if not (np.issubdtype(data[k].dtype, np.number) or data[k].dtype == bool):
      raise bad(f"{k!r} has dtype {data[k].dtype}; needs numbers")
  keep = data["accept"].astype(bool) if "accept" in data else np.ones(n, bool)
  if not keep.any():
    raise bad("holds no transition" + (" with accept == True" if "accept" in data else ""))
  for k in ("observations", "actions", "next_observations", reward_key):
    finite = np.isfinite(data[k].reshape(n, -1)).all(axis=1)
    if not finite.all():
      raise bad(f"{k!r} has non-finite values in {int((~finite).sum())} rows (first: row "
                f"{int(np.argmin(finite))})")
  over = np.abs(data["actions"]).max(axis=1) > ACTION_BOUND
  if over.any():
    raise bad(f"'actions' leave [-1, 1] in {int(over.sum())} rows (first: row "
              f"{int(np.argmax(over))}, max |a| {float(np.abs(data['actions']).max()):.4g})")
  terminal = data["terminals"].astype(bool)
  ends = terminal | data["timeouts"].astype(bool)
  returns = trajectory_returns(data[reward_key][keep], ends[keep])
  f32 = lambda x: np.asarray(x, np.float32)[keep]
  rows = Transition(obs=f32(data["observations"]), action=f32(data["actions"]),
                    reward=f32(data[reward_key]), next_obs=f32(data["next_observations"]),
                    terminal=f32(terminal), done=f32(ends))
  stats = {"path": path, "sha256": hashlib.sha256(raw).hexdigest(), "rows": int(n),
           "rows_used": int(keep.sum()), "reward_key": reward_key,
           "trajectories": int(returns.size),
           "source_return_mean": float(returns.mean()),
           "source_return_min": float(returns.min()),
           "source_return_max": float(returns.max())}
  return rows, stats


def policy_rollouts(pair, act, episode_length: int, key, episodes: int, noise: float) -> dict:
  """D4RL arrays of `episodes` source-env episodes of `act(obs)` plus N(0, noise^2) action
  noise clipped to [-1, 1] (`experiments/oracle_dataset.py`): `rewards` the target rewards
  (relabelled), `source_rewards` the source rewards, each episode cut at its last step
  (a timeout) unless it terminated."""
  import jax
  import jax.numpy as jnp

  def one(k):
    k_reset, k_run = jax.random.split(k)

    def body(env, k_t):
      a = jnp.clip(act(env.obs) + noise * jax.random.normal(k_t, (pair.act_dim,)), -1.0, 1.0)
      env, tr = pair.source.step(env, a)
      return env, tr

    _, trs = jax.lax.scan(body, pair.source.reset(k_reset),
                          jax.random.split(k_run, episode_length))
    return trs

  trs = jax.device_get(jax.jit(jax.vmap(one))(jax.random.split(key, episodes)))
  flat = lambda x: np.asarray(x).reshape((-1,) + np.asarray(x).shape[2:])
  terminal = np.asarray(trs.terminal) > 0
  # The last step of each rolled-out episode is cut there unless it terminated.
  cut = np.zeros_like(terminal)
  cut[:, -1] = True
  timeouts = ((np.asarray(trs.done) > 0) | cut) & ~terminal
  obs, action, next_obs = flat(trs.obs), flat(trs.action), flat(trs.next_obs)
  r_target = np.asarray(jax.jit(jax.vmap(pair.target.reward_fn))(obs, action, next_obs))
  return {"observations": obs.astype(np.float32), "actions": action.astype(np.float32),
          "next_observations": next_obs.astype(np.float32),
          "rewards": r_target.astype(np.float32),
          "source_rewards": flat(trs.reward).astype(np.float32),
          "terminals": flat(terminal), "timeouts": flat(timeouts)}


# --- one dataset per run ----------------------------------------------------------------------
RUN_DATASET = "dataset.npz"
RUN_FORMAT = 1
METADATA_KEY = "metadata"      # a 0-d string array holding JSON (no pickle needed to read it)
PART_KEYS = ("iteration", "seed")
_PART = re.compile(r"iter(\d+)_seed(-?\d+)\.npz$")


def code_commit() -> str | None:
  """The git commit of the code that runs (with "-dirty" for uncommitted changes), or None
  outside a git checkout (an installed wheel)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                          text=True, timeout=30)
    if head.returncode:
      return None
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return head.stdout.strip() + ("-dirty" if dirty else "")


def _doc(fn) -> str:
  """`name: first docstring line` of a reward function."""
  doc = (fn.__doc__ or "").strip().splitlines()
  return f"{getattr(fn, '__name__', repr(fn))}: {doc[0]}" if doc else getattr(fn, "__name__", "")


def part_metadata(iteration: int, seed: int, filtered, filter_config) -> dict[str, Any]:
  """One (iteration, seed) part: rows are added by `write_run_dataset`; the filter's absolute
  thresholds on this batch (quantiles resolved), trajectories generated and accepted."""
  from wombet_jax import filtering
  thr_u, thr_r = filtering.filter_thresholds(
      np.asarray(filtered.traj_return), np.asarray(filtered.traj_unc),
      filter_config.threshold_mode, filter_config.eps_u, filter_config.eps_r)
  accept = np.asarray(filtered.accept)
  return {"iteration": int(iteration), "seed": int(seed),
          "threshold_uncertainty": float(thr_u), "threshold_source_return": float(thr_r),
          "trajectories": int(accept.size), "trajectories_accepted": int(accept.sum())}


def run_metadata(config, pair) -> dict[str, Any]:
  """What a run's dataset holds, independent of its parts."""
  c = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return {"format": RUN_FORMAT, "env": c["env"], "algo": c.get("algo"),
          "obs_dim": int(pair.obs_dim), "act_dim": int(pair.act_dim),
          "episode_length": int(pair.episode_length),
          "source_reward": _doc(pair.source.reward_fn),
          "target_reward": _doc(pair.target.reward_fn),
          "rewards": "target-task rewards (relabelled); source_rewards: the source task's",
          "filter": dict(c.get("filter", {})), "generation": dict(c.get("generation", {})),
          "commit": code_commit()}


def part_files(datasets_dir: str) -> list[tuple[int, int, str]]:
  """(iteration, seed, path) of every per-iteration file, ordered by iteration then seed."""
  out = []
  for path in glob.glob(os.path.join(glob.escape(datasets_dir), "iter*_seed*.npz")):
    m = _PART.search(os.path.basename(path))
    if m:
      out.append((int(m.group(1)), int(m.group(2)), path))
  return sorted(out)


def write_run_dataset(path: str, datasets_dir: str, meta: Mapping[str, Any],
                      parts: Mapping[tuple[int, int], Mapping[str, Any]]) -> dict[str, Any]:
  """Concatenates every per-iteration file in `datasets_dir` into one dataset at `path`, with
  `iteration` and `seed` columns and `meta` plus each part's entry of `parts` (keyed by
  (iteration, seed)) and row counts as its metadata. Returns the metadata written."""
  columns: dict[str, list[np.ndarray]] = {}
  listed = []
  for k, seed, file in part_files(datasets_dir):
    arrays = load(file, filtered=False)
    n = len(arrays["rewards"])
    arrays["iteration"] = np.full(n, k, np.int32)
    arrays["seed"] = np.full(n, seed, np.int32)
    for key, v in arrays.items():
      columns.setdefault(key, []).append(v)
    listed.append({**parts.get((k, seed), {"iteration": k, "seed": seed}), "rows": int(n),
                   "rows_accepted": int(np.sum(arrays["accept"]))})
  if not listed:
    raise ValueError(f"{datasets_dir} holds no iter<k>_seed<s>.npz file")
  merged = {key: np.concatenate(v) for key, v in columns.items()}
  metadata = {**meta, "parts": listed, "rows": int(len(merged["rewards"]))}
  merged[METADATA_KEY] = np.array(json.dumps(metadata, sort_keys=True))
  _save(path, merged, D4RL_KEYS + EXTRA_KEYS + PART_KEYS)
  return metadata


def read_metadata(path: str) -> dict[str, Any]:
  """The metadata of a run's dataset."""
  with np.load(path, allow_pickle=False) as f:
    if METADATA_KEY not in f.files:
      raise ValueError(f"{path} has no {METADATA_KEY!r} entry: not a run's dataset")
    return json.loads(str(f[METADATA_KEY][()]))


def load_run(path: str, filtered: bool = True, iteration: int | None = None,
             seed: int | None = None) -> dict[str, np.ndarray]:
  """A run's dataset as a D4RL-style dict (with `iteration` and `seed` columns), D_off only
  with `filtered`; `iteration`/`seed` select their rows (what `datasets/iter<k>_seed<s>.npz`
  holds)."""
  data = load(path, filtered=filtered)
  keep = np.ones(len(data["rewards"]), bool)
  if iteration is not None:
    keep &= data["iteration"] == iteration
  if seed is not None:
    keep &= data["seed"] == seed
  return {k: v[keep] for k, v in data.items()}
