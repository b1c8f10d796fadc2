"""Dual-criterion trajectory filter (eq. 6) and target-reward relabelling (steps 3-4).

A generated trajectory tau is kept iff U(tau) <= eps_u and R_S(tau) >= eps_r. The thresholds
are absolute numbers or quantiles of the generated batch (default). Everything on arrays is
pure and jittable and works on the whole batch at once: the result is a boolean (M,) mask, to
be broadcast to (M, T); nothing loops over trajectories. Host-side helpers explain an empty
result and validate the config before anything is compiled.

Choices the paper leaves open:
  * Quantile thresholds use linear interpolation over the finite entries of the batch.
  * A trajectory whose return or uncertainty is not finite (a diverged model rollout) is
    rejected by every variant, "none" included: such data would poison the replay buffer.
  * Both comparisons are inclusive, so with eps_u = 1 (quantile) or eps_r = 0 (quantile)
    the corresponding criterion keeps the whole batch.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax.checks import Section
from wombet_jax.errors import EmptyFilterError

VARIANTS = ("dual", "reward", "uncertainty", "none")
THRESHOLD_MODES = ("quantile", "absolute")
AGGREGATES = ("max", "mean")


def trajectory_uncertainty(u: jax.Array, aggregate: str = "max",
                           valid: Optional[jax.Array] = None) -> jax.Array:
  """U(tau) from per-step u (M, T): max (default) or mean over time -> (M,).

  valid (M, T), optional: steps after a trajectory terminated are excluded (u >= 0, so they
  count as 0 in the max; the mean is over valid steps only).
  """
  if aggregate not in AGGREGATES:
    raise ValueError(f"aggregate={aggregate!r} is invalid: must be one of {list(AGGREGATES)}")
  chex.assert_rank(u, 2)
  if valid is None:
    return jnp.max(u, axis=1) if aggregate == "max" else jnp.mean(u, axis=1)
  chex.assert_equal_shape([u, valid])
  valid = valid.astype(bool)
  if aggregate == "max":
    return jnp.max(jnp.where(valid, u, 0.0), axis=1)
  count = jnp.sum(valid, axis=1)
  return jnp.sum(jnp.where(valid, u, 0.0), axis=1) / jnp.maximum(count, 1)


def trajectory_return(r: jax.Array, discount: float = 1.0,
                      valid: Optional[jax.Array] = None) -> jax.Array:
  """R_S(tau) = sum_t discount^t r_t over (M, T) -> (M,); undiscounted by default."""
  chex.assert_rank(r, 2)
  if valid is not None:
    chex.assert_equal_shape([r, valid])
    r = jnp.where(valid.astype(bool), r, 0.0)
  weights = jnp.asarray(discount, r.dtype) ** jnp.arange(r.shape[1], dtype=r.dtype)
  return r @ weights


def _finite_quantile(x: jax.Array, q) -> jax.Array:
  return jnp.nanquantile(jnp.where(jnp.isfinite(x), x, jnp.nan), q)


def filter_thresholds(returns: jax.Array, traj_unc: jax.Array, threshold_mode: str,
                      eps_u, eps_r) -> tuple[jax.Array, jax.Array]:
  """(uncertainty threshold, return threshold) as absolute numbers for this batch."""
  if threshold_mode not in THRESHOLD_MODES:
    raise ValueError(f"threshold_mode={threshold_mode!r} is invalid: must be one of "
                     f"{list(THRESHOLD_MODES)}")
  if threshold_mode == "absolute":
    return jnp.asarray(eps_u, jnp.float32), jnp.asarray(eps_r, jnp.float32)
  return _finite_quantile(traj_unc, eps_u), _finite_quantile(returns, eps_r)


def filter_mask(returns: jax.Array, traj_unc: jax.Array, variant: str = "dual",
                threshold_mode: str = "quantile", eps_u=0.75, eps_r=0.5) -> jax.Array:
  """Eq. (6): keep tau iff U(tau) <= eps_u and R_S(tau) >= eps_r; returns bool (M,).

  variant: "dual" (both criteria), "reward" (return only), "uncertainty" (uncertainty only),
  "none" (keep every finite trajectory). variant and threshold_mode are static; eps_u and
  eps_r may be traced.
  """
  if variant not in VARIANTS:
    raise ValueError(f"variant={variant!r} is invalid: must be one of {list(VARIANTS)}")
  chex.assert_rank([returns, traj_unc], 1)
  chex.assert_equal_shape([returns, traj_unc])
  thr_u, thr_r = filter_thresholds(returns, traj_unc, threshold_mode, eps_u, eps_r)
  finite = jnp.isfinite(returns) & jnp.isfinite(traj_unc)
  low_unc = traj_unc <= thr_u
  high_ret = returns >= thr_r
  keep = {"dual": low_unc & high_ret, "reward": high_ret, "uncertainty": low_unc,
          "none": jnp.ones_like(finite)}[variant]
  return keep & finite


def relabel(obs: jax.Array, act: jax.Array, next_obs: jax.Array,
            target_reward_fn: Callable) -> jax.Array:
  """Step 4: r_T(s, a, s') for every transition; (M, T, .) inputs -> (M, T)."""
  chex.assert_rank([obs, act, next_obs], 3)
  chex.assert_equal_shape([obs, next_obs])
  chex.assert_equal_shape_prefix([obs, act], 2)
  return jax.vmap(jax.vmap(target_reward_fn))(obs, act, next_obs)


def _range(x) -> str:
  x = np.asarray(x, np.float64)
  f = x[np.isfinite(x)]
  n_bad = x.size - f.size
  text = f"[{f.min():.4g}, {f.max():.4g}]" if f.size else "[no finite values]"
  return text + (f" ({n_bad} non-finite)" if n_bad else "")


def check_not_empty(num_accepted, num_trajectories: int, returns, traj_unc, config,
                    where: str = "") -> None:
  """Host-side: raises EmptyFilterError (a RunError: one line, exit status 1 on the command
  line) if the filter kept no trajectory, instead of training on an empty D_off; the message names the filter's settings and the batch's R_S and U ranges.

  returns, traj_unc: the batch's R_S(tau) and U(tau), or just their (min, max).
  config: the filter section (variant, threshold_mode, eps_u, eps_r). where: a prefix that
  places the batch (e.g. "iteration 2, seed 7: ").
  """
  if int(num_accepted) > 0:
    return
  c = config
  raise EmptyFilterError(
      f"{where}the filter (variant={c.variant!r}) kept 0 of {num_trajectories} trajectories, "
      f"refusing to train on an empty D_off: keep U <= eps_u={c.eps_u} and R >= "
      f"eps_r={c.eps_r} (threshold_mode={c.threshold_mode!r}); this batch's U(tau) range "
      f"{_range(traj_unc)}, R_S(tau) range {_range(returns)}. Loosen filter.eps_u / "
      "filter.eps_r, use threshold_mode='quantile', or raise planner.lambda_plan so that fewer "
      "trajectories are uncertain.")


def validate_filter_config(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``filter`` config section."""
  s = Section(cfg, "filter")
  s.choice("variant", VARIANTS)
  s.choice("threshold_mode", THRESHOLD_MODES)
  s.choice("aggregate", AGGREGATES)
  if cfg.threshold_mode == "quantile":  # quantiles of the generated batch
    s.number("eps_u", 0.0, 1.0)
    s.number("eps_r", 0.0, 1.0)
  else:  # absolute thresholds: uncertainty is >= 0, a return may be any number
    s.nonnegative("eps_u")
    s.number("eps_r", -math.inf, math.inf)
