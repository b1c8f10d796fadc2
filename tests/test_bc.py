"""Behaviour cloning (wombet_jax.agents.bc): the NLL and MSE losses, offline learning."""
import jax
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import bc


@pytest.fixture(scope="module", params=["nll", "mse"])
def agent(request):
  ag = bc.make_bc(bu.make_ctx(bu.small_config(bc=dict(loss=request.param))))
  return bu.fast_agent(ag), request.param


def test_loss_by_hand(agent):
  ag, kind = agent
  st = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  batch["action"] = batch["action"].at[0].set(1.0)   # saturated actions have finite NLL
  mean, log_std = (np.asarray(x) for x in ag.extras["policy"](st, batch["obs"]))
  a = np.asarray(batch["action"])
  if kind == "nll":
    var = np.exp(2 * log_std)
    logp = np.sum(-0.5 * (a - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var), -1)
    want = -np.mean(logp)
  else:
    want = np.mean(np.sum((mean - a) ** 2, -1))
  np.testing.assert_allclose(ag.losses(st, None, batch, None)["bc_loss"], want, rtol=1e-5)


def test_update_lowers_the_loss(agent):
  ag, _ = agent
  st0 = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  st = bu.fast(lambda s: jax.lax.scan(lambda s, _: (ag.update(s, None, batch, None)[0], None),
                                      s, None, length=100)[0])(st0)
  assert ag.losses(st, None, batch, None)["bc_loss"] < \
      ag.losses(st0, None, batch, None)["bc_loss"] - 0.1


def test_bad_loss_raises_and_td_error_is_nan():
  with pytest.raises(ValueError, match="bc.loss"):
    bc.make_bc(bu.make_ctx(bu.small_config(bc=dict(loss="l1"))))
  ag = bc.make_bc(bu.make_ctx(bu.small_config()))
  assert np.isnan(ag.td_abs(None, None, None, None))
