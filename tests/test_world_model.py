"""Tests of wombet_jax.world_model on a known linear system x' = A x + B u + noise (CPU, tiny)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wombet_jax.world_model as W
from wombet_jax.configs import base

OBS_DIM, ACT_DIM, NOISE = 3, 2, 0.05
RNG = np.random.default_rng(0)
A = np.eye(OBS_DIM) + 0.1 * RNG.normal(size=(OBS_DIM, OBS_DIM))
B = 0.5 * RNG.normal(size=(ACT_DIM, OBS_DIM))


def linear_system(key, n):
  """n transitions with x, u ~ N(0, I); returns obs, act, noisy next_obs, noiseless next_obs."""
  k1, k2, k3 = jax.random.split(key, 3)
  x = jax.random.normal(k1, (n, OBS_DIM))
  u = jax.random.normal(k2, (n, ACT_DIM))
  mean = x @ A.T + u @ B
  return x, u, mean + NOISE * jax.random.normal(k3, (n, OBS_DIM)), mean


def small_config(**overrides):
  cfg = base.get_config().world_model
  cfg.update(dict(ensemble_size=5, num_elites=3, hidden_size=64, num_layers=3, batch_size=128,
                  max_epochs=60, patience=10, learning_rate=3e-3))
  cfg.update(overrides)
  return cfg


def tiny_config(**overrides):
  cfg = base.get_config().world_model
  cfg.update(dict(ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1, batch_size=256,
                  max_epochs=1, patience=1))
  cfg.update(overrides)
  return cfg


@pytest.fixture(scope="module")
def fitted():
  """One fit on 2000 transitions in a buffer of capacity 2500, shared by the tests below."""
  wm = W.make_world_model(OBS_DIM, ACT_DIM, small_config())
  x, u, y, _ = linear_system(jax.random.key(1), 2000)
  data = W.add_to_data(W.make_data(2500, OBS_DIM, ACT_DIM), x, u, y)
  state, metrics = jax.jit(wm.train)(wm.init(jax.random.key(0)), jax.random.key(2), data)
  W.check_finite(metrics, where="test")
  return wm, state, metrics, data


@pytest.fixture(scope="module")
def heldout():
  x, u, y, mean = linear_system(jax.random.key(7), 4000)
  return x, u, y, mean


def test_fit_runs_epochs_and_steps_as_computed(fitted):
  _, state, metrics, _ = fitted
  # 2000 rows, holdout every 5th slot: 1600 training rows, ceil(1600/128) = 13 steps per epoch.
  assert int(metrics["num_train"]) == 1600 and int(metrics["num_holdout"]) == 400
  assert int(metrics["steps"]) == int(metrics["epochs"]) * 13
  assert bool(metrics["finite"])
  # Elites are the members with the lowest holdout loss, best first.
  np.testing.assert_array_equal(state.elites, np.argsort(np.asarray(state.holdout_loss))[:3])
  assert float(metrics["holdout_loss"]) == pytest.approx(
      float(np.mean(np.asarray(state.holdout_loss)[np.asarray(state.elites)])), rel=1e-6)


def test_normalizer_is_statistics_of_training_rows(fitted):
  _, state, _, data = fitted
  rows, d = np.flatnonzero(~W.holdout_slots(2500, 0.2)[:2000]), data.data
  inputs = np.concatenate([d.obs[rows], d.action[rows]], axis=-1)
  delta = np.asarray(d.next_obs[rows] - d.obs[rows])
  np.testing.assert_allclose(state.norm.in_mean, inputs.mean(0), atol=1e-5)
  np.testing.assert_allclose(state.norm.in_std, inputs.std(0), rtol=1e-4)
  np.testing.assert_allclose(state.norm.out_mean, delta.mean(0), atol=1e-5)
  np.testing.assert_allclose(state.norm.out_std, delta.std(0), rtol=1e-4)


def test_mean_prediction_error_below_twice_noise(fitted, heldout):
  wm, state, _, _ = fitted
  x, u, y, noiseless = heldout
  mean, _ = jax.jit(wm.predict)(state, x, u)
  assert mean.shape == (3, 4000, OBS_DIM)
  ens_mean = mean.mean(axis=0)
  assert float(jnp.sqrt(jnp.mean(jnp.square(ens_mean - y)))) < 2 * NOISE
  # The noise itself accounts for almost all of that error.
  assert float(jnp.sqrt(jnp.mean(jnp.square(ens_mean - noiseless)))) < 0.5 * NOISE


def test_variance_is_calibrated_in_distribution(fitted, heldout):
  wm, state, _, _ = fitted
  x, u, y, _ = heldout
  mean, var = jax.jit(wm.predict)(state, x, u)
  # Moment-matched Gaussian of the elite mixture.
  mu = mean.mean(axis=0)
  sigma = jnp.sqrt(var.mean(axis=0) + mean.var(axis=0))
  coverage = float(jnp.mean(jnp.abs(y - mu) <= 1.96 * sigma))
  assert 0.85 <= coverage <= 0.99
  # Homoscedastic noise: each elite's max_std is close to ||(NOISE, NOISE, NOISE)||.
  wm_std = W.make_world_model(OBS_DIM, ACT_DIM, small_config(uncertainty="max_std"))
  u_in = jax.jit(wm_std.uncertainty)(state, x, u)
  assert float(jnp.median(u_in)) == pytest.approx(math.sqrt(OBS_DIM) * NOISE, rel=0.3)


def test_disagreement_grows_out_of_distribution(fitted, heldout):
  wm, state, _, _ = fitted
  x, u, _, _ = heldout
  wm_dis = W.make_world_model(OBS_DIM, ACT_DIM, small_config(uncertainty="disagreement"))
  unc = jax.jit(wm_dis.uncertainty)
  u_in = unc(state, x, u)
  # Inputs are N(0, I): shifting every coordinate by 5 puts them 5 std outside the data.
  u_out = unc(state, x + 5.0, u + 5.0)
  assert u_in.shape == (4000,)
  assert float(u_out.mean()) >= 3.0 * float(u_in.mean())
  # Disagreement is the norm of the per-dimension std of the elites' means.
  mean, _ = jax.jit(wm.predict)(state, x[:5], u[:5])
  np.testing.assert_allclose(u_in[:5], jnp.linalg.norm(mean.std(axis=0), axis=-1), rtol=1e-5)


def test_sample_next_and_next_from_noise(fitted, heldout):
  wm, state, _, _ = fitted
  x, u, _, _ = heldout
  x, u = x[:64], u[:64]
  mean, var = jax.jit(wm.predict)(state, x, u)
  members = jax.random.randint(jax.random.key(3), (64,), 0, wm.num_elites, dtype=jnp.int32)
  key = jax.random.key(4)
  got = jax.jit(wm.sample_next)(state, key, x, u, members)
  rows = np.arange(64)
  expected = (mean[members, rows] + jnp.sqrt(var[members, rows])
              * jax.random.normal(key, (64, OBS_DIM)))
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  # The planner's entry point: the same sample for the same standard-normal draw, the mean for
  # eps = 0, for per-row and for scalar members.
  eps = jax.random.normal(key, (64, OBS_DIM))
  np.testing.assert_allclose(jax.jit(wm.next_from_noise)(state, eps, x, u, members), got,
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(jax.jit(wm.next_from_noise)(state, 0.0, x, u, jnp.int32(2)),
                             mean[2], rtol=1e-5, atol=1e-5)


def test_one_trace_for_any_fill_level():
  cfg = tiny_config()
  wm = W.make_world_model(OBS_DIM, ACT_DIM, cfg)
  traces = []

  def counted_train(state, key, data):
    traces.append(1)
    return wm.train(state, key, data)

  train = jax.jit(counted_train)
  x, u, y, _ = linear_system(jax.random.key(5), 100_000)
  empty = W.make_data(100_000, OBS_DIM, ACT_DIM)
  state = wm.init(jax.random.key(0))
  steps = []
  for n in (10_000, 100_000):
    data = W.add_to_data(empty, x[:n], u[:n], y[:n])
    _, metrics = train(state, jax.random.key(1), data)
    W.check_finite(metrics, where="test")
    steps.append(int(metrics["steps"]))
  assert len(traces) == 1
  # One epoch of ceil(0.8 n / 256) steps each.
  assert steps == [math.ceil(8_000 / 256), math.ceil(80_000 / 256)]


def test_vmapped_fit_over_seeds():
  """The loop fits every seed's model at once (`jax.vmap(wm.train)`): each seed fits on its
  own rows, and a NaN in one seed is reported with that seed's number."""
  wm = W.make_world_model(OBS_DIM, ACT_DIM, tiny_config(max_epochs=3, patience=3))
  x, u, y, _ = linear_system(jax.random.key(6), 300)
  data = W.add_to_data(W.make_data(400, OBS_DIM, ACT_DIM), x, u, y)
  data2 = jax.tree.map(lambda a, b: jnp.stack([a, b]), data,
                       W.add_to_data(data, x[:50] + 1.0, u[:50], y[:50]))
  train = jax.jit(jax.vmap(wm.train))
  states = jax.vmap(wm.init)(jax.random.split(jax.random.key(0), 2))
  fitted, metrics = train(states, jax.random.split(jax.random.key(0), 2), data2)
  W.check_finite(metrics, where="test", seeds=[3, 4])
  # 300 and 350 rows -> 240 and 280 training rows -> 1 and 2 steps per epoch.
  np.testing.assert_array_equal(metrics["num_train"], [240, 280])
  np.testing.assert_array_equal(metrics["steps"], [3, 6])
  assert fitted.elites.shape == (2, 2)
  # A NaN loss in one seed is reported with that seed's number, epoch and step.
  min_logvar = states.params["min_logvar"].at[1].set(-jnp.inf)
  broken = states.replace(params=dict(states.params, min_logvar=min_logvar))
  _, metrics = train(broken, jax.random.split(jax.random.key(0), 2), data2)
  with pytest.raises(ValueError, match=r"epoch 1, step 0 of that epoch \(seed 4\)"):
    W.check_finite(metrics, where="world_model fit", seeds=[3, 4])


def test_nonfinite_data_is_reported_not_trained_on(fitted):
  wm, state, _, data = fitted
  bad = data.replace(data=data.data.replace(obs=data.data.obs.at[7, 1].set(jnp.nan)))
  # The jitted core never raises: it reports the bad data in its metrics.
  _, metrics = jax.jit(wm.train)(state, jax.random.key(0), bad)
  assert not bool(metrics["finite"]) and not bool(metrics["data_finite"])
  assert int(metrics["epochs"]) == 0
  with pytest.raises(ValueError, match="training data has NaN/inf"):
    W.check_finite(metrics, where="world_model fit")
  # A NaN in a row beyond `size` is stale data, never read.
  stale = data.replace(data=data.data.replace(obs=data.data.obs.at[2400, 1].set(jnp.nan)))
  _, metrics = jax.jit(wm.train)(state, jax.random.key(0), stale)
  assert bool(metrics["finite"]) and bool(metrics["data_finite"])


def test_nonfinite_loss_raises_naming_epoch_and_step(fitted):
  wm, state, _, data = fitted
  # min_logvar = -inf leaves the holdout MSE finite but makes the NLL NaN at the first step.
  params = dict(state.params, min_logvar=jnp.full_like(state.params["min_logvar"], -jnp.inf))
  _, metrics = jax.jit(wm.train)(state.replace(params=params), jax.random.key(0), data)
  assert (int(metrics["nonfinite_epoch"]), int(metrics["nonfinite_step"])) == (1, 0)
  with pytest.raises(ValueError, match="world_model fit: non-finite loss .* epoch 1, step 0"):
    W.check_finite(metrics, where="world_model fit")


def test_save_restore_roundtrip(fitted, heldout, tmp_path):
  wm, state, _, _ = fitted
  x, u, _, _ = heldout
  W.save(str(tmp_path / "wm"), state)
  restored = W.restore(str(tmp_path / "wm"), wm.init(jax.random.key(9)))
  assert isinstance(restored, W.ModelState)
  jax.tree.map(np.testing.assert_array_equal, restored, state)
  uncertainty = jax.jit(wm.uncertainty)
  np.testing.assert_array_equal(uncertainty(restored, x[:8], u[:8]),
                                uncertainty(state, x[:8], u[:8]))
  with pytest.raises(ValueError, match="no checkpoint"):
    W.restore(str(tmp_path / "missing"), state)


def test_add_to_data_wraps_and_masks():
  data = W.make_data(5, 1, 1)
  rows = jnp.arange(4, dtype=jnp.float32)[:, None]
  data = W.add_to_data(data, rows, rows, rows)
  assert int(data.size) == 4
  # Rows 10 and 12 are selected: 10 fills slot 4, 12 wraps onto slot 0 (the oldest).
  new = jnp.array([[10.0], [11.0], [12.0]])
  data = jax.jit(W.add_to_data)(data, new, new, new, jnp.array([True, False, True]))
  np.testing.assert_array_equal(data.data.obs[:, 0], [12, 1, 2, 3, 10])
  assert (int(data.size), int(data.ptr)) == (5, 1)
  data = W.add_to_data(data, new[:1], new[:1], new[:1])
  np.testing.assert_array_equal(data.data.obs[:, 0], [12, 10, 2, 3, 10])
  # More rows than the capacity: the newest ones stay, as writing them one by one would leave.
  over = W.add_to_data(W.make_data(2, 1, 1), rows, rows, rows)
  np.testing.assert_array_equal(over.data.obs[:, 0], [2, 3])
  assert (int(over.size), int(over.ptr)) == (2, 0)
  with pytest.raises(ValueError, match="action has shape"):
    W.add_to_data(data, new, new[:, :0], new)
  with pytest.raises(ValueError, match="capacity"):
    W.make_data(0, 1, 1)


def test_bad_config_and_inputs_raise():
  with pytest.raises(ValueError, match="num_elites"):
    W.make_world_model(OBS_DIM, ACT_DIM, small_config(num_elites=6))
  with pytest.raises(ValueError, match="uncertainty"):
    W.make_world_model(OBS_DIM, ACT_DIM, small_config(uncertainty="variance"))
  with pytest.raises(ValueError, match="holdout_fraction"):
    W.make_world_model(OBS_DIM, ACT_DIM, small_config(holdout_fraction=1.0))
  wm = W.make_world_model(OBS_DIM, ACT_DIM, tiny_config())
  state = wm.init(jax.random.key(0))
  with pytest.raises(ValueError, match=r"obs must have shape \(\.\.\., 3\)"):
    wm.predict(state, jnp.zeros((4, 2)), jnp.zeros((4, ACT_DIM)))


def test_bfloat16_weights_predict_close_to_float32_in_float32():
  """cast_weights: weight matrices to bfloat16, biases and log-variance bounds float32; a
  member's outputs stay float32 and within bfloat16's rounding of the float32 ones (8 bits of
  mantissa: relative 2^-8 per input and weight, a few 1e-3 after three layers)."""
  params = W.networks.init_params(jax.random.key(0), 2, 6, 4, hidden_size=64, num_layers=2)
  x = jax.random.normal(jax.random.key(1), (32, 6))
  low = W.networks.cast_weights(params, jnp.bfloat16)
  dtypes = jax.tree.map(lambda p: p.dtype, low)
  assert dtypes["layers"][1]["w"] == jnp.bfloat16 and dtypes["head"]["w"] == jnp.bfloat16
  assert dtypes["layers"][1]["b"] == jnp.float32 and dtypes["max_logvar"] == jnp.float32
  member = lambda p: jax.tree.map(lambda leaf: leaf[0], p)
  mean, logvar = W.networks.apply_member(member(params), x)
  mean_b, logvar_b = W.networks.apply_member(member(low), x)
  assert mean_b.dtype == jnp.float32 and logvar_b.dtype == jnp.float32
  scale = float(jnp.max(jnp.abs(mean)))
  err = float(jnp.max(jnp.abs(mean_b - mean)))
  assert 0 < err < 2e-2 * scale, (err, scale)  # rounded, not equal, and close
  np.testing.assert_allclose(logvar_b, logvar, atol=5e-2)


def test_scalar_member_fast_path_equals_selecting_from_all_elites(fitted, heldout):
  # The planner groups particles by member and passes a scalar member under vmap; that path
  # gathers one elite's weights instead of evaluating all of them and must agree exactly.
  wm, state, _, _ = fitted
  x, u = heldout[0][:32], heldout[1][:32]
  key = jax.random.key(11)
  for m in range(wm.num_elites):
    fast = jax.jit(wm.sample_next)(state, key, x, u, jnp.int32(m))
    full = jax.jit(wm.sample_next)(state, key, x, u, jnp.full((32,), m, jnp.int32))
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-5)
  grouped = jax.vmap(wm.sample_next, in_axes=(None, None, 0, 0, 0))(
      state, key, x.reshape(2, 16, -1), u.reshape(2, 16, -1), jnp.array([0, 1], jnp.int32))
  ref = jax.jit(wm.sample_next)(state, key, x[16:], u[16:], jnp.int32(1))
  np.testing.assert_allclose(grouped[1], ref, rtol=1e-5, atol=1e-5)
