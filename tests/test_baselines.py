"""The table of algorithms (wombet_jax.agents.registry) and the agent protocol
(wombet_jax.agents.protocol): every algorithm's phases, its protocol by tracing
(jax.eval_shape: nothing is compiled), and a new algorithm added through the table alone."""
import os

import jax
import jax.numpy as jnp
import ml_collections
import pytest

import baseline_utils as bu
import toy_agent
from wombet_jax import replay
from wombet_jax.harness import results, runner
from wombet_jax.agents import registry
from wombet_jax.harness.config import validate
from wombet_jax.errors import UserError

# The paper's algorithms and their phases (sec. 5):
# name: (uses_offline, offline_pretrain, online, uses_model_penalty, refresh_each_iteration)
FLAGS = {
    "wombet": (True, False, True, True, True), "sac": (False, False, True, False, False),
    "rlpd": (True, False, True, False, False),
    "td3": (False, False, True, False, False), "ppo": (False, False, True, False, False),
    "bc": (True, True, False, False, False), "iql": (True, True, False, False, False),
    "cql": (True, True, False, False, False), "mopo": (True, True, False, True, False),
    "combo": (True, True, False, True, False), "iql_ft": (True, True, True, False, False),
    "cal_ql": (True, True, True, False, False), "awac": (True, True, True, False, False)}


def test_every_paper_algorithm_is_registered_with_its_phases():
  assert set(FLAGS) <= set(registry.names())
  for name, flags in FLAGS.items():
    spec = registry.get(name)
    assert (spec.uses_offline, spec.offline_pretrain, spec.online, spec.uses_model_penalty,
            spec.refresh_each_iteration) == flags, name
  with pytest.raises(UserError, match=r"config.algo='dqn' is invalid: must be one of \["):
    registry.get("dqn")


def test_offline_to_online_specs_fix_beta_at_one_half_and_rlpd_drops_the_penalty():
  for name in ("iql_ft", "cal_ql", "awac", "rlpd"):
    c = bu.small_config()
    c.sampling.mode, c.sampling.beta_fixed, c.agent.lambda_q = "adaptive", 0.3, 1.0
    registry.get(name).adjust_config(c)
    assert (c.sampling.mode, c.sampling.beta_fixed) == ("fixed", 0.5), name
    assert c.agent.lambda_q == (0.0 if name == "rlpd" else 1.0), name


@pytest.mark.parametrize("name", registry.names())
def test_agent_protocol_shapes(name):
  spec = registry.get(name)
  c = bu.small_config(ppo=dict(rollout_length=64, num_minibatches=2))
  spec.adjust_config(c)
  wm = bu.OracleModel() if spec.uses_model_penalty else None
  penalty_fn = (lambda aux, o, a: jnp.zeros(o.shape[:1])) if name == "wombet" else None
  ag = spec.make(bu.make_ctx(c, wm=wm, penalty_fn=penalty_fn))
  aux = jnp.float32(1.0) if spec.uses_model_penalty else None
  key = jax.random.PRNGKey(0)
  st = jax.eval_shape(ag.init, key)
  obs = jax.ShapeDtypeStruct((bu.OBS,), jnp.float32)
  assert jax.eval_shape(ag.act, st, key, obs).shape == (bu.ACT,)
  assert jax.eval_shape(ag.act_deterministic, st, obs).shape == (bu.ACT,)
  buf = replay.init_buffer(bu.example_transition(), 256)
  batch = ag.sample_offline(buf, key, c.agent.batch_size)
  new, info = jax.eval_shape(ag.update, st, key, batch, aux)
  assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(st)
  offline = buf if spec.uses_offline else None
  new, info = jax.eval_shape(ag.update_many, st, key, offline, buf, jnp.float32(0.5), aux)
  assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(st)
  assert info["td_error"].shape == ()
  assert set(ag.metrics) <= set(info), (ag.metrics, sorted(info))
  if ag.update_period:
    new, info = jax.eval_shape(ag.tick, st)
    assert set(ag.metrics) <= set(info)


def _toy_spec():
  return registry.AlgoSpec(toy_agent.make, "toy", toy_agent.validate, "#000000")


def _toy_config(config):
  c = config.copy_and_resolve_references()
  c.algo, c.num_seeds = "toy", 1
  c.loop.num_iterations, c.loop.steps_per_iteration = 1, 100
  c.toy = ml_collections.ConfigDict(dict(noise=0.3, learning_rate=0.1))
  return c


def test_a_new_algorithm_is_one_agent_file_one_entry_and_one_section(config, tmp_path,
                                                                     monkeypatch):
  """tests/toy_agent.py, one registry entry and config.toy: validated by config.validate,
  run by the shared loop and runner, and its own metric written into every row by name."""
  monkeypatch.setitem(registry.REGISTRY, "toy", _toy_spec())
  c = _toy_config(config)
  bad = c.copy_and_resolve_references()
  bad.toy.learning_rate = 0.0
  with pytest.raises(UserError, match=r"config.toy.learning_rate=0.0 is invalid: must be a "
                                      r"finite number in \(0.0, 1.0\]"):
    validate(bad)
  del bad.toy
  with pytest.raises(UserError, match="config.toy is missing"):
    validate(bad)

  summary = runner.run(c, str(tmp_path), verbose=False)
  assert summary["complete"]
  rows = results.read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
  assert [(r["phase"], r["target_env_steps"]) for r in rows] == [("eval", 0), ("eval", 100)]
  # Before any update the diagnostics are null; after the chunk's updates |W|_F is a
  # positive number (W starts at 0.01 N(0, 1) and is stepped by SGD, never exactly 0).
  assert rows[0]["weight_norm"] is None and rows[0]["td_error"] is None
  assert rows[1]["weight_norm"] > 0.0
  # No critic: delta is nan, written as null; no D_off: the offline fields are null.
  assert rows[1]["td_error"] is None and rows[1]["beta"] is None
  assert rows[1]["penalty"] is None  # a standard field every row carries
  assert not os.path.exists(os.path.join(tmp_path, "policy"))  # the agent's actor is None
