"""Figure runner (experiments/figures.py's logic) and the reference-score table.

No training here: a fake run function writes metrics the way `runner.run` does, so the reuse,
resume, normalisation, table and plot logic is tested in milliseconds.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wombet_jax.harness.reference import REFERENCE_SCORES
from wombet_jax.configs import default
from wombet_jax import generation
from wombet_jax.harness import figures, reference, results
from wombet_jax.envs import registry


def _cpu_config():
  c = default.get_config()
  c.compare = ""
  return c


def _rows(algo, returns_by_seed, steps):
  return [{"algo": algo, "env": "inverted_double_pendulum", "seed": s, "phase": "eval",
           "iteration": 0, "source_env_steps": 0, "target_env_steps": st, "return": r}
          for s, rets in enumerate(returns_by_seed) for st, r in zip(steps, rets)]


def test_overrides_set_nested_fields_and_reject_unknown_ones():
  c = figures.apply_overrides(_cpu_config(), (("sampling.mode", "fixed"),
                                              ("sampling.beta_fixed", 0.25)))
  assert (c.sampling.mode, c.sampling.beta_fixed) == ("fixed", 0.25)
  assert _cpu_config().sampling.mode == "adaptive"  # the base config is untouched
  with pytest.raises(ValueError, match="sampling.beta_fixd"):
    figures.apply_overrides(_cpu_config(), (("sampling.beta_fixd", 0.5),))


def test_same_config_shares_a_run_dir_across_figures_and_overrides_do_not():
  dirs = {}
  for n in (5, 6):
    for v in figures.get_figure(n).variants:
      dirs[(n, v.label)] = figures.run_dir("/w", figures.apply_overrides(_cpu_config(),
                                                                        v.overrides))
  # default.py uses the relative TD error, so that variant is figure 6's default run.
  assert dirs[(5, "wombet adaptive beta, relative TD")] == dirs[(6, "wombet dual filter")]
  assert len(set(dirs.values())) == 6  # 3 + 4 variants, one shared
  with pytest.raises(ValueError, match="allowed: \\[2, 3, 4, 5, 6\\]"):
    figures.get_figure(7)


def test_ensure_run_runs_then_reuses_and_resumes_a_partial_run(tmp_path):
  calls = []

  def fake_run(config, wd, resume):
    calls.append(resume)
    os.makedirs(wd, exist_ok=True)
    results.write_jsonl(os.path.join(wd, "metrics.jsonl"), _rows("sac", [[1.0]], [0]))
    results.atomic_write_json(os.path.join(wd, "summary.json"), {"complete": len(calls) > 1})

  wd = str(tmp_path / "run")
  c = _cpu_config()
  log = lambda msg: None
  assert figures.ensure_run(c, wd, fake_run, log) == "ran"         # writes complete=False
  assert figures.ensure_run(c, wd, fake_run, log) == "resumed"     # partial -> resume=True
  assert figures.ensure_run(c, wd, fake_run, log) == "reused"      # complete -> no call
  assert calls == [False, True]


def test_scores_final_stats_and_table_match_hand_computed_values(tmp_path):
  ref = {"random": 100.0, "reference": 300.0}
  rows, unit = figures.with_scores(_rows("sac", [[100.0, 200.0], [100.0, 300.0]], [0, 1000]),
                                   ref)
  assert unit == "normalised return"
  np.testing.assert_allclose([r["score"] for r in rows], [0.0, 50.0, 0.0, 100.0])
  s = figures.final_stats(rows)
  assert (s["n"], s["steps"]) == (2, 1000)
  np.testing.assert_allclose([s["final_mean"], s["final_std"]], [75.0, 25.0])
  np.testing.assert_allclose([s["auc_mean"], s["auc_std"]], [37.5, 12.5])  # seeds: 25, 50
  raw, unit = figures.with_scores(_rows("sac", [[7.0]], [0]), None)
  assert raw[0]["score"] == 7.0 and "no reference" in unit

  fig = figures.get_figure(3)
  offline, _ = figures.with_scores(_rows("bc", [[150.0], [250.0]], [0]), ref)
  panels = {"inverted_double_pendulum": {"wombet": rows, "bc": offline}}
  units = {"inverted_double_pendulum": unit}
  table = figures.markdown_table(fig, panels, units)
  assert "| wombet | 75.0 ± 25.0 | 37.5 ± 12.5 | 2 | 1000 |  |" in table
  # bc's finals 25, 75 against wombet's 50, 100 on the same seeds: -25 each, paired.
  assert "| bc | 50.0 ± 25.0 | 50.0 ± 25.0 | 2 | 0 | -25.0 ± 0.0 (0/2) |" in table
  # IQM of two seeds is their mean; the resampled pairs give 50, 75 or 100 (wombet) and 25,
  # 50 or 75 (bc), each end with probability 1/4. Best: seeds' maxima 50, 100 and 25, 75.
  assert "| 2 | 1000 |  | 75.0 [50.0, 100.0] | 75.0 |" in table
  assert "| -25.0 ± 0.0 (0/2) | 50.0 [25.0, 75.0] | 50.0 |" in table
  assert "| final IQM [95% CI] | best |" in table
  per_seed = figures.per_seed_evaluations(panels)["inverted_double_pendulum"]
  assert per_seed["wombet"] == {"seed": [0, 0, 1, 1], "target_env_steps": [0, 1000, 0, 1000],
                                "return": [100.0, 200.0, 100.0, 300.0],
                                "score": [0.0, 50.0, 0.0, 100.0]}
  assert per_seed["bc"]["score"] == [25.0, 75.0]
  png = figures.draw(fig, panels, units, str(tmp_path / "f.png"))
  with open(png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_reference_lookup_is_keyed_by_episode_length(tmp_path):
  path = str(tmp_path / "ref.json")
  results.atomic_write_json(path, {"scores": {reference.key("reacher", 50): {
      "random": -40.0, "reference": -4.0}}})
  ref = reference.lookup("reacher", 50, path)
  assert reference.normalize(-22.0, ref) == pytest.approx(50.0)
  assert reference.lookup("reacher", 100, path) is None
  assert reference.normalize(1.0, None) is None
  with pytest.raises(ValueError, match="reference == random"):
    reference.normalize(1.0, {"random": 3.0, "reference": 3.0})


def test_committed_reference_table_has_command_and_budget():
  table = reference.load(REFERENCE_SCORES)
  for k, entry in table.items():
    env, length = k.split("/")
    assert registry.is_known(env) and int(length) == entry["episode_length"]
    assert entry["reference"] > entry["random"]
    assert entry["command"].startswith("python experiments/reference_scores.py")
    assert entry["reference_steps"] > 0 and entry["random_episodes"] > 0


def test_reference_config_takes_the_episode_length():
  c = reference.reference_config("cpu", "reacher", 1000, 2, 10)
  assert (c.env, c.algo, c.episode_length, c.loop.eval_every) == ("reacher", "sac", 200, 100)
  assert reference.reference_config("cpu", "reacher", 1000, 2, 10, 50).episode_length == 50
  with pytest.raises(ValueError, match="--episode_length=-1"):
    reference.reference_config("cpu", "reacher", 1000, 2, 10, -1)


def test_keyed_rollout_draws_fresh_actions_and_unkeyed_matches_a_python_loop():
  pair = registry.make_pair("pointmass")
  uniform = lambda obs, k: jax.random.uniform(k, (pair.act_dim,), minval=-1.0, maxval=1.0)
  a = generation.rollout_policy(pair, uniform, 20, jax.random.PRNGKey(3), 4, keyed=True)
  b = generation.rollout_policy(pair, uniform, 20, jax.random.PRNGKey(4), 4, keyed=True)
  assert float(a) != float(b)
  # Deterministic policies keep their reset keys (evaluations unchanged by the keyed option).
  key = jax.random.PRNGKey(3)
  zero = lambda obs: jnp.zeros(pair.act_dim)
  got = generation.rollout_policy(pair, zero, 20, key, 4)
  want = np.mean([_zero_return(pair, k, 20) for k in jax.random.split(key, 4)])
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def _zero_return(pair, k, length):
  env = pair.target.reset(k)
  ret, alive = 0.0, 1.0
  for _ in range(length):
    env, tr = pair.target.step(env, jnp.zeros(pair.act_dim))
    ret += alive * float(tr.reward)
    alive *= 1.0 - float(tr.done)
  return ret


def test_reference_from_an_existing_run_checks_what_it_is(tmp_path):
  import json

  wd = tmp_path / "run"
  wd.mkdir()
  (wd / "metrics.jsonl").write_text("")
  (wd / "config.json").write_text(json.dumps({"algo": "sac", "env": "hopper",
                                              "episode_length": 0}))
  (wd / "summary.json").write_text(json.dumps({"complete": True}))
  reference.check_run(str(wd), "hopper", 1000)  # 0: the pair's own 1000
  with pytest.raises(ValueError, match=r"\('sac', 'hopper', 500, True\)"):
    reference.check_run(str(wd), "hopper", 500)
  (wd / "config.json").write_text(json.dumps({"algo": "wombet", "env": "hopper",
                                              "episode_length": 1000}))
  with pytest.raises(ValueError, match="'wombet', 'hopper', 1000, True"):
    reference.check_run(str(wd), "hopper", 1000)
  with pytest.raises(ValueError, match="holds no metrics.jsonl"):
    reference.check_run(str(tmp_path), "hopper", 1000)
