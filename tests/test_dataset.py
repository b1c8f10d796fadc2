"""Generated data round-trips through the D4RL-style .npz export and loader."""
import os

import numpy as np
import pytest

from test_generation import _filter_config, _hand_rollouts
from wombet_jax import generation
from wombet_jax.harness import dataset
from wombet_jax.envs import make_pair


def test_export_roundtrip_keys_shapes_and_target_rewards(tmp_path):
  pair = make_pair("pointmass")
  ro = _hand_rollouts()
  f = generation.filter_and_relabel(pair, _filter_config("dual"), ro)
  path = str(tmp_path / "d_off.npz")
  dataset.save(path, dataset.arrays_from_rollouts(ro, f))
  every = dataset.load(path, filtered=False)
  d_off = dataset.load(path)
  assert set(dataset.D4RL_KEYS) <= set(every)
  # 4 trajectories x 3 steps, trajectory 2 terminated after its second step: 11 valid rows.
  assert every["observations"].shape == (11, 4) and every["actions"].shape == (11, 2)
  # Accepted trajectories 0 and 2 (see test_generation): 3 + 2 rows.
  assert d_off["rewards"].shape == (5,)
  np.testing.assert_array_equal(np.unique(d_off["trajectory"]), [0, 2])
  r_t = pair.target.reward_fn(d_off["observations"], d_off["actions"],
                              d_off["next_observations"])
  np.testing.assert_allclose(d_off["rewards"], r_t, rtol=1e-6)
  assert not np.allclose(d_off["rewards"], d_off["source_rewards"])
  # Trajectory 2 ends in a terminal; the others are cut by the horizon (timeouts).
  np.testing.assert_array_equal(every["terminals"].nonzero()[0], [7])
  np.testing.assert_array_equal(every["timeouts"].nonzero()[0], [2, 5, 10])
  np.testing.assert_allclose(d_off["uncertainty"], np.asarray(ro.uncertainty)[[0, 0, 0, 2, 2],
                                                                               [0, 1, 2, 0, 1]])


def test_a_runs_dataset_holds_every_part_with_its_metadata(tmp_path):
  """Two iterations x two seeds of per-iteration files become one dataset whose rows, per
  (iteration, seed), are those files' rows, with the env, both rewards, the filter settings,
  each part's resolved thresholds and the commit in its metadata; load_offline reads it."""
  import json
  import ml_collections
  pair = make_pair("pointmass")
  ro = _hand_rollouts()
  quantile = _filter_config("dual", mode="quantile", eps_u=0.75, eps_r=0.5)
  absolute = _filter_config("dual")  # eps_u 0.5, eps_r 2.0
  datasets_dir = tmp_path / "datasets"
  parts = {}
  for k, fc in enumerate((absolute, quantile)):
    for seed in (3, 4):
      f = generation.filter_and_relabel(pair, fc, ro)
      dataset.save(str(datasets_dir / f"iter{k}_seed{seed}.npz"),
                   dataset.arrays_from_rollouts(ro, f))
      parts[(k, seed)] = dataset.part_metadata(k, seed, f, fc)
  (datasets_dir / "parts.json").write_text("[]")  # not a part: ignored
  assert parts[(0, 3)]["threshold_uncertainty"] == 0.5
  assert parts[(0, 3)]["threshold_source_return"] == 2.0
  # Quantile mode: the thresholds are the quantiles of this batch's trajectory statistics.
  f = generation.filter_and_relabel(pair, quantile, ro)
  assert parts[(1, 4)]["threshold_source_return"] == np.float32(
      np.quantile(np.asarray(f.traj_return), 0.5))
  assert parts[(1, 4)]["trajectories_accepted"] == int(np.sum(f.accept))
  config = ml_collections.ConfigDict({"env": "pointmass", "algo": "wombet",
                                      "filter": dict(absolute), "generation": {"horizon": 3}})
  path = str(tmp_path / dataset.RUN_DATASET)
  meta = dataset.write_run_dataset(path, str(datasets_dir), dataset.run_metadata(config, pair),
                                   parts)
  assert meta == dataset.read_metadata(path)
  assert meta["env"] == "pointmass" and meta["rows"] == 4 * 11
  assert meta["source_reward"] == "reward_fn: r = -||p' - g|| - 0.01 ||a||^2, g = (1.0, 0.0)."
  assert meta["target_reward"] == "reward_fn: r = -||p' - g|| - 0.01 ||a||^2, g = (1.0, 0.5)."
  assert meta["filter"]["eps_r"] == 2.0 and meta["generation"] == {"horizon": 3}
  assert meta["commit"] is None or len(meta["commit"].split("-")[0]) == 40
  assert [(p["iteration"], p["seed"], p["rows"]) for p in meta["parts"]] == [
      (0, 3, 11), (0, 4, 11), (1, 3, 11), (1, 4, 11)]
  for (k, seed), part in parts.items():
    one = dataset.load(str(datasets_dir / f"iter{k}_seed{seed}.npz"), filtered=False)
    got = dataset.load_run(path, filtered=False, iteration=k, seed=seed)
    for key, v in one.items():
      np.testing.assert_array_equal(got[key], v, err_msg=key)
    assert len(dataset.load_run(path, iteration=k, seed=seed)["rewards"]) == sum(
        dataset.load(str(datasets_dir / f"iter{k}_seed{seed}.npz"))["accept"])
    assert {**part, "rows": 11, "rows_accepted": int(one["accept"].sum())} in meta["parts"]
  rows, stats = dataset.load_offline(path, pair.obs_dim, pair.act_dim)
  assert stats["rows"] == 44 and stats["rows_used"] == int(
      dataset.load(path, filtered=False)["accept"].sum())
  assert json.loads(json.dumps(meta)) == meta  # plain JSON


def test_a_runs_dataset_exports_to_minari_episode_by_episode(tmp_path):
  """Every (iteration, seed, trajectory) of a run's dataset becomes one Minari episode with
  the same rows (observations plus the last next_observation), terminations where the rows
  terminate, and the run's metadata as the description."""
  minari = pytest.importorskip("minari", reason='the minari extra is not installed '
                               '(pip install "wombet_jax[minari]")')
  import json
  import ml_collections
  from wombet_jax.harness import minari_export
  pair = make_pair("pointmass")
  ro = _hand_rollouts()
  fc = _filter_config("none")
  datasets_dir = tmp_path / "datasets"
  for k in range(2):
    for seed in (0, 1):
      f = generation.filter_and_relabel(pair, fc, ro)
      dataset.save(str(datasets_dir / f"iter{k}_seed{seed}.npz"),
                   dataset.arrays_from_rollouts(ro, f))
  path = str(tmp_path / dataset.RUN_DATASET)
  config = ml_collections.ConfigDict({"env": "pointmass", "filter": dict(fc)})
  dataset.write_run_dataset(path, str(datasets_dir), dataset.run_metadata(config, pair), {})
  data = dataset.load(path)
  root = str(tmp_path / "minari")
  minari_export.export(path, "wombet/pointmass/test-v0", root=root)
  os.environ["MINARI_DATASETS_PATH"] = root
  try:
    d = minari.load_dataset("wombet/pointmass/test-v0")
    episodes = list(d.iterate_episodes())
  finally:
    os.environ.pop("MINARI_DATASETS_PATH")
  # 2 iterations x 2 seeds x 4 trajectories, one of which terminates after 2 of its 3 steps.
  assert len(episodes) == 16 and d.total_steps == len(data["rewards"]) == 44
  assert [len(e.rewards) for e in episodes[:4]] == [3, 3, 2, 3]
  start = 0
  for e in episodes:
    n = len(e.rewards)
    rows = slice(start, start + n)
    np.testing.assert_allclose(e.observations[:-1], data["observations"][rows])
    np.testing.assert_allclose(e.observations[-1], data["next_observations"][start + n - 1])
    np.testing.assert_allclose(e.actions, data["actions"][rows])
    np.testing.assert_allclose(e.rewards, data["rewards"][rows], rtol=1e-6)
    np.testing.assert_array_equal(e.terminations, data["terminals"][rows])
    assert e.truncations[-1] != e.terminations[-1] and not e.truncations[:-1].any()
    start += n
  assert json.loads(d.storage.metadata["description"])["env"] == "pointmass"
