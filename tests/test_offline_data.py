"""D_off from a file (`config.offline.dataset`), generation from replayed states, D_off
accumulated across iterations, the oracle dataset's layout and the transfer report's
endpoints: on hand-made arrays, checked against hand-computed values."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax import generation, loop
from wombet_jax import world_model as wm_lib
from wombet_jax.envs import Transition, make_pair
from wombet_jax.errors import UserError
from wombet_jax.harness import dataset, runner, transfer

OBS, ACT = 4, 2  # pointmass


def arrays(n=10, ends=(4, 9), accept=None, **replace):
  """A pointmass dataset of n rows whose row i holds the value i (observations i, i+0.5)."""
  rng = np.arange(n, dtype=np.float32)
  a = {"observations": np.tile(rng[:, None], (1, OBS)),
       "actions": np.tile((rng[:, None] / n), (1, ACT)),
       "next_observations": np.tile(rng[:, None] + 0.5, (1, OBS)),
       "rewards": rng.copy(), "terminals": np.zeros(n, bool), "timeouts": np.zeros(n, bool)}
  a["timeouts"][list(ends)] = True
  if accept is not None:
    a["accept"] = np.asarray(accept, bool)
  a.update(replace)
  return a


def write(tmp_path, name, a):
  path = str(tmp_path / name)
  np.savez(path, **a)
  return path


def test_trajectory_returns_by_hand():
  r = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
  np.testing.assert_allclose(dataset.trajectory_returns(r, [0, 1, 0, 0, 0]), [3.0, 12.0])
  np.testing.assert_allclose(dataset.trajectory_returns(r, [0, 0, 0, 0, 1]), [15.0])
  np.testing.assert_allclose(dataset.trajectory_returns(r, [1, 0, 0, 0, 1]), [1.0, 14.0])


def test_load_offline_rows_and_statistics(tmp_path):
  rows, st = dataset.load_offline(write(tmp_path, "d.npz", arrays()), OBS, ACT)
  assert rows.obs.shape == (10, OBS) and rows.action.shape == (10, ACT)
  np.testing.assert_array_equal(rows.reward, np.arange(10))  # "rewards": the source reward
  np.testing.assert_array_equal(rows.done, np.isin(np.arange(10), (4, 9)))
  assert not rows.terminal.any()
  # Trajectories 0-4 and 5-9: returns 10 and 35.
  assert (st["trajectories"], st["source_return_min"], st["source_return_max"]) == (2, 10, 35)
  assert st["rows_used"] == 10 and st["reward_key"] == "rewards" and len(st["sha256"]) == 64


def test_load_offline_prefers_source_rewards_and_keeps_accepted_rows(tmp_path):
  a = arrays(accept=[0] * 5 + [1] * 5, source_rewards=-np.arange(10, dtype=np.float32))
  rows, st = dataset.load_offline(write(tmp_path, "d.npz", a), OBS, ACT)
  np.testing.assert_array_equal(rows.obs[:, 0], np.arange(5, 10))
  np.testing.assert_array_equal(rows.reward, -np.arange(5, 10))
  assert (st["reward_key"], st["trajectories"], st["source_return_mean"]) == (
      "source_rewards", 1, -35.0)


@pytest.mark.parametrize("change,message", [
    ({"drop": "timeouts"}, "lacks keys ['timeouts']"),
    ({"observations": np.zeros((10, 3), np.float32)}, "'observations' has shape (10, 3)"),
    ({"actions": np.zeros((9, ACT), np.float32)}, "'actions' has shape (9, 2)"),
    ({"rewards": np.zeros(11, np.float32)}, "'rewards' has shape (11,)"),
    ({"nan": ("next_observations", 3)}, "'next_observations' has non-finite values in 1 rows "
                                        "(first: row 3)"),
    ({"nan": ("rewards", 7)}, "'rewards' has non-finite values in 1 rows (first: row 7)"),
    ({"actions": np.full((10, ACT), 1.5, np.float32)}, "'actions' leave [-1, 1] in 10 rows"),
    ({"accept": np.zeros(10, bool)}, "holds no transition with accept == True"),
])
def test_load_offline_refuses_bad_files_in_one_line(tmp_path, change, message):
  a = arrays()
  if "drop" in change:
    del a[change.pop("drop")]
  if "nan" in change:
    key, row = change.pop("nan")
    a[key] = a[key].copy()
    a[key][row] = np.nan
  a.update(change)
  path = write(tmp_path, "bad.npz", a)
  with pytest.raises(UserError) as e:
    dataset.load_offline(path, OBS, ACT)
  text = str(e.value)
  assert text.startswith(f"config.offline.dataset={path!r} is invalid: ")
  assert message in text and "\n" not in text


def test_load_offline_refuses_missing_and_unreadable_files(tmp_path):
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not a zip file at all")
  for path, message in ((str(tmp_path / "none.npz"), "no such file"),
                        (str(garbage), "not a readable .npz file"),
                        (str(tmp_path), "a directory")):
    with pytest.raises(UserError, match=message):
      dataset.load_offline(path, OBS, ACT)


def test_subsample_draws_distinct_rows_and_relabel_uses_the_target_reward():
  pair = make_pair("pointmass")
  a = arrays(n=12)
  data = Transition(obs=jnp.asarray(a["observations"]), action=jnp.asarray(a["actions"]),
                    reward=jnp.asarray(a["rewards"]), next_obs=jnp.asarray(a["next_observations"]),
                    terminal=jnp.zeros(12), done=jnp.zeros(12))
  assert generation.subsample_rows(data, jax.random.PRNGKey(0), 0) is data
  sub = generation.subsample_rows(data, jax.random.PRNGKey(0), 5)
  picked = np.asarray(sub.obs[:, 0])
  assert len(set(picked.tolist())) == 5 and set(picked.tolist()) <= set(range(12))
  np.testing.assert_array_equal(sub.reward, picked)  # rows stay whole
  rel = generation.relabel_rows(pair, sub)
  want = [float(pair.target.reward_fn(sub.obs[i], sub.action[i], sub.next_obs[i]))
          for i in range(5)]
  np.testing.assert_allclose(rel.reward, want, rtol=1e-6)
  src = [float(pair.source.reward_fn(sub.obs[i], sub.action[i], sub.next_obs[i]))
         for i in range(5)]
  assert not np.allclose(want, src)  # the pair's rewards differ, so relabelling is visible


def test_replay_start_states_come_from_valid_rows_only():
  data = wm_lib.make_data(10, OBS, ACT)
  obs = jnp.full((10, OBS), 999.0).at[:3].set(jnp.arange(3.0)[:, None])
  data = data.replace(data=data.data.replace(obs=obs), size=jnp.int32(3), ptr=jnp.int32(3))
  starts = generation.replay_start_states(data, jax.random.PRNGKey(1), 200)
  assert starts.shape == (200, OBS)
  assert set(np.asarray(starts[:, 0]).tolist()) == {0.0, 1.0, 2.0}


@pytest.fixture(scope="module")
def file_pipes(tmp_path_factory):
  """Pipelines reading D_off from a 10-row file: all of it replaced, 4 drawn and accumulated."""
  path = write(tmp_path_factory.mktemp("data"), "d.npz", arrays())
  rows, _ = dataset.load_offline(path, OBS, ACT)
  c = helpers.make_config(**{"offline.dataset": path})
  acc = helpers.make_config(**{"offline.dataset": path, "offline.max_transitions": 4,
                               "generation.offline_update": "accumulate"})
  return rows, loop.make_pipeline(c, offline_data=rows), loop.make_pipeline(acc,
                                                                            offline_data=rows)


def test_regeneration_from_a_file_fills_d_off_with_relabelled_rows(file_pipes):
  rows, pipe, acc = file_pipes
  keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(2, dtype=jnp.uint32))
  states, info = pipe.regenerate(pipe.init(keys))
  np.testing.assert_array_equal(info["n_offline"], [10, 10])
  buf = jax.tree_util.tree_map(lambda x: x[0, :10], states.offline.data)
  np.testing.assert_array_equal(buf.obs, rows.obs)
  pair = pipe.pair
  want = jax.vmap(pair.target.reward_fn)(rows.obs, rows.action, rows.next_obs)
  np.testing.assert_allclose(buf.reward, want, rtol=1e-6)
  np.testing.assert_array_equal(buf.done, rows.done)
  # Accumulating 4 drawn rows per regeneration: 4, then 8 rows, each one of the file's.
  s = acc.init(keys)
  for size in (4, 8):
    s, info = acc.regenerate(s)
    np.testing.assert_array_equal(info["n_offline"], [size, size])
  got = np.asarray(s.offline.data.obs[:, :8, 0])
  assert set(got.ravel().tolist()) <= set(range(10))
  assert not np.array_equal(got[:, :4], got[:, 4:8])  # a fresh draw each time


def test_pipeline_needs_the_rows_exactly_when_the_field_is_set(tmp_path):
  c = helpers.make_config(**{"offline.dataset": "x.npz"})
  with pytest.raises(ValueError, match="offline_data must be given exactly when"):
    loop.make_pipeline(c)


def test_runner_refuses_a_file_larger_than_d_off_before_compiling(tmp_path):
  path = write(tmp_path, "d.npz", arrays(n=30, ends=(29,)))
  c = helpers.make_config(**{"offline.dataset": path, "loop.offline_capacity": 20})
  with pytest.raises(UserError, match=r"its 30 transitions do not fit "
                                      r"loop.offline_capacity=20"):
    runner.Runner(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")


def test_oracle_rollout_layout_by_hand():
  pair = make_pair("pointmass")
  act = lambda obs: helpers.pd_action(obs, goal=(0.5, 0.5))
  a = dataset.policy_rollouts(pair, act, 7, jax.random.PRNGKey(0), 3, 0.0)
  assert a["observations"].shape == (21, OBS) and a["actions"].shape == (21, ACT)
  # Every episode is cut at its 7th step (pointmass never terminates).
  np.testing.assert_array_equal(np.flatnonzero(a["timeouts"]), [6, 13, 20])
  assert not a["terminals"].any()
  np.testing.assert_allclose(a["actions"], np.asarray(act(a["observations"])), atol=1e-6)
  src = jax.vmap(pair.source.reward_fn)(a["observations"], a["actions"], a["next_observations"])
  tgt = jax.vmap(pair.target.reward_fn)(a["observations"], a["actions"], a["next_observations"])
  np.testing.assert_allclose(a["source_rewards"], src, rtol=1e-6)
  np.testing.assert_allclose(a["rewards"], tgt, rtol=1e-6)
  # Consecutive rows of an episode chain: s' of step t is s of step t + 1.
  np.testing.assert_allclose(a["next_observations"][:6], a["observations"][1:7], atol=1e-6)


def _rows(values):
  """Evaluation rows {step: {seed: normalised return}}."""
  return [{"phase": "eval", "seed": seed, "target_env_steps": step, "normalized_return": v,
           "return": v} for step, per_seed in values.items() for seed, v in per_seed.items()]


def test_transfer_endpoints_and_paired_differences_by_hand():
  a = _rows({0: {0: 0.0, 1: 0.0}, 2500: {0: 40.0, 1: 10.0}, 5000: {0: 60.0, 1: 30.0},
             7500: {0: 80.0, 1: 50.0}, 10000: {0: 90.0, 1: 70.0}})
  b = _rows({0: {0: 0.0, 1: 0.0}, 2500: {0: 20.0, 1: 10.0}, 5000: {0: 30.0, 1: 20.0},
             7500: {0: 50.0, 1: 40.0}, 10000: {0: 60.0, 1: 40.0}})
  ea, eb = transfer.endpoints(a, transfer.WINDOW), transfer.endpoints(b, transfer.WINDOW)
  assert ea["primary"] == {0: 67.5, 1: 40.0} and eb["primary"] == {0: 40.0, 1: 27.5}
  assert ea["final"] == {0: 90.0, 1: 70.0}
  assert ea["steps_to_50"] == {0: 5000.0, 1: 7500.0}
  assert eb["steps_to_50"] == {0: 7500.0, 1: float("inf")}
  d = transfer.paired(ea["primary"], eb["primary"])
  assert (d["mean"], d["n"], d["fraction_a_above"]) == (20.0, 2, 1.0)
  assert d["se"] == pytest.approx(7.5)  # std(27.5, 12.5; ddof=1) / sqrt(2)
  assert 12.5 <= d["ci_lo"] <= d["ci_hi"] <= 27.5
  # A seed that never reaches the level is left out of the pair.
  assert transfer.paired(ea["steps_to_50"], eb["steps_to_50"])["n"] == 1
  with pytest.raises(UserError, match=r"no evaluation at target steps \[10000\]"):
    transfer.window_mean({2500: {0: 1.0}, 5000: {0: 1.0}, 7500: {0: 1.0}}, transfer.WINDOW)


def test_coverage_by_hand():
  visited = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # std 1 per dimension
  doff = np.array([[0.0, 0.0], [2.0, 2.5]])
  c = transfer.coverage(doff, visited)
  # Nearest distances: 0, 2, 2, 0.5 -> median 1.25; within 1.0: 2 of 4.
  assert c["median_distance"] == pytest.approx(1.25)
  assert c["fraction_within"] == 0.5


def test_report_refuses_arms_from_two_commits():
  with pytest.raises(UserError, match="one clean commit"):
    transfer.check_one_commit({"sac": {"commits": ["a"]}, "wombet": {"commits": ["b"]}})
  with pytest.raises(UserError, match="one clean commit"):
    transfer.check_one_commit({"sac": {"commits": ["a+dirty"]}})
  assert transfer.check_one_commit({"sac": {"commits": ["a"]}, "x": {"commits": ["a", "a"]}}) == "a"


def _fake_arm(folder, algo, values, commit="abc"):
  import json as json_lib
  os.makedirs(folder, exist_ok=True)
  from wombet_jax.harness import results
  rows = [{**r, "algo": algo, "env": "pointmass"} for r in _rows(values)]
  results.write_jsonl(os.path.join(folder, "metrics.jsonl"), rows)
  for name, obj in (("summary.json", {"complete": True}),
                    ("config.json", {"env": "pointmass", "episode_length": 50, "algo": algo,
                                     "offline": {"dataset": "", "max_transitions": 0}}),
                    ("provenance.json", {"commits": [commit], "seconds": 12.0,
                                         "command": "python experiments/transfer_study.py"})):
    with open(os.path.join(folder, name), "w") as f:
      json_lib.dump(obj, f)


def test_report_from_run_folders_then_from_its_own_copies(tmp_path):
  import json as json_lib
  import shutil
  wd, out = str(tmp_path / "wd"), str(tmp_path / "out")
  table = str(tmp_path / "ref.json")
  with open(table, "w") as f:
    json_lib.dump({"scores": {"pointmass/50": {"random": 0.0, "reference": 100.0}}}, f)
  steps = (0,) + transfer.WINDOW
  _fake_arm(os.path.join(wd, "sac"), "sac", {s: {0: s / 1000, 1: s / 500} for s in steps})
  _fake_arm(os.path.join(wd, "wombet"), "wombet",
            {s: {0: s / 1000 + 3, 1: s / 500 + 1} for s in steps})
  # WOMBET's exported D_off: seed 0, iteration 0, two accepted trajectories of 5 rows.
  a = arrays(accept=[1] * 10, source_rewards=np.ones(10, np.float32),
             uncertainty=np.zeros(10, np.float32), trajectory=np.repeat([0, 1], 5))
  dataset.save(os.path.join(wd, "wombet", "datasets", "iter0_seed0.npz"), a)
  rep = transfer.write_report(None, ["sac", "wombet", "missing"], wd, out, table)
  assert rep["arms"] == ["sac", "wombet"] and rep["commit"] == "abc"
  d = rep["comparisons"]["wombet - sac"]["primary"]
  assert (d["mean"], d["n"]) == (pytest.approx(2.0), 2)  # +3 and +1 on the two seeds
  assert rep["doff"]["wombet"]["size_median"] == 10 and rep["doff"]["wombet"]["trajectories"] == 2
  assert rep["doff"]["wombet"]["target_return_mean"] == pytest.approx(22.5)  # (10 + 35) / 2
  for f in ("report.json", "report.md", "curves.png", "wombet/doff.json", "sac/metrics.jsonl"):
    assert os.path.exists(os.path.join(out, f)), f
  # The run folders gone (another machine): the committed copies give the same report.
  shutil.rmtree(wd)
  again = transfer.write_report(None, ["sac", "wombet"], wd, out, table)
  assert again["comparisons"] == rep["comparisons"] and again["doff"] == rep["doff"]


def test_the_export_reader_refuses_ragged_and_non_finite_files_in_one_line(tmp_path):
  good = arrays(accept=[1] * 10)
  ragged = dict(good, rewards=np.zeros(3, np.float32))
  nan = dict(good, observations=np.where(np.arange(10)[:, None] == 4, np.nan,
                                         good["observations"]))
  for name, a, message in (("ragged", ragged, "different lengths"),
                           ("nan", nan, "'observations' has non-finite values in 1 rows "
                                        "(first: row 4)")):
    path = write(tmp_path, f"{name}.npz", a)
    with pytest.raises(UserError) as e:
      dataset.load(path)
    assert message in str(e.value) and "\n" not in str(e.value)
  np.testing.assert_array_equal(dataset.load(write(tmp_path, "ok.npz", good))["rewards"],
                                np.arange(10))


def test_absurd_seed_counts_fail_before_compiling(tmp_path):
  c = helpers.make_config(num_seeds=2_000_000)  # terabytes: no machine holds them
  with pytest.raises(UserError, match=r"^config.num_seeds=2000000 is invalid: the run needs "
                                      r"about .* at most \d+ seeds fit$"):
    runner.Runner(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd") or not os.listdir(tmp_path / "wd")


def test_every_transfer_arm_takes_the_oracle_dataset_it_is_given(tmp_path):
  """Each arm of the committed transfer study validates and, where it reads the oracle D_off
  (ORACLE_EPISODES full episodes), holds what it draws of it."""
  from wombet_jax.configs.transfer import halfcheetah as study
  from wombet_jax.harness import config as config_lib
  n, obs_dim, act_dim = study.ORACLE_TRANSITIONS, 18, 6  # halfcheetah
  zeros = lambda *shape: np.zeros(shape, np.float32)
  oracle = write(tmp_path, "oracle.npz", {
      "observations": zeros(n, obs_dim), "actions": zeros(n, act_dim),
      "next_observations": zeros(n, obs_dim), "rewards": zeros(n),
      "terminals": np.zeros(n, bool), "timeouts": np.arange(n) % 1000 == 999})
  used = {}
  for arm in study.ARMS:
    c = transfer.arm_config(study, arm, oracle)
    config_lib.validate(c)
    rows, stats = runner.read_offline_dataset(c)
    used[arm] = None if rows is None else (stats["rows_used"], c.offline.max_transitions)
  assert used == {"sac": None, "wombet": None, "wombet_replay": None, "no_doff": None,
                  "oracle_small": (n, study.ORACLE_SMALL), "oracle_large": (n, 0)}


def test_the_transfer_report_keeps_the_study_arm_order_when_its_json_keys_come_back_sorted():
  from wombet_jax.harness import transfer
  pair = {"mean": 1.0, "se": 0.5, "ci_lo": 0.0, "ci_hi": 2.0, "n": 3, "fraction_a_above": 1.0}
  comp = {"primary": pair, "final": pair, "steps_to_50": None, "steps_to_80": None}
  doff = {"source": "generated", "size_min": 1, "size_median": 2.0, "size_max": 3,
          "source_return_mean": 0.0, "target_return_mean": 0.0}
  ends = {"primary": {"0": 1.0, "1": 2.0}, "final": {"0": 1.0, "1": 2.0}}
  report = {"commit": "0" * 40, "env": "halfcheetah", "episode_length": 1000,
            "reference": {"random": -1.0, "reference": 1.0}, "window": [1],
            "arms": ["sac", "wombet", "oracle", "no_doff"], "seconds": {},
            "endpoints": {a: ends for a in ("sac", "wombet", "oracle", "no_doff")},
            # as json.load gives them back from a file written with sorted keys:
            "comparisons": {"no_doff - sac": comp, "no_doff - wombet": comp,
                            "oracle - sac": comp, "oracle - wombet": comp, "wombet - sac": comp},
            "doff": {"no_doff": doff, "oracle": doff, "wombet": doff}}
  lines = transfer.report_markdown(report).splitlines()
  rows = [ln.split(" | ")[0][2:] for ln in lines if ln.startswith("| ") and " - " in ln]
  assert rows == ["wombet - sac", "oracle - sac", "no_doff - sac", "oracle - wombet",
                  "no_doff - wombet"]
  doff_rows = [ln.split(" | ")[0][2:] for ln in lines if "| generated |" in ln]
  assert doff_rows == ["wombet", "oracle", "no_doff"]
