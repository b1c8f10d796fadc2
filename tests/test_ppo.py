"""PPO (wombet_jax.agents.ppo): GAE, clipped objective, rollout scheduling, learning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_utils as bu
import helpers
from wombet_jax import replay
from wombet_jax.agents import ppo
from wombet_jax.networks import tanh_gaussian_log_prob

L = 8


@pytest.fixture(scope="module")
def agent():
  c = bu.small_config(ppo=dict(rollout_length=L, num_minibatches=2, num_epochs=3,
                               entropy_coef=0.01, learning_rate=1e-2))
  return bu.fast_agent(ppo.make_ppo(bu.make_ctx(c))), c


@pytest.fixture(scope="module")
def parts(agent):
  """The module's networks for the agent's config, and its prepare and loss (jitted)."""
  _, c = agent
  nets, hp = ppo.make_networks(c, bu.ACT), ppo.hyperparameters(c)
  return (nets, bu.fast(lambda params, rollout: ppo.prepare(nets, hp, params, rollout)),
          bu.fast(lambda params, mb: ppo.loss(nets, hp, params, mb)))


def test_gae_matches_hand_recursion_with_terminal_and_truncation():
  r = np.array([1.0, 0.5, -1.0, 2.0, 0.0])
  v = np.array([0.2, 0.4, -0.3, 1.0, 0.5])
  v_next = np.array([0.4, -0.3, 9.0, 0.5, 0.7])
  terminal = np.array([0, 0, 1, 0, 0.0])   # step 2 terminates: no bootstrap from V(s'_2)
  done = np.array([0, 0, 1, 0, 1.0])       # step 4 is truncated: bootstrap, but GAE restarts
  g, lam = 0.9, 0.8
  adv, delta = ppo.gae(*map(jnp.asarray, (r, terminal, done, v, v_next)), g, lam)
  d = r + g * (1 - terminal) * v_next - v
  a, want = 0.0, np.zeros(5)
  for t in reversed(range(5)):
    a = d[t] + g * lam * (1 - done[t]) * a
    want[t] = a
  np.testing.assert_allclose(delta, d, rtol=1e-6)
  np.testing.assert_allclose(adv, want, rtol=1e-6)
  np.testing.assert_allclose(adv[2], r[2] - v[2], rtol=1e-6)  # terminal: no future


def test_clipped_surrogate_by_hand():
  logp_old = jnp.zeros(4)
  ratio = np.array([1.5, 0.5, 1.1, 0.7])
  adv = np.array([2.0, -1.0, -3.0, 1.0])
  got = ppo.clipped_surrogate(jnp.log(jnp.asarray(ratio)), logp_old, jnp.asarray(adv), 0.2)
  # min(rho A, clip(rho) A): 1.2*2 = 2.4; min(-0.5, -0.8) = -0.8; -3.3; 0.7
  np.testing.assert_allclose(got, -np.mean([2.4, -0.8, -3.3, 0.7]), rtol=1e-6)


def _rollout(key):
  b = bu.random_batch(key, L)
  return b.replace(done=b.done.at[3].set(1.0))


def test_loss_is_clip_plus_value_minus_entropy(agent, parts):
  ag, c = agent
  nets, prepare, loss = parts
  st = ag.init(jax.random.PRNGKey(0))
  data = prepare(st.nets.params, _rollout(jax.random.PRNGKey(1)))
  params = ag.init(jax.random.PRNGKey(2)).nets.params   # a different policy: ratios != 1
  total, parts = loss(params, data)
  mean, log_std = (np.asarray(x) for x in nets.actor.apply(params["actor"], data["obs"]))
  logp = np.asarray(tanh_gaussian_log_prob(mean, log_std, data["action"]))
  adv = np.asarray(data["adv"])
  adv = (adv - adv.mean()) / (adv.std() + 1e-8)
  ratio = np.exp(logp - np.asarray(data["logp_old"]))
  pg = -np.mean(np.minimum(ratio * adv, np.clip(ratio, 0.8, 1.2) * adv))
  assert np.any(np.abs(ratio - 1) > 0.2)   # the clip is active somewhere
  v = np.asarray(nets.value.apply(params["value"], data["obs"]))
  v_loss = np.mean((v - np.asarray(data["ret"])) ** 2)
  ent = np.mean(np.sum(log_std + 0.5 * (1 + np.log(2 * np.pi)), -1))
  np.testing.assert_allclose(parts["policy_loss"], pg, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(total, pg + c.ppo.value_coef * v_loss - 0.01 * ent, rtol=1e-4)
  # prepare: returns are advantages plus the behaviour values.
  v_old = np.asarray(nets.value.apply(st.nets.params["value"], data["obs"]))
  np.testing.assert_allclose(data["ret"], np.asarray(data["adv"]) + v_old, rtol=1e-5)


def test_update_lowers_the_loss_on_its_rollout(agent, parts):
  ag, _ = agent
  _, prepare, loss = parts
  st = ag.init(jax.random.PRNGKey(0))
  rollout = _rollout(jax.random.PRNGKey(1))
  data = prepare(st.nets.params, rollout)
  new, info = ag.update(st, jax.random.PRNGKey(2), rollout, None)
  before = loss(st.nets.params, data)
  after = loss(new.nets.params, data)
  assert after[0] < before[0]
  assert after[1]["value_loss"] < before[1]["value_loss"]
  assert after[1]["policy_loss"] < before[1]["policy_loss"]
  np.testing.assert_allclose(new.last_td, np.mean(np.abs(data["delta"])), rtol=1e-6)


def test_update_many_trains_every_rollout_length_calls_on_the_last_rollout(agent):
  ag, c = agent
  # 13 transitions in a capacity-10 buffer: it has wrapped, ptr = 3.
  buf = replay.init_buffer(bu.example_transition(), 10)
  trs = bu.pd_dataset(jax.random.PRNGKey(0), n=13, capacity=16).data
  buf = replay.add_batch(buf, jax.tree_util.tree_map(lambda x: x[:13], trs))
  last = ppo.last_rollout(buf, L)
  np.testing.assert_allclose(last.obs, trs.obs[13 - L:13])
  st = ag.init(jax.random.PRNGKey(1))
  for i in range(1, L + 1):
    prev = st
    st, info = ag.update_many(st, jax.random.PRNGKey(i), None, buf, jnp.float32(0.5), None)
    moved = not np.allclose(st.nets.params["actor"]["params"]["mean"]["kernel"],
                            prev.nets.params["actor"]["params"]["mean"]["kernel"])
    assert moved == (i == L), i
    assert np.isnan(info["td_error"]) == (i < L)
  assert int(st.count) == L


def test_bad_config_raises():
  with pytest.raises(ValueError, match="ppo.num_minibatches"):
    ppo.make_ppo(bu.make_ctx(bu.small_config(ppo=dict(rollout_length=10, num_minibatches=3))))
  with pytest.raises(ValueError, match="ppo.rollout_length"):
    ppo.make_ppo(bu.make_ctx(bu.small_config(ppo=dict(rollout_length=8192))))


def test_loop_runs_ppo_update_only_when_due_and_matches_per_call_path(monkeypatch):
  """The loop branches on the shared step (agent.update_period) instead of PPO's per-seed
  counter, whose cond becomes a select under the seed vmap; both give the same run."""
  import dataclasses

  from wombet_jax import loop
  from wombet_jax.agents import registry
  c = helpers.make_config(algo="ppo", ppo=dict(rollout_length=40))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(2, dtype=jnp.uint32))

  def two_chunks(pipe):
    states = pipe.init(keys)
    for t0 in (0, 100):
      states, _ = pipe.chunk(states, jnp.int32(t0))
    return states

  fast = two_chunks(loop.make_pipeline(c))
  spec = registry.get("ppo")
  per_call = dataclasses.replace(
      spec, make=lambda ctx: spec.make(ctx)._replace(update_period=0, tick=None))
  monkeypatch.setitem(registry.REGISTRY, "ppo", per_call)
  slow = two_chunks(loop.make_pipeline(c))
  # learn runs from t = 49 (start_steps 50): 151 calls, updates at calls 40, 80 and 120.
  np.testing.assert_array_equal(fast.agent.count, [151, 151])
  assert np.all(np.isfinite(fast.agent.last_td))
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         fast.agent, slow.agent)
