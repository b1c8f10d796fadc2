"""Policy export: the artefact a run writes rebuilds each seed's actor without the run."""
import json
import os
import runpy
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax import loop
from wombet_jax import world_model as wm_lib
from wombet_jax.agents import registry
from wombet_jax.agents.protocol import AgentContext
from wombet_jax.envs import make_pair
from wombet_jax.harness import checkpointing, evaluation, policy, results, runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVE_PY = os.path.join(ROOT, "docs", "drive_brax_env.py")
DRIVE = runpy.run_path(DRIVE_PY)  # its functions; main() runs only as a script


def sac_smoke_config():
  return helpers.make_config(algo="sac")  # no source phase: the smallest run that trains


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
  c = sac_smoke_config()
  pipe = loop.make_pipeline(c)
  wd = str(tmp_path_factory.mktemp("sac_run"))
  runner.run(c, wd, verbose=False, pipeline=pipe)
  keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(c.num_seeds, dtype=jnp.uint32))
  ckpt = os.path.join(wd, "checkpoints")
  final, _ = checkpointing.restore(ckpt, checkpointing.latest_step(ckpt), pipe.init(keys))
  return pipe, wd, final


def test_run_exports_the_final_actors_and_load_acts_like_the_agent(sac_run):
  pipe, wd, final = sac_run
  c = pipe.config
  files = sorted(os.listdir(os.path.join(wd, "policy")))
  assert len(files) == 2 and files[1] == "policy.json" and files[0].startswith("params-")
  meta = json.load(open(os.path.join(wd, "policy", "policy.json")))
  assert {k: meta[k] for k in ("algo", "kind", "obs_dim", "act_dim", "hidden", "env",
                               "episode_length", "seeds", "target_env_steps")} == {
      "algo": "sac", "kind": "tanh_gaussian", "obs_dim": 4, "act_dim": 2, "hidden": [32, 32],
      "env": "pointmass", "episode_length": 50, "seeds": [0, 1],
      "target_env_steps": c.loop.num_iterations * c.loop.steps_per_iteration}
  obs = jax.random.normal(jax.random.PRNGKey(7), (2, 5, pipe.pair.obs_dim))
  want = jax.vmap(pipe.agent.act_deterministic)(final.agent, obs)
  got = policy.load(wd)(obs)  # the workdir resolves to <workdir>/policy
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  for i, seed in enumerate(meta["seeds"]):
    one = policy.load(os.path.join(wd, "policy"), seed=seed)
    np.testing.assert_allclose(one(obs[i]), want[i], rtol=1e-6, atol=1e-6)
  assert float(jnp.max(jnp.abs(want[0] - want[1]))) > 1e-3  # two different actors
  np.testing.assert_array_equal(policy.load_policy(wd).eval_keys, final.eval_key)
  with pytest.raises(ValueError, match="seed=5 is not in this policy; allowed: \\[0, 1\\]"):
    policy.load(wd, seed=5)


def test_every_algorithm_exports_an_actor_equal_to_its_agent(tmp_path):
  base = helpers.make_config()
  pair = make_pair(base.env)
  obs = jax.random.normal(jax.random.PRNGKey(1), (2, 3, pair.obs_dim))
  act_key = jax.random.PRNGKey(2)
  with jax.disable_jit():  # tiny networks: eager is faster than 13 agents' compilations
    for algo in registry.names():
      _check_export(algo, base, pair, obs, act_key, str(tmp_path / algo))


def _check_export(algo, base, pair, obs, act_key, path):
  """Exports two freshly initialised seeds of `algo` and compares both action functions."""
  spec = registry.get(algo)
  c = base.copy_and_resolve_references()
  c.algo = algo
  spec.adjust_config(c)
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, c.world_model)
  agent = spec.make(AgentContext(pair.obs_dim, pair.act_dim, c, pair, wm,
                                 wm.uncertainty if spec.uses_model_penalty else None))
  assert agent.actor is not None, algo   # every registered algorithm exports its actor
  states = jax.vmap(agent.init)(jax.random.split(jax.random.PRNGKey(0), 2))
  policy.export(path, agent, states, config=c, obs_dim=pair.obs_dim, act_dim=pair.act_dim,
                episode_length=pair.episode_length, seeds=[3, 4], target_env_steps=0)
  pol = policy.load_policy(path)
  for i, seed in enumerate([3, 4]):
    one = jax.tree_util.tree_map(lambda x: x[i], states)
    np.testing.assert_allclose(pol.deterministic(pol.params_of(seed), obs[i]),
                               agent.act_deterministic(one, obs[i]), rtol=1e-6, atol=1e-6,
                               err_msg=algo)
    np.testing.assert_allclose(pol.sample(pol.params_of(seed), act_key, obs[i]),
                               agent.act(one, act_key, obs[i]), rtol=1e-6, atol=1e-6,
                               err_msg=algo)
    # The numpy forward pass of docs/drive_brax_env.py on the plain weights: the same action.
    meta, weights = DRIVE["load_weights"](path, seed)
    np.testing.assert_allclose(DRIVE["forward"](meta, weights, np.asarray(obs[i])),
                               agent.act_deterministic(one, obs[i]), rtol=1e-5, atol=1e-5,
                               err_msg=algo)


def test_a_new_export_replaces_the_parameter_file_and_shapes_are_checked(sac_run, tmp_path):
  pipe, _, final = sac_run
  c = pipe.config
  path = str(tmp_path / "policy")
  kw = dict(config=c, obs_dim=pipe.pair.obs_dim, act_dim=pipe.pair.act_dim, episode_length=50,
            seeds=[0, 1], target_env_steps=0)
  initial = pipe.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(2, dtype=jnp.uint32)))
  policy.export(path, pipe.agent, initial.agent, **kw)
  first = json.load(open(os.path.join(path, "policy.json")))["params_file"]
  policy.export(path, pipe.agent, final.agent, **kw)
  meta = json.load(open(os.path.join(path, "policy.json")))
  assert meta["params_file"] != first
  assert sorted(os.listdir(path)) == sorted([meta["params_file"], "policy.json"])
  meta["hidden"] = [16, 16]
  json.dump(meta, open(os.path.join(path, "policy.json"), "w"))
  with pytest.raises(ValueError, match="do not match the tanh_gaussian actor of policy.json"):
    policy.load(path)
  with pytest.raises(ValueError, match="seed axis of 3"):
    policy.export(path, pipe.agent, final.agent, **dict(kw, seeds=[0, 1, 2]))
  with pytest.raises(FileNotFoundError, match="policy.json does not exist"):
    policy.load(str(tmp_path / "nothing"))
  with pytest.raises(ValueError, match="algo='sac' has no exportable actor"):
    policy.export(path, pipe.agent._replace(actor=None), final.agent, **kw)


def _last_evaluation(wd):
  rows = [r for r in results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
          if r["phase"] == "eval"]
  last = max(r["target_env_steps"] for r in rows)
  return last, {r["seed"]: r["return"] for r in rows if r["target_env_steps"] == last}


def test_evaluate_replays_the_runs_last_evaluation(sac_run):
  _, wd, _ = sac_run
  step, want = _last_evaluation(wd)
  out = evaluation.evaluate(wd)
  assert (out["seeds"], out["target_env_steps"], out["episodes"]) == ([0, 1], step, 2)
  np.testing.assert_allclose(out["return"]["per_seed"], [want[0], want[1]], rtol=1e-6)
  assert out["normalized_return"] is None  # no reference scores for pointmass
  one = evaluation.evaluate(wd, seed=1)
  np.testing.assert_allclose(one["return"]["per_seed"], [want[1]], rtol=1e-6)
  # Other keys, tasks and the sampled policy are other episodes.
  for kw in ({"key_seed": 3}, {"task": "source"}, {"stochastic": True}, {"episodes": 3}):
    other = evaluation.evaluate(wd, **kw)["return"]["per_seed"]
    assert np.all(np.isfinite(other)) and not np.allclose(other, [want[0], want[1]]), kw
  with pytest.raises(ValueError, match="task='sorce' is invalid: allowed \\['target', 'source'\\]"):
    evaluation.evaluate(wd, task="sorce")
  with pytest.raises(ValueError, match="episodes=0 is invalid: must be an integer >= 1"):
    evaluation.evaluate(wd, episodes=0)


def test_evaluate_command_writes_json_and_fails_in_one_line(sac_run, tmp_path):
  _, wd, _ = sac_run
  _, want = _last_evaluation(wd)
  script = os.path.join(ROOT, "experiments", "evaluate.py")
  path = str(tmp_path / "eval.json")
  done = subprocess.run([sys.executable, script, f"--workdir={wd}", "--seed=1",
                         f"--json={path}"], capture_output=True, text=True, cwd=ROOT)
  assert done.returncode == 0, done.stderr
  out = json.load(open(path))
  np.testing.assert_allclose(out["return"]["per_seed"], [want[1]], rtol=1e-6)
  assert f"seed 1: return {want[1]:.3f}" in done.stdout
  bad = subprocess.run([sys.executable, script, f"--workdir={wd}", "--seed=7"],
                       capture_output=True, text=True, cwd=ROOT)
  assert bad.returncode != 0
  assert bad.stderr.strip().splitlines()[-1] == ("evaluate.py: seed=7 is not in this policy; "
                                                 "allowed: [0, 1]")


def test_an_exported_policy_drives_brax_own_env(tmp_path):
  """policy.json states the observation layout; envs.observation rebuilds the pair's
  observation from the brax state inside it (equal to what the pair's policy saw), and
  docs/drive_brax_env.py drives brax's own reacher with the exported weights in numpy."""
  from wombet_jax import envs
  c = helpers.make_config(algo="sac", env="reacher")
  pair = make_pair("reacher")
  spec = registry.get("sac")
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, c.world_model)
  agent = spec.make(AgentContext(pair.obs_dim, pair.act_dim, c, pair, wm, None))
  states = jax.vmap(agent.init)(jax.random.split(jax.random.PRNGKey(0), 1))
  path = str(tmp_path / "policy")
  policy.export(path, agent, states, config=c, obs_dim=pair.obs_dim, act_dim=pair.act_dim,
                episode_length=pair.episode_length, seeds=[5], target_env_steps=0)
  meta = policy.read_meta(path)
  assert meta["observation"] == {"layout": envs.observation_layout("reacher"),
                                 "from_brax_state": policy.OBSERVATION_FN}
  assert meta["observation"]["layout"].endswith(f"= {pair.obs_dim}")
  env_state = jax.jit(pair.target.reset)(jax.random.PRNGKey(3))
  np.testing.assert_array_equal(envs.observation("reacher", env_state.inner), env_state.obs)
  with pytest.raises(ValueError, match="not an MJX pair"):
    envs.observation("pointmass", env_state.inner)
  done = subprocess.run([sys.executable, DRIVE_PY, f"--policy={tmp_path}", "--seed=5",
                         "--steps=3"], capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "sac seed 5 in brax's Reacher: return " in done.stdout
  assert done.stdout.strip().endswith("over 3 steps"), done.stdout


@pytest.mark.parametrize("algo", ["sac", "td3", "bc"])  # the three actor kinds
def test_onnx_export_acts_like_the_actor_under_onnxruntime(algo, tmp_path):
  """Each actor kind, exported to ONNX, gives the JAX deterministic action to 1e-5 under
  onnxruntime, on observations far enough from zero that every layer is active."""
  pytest.importorskip("onnx", reason='the onnx extra is not installed (pip install '
                      '"wombet_jax[onnx]")')
  ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
  from wombet_jax.harness import onnx_export
  c = helpers.make_config(algo=algo)
  pair = make_pair("pointmass")
  wm = wm_lib.make_world_model(pair.obs_dim, pair.act_dim, c.world_model)
  agent = registry.get(algo).make(AgentContext(pair.obs_dim, pair.act_dim, c, pair, wm, None))
  states = jax.vmap(agent.init)(jax.random.split(jax.random.PRNGKey(1), 2))
  path = str(tmp_path / "policy")
  policy.export(path, agent, states, config=c, obs_dim=pair.obs_dim, act_dim=pair.act_dim,
                episode_length=pair.episode_length, seeds=[3, 4], target_env_steps=0)
  out = str(tmp_path / "actor.onnx")
  assert onnx_export.export(path, 4, out)["seed"] == 4
  obs = 3.0 * np.random.default_rng(0).normal(size=(16, pair.obs_dim)).astype(np.float32)
  got = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(
      ["action"], {"obs": obs})[0]
  want = np.asarray(policy.load(path, seed=4)(obs))
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert np.abs(want - np.asarray(policy.load(path, seed=3)(obs))).max() > 1e-3  # seed 4's
  import onnx
  props = {p.key: p.value for p in onnx.load(out).metadata_props}
  assert props["seed"] == "4" and props["algo"] == algo and props["env"] == "pointmass"
  with pytest.raises(ValueError, match=r"seed=9 is not in this policy; allowed: \[3, 4\]"):
    onnx_export.export(path, 9, out)


def test_onnx_export_without_its_package_is_one_line(tmp_path, monkeypatch):
  from wombet_jax.errors import UserError
  from wombet_jax.harness import onnx_export
  monkeypatch.setitem(sys.modules, "onnx", None)  # find_spec says: not installed
  with pytest.raises(UserError, match=r'^ONNX export needs the onnx package, which is not '
                                      r'installed: pip install "wombet_jax\[onnx\]"$'):
    onnx_export.export(str(tmp_path), None, str(tmp_path / "x.onnx"))


def test_export_onnx_script_writes_checks_and_refuses_in_one_line(sac_run, tmp_path):
  pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
  _, wd, _ = sac_run
  out = str(tmp_path / "p.onnx")
  done = helpers.script("export_onnx.py", f"--workdir={wd}", "--seed=1", f"--out={out}")
  assert done.returncode == 0, done.stderr[-3000:]
  line = done.stdout.strip().splitlines()[-1]
  assert line.startswith(f"wrote {out} (seed 1, ") and "max |diff| " in line, line
  assert float(line.rsplit(" ", 1)[1]) < 1e-5, line
  bad = helpers.script("export_onnx.py", f"--workdir={wd}", "--seed=7",
                       f"--out={tmp_path / 'q.onnx'}")
  assert bad.returncode == 2 and "Traceback" not in bad.stderr
  assert helpers.error_lines(bad.stderr, prefix="export_onnx.py: ") == [
      "export_onnx.py: seed=7 is not in this policy; allowed: [0, 1]"]
  assert sorted(os.listdir(tmp_path)) == ["p.onnx"]
