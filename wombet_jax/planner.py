"""Uncertainty-penalised MPC: CEM (default) or MPPI over a stochastic ensemble model.

At every step the planner maximises over action sequences a_{0:H-1} in [-1, 1]^{H x A}

    J(a) = E_particles[ sum_t discount^t ( r(s_t, a_t, s_{t+1}) - lambda_plan * u(s_t, a_t) ) ]

(eq. 1 with the penalised reward of eqs. 4-5; lambda_plan = 0 is plain PETS) and returns the
first action of the optimised mean sequence. The planner never imports the world model: it
takes a `Dynamics` protocol, so the same code plans under true dynamics (tests, oracles) and
under the learned ensemble (PETS in the source env, data generation in the model).

Efficiency (the planner is the hot loop of data generation): all population x particles
rollouts advance together in one `lax.scan` over the horizon. Rollouts are laid out as
(particles, n) and `step` is vmapped twice, the outer vmap over the particle and its member
index and the inner one with the member fixed, so an ensemble model gathers its stacked weights
once per particle and runs one (n, in) x (in, out) matmul per particle and layer, never a
gather of weights per rollout. u is computed (num_members more passes) only when
lambda_plan != 0.

Common random numbers (planner.common_noise, default on): particle p of every candidate uses
the same member and the same model noise eps at every step, for any particles/num_members
ratio, so identical candidates get identical objectives and differences between candidates
are not blurred by different noise or members, which is what CEM's ranking needs. Each
candidate's objective keeps its distribution (one independent draw per particle), and the draw
is population times smaller (4% of a planning step at mbrl-lib's sizes on a 2-core CPU).
common_noise=False draws eps per rollout (mbrl-lib's sampling); members stay shared.

CEM follows mbrl-lib: samples truncated at 2 std and clipped to [-1, 1], the top num_elites
refit mean and variance, both smoothed with alpha; the variance restarts at init_std^2 at each
MPC step, the mean is warm-started. MPPI: the mean becomes the softmax(J / temperature)
weighted average of the samples, the std stays init_std (alpha and num_elites unused). Both
keep the current mean among the candidates. The returned sequence is finally evaluated once
more (u always computed) for the info dict.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import chex
import flax.struct
import jax
import jax.numpy as jnp

from wombet_jax.checks import Section

METHODS = ("cem", "mppi")
PROPAGATIONS = ("ts_inf", "ts1")
_BAD_VALUE = -1e10  # replaces non-finite objectives (a diverged model rollout) when ranking


class Dynamics(NamedTuple):
  """What the planner needs of a model; all functions are unbatched (the planner vmaps them).

  step(params, eps (o,), obs (o,), act (a,), member int32 ()) -> next_obs (o,), where eps is
    a standard-normal draw that a stochastic model turns into its sample (mu + sigma * eps);
    deterministic dynamics ignore it. The planner owns the draws (see common_noise).
  uncertainty(params, obs (o,), act (a,)) -> u () >= 0
  num_members: static; particles use members in [0, num_members).
  """
  step: Callable[[Any, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
  uncertainty: Callable[[Any, jax.Array, jax.Array], jax.Array]
  num_members: int


@flax.struct.dataclass
class PlanState:
  """Warm start carried between MPC steps (one per planned trajectory)."""
  mean: jax.Array  # (horizon, act_dim) action-sequence mean, shifted by one step after each plan


class Planner(NamedTuple):
  """Pure functions closed over static sizes; jit (and vmap) them at the call site.

  init(batch_size=None) -> PlanState, zero mean; with batch_size a leading (batch_size,) axis.
  plan(state, key, obs (o,), params, lambda_plan ()) -> (action (a,), state, info), where info
    holds, for the returned mean sequence, "objective" (penalised J), "return" (discounted
    model return without penalty), "uncertainty" (mean u along the plan) and, over the last
    iteration's candidates, "best_objective".
  evaluate(params, key, obs (o,), actions (N, H, a), lambda_plan) -> dict of (N,) arrays with
    "objective", "return", "uncertainty" (mean u over alive steps) for given sequences.
  """
  init: Callable[..., PlanState]
  plan: Callable[..., tuple[jax.Array, PlanState, dict]]
  evaluate: Callable[..., dict]


def validate_planner_config(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``planner`` config section."""
  s = Section(cfg, "planner")
  s.choice("method", METHODS)
  for f in ("horizon", "population", "iterations", "num_elites", "particles"):
    s.integer(f)
  s.at_most("num_elites", "population")
  # mean <- alpha mean + (1 - alpha) elite mean: 0 is no smoothing, 1 never moves the mean.
  s.number("alpha", 0.0, 1.0, hi_open=True,
           why="alpha = 1 never moves the CEM distribution")
  s.number("init_std", 1e-6, 10.0)
  s.nonnegative("lambda_plan")
  # Any weight in [0, 1] gives a finite objective over the finite horizon; 0 plans greedily
  # on the first step's penalised reward (0^0 = 1).
  s.number("discount", 0.0, 1.0)
  s.number("mppi_temperature", 1e-6, 1e6)
  s.boolean("common_noise")


def make_planner(config_planner, act_dim: int, dynamics: Dynamics, reward_fn: Callable,
                 termination_fn: Optional[Callable] = None,
                 propagation: str = "ts_inf") -> Planner:
  """Builds a CEM / MPPI planner over `dynamics`.

  reward_fn(obs, act, next_obs) -> (); termination_fn(obs, act, next_obs) -> bool (). After a
  particle terminates its later rewards and penalties are zero (alive-bonus tasks must not
  gain by imagining life after a fall); the terminating transition itself still counts.
  propagation: "ts_inf" keeps each particle's member fixed over the horizon, "ts1" redraws
  it at every step. Particle p uses member (p + offset) mod num_members, with the offset
  uniform in [0, num_members) and drawn once per evaluation (ts_inf) or at every step (ts1):
  each particle's member is uniform (independent across steps under ts1), a candidate's
  particles stay spread evenly over the members, and every candidate's particle p sees the
  same member, so the members never enter the difference between two candidates.
  """
  validate_planner_config(config_planner)
  if propagation not in PROPAGATIONS:
    raise ValueError(f"propagation={propagation!r} is invalid: must be one of {list(PROPAGATIONS)}")
  if isinstance(act_dim, bool) or not isinstance(act_dim, int) or act_dim < 1:
    raise ValueError(f"act_dim={act_dim!r} is invalid: must be an integer >= 1")
  num_members = dynamics.num_members
  if isinstance(num_members, bool) or not isinstance(num_members, int) or num_members < 1:
    raise ValueError(f"dynamics.num_members={num_members!r} is invalid: must be an int >= 1")

  cfg = config_planner
  horizon, population, particles = cfg.horizon, cfg.population, cfg.particles
  num_elites, iterations, method = cfg.num_elites, cfg.iterations, cfg.method
  alpha, init_var = float(cfg.alpha), float(cfg.init_std) ** 2
  temperature = float(cfg.mppi_temperature)
  discounts = jnp.asarray(float(cfg.discount)) ** jnp.arange(horizon, dtype=jnp.float32)
  ts1 = propagation == "ts1"
  common_noise = cfg.common_noise

  step_grouped = jax.vmap(jax.vmap(dynamics.step, in_axes=(None, 0, 0, 0, None)),
                          in_axes=(None, 0, 0, 0, 0))
  reward_v = jax.vmap(reward_fn)
  unc_v = jax.vmap(dynamics.uncertainty, in_axes=(None, 0, 0))
  term_v = None if termination_fn is None else jax.vmap(termination_fn)

  def rollouts(params, key, obs, actions, lambda_plan, always_uncertainty):
    """Discounted return, discounted u and mean u per sequence; actions (N, H, A)."""
    n_seq = actions.shape[0]
    obs_dim = obs.shape[-1]
    # Rollouts are laid out (particles, N): particle p of every sequence uses the same member
    # and the same noise, whatever particles and num_members are, so identical candidates get
    # identical objectives (common random numbers). Particle p's member is (p + offset) mod
    # num_members: the members spread evenly over each candidate's particles, and the offset,
    # uniform in [0, num_members), makes each particle's member uniform, so with fewer
    # particles than members no member is left out of the estimate. TS-inf draws the offset
    # once per evaluation, TS-1 at every step (a fresh uniform member per particle and step).
    act_p = jnp.broadcast_to(jnp.swapaxes(actions, 0, 1)[:, None],
                             (horizon, particles, n_seq, act_dim))
    particle_ids = jnp.arange(particles, dtype=jnp.int32)
    k_offset, k_steps = jax.random.split(key)
    offset0 = jax.random.randint(k_offset, (), 0, num_members, dtype=jnp.int32)

    def draw_noise(k):  # (particles, N, obs_dim) standard normals, shared by sequences if common
      if common_noise:
        return jnp.broadcast_to(jax.random.normal(k, (particles, 1, obs_dim)),
                                (particles, n_seq, obs_dim))
      return jax.random.normal(k, (particles, n_seq, obs_dim))

    flat = lambda x: x.reshape((particles * n_seq,) + x.shape[2:])

    def penalty(s, a):
      unc_f = lambda: unc_v(params, s, a).astype(jnp.float32)
      if always_uncertainty:
        return unc_f()
      # Skip the ensemble-wide uncertainty (num_members forward passes) when unpenalised;
      # lambda_plan is unbatched under the data-generation vmap, so this stays a real branch.
      return jax.lax.cond(lambda_plan != 0, unc_f,
                          lambda: jnp.zeros((particles * n_seq,), jnp.float32))

    def body(carry, xs):
      s, alive, ret, unc, unc_sum, n_alive = carry
      a, k, disc = xs
      k_step, k_member = jax.random.split(k)
      eps = draw_noise(k_step)
      offset = (jax.random.randint(k_member, (), 0, num_members, dtype=jnp.int32) if ts1
                else offset0)
      members = (particle_ids + offset) % num_members
      nxt = step_grouped(params, eps, s.reshape(particles, n_seq, obs_dim), a, members)
      nxt = nxt.reshape(particles * n_seq, obs_dim).astype(jnp.float32)
      a = flat(a)
      r = reward_v(s, a, nxt).astype(jnp.float32)
      u = penalty(s, a)
      ret = ret + disc * jnp.where(alive, r, 0.0)
      unc = unc + disc * jnp.where(alive, u, 0.0)
      unc_sum = unc_sum + jnp.where(alive, u, 0.0)
      n_alive = n_alive + alive
      if term_v is not None:
        alive = alive & ~term_v(s, a, nxt).astype(bool)
      return (nxt, alive, ret, unc, unc_sum, n_alive), None

    n_roll = particles * n_seq
    zeros = jnp.zeros((n_roll,), jnp.float32)
    init = (jnp.broadcast_to(obs, (n_roll, obs_dim)), jnp.ones((n_roll,), bool), zeros, zeros,
            zeros, zeros)
    xs = (act_p, jax.random.split(k_steps, horizon), discounts)
    (_, _, ret, unc, unc_sum, n_alive), _ = jax.lax.scan(body, init, xs)

    def per_seq(x):  # mean over particles
      return jnp.mean(x.reshape(particles, n_seq), axis=0)

    return {"return": per_seq(ret), "penalty": per_seq(unc),
            "uncertainty": per_seq(unc_sum / jnp.maximum(n_alive, 1.0))}

  def evaluate(params, key, obs, actions, lambda_plan):
    """Penalised objective, model return and mean u of given sequences (N, H, A) from obs."""
    chex.assert_rank(obs, 1)
    chex.assert_shape(actions, (None, horizon, act_dim))
    out = rollouts(params, key, obs.astype(jnp.float32), actions, lambda_plan, True)
    return {"objective": out["return"] - lambda_plan * out["penalty"], "return": out["return"],
            "uncertainty": out["uncertainty"]}

  def objective_of(params, key, obs, cands, lambda_plan):
    out = rollouts(params, key, obs, cands, lambda_plan, False)
    j = out["return"] - lambda_plan * out["penalty"]
    return jnp.where(jnp.isfinite(j), j, _BAD_VALUE)

  def iteration(params, obs, lambda_plan, carry, key):
    mean, var, _ = carry
    k_sample, k_eval = jax.random.split(key)
    std = jnp.sqrt(var)
    if method == "cem":  # truncated at 2 std like mbrl-lib; clipping keeps the box bounds
      noise = jax.random.truncated_normal(k_sample, -2.0, 2.0, (population, horizon, act_dim))
    else:
      noise = jax.random.normal(k_sample, (population, horizon, act_dim))
    cands = jnp.clip(mean + std * noise, -1.0, 1.0)
    cands = cands.at[0].set(mean)  # the current mean always competes (iCEM's "keep the mean")
    values = objective_of(params, k_eval, obs, cands, lambda_plan)
    if method == "cem":
      elite_values, idx = jax.lax.top_k(values, num_elites)
      elites = cands[idx]
      mean = alpha * mean + (1.0 - alpha) * jnp.mean(elites, axis=0)
      var = alpha * var + (1.0 - alpha) * jnp.var(elites, axis=0)
      best = elite_values[0]
    else:  # MPPI: exponentiated-objective average, std kept at init_std
      w = jax.nn.softmax((values - jnp.max(values)) / temperature)
      mean = jnp.tensordot(w, cands, axes=1)
      best = jnp.max(values)
    return (mean, var, best), None

  def init(batch_size: Optional[int] = None) -> PlanState:
    shape = (horizon, act_dim) if batch_size is None else (batch_size, horizon, act_dim)
    return PlanState(mean=jnp.zeros(shape, jnp.float32))

  def plan(state: PlanState, key: jax.Array, obs: jax.Array, params: Any, lambda_plan):
    chex.assert_shape(state.mean, (horizon, act_dim))
    chex.assert_rank(obs, 1)
    obs = obs.astype(jnp.float32)
    lambda_plan = jnp.asarray(lambda_plan, jnp.float32)
    k_iter, k_final = jax.random.split(key)
    var0 = jnp.full((horizon, act_dim), init_var, jnp.float32)
    carry0 = (state.mean, var0, jnp.float32(_BAD_VALUE))
    (mean, _, best), _ = jax.lax.scan(
        lambda c, k: iteration(params, obs, lambda_plan, c, k), carry0,
        jax.random.split(k_iter, iterations))
    mean = jnp.clip(mean, -1.0, 1.0)
    final = evaluate(params, k_final, obs, mean[None], lambda_plan)
    info = {k: v[0] for k, v in final.items()}
    info["best_objective"] = best
    # Warm start: shift left by one step and repeat the last action.
    next_mean = jnp.concatenate([mean[1:], mean[-1:]], axis=0)
    return mean[0], PlanState(mean=next_mean), info

  return Planner(init=init, plan=plan, evaluate=evaluate)
