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
