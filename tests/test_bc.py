"""Behaviour cloning (wombet_jax.agents.bc): the NLL and MSE losses, offline learning."""
import jax
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import bc


@pytest.fixture(scope="module", params=["nll", "mse"])
def agent(request):
  ag = bc.make_bc(bu.make_ctx(bu.small_config(bc=dict(loss=request.param))))
  # The agent's own actor; the module's loss at a state (jitted).
  loss = bu.fast(lambda st, batch: bc.bc_loss(ag.actor, request.param, st.actor.params, batch))
  return bu.fast_agent(ag), request.param, loss


def test_loss_by_hand(agent):
  ag, kind, loss = agent
  st = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  batch = batch.replace(action=batch.action.at[0].set(1.0))  # saturated actions: finite NLL
  mean, log_std = (np.asarray(x) for x in ag.actor.apply(st.actor.params, batch.obs))
  a = np.asarray(batch.action)
  if kind == "nll":
    var = np.exp(2 * log_std)
    logp = np.sum(-0.5 * (a - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var), -1)
    want = -np.mean(logp)
  else:
    want = np.mean(np.sum((mean - a) ** 2, -1))
  np.testing.assert_allclose(loss(st, batch), want, rtol=1e-5)
  # update differentiates the same loss and reports it.
  np.testing.assert_allclose(ag.update(st, None, batch, None)[1]["bc_loss"], want, rtol=1e-5)


def test_update_lowers_the_loss(agent):
  ag, _, loss = agent
  st0 = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  st = bu.fast(lambda s: jax.lax.scan(lambda s, _: (ag.update(s, None, batch, None)[0], None),
                                      s, None, length=100)[0])(st0)
  assert loss(st, batch) < loss(st0, batch) - 0.1


def test_bad_loss_raises_and_td_error_is_nan():
  with pytest.raises(ValueError, match="bc.loss"):
    bc.make_bc(bu.make_ctx(bu.small_config(bc=dict(loss="l1"))))
  # No critic: update_many reports td_error nan even where beta could move.
  c = bu.small_config()
  ag = bc.make_bc(bu.make_ctx(c))
  data = bu.pd_dataset(jax.random.PRNGKey(1), n=200)
  _, info = ag.update_many(ag.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(2), data, data,
                           jax.numpy.float32(0.5), None)
  assert np.isnan(info["td_error"]) and np.isfinite(info["bc_loss"])
