"""Device-memory estimates of a run, before anything is compiled (a fail-fast size check).

A run holds, per vmapped seed, its run state (buffers, model, agent) for the whole run, and
during data generation the planner's temporaries for one block of trajectories
(`generation.trajectory_bytes` each; experiments/check_configs.py compares that estimate with
XLA's memory_analysis() of the compiled planning step).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from wombet_jax import generation, loop


def run_state_bytes(config) -> int:
  """Bytes of one seed's run state, from its abstract shapes (nothing is compiled or run)."""
  c = config.copy_and_resolve_references()
  c.num_seeds = 1
  pipe = loop.make_pipeline(c)
  keys = jax.ShapeDtypeStruct((1, 2), jnp.uint32)
  shapes = jax.eval_shape(pipe.init, keys)
  return sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes))


def estimate_device_bytes(config, num_seeds: int | None = None,
                          state_bytes: int | None = None) -> dict:
  """Peak device bytes of `config` at `num_seeds` (default config.num_seeds) vmapped seeds:
  run state per seed x seeds + the generation temporaries of one block per seed (the block
  size `loop.make_pipeline` uses). `state_bytes` (one seed's run state) skips building it."""
  s = config.num_seeds if num_seeds is None else num_seeds
  from wombet_jax.envs import make_pair
  obs_dim = make_pair(config.env, config.episode_length or None).obs_dim
  block = generation.resolve_block_size(config, obs_dim, s)
  state = run_state_bytes(config) if state_bytes is None else state_bytes
  gen = block * generation.trajectory_bytes(config, obs_dim)
  return {"num_seeds": s, "block_size": block, "state_bytes_per_seed": state,
          "generation_bytes_per_seed": gen, "total_bytes": s * (state + gen)}


def check_fits(config, device_bytes: int, num_seeds: int | None = None) -> dict:
  """`estimate_device_bytes`, raising ValueError with the numbers when it exceeds
  `device_bytes` (e.g. from jax.devices()[0].memory_stats()["bytes_limit"])."""
  est = estimate_device_bytes(config, num_seeds)
  if est["total_bytes"] > device_bytes:
    raise ValueError(
        f"{est['num_seeds']} seeds need about {est['total_bytes'] / 2**30:.1f} GiB "
        f"(run state {est['state_bytes_per_seed'] / 2**30:.2f} + generation block of "
        f"{est['block_size']} trajectories {est['generation_bytes_per_seed'] / 2**30:.2f} GiB "
        f"per seed) but the device has {device_bytes / 2**30:.1f} GiB: lower num_seeds or "
        f"generation.memory_budget_gib / generation.block_size")
  return est
