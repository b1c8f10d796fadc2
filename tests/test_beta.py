"""Tests for wombet_jax.beta: the adaptive-beta rule of docs/method.md step 6."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from wombet_jax import beta as beta_lib


def _cfg(**kw):
  c = ml_collections.ConfigDict(dict(mode="adaptive", beta_fixed=0.5, beta_min=0.25,
                                     beta_max=0.75, rho=0.1, warmup_updates=4,
                                     td_error="absolute"))
  c.update(kw)
  return c


def _run(cfg, deltas):
  """Scan beta.update over deltas (jitted); returns the stacked states."""
  def body(s, d):
    s = beta_lib.update(s, d, cfg)
    return s, s
  _, states = jax.jit(lambda d: jax.lax.scan(body, beta_lib.init(cfg), d))(
      jnp.asarray(deltas, jnp.float32))
  return states


def test_init():
  assert float(beta_lib.init(_cfg()).beta) == 0.75
  s = beta_lib.init(_cfg(mode="fixed", beta_fixed=0.3))
  assert float(s.beta) == pytest.approx(0.3) and int(s.count) == 0


def test_matches_hand_computed_rule():
  cfg = _cfg()
  deltas = [2.0, 4.0, 1.0, 1.0, 3.0, 0.5]
  st = _run(cfg, deltas)
  # Hand computation: EMA seeded with the first delta; delta_ref = mean of first W=4 deltas.
  bar, want_bar, want_beta = None, [], []
  for k, d in enumerate(deltas):
    bar = d if bar is None else 0.9 * bar + 0.1 * d
    want_bar.append(bar)
    want_beta.append(0.75 if k < 4 else np.clip(0.25 + 0.5 * bar / 2.0, 0.25, 0.75))
  np.testing.assert_allclose(st.delta_bar, want_bar, rtol=1e-6)
  np.testing.assert_allclose(st.delta_ref, [2.0, 3.0, 7 / 3, 2.0, 2.0, 2.0], rtol=1e-6)
  np.testing.assert_allclose(st.beta, want_beta, rtol=1e-6)
  np.testing.assert_array_equal(st.count, np.arange(1, 7))


def test_beta_rises_and_falls_with_td_error_and_stays_in_bounds():
  cfg = _cfg(rho=0.05, warmup_updates=10)
  warm = [1.0] * 10
  falling = list(np.linspace(1.0, 0.0, 60))
  rising = list(np.linspace(0.0, 5.0, 120))
  st = _run(cfg, warm + falling + rising)
  beta, bar = np.asarray(st.beta), np.asarray(st.delta_bar)
  assert np.all(beta[:10] == 0.75)
  seg_f, seg_r = slice(10, 70), slice(70, 190)
  # delta_bar falls then rises; beta follows it (weakly, because of the clip) and moves.
  assert np.all(np.diff(bar[seg_f]) < 0) and np.all(np.diff(beta[seg_f]) <= 0)
  assert beta[69] < 0.6
  bar_up = np.diff(bar[seg_r]) > 0
  assert np.all(np.diff(beta[seg_r])[bar_up] >= 0) and beta[189] > beta[80] + 0.1
  assert np.all(beta >= 0.25) and np.all(beta <= 0.75)
  # Extreme TD errors hit the bounds exactly.
  st = _run(cfg, warm + [1e6] * 400)
  assert float(st.beta[-1]) == pytest.approx(0.75)
  st = _run(cfg, warm + [0.0] * 400)
  assert float(st.beta[-1]) == pytest.approx(0.25)


def test_fixed_mode_keeps_beta_and_tracks_delta():
  st = _run(_cfg(mode="fixed", beta_fixed=0.5), [1.0, 9.0, 0.0, 100.0, 0.1, 0.1])
  np.testing.assert_allclose(st.beta, 0.5)
  assert float(st.delta_bar[1]) == pytest.approx(0.9 * 1.0 + 0.1 * 9.0)


@pytest.mark.parametrize("field,value", [("mode", "linear"), ("beta_min", 0.9), ("rho", 0.0),
                                         ("beta_fixed", 1.5), ("warmup_updates", 0)])
def test_bad_config_raises(field, value):
  with pytest.raises(ValueError, match=field):
    beta_lib.init(_cfg(**{field: value}))


@pytest.mark.parametrize("kw,has_offline,expected", [
    ({}, True, True), ({}, False, False), ({"mode": "fixed"}, True, False),
    ({"beta_min": 0.75}, True, False)])
def test_step_updates_only_where_beta_can_move(kw, has_offline, expected):
  """can_move: D_off and a rule that moves (adaptive, beta_min < beta_max). step applies the
  rule exactly there (count 1, delta_bar = delta) and elsewhere returns the state itself."""
  cfg = _cfg(**kw)
  assert beta_lib.can_move(cfg, has_offline) is expected
  s0 = beta_lib.init(cfg)
  s1 = beta_lib.step(s0, jnp.float32(2.0), cfg, has_offline)
  if expected:
    assert int(s1.count) == 1 and float(s1.delta_bar) == pytest.approx(2.0)
  else:
    assert s1 is s0
