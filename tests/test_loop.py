"""The whole loop on the smoke config: contract, trace counts, SIGKILL + resume, sharding."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from wombet_jax import health
from wombet_jax.harness import handlers, results, runner, schedule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# `config`, `pipe` and `full_run` (the smoke config, its pipeline and one run of it) are
# session fixtures of conftest.py, shared with test_faults.py.


def test_run_writes_the_contract(full_run, config):
  wd, summary = full_run
  for name in ("config.json", "metrics.jsonl", "summary.json", "learning_curve.png"):
    assert os.path.getsize(os.path.join(wd, name)) > 0, name
  rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  evals = [r for r in rows if r["phase"] == "eval"]
  for r in rows:
    results.check_row(r)
  chunks = config.loop.num_iterations * config.loop.steps_per_iteration // config.loop.eval_every
  assert len(evals) == config.num_seeds * (chunks + 1)  # + the evaluation before any step
  assert sorted({r["target_env_steps"] for r in evals}) == [
      i * config.loop.eval_every for i in range(chunks + 1)]
  src = [r for r in rows if r["phase"] == "source"]
  assert len(src) == config.num_seeds * (config.pets.random_episodes + config.pets.mpc_episodes)
  assert all(0 < r["accept_rate"] <= 1 and r["n_offline"] > 0 for r in evals)
  assert all(config.sampling.beta_min <= r["beta"] <= config.sampling.beta_max for r in evals)
  # The critic's model penalty is logged once updates have run (null before the first).
  pens = [r["penalty"] for r in evals if r["target_env_steps"] > 0]
  assert all(p is not None and p > 0 for p in pens), pens
  assert all(r["penalty"] is None for r in evals if r["target_env_steps"] == 0)
  saved = json.load(open(os.path.join(wd, "summary.json")))
  assert saved["complete"] and saved["num_seeds"] == config.num_seeds
  assert saved["return"]["per_seed"] == [
      r["return"] for r in evals if r["target_env_steps"] == chunks * config.loop.eval_every]
  assert json.load(open(os.path.join(wd, "config.json")))["env"] == "pointmass"


def test_generated_data_is_exported_per_iteration_and_seed(full_run, config):
  from wombet_jax.harness import dataset
  wd, _ = full_run
  rows = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  for k in range(config.loop.num_iterations):
    for seed in range(config.num_seeds):
      path = os.path.join(wd, "datasets", f"iter{k}_seed{seed}.npz")
      every, d_off = dataset.load(path, filtered=False), dataset.load(path)
      n = config.generation.num_trajectories * config.generation.horizon
      assert every["observations"].shape == (n, 4)  # pointmass never terminates
      # D_off in the metrics is exactly the accepted part of the export.
      n_off = {r["n_offline"] for r in rows if r["phase"] == "eval" and r["seed"] == seed
               and r["iteration"] == k}
      assert n_off == {len(d_off["rewards"])}
      # The run's dataset holds the same rows under (iteration, seed).
      part = dataset.load_run(os.path.join(wd, dataset.RUN_DATASET), filtered=False,
                              iteration=k, seed=seed)
      np.testing.assert_array_equal(part["observations"], every["observations"])
      np.testing.assert_array_equal(part["accept"], every["accept"])
  meta = dataset.read_metadata(os.path.join(wd, dataset.RUN_DATASET))
  assert [(p["iteration"], p["seed"]) for p in meta["parts"]] == [
      (k, s) for k in range(config.loop.num_iterations) for s in range(config.num_seeds)]
  assert meta["env"] == "pointmass" and meta["filter"] == config.filter.to_dict()
  assert all(np.isfinite(p["threshold_source_return"]) for p in meta["parts"])


def test_each_piece_is_traced_once_per_run(full_run, pipe):
  # Two iterations with two chunks each, two model refits, two regenerations: one trace each.
  assert pipe.trace_counts["chunk"] == 1
  assert pipe.trace_counts["evaluate"] == 1
  assert pipe.trace_counts["fit_model"] == 1
  assert pipe.trace_counts["regenerate"] == 1


def test_existing_run_is_not_overwritten(full_run, config, pipe):
  wd, _ = full_run
  before = open(os.path.join(wd, "metrics.jsonl")).read()
  with pytest.raises(ValueError, match="--resume"):
    runner.Runner(config, wd, pipeline=pipe)
  assert open(os.path.join(wd, "metrics.jsonl")).read() == before


def test_sigkilled_run_resumes_to_identical_metrics(full_run, config, pipe, tmp_path):
  wd_full, _ = full_run
  wd = str(tmp_path / "killed")
  cmd = [sys.executable, os.path.join(ROOT, "experiments", "run.py"),
         "--config=" + os.path.join(ROOT, "experiments", "configs", "smoke.py"),
         "--workdir=" + wd]
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT)
  seen = 0
  for line in proc.stdout:
    if "checkpoint saved" in line:
      seen += 1
      if seen == 2:
        proc.send_signal(signal.SIGKILL)
        break
  proc.wait(timeout=60)
  assert proc.returncode == -signal.SIGKILL, "run ended before its second checkpoint was taken"
  assert not json.load(open(os.path.join(wd, "summary.json")))["complete"]

  runner.run(config, wd, resume=True, verbose=False, pipeline=pipe)
  resumed = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  full = results.read_jsonl(os.path.join(wd_full, "metrics.jsonl"))
  assert resumed == full
  # The resumed run continued the killed run's TensorBoard run (smoke.py selects it): the
  # same points as the uninterrupted run's, none twice, in two event files.
  from wombet_jax.harness import tracker_files, writers
  tb = os.path.join(wd, writers.TENSORBOARD_DIR)
  assert len(tracker_files.event_files(tb)) == 2
  assert (tracker_files.read_tensorboard(tb)
          == tracker_files.read_tensorboard(os.path.join(wd_full, writers.TENSORBOARD_DIR)))


SHARDING_SCRIPT = textwrap.dedent("""
    import sys
    import jax
    import jax.numpy as jnp
    from wombet_jax.configs import smoke
    from wombet_jax import loop
    from wombet_jax.harness import runner
    assert len(jax.devices()) == 2, jax.devices()
    c = smoke.get_config()  # the session's `config`: two seeds, one per device
    pipe = loop.make_pipeline(c)
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(c.num_seeds, dtype=jnp.uint32))
    states = runner._shard_seeds(pipe.init(keys), c.num_seeds)
    assert all(len(x.sharding.device_set) == 2 for x in jax.tree_util.tree_leaves(states))
    runner.Runner(c, sys.argv[1], verbose=False, pipeline=pipe).run()
""")


def test_two_devices_match_one_device(full_run, tmp_path):
  """The smoke run with its seeds sharded over two (host) devices writes the rows of the
  session's one-device run: sharding changes where seeds run, not their numbers."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  wd = str(tmp_path / "sharded")
  out = subprocess.run([sys.executable, "-c", SHARDING_SCRIPT, wd], env=env,
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  sharded = results.read_jsonl(os.path.join(wd, "metrics.jsonl"))
  single = results.read_jsonl(os.path.join(full_run[0], "metrics.jsonl"))
  assert len(sharded) == len(single) > 0
  for a, b in zip(sharded, single):
    assert a.keys() == b.keys()
    for k in a:
      if isinstance(a[k], float):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-4, err_msg=k)
      else:
        assert a[k] == b[k], k


def test_pretraining_in_pieces_equals_one_scan(bc_pipes):
  """The runner pretrains in pieces (progress and checkpoints between them): any split must
  give the numbers of one scan over all offline_steps updates."""
  import chex
  import jax
  import jax.numpy as jnp
  from wombet_jax import replay
  from wombet_jax.envs import Transition

  whole, parts = bc_pipes  # BC: the piece logic is the same for every agent
  c = whole.config
  assert whole.pretrain_pieces == [(0, 20)]
  assert parts.pretrain_pieces == [(0, 8), (8, 8), (16, 4)]
  assert [(t.start, t.length) for t in schedule.pipeline_tasks(parts)
          if isinstance(t, schedule.Pretrain)] == [(0, 8), (8, 8), (16, 4)]

  states = whole.init(jax.vmap(jax.random.PRNGKey)(jnp.arange(c.num_seeds, dtype=jnp.uint32)))
  n, o, a = 64, whole.pair.obs_dim, whole.pair.act_dim
  ks = jax.random.split(jax.random.PRNGKey(7), 3)
  trs = Transition(obs=jax.random.normal(ks[0], (c.num_seeds, n, o)),
                   action=jax.random.uniform(ks[1], (c.num_seeds, n, a), minval=-1, maxval=1),
                   reward=jax.random.normal(ks[2], (c.num_seeds, n)),
                   next_obs=jnp.zeros((c.num_seeds, n, o)), terminal=jnp.zeros((c.num_seeds, n)),
                   done=jnp.zeros((c.num_seeds, n)))
  states = states.replace(offline=jax.vmap(replay.add_batch)(states.offline, trs))

  one, _ = whole.pretrain(states, 0, 20)
  split = states
  for start, length in parts.pretrain_pieces:
    split, info = parts.pretrain(split, start, length)
  chex.assert_trees_all_equal(one.agent, split.agent)
  chex.assert_trees_all_equal(one.key, split.key)
  assert not np.array_equal(np.asarray(one.key), np.asarray(states.key))  # the key moved on
  assert parts.trace_counts["pretrain"] == 2  # pieces of 8 and the last of 4


def test_nonfinite_health_names_the_losses_the_seeds_and_the_first_step():
  seeds, last_saved = [3, 4, 5], 7
  f, t = False, True
  info = {"nonfinite_step": np.array([-1, 12, 9]),
          "nonfinite": {"critic_loss": np.array([f, t, t]), "actor_loss": np.array([f, f, t]),
                        health.STATE_FLAG: np.array([f, t, f])}}
  with pytest.raises(FloatingPointError) as e:
    handlers.check_health(info, "online updates", "target step", seeds, last_saved)
  assert str(e.value) == ("online updates: actor_loss, critic_loss not finite at target step 9 "
                          "for seeds [5] (later for seeds [4]); the run stopped; its last "
                          "checkpoint (task 7) is kept")
  handlers.check_health({"nonfinite_step": np.array([-1, -1, -1]), "nonfinite": {}}, "ok", "step",
                       seeds, last_saved)


def test_resume_refuses_a_checkpoint_of_another_task_list(full_run, config, pipe, tmp_path):
  import shutil
  wd = str(tmp_path / "copy")
  shutil.copytree(full_run[0], wd)
  before = open(os.path.join(wd, "metrics.jsonl")).read()
  r = runner.Runner(config, wd, resume=True, verbose=False, pipeline=pipe)
  r.tasks = r.tasks[:-1] + [schedule.Chunk(1)] * 2  # e.g. a config with one more chunk
  with pytest.raises(ValueError, match=r"different task list \(\d+ tasks, .* gives \d+"):
    r.run()
  assert open(os.path.join(wd, "metrics.jsonl")).read() == before


def _dot_batch_dims(closed_jaxpr) -> list:
  """The batch dimensions of every dot_general in a jaxpr (nested jaxprs included)."""
  import jax
  out = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "dot_general":
        out.append(eqn.params["dimension_numbers"][1][0])
      for sub in jax.core.jaxprs_in_params(eqn.params):
        visit(sub)
  visit(closed_jaxpr.jaxpr)
  return out


def test_over_seeds_is_vmap_without_a_batch_of_one():
  """over_seeds gives vmap's values and shapes for any seed count; with one seed its matmuls
  carry no batch dimension (the slow CPU path it exists to avoid), with three they do."""
  import jax
  import jax.numpy as jnp
  from wombet_jax import online

  def f(s, c):
    return {"y": s["x"] @ s["w"] + c, "n": jnp.sum(s["x"])}

  for n in (1, 3):
    k1, k2 = jax.random.split(jax.random.PRNGKey(n))
    states = {"x": jax.random.normal(k1, (n, 4, 5)), "w": jax.random.normal(k2, (n, 5, 2))}
    got = online.over_seeds(f, in_axes=(0, None))(states, 2.0)
    want = jax.vmap(f, in_axes=(0, None))(states, 2.0)
    assert jax.tree_util.tree_map(jnp.shape, got) == jax.tree_util.tree_map(jnp.shape, want)
    for k in want:
      np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-6)
    dims = _dot_batch_dims(jax.make_jaxpr(online.over_seeds(f, in_axes=(0, None)))(states, 2.0))
    assert dims == ([()] if n == 1 else [(0,)]), dims
