"""The planner's optimizers: how the distribution over action sequences improves.

Each optimizer is one `make_*` function returning an `Optimizer` and one entry of OPTIMIZERS;
the planner (wombet_jax/planner.py) owns the objective (eq. 1 with eqs. 4-5) and calls these
with `objective(candidates (N, H, A), key) -> (N,)`. All of them keep the current mean among
the candidates, keep actions in [-1, 1] by clipping, and execute the mean (mbrl-lib found the
mean, not the best sample, the better choice with learned models).

  cem:  mbrl-lib's CEM: samples truncated at 2 std, the top num_elites refit mean and
        variance, both smoothed with alpha; the variance restarts at init_std^2 each MPC step.
  mppi: the mean becomes the softmax(J / temperature) average of the samples; std init_std.
  icem: Pinneri et al. 2020: colored-noise samples (power spectrum 1 / f^icem_noise_beta
        along the horizon), population population * icem_population_decay^-i at iteration i
        (at least 2 num_elites), a fraction icem_keep_fraction of the elites carried into the
        next iteration and, shifted by one step, into the next MPC step; CEM's refit.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class PlanState:
  """Warm start carried between MPC steps (one per planned trajectory)."""
  mean: jax.Array  # (horizon, act_dim) action-sequence mean, shifted by one step after each plan
  kept: Any = None  # icem: (num_kept, horizon, act_dim) last step's elites, shifted; else None


class Optimizer(NamedTuple):
  """start(state, var0) -> carry; iterate(carry, key, objective, i) -> carry, where i is the
  iteration as a Python int when `unrolled` (sizes may change per iteration) and None under
  lax.scan; finish(carry) -> (mean (H, A), best objective of the last iteration ()).
  next_state(carry, mean) -> PlanState, the warm start of the next MPC step."""
  start: Callable[[PlanState, jax.Array], Any]
  iterate: Callable[..., Any]
  finish: Callable[[Any], tuple[jax.Array, jax.Array]]
  next_state: Callable[[Any, jax.Array], PlanState]
  init_state: Callable[[int, int], PlanState]
  unrolled: bool


def shift(x: jax.Array) -> jax.Array:
  """Left shift along the horizon (axis -2), repeating the last action."""
  return jnp.concatenate([x[..., 1:, :], x[..., -1:, :]], axis=-2)


def _plain_state(horizon: int, act_dim: int) -> PlanState:
  return PlanState(mean=jnp.zeros((horizon, act_dim), jnp.float32))


def _refit(cfg, mean, var, cands, values):
  """CEM's update: top num_elites, mean and variance smoothed with alpha."""
  elite_values, idx = jax.lax.top_k(values, cfg.num_elites)
  elites = cands[idx]
  alpha = float(cfg.alpha)
  mean = alpha * mean + (1.0 - alpha) * jnp.mean(elites, axis=0)
  var = alpha * var + (1.0 - alpha) * jnp.var(elites, axis=0)
  return mean, var, elites, elite_values[0]


def make_cem(cfg, horizon: int, act_dim: int, mppi: bool = False) -> Optimizer:
  population, temperature = cfg.population, float(cfg.mppi_temperature)

  def iterate(carry, key, objective, i):
    del i
    mean, var, _ = carry
    k_sample, k_eval = jax.random.split(key)
    if mppi:
      noise = jax.random.normal(k_sample, (population, horizon, act_dim))
    else:  # truncated at 2 std like mbrl-lib; clipping keeps the box bounds
      noise = jax.random.truncated_normal(k_sample, -2.0, 2.0, (population, horizon, act_dim))
    cands = jnp.clip(mean + jnp.sqrt(var) * noise, -1.0, 1.0)
    cands = cands.at[0].set(mean)  # the current mean always competes
    values = objective(cands, k_eval)
    if mppi:  # exponentiated-objective average, std kept at init_std
      w = jax.nn.softmax((values - jnp.max(values)) / temperature)
      return jnp.tensordot(w, cands, axes=1), var, jnp.max(values)
    mean, var, _, best = _refit(cfg, mean, var, cands, values)
    return mean, var, best

  return Optimizer(
      start=lambda state, var0: (state.mean, var0, jnp.float32(-1e10)),
      iterate=iterate, finish=lambda c: (c[0], c[2]),
      next_state=lambda c, mean: PlanState(mean=shift(mean)),
      init_state=_plain_state, unrolled=False)


def colored_noise(key: jax.Array, beta: float, shape: tuple[int, ...]) -> jax.Array:
  """Standard Gaussian noise (..., T) with power spectrum proportional to 1 / f^beta along the
  last axis (beta 0: white; 1: pink; 2: red), unit variance per entry: the frequency-domain
  construction of the `colorednoise` package iCEM uses (the zero frequency is given the
  lowest nonzero one's power), normalised by the exact std of an entry."""
  t = shape[-1]
  if t < 2:
    return jax.random.normal(key, shape)
  f = np.fft.rfftfreq(t)
  f[0] = 1.0 / t
  scale = f ** (-beta / 2.0)
  # Real and imaginary parts; the zero (and for even t the Nyquist) frequency is real, its
  # real part given the power of both.
  real_scale, imag_scale = scale.copy(), scale.copy()
  real_scale[0] *= np.sqrt(2.0)
  imag_scale[0] = 0.0
  mult = np.full(len(f), 2.0)  # conjugate pairs count twice in the inverse transform
  mult[0] = 1.0
  if t % 2 == 0:
    real_scale[-1] *= np.sqrt(2.0)
    imag_scale[-1] = 0.0
    mult[-1] = 1.0
  # The exact std of each output entry (the package's leaves out the zero frequency, which
  # puts the variance at 1.13 for beta = 1 and 64 steps).
  sigma = np.sqrt(np.sum(mult * (real_scale ** 2 + imag_scale ** 2))) / t
  k_re, k_im = jax.random.split(key)
  freq_shape = tuple(shape[:-1]) + (len(f),)
  spec = (jax.random.normal(k_re, freq_shape) * jnp.asarray(real_scale, jnp.float32)
          + 1j * jax.random.normal(k_im, freq_shape) * jnp.asarray(imag_scale, jnp.float32))
  return (jnp.fft.irfft(spec, n=t, axis=-1) / sigma).astype(jnp.float32)


def icem_sizes(cfg) -> tuple[list[int], int]:
  """(sampled population per iteration, elites kept): iCEM's population * decay^-i, at least
  2 num_elites (capped at population), and round(keep_fraction * num_elites) kept."""
  pop, k = cfg.population, cfg.num_elites
  sizes = [min(pop, max(2 * k, int(pop * float(cfg.icem_population_decay) ** -i)))
           for i in range(cfg.iterations)]
  return sizes, int(round(float(cfg.icem_keep_fraction) * k))


def make_icem(cfg, horizon: int, act_dim: int) -> Optimizer:
  sizes, n_keep = icem_sizes(cfg)
  beta = float(cfg.icem_noise_beta)

  def iterate(carry, key, objective, i):
    mean, var, _, kept = carry
    k_sample, k_eval = jax.random.split(key)
    # Noise correlated along the horizon: one colored sequence per action dimension.
    noise = jnp.swapaxes(colored_noise(k_sample, beta, (sizes[i], act_dim, horizon)), -1, -2)
    cands = jnp.clip(mean + jnp.sqrt(var) * noise, -1.0, 1.0)
    cands = jnp.concatenate([cands, kept], axis=0).at[0].set(mean)
    values = objective(cands, k_eval)
    mean, var, elites, best = _refit(cfg, mean, var, cands, values)
    return mean, var, best, elites[:n_keep]

  def init_state(h, a):
    return PlanState(mean=jnp.zeros((h, a), jnp.float32),
                     kept=jnp.zeros((n_keep, h, a), jnp.float32))

  return Optimizer(
      start=lambda state, var0: (state.mean, var0, jnp.float32(-1e10), state.kept),
      iterate=iterate, finish=lambda c: (c[0], c[2]),
      next_state=lambda c, mean: PlanState(mean=shift(mean), kept=shift(c[3])),
      init_state=init_state, unrolled=True)


# The next optimizer: one make_* function and one entry here.
OPTIMIZERS = {
    "cem": make_cem,
    "mppi": lambda cfg, h, a: make_cem(cfg, h, a, mppi=True),
    "icem": make_icem,
}
