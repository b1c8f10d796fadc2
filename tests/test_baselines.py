"""Registry of the paper's baselines (wombet_jax.agents.baselines) and the agent protocol of
wombet_jax.algos, checked by tracing (jax.eval_shape: nothing is compiled)."""
import jax
import jax.numpy as jnp
import pytest

import baseline_utils as bu
from wombet_jax import algos, replay, sampling
from wombet_jax.agents import baselines
from wombet_jax.config import ALGOS

FLAGS = {  # name: (uses_offline, offline_pretrain, online, uses_model_penalty)
    "td3": (False, False, True, False), "ppo": (False, False, True, False),
    "bc": (True, True, False, False), "iql": (True, True, False, False),
    "cql": (True, True, False, False), "mopo": (True, True, False, True),
    "combo": (True, True, False, True), "iql_ft": (True, True, True, False),
    "cal_ql": (True, True, True, False), "awac": (True, True, True, False)}


def test_every_paper_algorithm_is_registered_with_its_phases():
  assert set(FLAGS) == set(baselines.ONLINE + baselines.OFFLINE + baselines.OFFLINE_TO_ONLINE)
  for name, flags in FLAGS.items():
    spec = algos.get(name)
    assert (spec.uses_offline, spec.offline_pretrain, spec.online,
            spec.uses_model_penalty) == flags, name
    assert not spec.refresh_each_iteration
  assert set(ALGOS) <= set(algos.REGISTRY)


def test_offline_to_online_specs_fix_beta_at_one_half():
  for name in baselines.OFFLINE_TO_ONLINE:
    c = bu.small_config()
    c.sampling.mode, c.sampling.beta_fixed = "adaptive", 0.3
    algos.get(name).adjust_config(c)
    assert (c.sampling.mode, c.sampling.beta_fixed) == ("fixed", 0.5), name


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_agent_protocol_shapes(name):
  spec = algos.get(name)
  c = bu.small_config(ppo=dict(rollout_length=64, num_minibatches=2))
  spec.adjust_config(c)
  wm = bu.OracleModel() if spec.uses_model_penalty else None
  ag = spec.make_agent(bu.make_ctx(c, wm=wm))
  aux = jnp.float32(1.0) if spec.uses_model_penalty else None
  key = jax.random.PRNGKey(0)
  st = jax.eval_shape(ag.init, key)
  obs = jax.ShapeDtypeStruct((bu.OBS,), jnp.float32)
  assert jax.eval_shape(ag.act, st, key, obs).shape == (bu.ACT,)
  assert jax.eval_shape(ag.act_deterministic, st, obs).shape == (bu.ACT,)
  buf = replay.init_buffer(bu.example_transition(), 256)
  sample = ag.sample_offline or replay.sample
  batch = sample(buf, key, c.agent.batch_size)
  new, info = jax.eval_shape(ag.update, st, key, batch, aux)
  assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(st)
  beta = sampling.init_beta(c.sampling)
  offline = buf if spec.uses_offline else None
  new, new_beta, info = jax.eval_shape(ag.update_many, st, beta, key, offline, buf, aux)
  assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(st)
  assert info["td_error"].shape == () and new_beta.beta.shape == ()
