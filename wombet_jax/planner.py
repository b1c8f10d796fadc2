"""Uncertainty-penalised MPC (CEM by default, MPPI, iCEM) over a stochastic ensemble model.

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

The optimizer (planner.method: CEM, the default, MPPI or iCEM) is one entry of
wombet_jax/optimizers.py's table; it sees only `objective(candidates, key)`. The returned
sequence is finally evaluated once more (u always computed) for the info dict.

u from the stepping pass (planner.stepping_u): an ensemble's u runs every member anyway, and
the particle's own member is one of them, so a `Dynamics.step_and_uncertainty` steps the
particle and gives u from one pass of all members (num_members passes per rollout step, not
num_members + 1). Same objective to float rounding (tests/test_planner.py).

The penalty on Q particles (planner.penalty_particles = Q, 0 < Q < particles): while the
optimizer ranks candidates, u is computed only for the first Q particles of every candidate
and the penalty term is their mean; the return still averages all particles. The particles
are exchangeable (each one's member is uniform, its noise independent), so the mean over any
fixed Q of them has the expectation of the mean over all: an unbiased estimator of the same
objective, with more variance in the penalty term. The subset is the same for every
candidate, so common random numbers still hold. Member passes per rollout step drop from
num_members (stepping_u) to (particles - Q + Q * num_members) / particles. The plan's final
evaluation (the info dict, hence U(tau) in generation) always uses every particle.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from wombet_jax.checks import Section
from wombet_jax.optimizers import OPTIMIZERS, PlanState

METHODS = tuple(OPTIMIZERS)
PROPAGATIONS = ("ts_inf", "ts1")
_BAD_VALUE = -1e10  # replaces non-finite objectives (a diverged model rollout) when ranking


class Dynamics(NamedTuple):
  """What the planner needs of a model; all functions are unbatched (the planner vmaps them).

  step(params, eps (o,), obs (o,), act (a,), member int32 ()) -> next_obs (o,), where eps is
    a standard-normal draw that a stochastic model turns into its sample (mu + sigma * eps);
    deterministic dynamics ignore it. The planner owns the draws (see common_noise).
  uncertainty(params, obs (o,), act (a,)) -> u () >= 0
  num_members: static; particles use members in [0, num_members).
  step_and_uncertainty (optional): (params, eps, obs, act, member) -> (step's next_obs,
    uncertainty's u) from one pass, for models where u needs every member anyway (an
    ensemble: the stepping member is one of the passes u makes). Used when planner.stepping_u
    and lambda_plan != 0; it must equal the two functions (to float rounding).
  """
  step: Callable[[Any, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
  uncertainty: Callable[[Any, jax.Array, jax.Array], jax.Array]
  num_members: int
  step_and_uncertainty: Optional[Callable] = None


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
  s.choice("propagation", PROPAGATIONS)
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
  s.boolean("stepping_u")
  s.integer("penalty_particles", lo=0)  # 0: every particle
  s.at_most("penalty_particles", "particles")
  # 0 is white noise, 2 red (Brownian-like); iCEM used 2-2.5 on locomotion.
  s.number("icem_noise_beta", 0.0, 5.0)
  s.number("icem_population_decay", 1.0, 100.0)
  s.number("icem_keep_fraction", 0.0, 1.0)


def make_planner(config_planner, act_dim: int, dynamics: Dynamics, reward_fn: Callable,
                 termination_fn: Optional[Callable] = None) -> Planner:
  """Builds a CEM / MPPI planner over `dynamics`.

  reward_fn(obs, act, next_obs) -> (); termination_fn(obs, act, next_obs) -> bool (). After a
  particle terminates its later rewards and penalties are zero (alive-bonus tasks must not
  gain by imagining life after a fall); the terminating transition itself still counts.
  config_planner.propagation: "ts_inf" keeps each particle's member fixed over the horizon,
  "ts1" redraws it at every step. Particle p uses member (p + offset) mod num_members, with
  the offset uniform in [0, num_members) and drawn once per evaluation (ts_inf) or at every
  step (ts1):
  each particle's member is uniform (independent across steps under ts1), a candidate's
  particles stay spread evenly over the members, and every candidate's particle p sees the
  same member, so the members never enter the difference between two candidates.
  """
  validate_planner_config(config_planner)
  if isinstance(act_dim, bool) or not isinstance(act_dim, int) or act_dim < 1:
    raise ValueError(f"act_dim={act_dim!r} is invalid: must be an integer >= 1")
  num_members = dynamics.num_members
  if isinstance(num_members, bool) or not isinstance(num_members, int) or num_members < 1:
    raise ValueError(f"dynamics.num_members={num_members!r} is invalid: must be an int >= 1")

  cfg = config_planner
  horizon, particles = cfg.horizon, cfg.particles
  iterations, method = cfg.iterations, cfg.method
  init_var = float(cfg.init_std) ** 2
  discounts = jnp.asarray(float(cfg.discount)) ** jnp.arange(horizon, dtype=jnp.float32)
  ts1 = cfg.propagation == "ts1"
  common_noise = cfg.common_noise
  # Particles whose u enters the objective while optimising (the final evaluation: all).
  q_rank = cfg.penalty_particles or particles

  group = lambda f: jax.vmap(jax.vmap(f, in_axes=(None, 0, 0, 0, None)),
                             in_axes=(None, 0, 0, 0, 0))
  step_grouped = group(dynamics.step)
  fused = (group(dynamics.step_and_uncertainty)
           if cfg.stepping_u and dynamics.step_and_uncertainty is not None else None)
  optimizer = OPTIMIZERS[method](cfg, horizon, act_dim)
  reward_v = jax.vmap(reward_fn)
  unc_v = jax.vmap(dynamics.uncertainty, in_axes=(None, 0, 0))
  term_v = None if termination_fn is None else jax.vmap(termination_fn)

  def rollouts(params, key, obs, actions, lambda_plan, always_uncertainty, q):
    """Discounted return, discounted u and mean u per sequence; actions (N, H, A). u (and
    so the penalty and the mean u) comes from the first q particles, the return from all."""
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

    n_q = q * n_seq  # rollouts of the first q particles (the layout is particle-major)

    def penalty(s, a):
      unc_f = lambda: unc_v(params, s[:n_q], a[:n_q]).astype(jnp.float32)
      if always_uncertainty:
        return unc_f()
      # Skip the ensemble-wide uncertainty (num_members forward passes) when unpenalised;
      # lambda_plan is unbatched under the data-generation vmap, so this stays a real branch.
      return jax.lax.cond(lambda_plan != 0, unc_f, lambda: jnp.zeros((n_q,), jnp.float32))

    def fused_pass(eps, s_grouped, a, members):
      """(next states of all particles, u of the first q) with one all-member pass on the
      first q particles and the stepping member alone on the rest."""
      nxt_q, u = fused(params, eps[:q], s_grouped[:q], a[:q], members[:q])
      if q == particles:
        return nxt_q, u
      rest = step_grouped(params, eps[q:], s_grouped[q:], a[q:], members[q:])
      return jnp.concatenate([nxt_q, rest], axis=0), u

    def body(carry, xs):
      s, alive, ret, unc, unc_sum, n_alive = carry
      a, k, disc = xs
      k_step, k_member = jax.random.split(k)
      eps = draw_noise(k_step)
      offset = (jax.random.randint(k_member, (), 0, num_members, dtype=jnp.int32) if ts1
                else offset0)
      members = (particle_ids + offset) % num_members
      s_grouped = s.reshape(particles, n_seq, obs_dim)
      if fused is None:
        nxt = step_grouped(params, eps, s_grouped, a, members)
        u = penalty(s, flat(a))
      else:  # one all-member pass steps the particle and gives u
        both = lambda: fused_pass(eps, s_grouped, a, members)
        plain = lambda: (step_grouped(params, eps, s_grouped, a, members),
                         jnp.zeros((q, n_seq), jnp.float32))
        nxt, u = both() if always_uncertainty else jax.lax.cond(lambda_plan != 0, both, plain)
        u = u.reshape(-1).astype(jnp.float32)  # (q * N,), particle-major
      nxt = nxt.reshape(particles * n_seq, obs_dim).astype(jnp.float32)
      a = flat(a)
      r = reward_v(s, a, nxt).astype(jnp.float32)
      ret = ret + disc * jnp.where(alive, r, 0.0)
      alive_q = alive[:n_q]
      unc = unc + disc * jnp.where(alive_q, u, 0.0)
      unc_sum = unc_sum + jnp.where(alive_q, u, 0.0)
      n_alive = n_alive + alive_q
      if term_v is not None:
        alive = alive & ~term_v(s, a, nxt).astype(bool)
      return (nxt, alive, ret, unc, unc_sum, n_alive), None

    n_roll = particles * n_seq
    zeros, zeros_q = jnp.zeros((n_roll,), jnp.float32), jnp.zeros((n_q,), jnp.float32)
    init = (jnp.broadcast_to(obs, (n_roll, obs_dim)), jnp.ones((n_roll,), bool), zeros,
            zeros_q, zeros_q, zeros_q)
    xs = (act_p, jax.random.split(k_steps, horizon), discounts)
    (_, _, ret, unc, unc_sum, n_alive), _ = jax.lax.scan(body, init, xs)

    def per_seq(x):  # mean over the particles x holds (all, or the first q)
      return jnp.mean(x.reshape(-1, n_seq), axis=0)

    return {"return": per_seq(ret), "penalty": per_seq(unc),
            "uncertainty": per_seq(unc_sum / jnp.maximum(n_alive, 1.0))}

  def evaluate(params, key, obs, actions, lambda_plan):
    """Penalised objective, model return and mean u of given sequences (N, H, A) from obs."""
    chex.assert_rank(obs, 1)
    chex.assert_shape(actions, (None, horizon, act_dim))
    out = rollouts(params, key, obs.astype(jnp.float32), actions, lambda_plan, True, particles)
    return {"objective": out["return"] - lambda_plan * out["penalty"], "return": out["return"],
            "uncertainty": out["uncertainty"]}

  def objective_of(params, key, obs, cands, lambda_plan):
    out = rollouts(params, key, obs, cands, lambda_plan, False, q_rank)
    j = out["return"] - lambda_plan * out["penalty"]
    return jnp.where(jnp.isfinite(j), j, _BAD_VALUE)

  def init(batch_size: Optional[int] = None) -> PlanState:
    state = optimizer.init_state(horizon, act_dim)
    if batch_size is None:
      return state
    return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (batch_size,) + x.shape), state)

  def plan(state: PlanState, key: jax.Array, obs: jax.Array, params: Any, lambda_plan):
    chex.assert_shape(state.mean, (horizon, act_dim))
    chex.assert_rank(obs, 1)
    obs = obs.astype(jnp.float32)
    lambda_plan = jnp.asarray(lambda_plan, jnp.float32)
    k_iter, k_final = jax.random.split(key)
    objective = lambda cands, k: objective_of(params, k, obs, cands, lambda_plan)
    carry = optimizer.start(state, jnp.full((horizon, act_dim), init_var, jnp.float32))
    keys = jax.random.split(k_iter, iterations)
    if optimizer.unrolled:  # sizes change between iterations
      for i in range(iterations):
        carry = optimizer.iterate(carry, keys[i], objective, i)
    else:
      carry, _ = jax.lax.scan(lambda c, k: (optimizer.iterate(c, k, objective, None), None),
                              carry, keys)
    mean, best = optimizer.finish(carry)
    mean = jnp.clip(mean, -1.0, 1.0)
    final = evaluate(params, k_final, obs, mean[None], lambda_plan)
    info = {k: v[0] for k, v in final.items()}
    info["best_objective"] = best
    # Warm start: shift left by one step and repeat the last action.
    return mean[0], optimizer.next_state(carry, mean), info

  return Planner(init=init, plan=plan, evaluate=evaluate)
