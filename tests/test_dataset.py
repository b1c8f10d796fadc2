"""Generated data round-trips through the D4RL-style .npz export and loader."""
import numpy as np

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
