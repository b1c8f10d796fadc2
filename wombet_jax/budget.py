"""Device memory and model FLOPs of a run, estimated before anything is compiled (a
fail-fast size check the runner can call, and the cost projections of check_configs.py).

A run holds, per vmapped seed, its run state (buffers, model, agent) for the whole run, and
during data generation the planner's temporaries for one block of trajectories
(`generation.trajectory_bytes` each; experiments/diagnostics/check_configs.py compares that
estimate with XLA's memory_analysis() of the compiled planning step).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from wombet_jax import generation, loop
from wombet_jax.optimizers import icem_sizes


def run_state_bytes(config) -> int:
  """Bytes of one seed's run state, from its abstract shapes (nothing is compiled or run)."""
  c = config.copy_and_resolve_references()
  c.num_seeds = 1
  c.offline.dataset = ""  # D_off from a file has the same buffer shapes as generated
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


def member_pass_flops(config, obs_dim: int, act_dim: int) -> int:
  """FLOPs (2 per multiply-add) of one member's forward pass for one input row."""
  h, layers = config.world_model.hidden_size, config.world_model.num_layers
  return 2 * ((obs_dim + act_dim) * h + (layers - 1) * h * h + h * 2 * obs_dim)


def plan_step_flops(config, obs_dim: int, act_dim: int, penalised: bool = True) -> dict:
  """Model FLOPs of one planning step (one generated trajectory-step) under config.planner:
  candidates evaluated x particles x horizon rollout steps, each with 1 member pass (no u),
  1 + K (u from a separate all-elite pass) or K (planner.stepping_u); with the penalty on Q of
  P particles (planner.penalty_particles) only Q of them make the K passes, the others 1:
  (P - Q) + Q * K passes per P rollout steps (stepping_u) or P + Q * K (separate pass). Plus
  the final evaluation of the returned plan (every particle's u). Returns evaluations, rollout
  steps, the mean member passes per rollout step, and flops."""
  p, k = config.planner, config.world_model.num_elites
  if p.method == "icem":
    sizes, kept = icem_sizes(p)
    evaluations = sum(sizes) + kept * p.iterations
  else:
    evaluations = p.population * p.iterations
  parts = p.particles
  q = p.penalty_particles or parts
  with_u = k if p.stepping_u else 1 + k  # passes of a particle whose u is computed
  ranked = ((parts - q) + q * with_u if p.stepping_u else parts + q * k) / parts
  passes = ranked if penalised else 1
  steps = evaluations * parts * p.horizon
  final = parts * p.horizon
  flops = member_pass_flops(config, obs_dim, act_dim) * (steps * passes + final * with_u)
  return {"evaluations": evaluations, "rollout_steps": steps + final,
          "passes_per_rollout_step": passes, "flops": int(round(flops))}


def device_memory_bytes() -> int:
  """What the run's seeds may use: the devices' memory limit summed over the local devices
  (seeds are sharded over them), or the host's physical memory on a CPU."""
  devices = jax.local_devices()
  stats = devices[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(stats["bytes_limit"]) * len(devices)
  import os
  return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def pipeline_bytes(pipe) -> dict:
  """`estimate_device_bytes` for a built `loop.Pipeline`: its run state from the abstract
  shapes of `pipe.init` (traced, not compiled) and, where the algorithm generates D_off, the
  generation temporaries of one block per seed."""
  c, s = pipe.config, pipe.config.num_seeds
  shapes = jax.eval_shape(pipe.init, jax.ShapeDtypeStruct((s, 2), jnp.uint32))
  state = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes)) // s
  generates = pipe.spec.uses_offline and not c.offline.dataset
  block = generation.resolve_block_size(c, pipe.pair.obs_dim, s) if generates else 0
  gen = block * generation.trajectory_bytes(c, pipe.pair.obs_dim)
  return {"num_seeds": s, "block_size": block, "state_bytes_per_seed": state,
          "generation_bytes_per_seed": gen, "total_bytes": s * (state + gen)}


def check_pipeline_fits(pipe, device_bytes: int) -> dict:
  """`pipeline_bytes`, raising UserError (before anything is compiled) when the run would
  need more than `device_bytes`: the estimate, the limit and the largest seed count that
  fits at this per-seed size."""
  from wombet_jax.errors import UserError
  est = pipeline_bytes(pipe)
  if est["total_bytes"] > device_bytes:
    per_seed = est["state_bytes_per_seed"] + est["generation_bytes_per_seed"]
    gib = lambda b: f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"
    raise UserError(
        f"config.num_seeds={est['num_seeds']} is invalid: the run needs about "
        f"{gib(est['total_bytes'])} (per seed: run state {gib(est['state_bytes_per_seed'])} + "
        f"generation block of {est['block_size']} trajectories "
        f"{gib(est['generation_bytes_per_seed'])}) but the device has {gib(device_bytes)}; at "
        f"most {device_bytes // max(per_seed, 1)} seeds fit")
  return est


def generation_temp_bytes(config, block: int, num_seeds: int = 1) -> int:
  """XLA temp bytes of one block of `block` trajectories of generation at config's shapes,
  vmapped over `num_seeds` seeds (compiled on this machine, not run)."""
  import jax
  import jax.numpy as jnp

  from wombet_jax import generation
  from wombet_jax import world_model as wm_lib
  from wombet_jax.envs import make_pair
  pair = make_pair(config.env, config.episode_length or None)
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, config.world_model)
  planner = generation.make_model_planner(config, pair, wm, pair.source.reward_fn)
  gen = lambda k, ms: generation.generate(pair, wm, planner, block, config.generation.horizon,
                                          k, ms, jnp.float32(config.planner.lambda_plan),
                                          plan_dtype=config.generation.plan_dtype)
  ms = jax.eval_shape(jax.vmap(wm.init), jax.ShapeDtypeStruct((num_seeds, 2), jnp.uint32))
  keys = jax.ShapeDtypeStruct((num_seeds, 2), jnp.uint32)
  compiled = jax.jit(jax.vmap(gen)).lower(keys, ms).compile()
  return int(compiled.memory_analysis().temp_size_in_bytes)
