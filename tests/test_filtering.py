"""Filter tests: eq. (6) masks against hand-computed ones, aggregation, relabelling, errors."""
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from wombet_jax import filtering

_BASE = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs" / "base.py"


def filter_config(**overrides):
  spec = importlib.util.spec_from_file_location("base_config", _BASE)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return ml_collections.ConfigDict({**mod.get_config().filter.to_dict(), **overrides})


RETURNS = np.array([5.0, 1.0, 3.0, 8.0, -2.0, 4.0], np.float32)
UNC = np.array([0.1, 0.5, 0.9, 0.3, 0.2, 0.7], np.float32)
T, F = True, False
# (mode, eps_u, eps_r) -> expected mask per variant, worked out by hand:
#  absolute 0.4 / 3: U <= 0.4 -> TFFTTF, R >= 3 -> TFTTFT.
#  quantile 0.5 / 0.5: medians 0.4 and 3.5 (mean of the middle two) -> TFFTTF, TFFTFT.
#  quantile 0.8 / 0.2: sorted[5 * 0.8] = 0.7, sorted[5 * 0.2] = 1 -> TTFTTT, TTTTFT.
CASES = {
    ("absolute", 0.4, 3.0): {"dual": [T, F, F, T, F, F], "reward": [T, F, T, T, F, T],
                             "uncertainty": [T, F, F, T, T, F]},
    ("quantile", 0.5, 0.5): {"dual": [T, F, F, T, F, F], "reward": [T, F, F, T, F, T],
                             "uncertainty": [T, F, F, T, T, F]},
    ("quantile", 0.8, 0.2): {"dual": [T, T, F, T, F, T], "reward": [T, T, T, T, F, T],
                             "uncertainty": [T, T, F, T, T, T]},
}

jit_mask = jax.jit(filtering.filter_mask, static_argnames=("variant", "threshold_mode"))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("variant", filtering.VARIANTS)
def test_mask_matches_hand_computed(case, variant):
  mode, eps_u, eps_r = case
  expected = [T] * 6 if variant == "none" else CASES[case][variant]
  eager = filtering.filter_mask(jnp.asarray(RETURNS), jnp.asarray(UNC), variant, mode, eps_u,
                                eps_r)
  jitted = jit_mask(jnp.asarray(RETURNS), jnp.asarray(UNC), variant=variant,
                    threshold_mode=mode, eps_u=jnp.float32(eps_u), eps_r=jnp.float32(eps_r))
  assert eager.dtype == jnp.bool_
  np.testing.assert_array_equal(eager, expected)
  np.testing.assert_array_equal(jitted, expected)


def test_thresholds_are_batch_quantiles():
  thr_u, thr_r = filtering.filter_thresholds(jnp.asarray(RETURNS), jnp.asarray(UNC), "quantile",
                                             0.5, 0.8)
  np.testing.assert_allclose([thr_u, thr_r], [0.4, 5.0], rtol=1e-6)


def test_non_finite_trajectories_are_rejected_everywhere():
  returns = RETURNS.copy()
  returns[1] = np.nan
  unc = UNC.copy()
  unc[3] = np.inf
  for variant in filtering.VARIANTS:
    mask = np.asarray(filtering.filter_mask(jnp.asarray(returns), jnp.asarray(unc), variant,
                                            "quantile", 1.0, 0.0))
    np.testing.assert_array_equal(mask, [T, F, T, F, T, T])
  # Quantiles are taken over the finite entries: median of (5, 3, 8, -2, 4) is 4.
  _, thr_r = filtering.filter_thresholds(jnp.asarray(returns), jnp.asarray(unc), "quantile",
                                         0.5, 0.5)
  np.testing.assert_allclose(thr_r, 4.0)


def test_trajectory_aggregates():
  u = jnp.array([[0.1, 0.5, 0.2], [0.3, 0.3, 0.9]])
  valid = jnp.array([[1, 1, 1], [1, 1, 0]], jnp.float32)
  np.testing.assert_allclose(filtering.trajectory_uncertainty(u, "max"), [0.5, 0.9])
  np.testing.assert_allclose(filtering.trajectory_uncertainty(u, "mean"), [0.8 / 3, 0.5],
                             rtol=1e-6)
  np.testing.assert_allclose(filtering.trajectory_uncertainty(u, "max", valid), [0.5, 0.3])
  np.testing.assert_allclose(filtering.trajectory_uncertainty(u, "mean", valid), [0.8 / 3, 0.3],
                             rtol=1e-6)
  r = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
  np.testing.assert_allclose(filtering.trajectory_return(r), [6.0, 15.0])
  np.testing.assert_allclose(filtering.trajectory_return(r, 0.5), [2.75, 8.0])
  np.testing.assert_allclose(filtering.trajectory_return(r, 1.0, valid), [6.0, 9.0])
  with pytest.raises(ValueError, match="aggregate='sum'"):
    filtering.trajectory_uncertainty(u, "sum")


def test_relabel_equals_target_reward():
  rng = np.random.default_rng(0)
  obs, act, nxt = (rng.normal(size=s).astype(np.float32) for s in ((3, 4, 2), (3, 4, 1),
                                                                   (3, 4, 2)))
  target = lambda o, a, o2: -(o2[0] - 2.0) ** 2 + 0.5 * o[1] - 0.1 * a[0] ** 2
  expected = np.array([[target(obs[i, t], act[i, t], nxt[i, t]) for t in range(4)]
                       for i in range(3)])
  got = jax.jit(filtering.relabel, static_argnums=3)(obs, act, nxt, target)
  assert got.shape == (3, 4)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_empty_mask_raises_with_thresholds_and_ranges():
  cfg = filter_config(threshold_mode="absolute", eps_u=0.05, eps_r=3.0)
  mask = filtering.filter_mask(jnp.asarray(RETURNS), jnp.asarray(UNC), cfg.variant,
                               cfg.threshold_mode, cfg.eps_u, cfg.eps_r)
  assert not np.asarray(mask).any()
  with pytest.raises(ValueError) as err:
    filtering.check_not_empty(np.sum(mask), mask.size, RETURNS, UNC, cfg)
  msg = str(err.value)
  for piece in ("eps_u=0.05", "eps_r=3.0", "kept 0 of 6", "[0.1, 0.9]", "[-2, 8]"):
    assert piece in msg, (piece, msg)
  # A non-empty mask passes silently.
  filtering.check_not_empty(np.sum(np.array([F, T, F, F, F, F])), 6, RETURNS, UNC, cfg)


@pytest.mark.parametrize("overrides,field", [
    ({"variant": "both"}, "variant"),
    ({"threshold_mode": "relative"}, "threshold_mode"),
    ({"aggregate": "sum"}, "aggregate"),
    ({"eps_u": 1.5}, "eps_u"),
    ({"eps_r": -0.1}, "eps_r"),
    ({"threshold_mode": "absolute", "eps_u": -1.0}, "eps_u"),
    ({"threshold_mode": "absolute", "eps_r": float("nan")}, "eps_r"),
    ({"eps_u": "low"}, "eps_u"),
])
def test_bad_config_raises_naming_field(overrides, field):
  with pytest.raises(ValueError, match=f"config.filter.{field}="):
    filtering.validate_filter_config(filter_config(**overrides))


def test_good_configs_validate():
  filtering.validate_filter_config(filter_config())
  filtering.validate_filter_config(filter_config(threshold_mode="absolute", eps_u=3.0,
                                                 eps_r=-100.0))
  with pytest.raises(ValueError, match="variant='all'"):
    filtering.filter_mask(jnp.asarray(RETURNS), jnp.asarray(UNC), "all")
