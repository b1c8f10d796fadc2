"""Source-task data: PETS in the real source env and MPC rollouts inside the world model.

docs/method.md, steps 1-4. Everything here is written for one seed and is pure; the loop vmaps it.
  * `collect_source_episode`: one episode in the real source env, uniform-random actions or
    MPC under the current model (plain PETS, lambda_plan = 0: in the real env the model's
    errors cost real return, and PETS is the standard we reproduce).
  * `generate`: M trajectories of H_gen steps inside the model (eq. 1), CEM with the
    uncertainty penalty lambda_plan at every step, the first action applied to a freshly
    sampled elite (per step, docs/method.md step 2); records (s, a, s', r_S, u).
  * `filter_and_relabel`: the dual-criterion mask (eq. 6) and the target-reward relabelling.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import chex
import flax.struct
import jax
import jax.numpy as jnp

from wombet_jax import filtering
from wombet_jax.checks import Section
from wombet_jax.envs import TaskPair, Transition
from wombet_jax.planner import Dynamics, Planner, make_planner
from wombet_jax.world_model import WorldModel
from wombet_jax.world_model.networks import cast_weights


@flax.struct.dataclass
class Rollouts:
  """Model-generated trajectories, leading axes (M, H_gen)."""
  obs: jax.Array          # (M, H, obs_dim)
  action: jax.Array       # (M, H, act_dim)
  next_obs: jax.Array     # (M, H, obs_dim)
  source_reward: jax.Array  # (M, H)
  uncertainty: jax.Array  # (M, H)  u(s_t, a_t)
  terminal: jax.Array     # (M, H)  1.0 at the step where the trajectory terminates
  valid: jax.Array        # (M, H)  1.0 up to and including the terminating step


def validate_pets_config(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``pets`` config section: the
  source phase's uniform-random episodes, then the MPC ones (`collect_source_episode`)."""
  s = Section(cfg, "pets")
  s.integer("random_episodes")
  s.integer("mpc_episodes", lo=0)


START_MODES = ("reset", "replay")
PLAN_DTYPES = ("float32", "bfloat16")
OFFLINE_UPDATES = ("replace", "accumulate")


def validate_generation_config(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``generation`` config section."""
  s = Section(cfg, "generation")
  s.integer("num_trajectories")
  s.integer("horizon")
  s.choice("start", START_MODES)
  s.choice("offline_update", OFFLINE_UPDATES)
  s.integer("block_size", lo=0)
  s.number("memory_budget_gib", 0.0, 1e6)
  s.choice("plan_dtype", PLAN_DTYPES)


def validate_offline_config(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``offline`` config section (D_off
  from a file; the file itself is checked where it is read, `harness.dataset.load_offline`)."""
  s = Section(cfg, "offline")
  if not isinstance(s.get("dataset"), str):
    s.fail("dataset", "must be a path to a .npz file, or \"\" to generate D_off")
  s.integer("max_transitions", lo=0)


def replay_start_states(real, key: jax.Array, num_states: int) -> jax.Array:
  """`generation.start = "replay"`: `num_states` observations drawn uniformly (with
  replacement) from the valid rows of the model's real data (a `replay.Buffer` of
  `world_model.Rows`)."""
  idx = jax.random.randint(key, (num_states,), 0, jnp.maximum(real.size, 1))
  return real.data.obs[idx]


def subsample_rows(data: Transition, key: jax.Array, n: int) -> Transition:
  """`offline.max_transitions`: n rows drawn uniformly without replacement (all rows, in
  order, when n is 0 or at least the number of rows)."""
  total = data.obs.shape[0]
  if n == 0 or n >= total:
    return data
  idx = jax.random.permutation(key, total)[:n]
  return jax.tree_util.tree_map(lambda x: x[idx], data)


def relabel_rows(pair: TaskPair, data: Transition) -> Transition:
  """Step 4 for flat rows (N, ...): the reward replaced by r_T(s, a, s')."""
  return data.replace(reward=jax.vmap(pair.target.reward_fn)(data.obs, data.action,
                                                             data.next_obs))


# When the device does not say how much memory it has (a CPU): the generation budget.
HOST_BUDGET_GIB = 8.0


def trajectory_bytes(config, obs_dim: int) -> int:
  """Estimated device bytes that generating one trajectory holds (the planner's temporaries),
  from a per-rollout count fitted to XLA's memory_analysis() (CPU): a vmapped plan step
  holds two activations of (elites, hidden) per rollout for the all-elite pass, about 3.4 of
  (hidden,) for the stepping member and a few states (within 1% at halfcheetah shapes,
  hidden 100-200, 2-5 elites); the compiled generate scan holds 1.3 times that (109 MiB per
  trajectory at halfcheetah's paper shapes). Rollouts per trajectory: population x particles;
  with the penalty on Q of P particles (planner.penalty_particles) only Q / P of them make
  the all-elite pass. experiments/diagnostics/check_configs.py --memory prints XLA's number
  for each paper config."""
  k, h = config.world_model.num_elites, config.world_model.hidden_size
  parts = config.planner.particles
  share = (config.planner.penalty_particles or parts) / parts
  per_rollout = 1.3 * 4 * (2 * k * h * share + 3.4 * h + 4 * obs_dim)
  return int(config.planner.population * config.planner.particles * per_rollout)


def device_budget_bytes(config) -> int:
  """generation.memory_budget_gib in bytes, or half of the first device's memory limit (the
  run state, XLA's own buffers and fragmentation take the rest), or HOST_BUDGET_GIB."""
  gib = float(config.generation.memory_budget_gib)
  if gib > 0:
    return int(gib * 2**30)
  stats = jax.devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(stats["bytes_limit"]) // 2
  return int(HOST_BUDGET_GIB * 2**30)


def resolve_block_size(config, obs_dim: int, num_seeds: int) -> int:
  """generation.block_size, or for 0 the largest block whose temporaries for `num_seeds`
  vmapped seeds fit `device_budget_bytes` (at least 1, at most M)."""
  m = config.generation.num_trajectories
  if config.generation.block_size > 0:
    return min(config.generation.block_size, m)
  per_seed = device_budget_bytes(config) // max(1, num_seeds)
  return int(max(1, min(m, per_seed // max(1, trajectory_bytes(config, obs_dim)))))


def model_dynamics(wm: WorldModel) -> Dynamics:
  """Adapts the world model to the planner's dynamics protocol (members index the elites)."""
  return Dynamics(step=wm.next_from_noise, uncertainty=wm.uncertainty,
                  num_members=wm.num_elites, step_and_uncertainty=wm.next_and_uncertainty)


def make_model_planner(config, pair: TaskPair, wm: WorldModel, reward_fn) -> Planner:
  return make_planner(config.planner, pair.act_dim, model_dynamics(wm), reward_fn,
                      termination_fn=pair.source.termination_fn)


def collect_source_episode(pair: TaskPair, planner: Planner, episode_length: int,
                           key: jax.Array, model_state: Any, use_planner: bool
                           ) -> tuple[Transition, jax.Array]:
  """One episode of `episode_length` real source-env steps (auto-resetting after a fall).

  Returns the transitions (leading axis episode_length) and the return of the first episode
  (the standard PETS learning-curve figure).
  """
  k_reset, k_run = jax.random.split(key)
  env = pair.source.reset(k_reset)

  def body(carry, k):
    env, plan_state, alive, ret = carry
    k_act, k_plan = jax.random.split(k)
    if use_planner:
      action, plan_state, _ = planner.plan(plan_state, k_plan, env.obs, model_state,
                                           jnp.float32(0.0))
    else:
      action = jax.random.uniform(k_act, (pair.act_dim,), minval=-1.0, maxval=1.0)
    env, tr = pair.source.step(env, action)
    ret = ret + alive * tr.reward
    alive = alive * (1.0 - tr.done)
    return (env, plan_state, alive, ret), tr

  init = (env, planner.init(), jnp.float32(1.0), jnp.float32(0.0))
  (_, _, _, ret), trs = jax.lax.scan(body, init, jax.random.split(k_run, episode_length))
  return trs, ret


def generate(pair: TaskPair, wm: WorldModel, planner: Planner, num_trajectories: int,
             horizon: int, key: jax.Array, model_state: Any, lambda_plan: jax.Array,
             obs0: Optional[jax.Array] = None, block_size: Optional[int] = None,
             plan_dtype: str = "float32") -> Rollouts:
  """M trajectories of MPC inside the model from source start states (docs/method.md, step 2).

  obs0 (M, obs_dim), optional: start from these states instead of fresh draws from rho_S (the
  lower-bound diagnostic replays the actions from the same states in the real env); the rest
  of `key`'s use is unchanged, so the planning and model noise are the same either way.

  block_size (static; None or >= M: all at once): plan this many trajectories at a time, one
  block after another in a `lax.map`, so the planner's temporaries (about
  `trajectory_bytes` per trajectory) are held for one block only. Every trajectory's keys
  and member draws are made for all M up front exactly as the unblocked path makes them, and
  trajectories never interact, so blocks give the same trajectories: states, actions and
  rewards bit for bit in tests/test_generation.py (CPU), the recorded u (one batched model
  pass per block, whose matmul kernel can change with the batch size) to float rounding.

  plan_dtype (static, generation.plan_dtype): the planner searches with the model's weight
  matrices in this dtype (`networks.cast_weights`); the executed action's step, reward and
  recorded u use the float32 model either way.
  """
  k_reset, k_run = jax.random.split(key)
  if obs0 is None:
    obs0 = jax.vmap(lambda k: pair.source.reset(k).obs)(
        jax.random.split(k_reset, num_trajectories))
  chex.assert_shape(obs0, (num_trajectories, pair.obs_dim))

  def step_draws(k):  # per step: (M,) plan keys, (M,) members, (M,) model-sample keys
    k_plan, k_member, k_step = jax.random.split(k, 3)
    return (jax.random.split(k_plan, num_trajectories),
            jax.random.randint(k_member, (num_trajectories,), 0, wm.num_elites),
            jax.random.split(k_step, num_trajectories))

  if plan_dtype not in PLAN_DTYPES:
    raise ValueError(f"plan_dtype={plan_dtype!r}: must be one of {PLAN_DTYPES}")
  plan_model = (model_state if plan_dtype == "float32" else model_state.replace(
      params=cast_weights(model_state.params, jnp.dtype(plan_dtype))))
  draws = jax.vmap(step_draws)(jax.random.split(k_run, horizon))  # each (H, M, ...)
  draws = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), draws)  # (M, H, ...)
  m = num_trajectories
  b = m if block_size is None or block_size <= 0 else min(int(block_size), m)
  if b == m:
    outs = _generate_block(pair, wm, planner, model_state, plan_model, lambda_plan, obs0, draws)
  else:
    n_blocks = -(-m // b)
    # Padding repeats the last trajectory (same keys, same numbers); its copies are cut off.
    pad = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], n_blocks * b - m, axis=0)])
    blocks = jax.tree_util.tree_map(lambda x: pad(x).reshape((n_blocks, b) + x.shape[1:]),
                                    (obs0, draws))
    outs = jax.lax.map(lambda xs: _generate_block(pair, wm, planner, model_state, plan_model,
                                                  lambda_plan, *xs), blocks)
    outs = jax.tree_util.tree_map(lambda x: x.reshape((n_blocks * b,) + x.shape[2:])[:m], outs)
  ro = Rollouts(*outs)
  chex.assert_shape(ro.uncertainty, (num_trajectories, horizon))
  return ro


def _generate_block(pair, wm, planner, model_state, plan_model, lambda_plan, obs0, draws):
  """The MPC rollouts of a block of trajectories (obs0 (b, o); draws (b, H, ...)), (b, H, ...);
  the planner searches in `plan_model`, the trajectory steps in `model_state`."""
  n = obs0.shape[0]
  plan0 = jax.vmap(lambda _: planner.init())(jnp.arange(n))
  plan_v = jax.vmap(planner.plan, in_axes=(0, 0, 0, None, None))

  def body(carry, xs):
    obs, plan_state, alive = carry
    k_plan, members, k_step = xs
    action, plan_state, _ = plan_v(plan_state, k_plan, obs, plan_model, lambda_plan)
    next_obs = jax.vmap(wm.sample_next, in_axes=(None, 0, 0, 0, 0))(
        model_state, k_step, obs, action, members)
    u = wm.uncertainty(model_state, obs, action)
    r = pair.source.reward_fn(obs, action, next_obs)
    term = pair.source.termination_fn(obs, action, next_obs).astype(jnp.float32)
    out = (obs, action, next_obs, r, u, term * alive, alive)
    return (next_obs, plan_state, alive * (1.0 - term)), out

  init = (obs0, plan0, jnp.ones((n,), jnp.float32))
  xs = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), draws)  # scan over H
  _, outs = jax.lax.scan(body, init, xs)
  # scan stacks time first; the contract is (M, H, ...).
  return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), outs)


class Filtered(NamedTuple):
  transitions: Transition  # (M*H, ...) relabelled with r_T; rows with keep=False are dropped
  keep: jax.Array          # (M*H,) bool: trajectory accepted and step valid
  accept: jax.Array        # (M,) bool trajectory mask, eq. (6)
  traj_return: jax.Array   # (M,) R_S(tau)
  traj_unc: jax.Array      # (M,) U(tau)


def filter_and_relabel(pair: TaskPair, filter_config, ro: Rollouts) -> Filtered:
  """Dual-criterion filter (eq. 6) as a mask, then relabelling with r_T (docs/method.md, steps 3-4).

  Steps after a trajectory terminated are invalid: they add no return and are masked out of
  U(tau) (`valid` in filtering's trajectory functions).
  """
  returns = filtering.trajectory_return(ro.source_reward, valid=ro.valid)
  traj_unc = filtering.trajectory_uncertainty(ro.uncertainty, filter_config.aggregate,
                                              valid=ro.valid)
  accept = filtering.filter_mask(returns, traj_unc, filter_config.variant,
                                 filter_config.threshold_mode, filter_config.eps_u,
                                 filter_config.eps_r)
  r_target = filtering.relabel(ro.obs, ro.action, ro.next_obs, pair.target.reward_fn)
  m, h = ro.valid.shape
  flat = lambda x: x.reshape((m * h,) + x.shape[2:])
  transitions = Transition(obs=flat(ro.obs), action=flat(ro.action), reward=flat(r_target),
                           next_obs=flat(ro.next_obs), terminal=flat(ro.terminal),
                           done=flat(jnp.maximum(ro.terminal, (jnp.arange(h) == h - 1)
                                                 .astype(jnp.float32)[None, :])))
  keep = flat((accept[:, None] & (ro.valid > 0)))
  return Filtered(transitions, keep, accept, returns, traj_unc)


def check_accepted(info: dict, seeds, filter_config, num_trajectories: int,
                   iteration: int) -> None:
  """Host-side: `filtering.check_not_empty` for every seed of one regeneration.

  `info` is the host copy of `regenerate`'s info (arrays with a leading seed axis).
  """
  for i, seed in enumerate(seeds):
    filtering.check_not_empty(
        info["num_accepted"][i], num_trajectories,
        [info["return_min"][i], info["return_max"][i]], [info["unc_min"][i], info["unc_max"][i]],
        filter_config, where=f"iteration {iteration}, seed {seed}: ")


def rollout_policy(pair: TaskPair, act_fn: Callable, episode_length: int, key: jax.Array,
                   num_episodes: int, target: bool = True, keyed: bool = False) -> jax.Array:
  """Mean undiscounted return of `act_fn(obs)` over batched episodes (first episode only).

  With `keyed`, the policy is stochastic: `act_fn(obs, key)` gets a fresh key every step.
  """
  task = pair.target if target else pair.source

  def one(k):
    # A deterministic policy draws no action keys: the whole of `k` seeds the reset.
    k_reset, k_act = jax.random.split(k) if keyed else (k, k)
    env = task.reset(k_reset)

    def body(carry, k_t):
      env, alive, ret = carry
      action = act_fn(env.obs, k_t) if keyed else act_fn(env.obs)
      env, tr = task.step(env, action)
      return (env, alive * (1.0 - tr.done), ret + alive * tr.reward), None

    (_, _, ret), _ = jax.lax.scan(body, (env, jnp.float32(1.0), jnp.float32(0.0)),
                                  jax.random.split(k_act, episode_length))
    return ret

  return jnp.mean(jax.vmap(one)(jax.random.split(key, num_episodes)))
