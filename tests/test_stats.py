"""rliable-style aggregates: hand-computed values on tiny arrays and the bootstrap's coverage."""
import numpy as np
import pytest

from wombet_jax.harness import stats


def test_iqm_trims_a_quarter_on_each_side_pooling_tasks():
  # Sorted 1..7, 100: the middle half is 3, 4, 5, 6.
  assert stats.iqm([1, 2, 3, 4, 100, 5, 6, 7]) == pytest.approx(4.5)
  # (runs, tasks) pooled: 1, 2, 10, 20 -> middle half 2, 10.
  assert stats.iqm([[1, 10], [2, 20]]) == pytest.approx(6.0)
  # Five runs: int(0.25 * 5) = 1 cut on each side -> mean of 2, 3, 4.
  assert stats.iqm([5, 1, 4, 2, 3]) == pytest.approx(3.0)


def test_probability_of_improvement_counts_ties_half_and_averages_tasks():
  assert stats.probability_of_improvement([1, 2, 3], [2, 2]) == pytest.approx(3 / 6)
  assert stats.probability_of_improvement([3, 4], [1, 3]) == pytest.approx(3.5 / 4)
  # Task A: x = 1, 3 vs y = 2, 2 -> 0.5; task B: x = 3, 4 vs y = 1, 3 -> 0.875.
  x, y = [[1, 3], [3, 4]], [[2, 1], [2, 3]]
  assert stats.probability_of_improvement(x, y) == pytest.approx((0.5 + 0.875) / 2)
  with pytest.raises(ValueError, match="x has 2 tasks and y 1"):
    stats.probability_of_improvement(x, [1, 2])


def test_performance_profile_is_the_fraction_above_tau_averaged_over_tasks():
  scores = [[0, 10], [5, 20], [10, 30]]
  got = stats.performance_profile(scores, [0, 5, 25])
  np.testing.assert_allclose(got, [(2 / 3 + 1) / 2, (1 / 3 + 1) / 2, (0 + 1 / 3) / 2])


def test_bootstrap_resamples_within_each_task():
  # Each task is constant, so a stratified resample always has mean 50; resampling runs
  # across tasks would not.
  point, lo, hi = stats.mean_ci([[0, 100], [0, 100], [0, 100]], reps=500)
  assert (point, lo, hi) == (50.0, 50.0, 50.0)
  res = stats.stratified_resamples(np.array([[0.0, 100.0], [1.0, 101.0]]), 50,
                                   np.random.default_rng(0))
  assert res.shape == (50, 2, 2)
  assert set(res[..., 0].ravel()) <= {0.0, 1.0} and set(res[..., 1].ravel()) <= {100.0, 101.0}


def test_bootstrap_percentiles_of_a_two_point_sample():
  # Two runs 0 and 1: the resampled mean is 0, 0.5, 1 with probability 1/4, 1/2, 1/4, so the
  # 2.5th and 97.5th percentiles are 0 and 1.
  assert stats.mean_ci([0.0, 1.0], reps=4000, seed=3) == (0.5, 0.0, 1.0)
  # 50% interval: the 25th and 75th percentiles sit on the middle atom's edges.
  point, lo, hi = stats.mean_ci([0.0, 1.0], reps=4000, confidence=0.4)
  assert (point, lo, hi) == (0.5, 0.5, 0.5)
  assert stats.iqm_ci([1.0, 2.0, 3.0], seed=1) == stats.iqm_ci([1.0, 2.0, 3.0], seed=1)


def test_two_sample_bootstrap_of_the_probability_of_improvement():
  point, lo, hi = stats.bootstrap_ci(stats.probability_of_improvement_of, [3.0, 4.0, 5.0],
                                     [0.0, 1.0, 2.0], reps=300)
  assert (point, lo, hi) == (1.0, 1.0, 1.0)  # every resampled x is above every resampled y
  point, lo, hi = stats.bootstrap_ci(stats.probability_of_improvement_of, [0.0, 2.0],
                                     [1.0, 1.0], reps=2000)
  assert point == 0.5 and lo == 0.0 and hi == 1.0


def test_ci_covers_the_true_mean_at_about_the_nominal_rate():
  rng = np.random.default_rng(0)
  mu, n, repetitions = 3.0, 30, 200
  covered = {"mean": 0, "iqm": 0}  # a normal's IQM is its mean (symmetric)
  for r in range(repetitions):
    x = rng.normal(mu, 2.0, size=n)
    _, lo, hi = stats.mean_ci(x, reps=1000, seed=r)
    covered["mean"] += lo <= mu <= hi
    _, lo, hi = stats.iqm_ci(x, reps=1000, seed=r)
    covered["iqm"] += lo <= mu <= hi
  for name, c in covered.items():
    assert 0.88 <= c / repetitions <= 0.99, (name, c / repetitions)


def test_bad_inputs_name_the_value_and_what_is_allowed():
  with pytest.raises(ValueError, match=r"shape \(0,\); allowed: \(runs,\) or \(runs, tasks\)"):
    stats.iqm([])
  with pytest.raises(ValueError, match="non-finite values \\[nan\\]"):
    stats.iqm([1.0, float("nan")])
  with pytest.raises(ValueError, match="confidence=1.5 is invalid: must lie in \\(0, 1\\)"):
    stats.mean_ci([1.0, 2.0], confidence=1.5)
  with pytest.raises(ValueError, match="reps=0 is invalid"):
    stats.mean_ci([1.0, 2.0], reps=0)
  with pytest.raises(ValueError, match="taus has shape \\(1, 2\\)"):
    stats.performance_profile([1.0], [[0.0, 1.0]])
  assert stats.format_ci(1.234, 0.5, 2.0) == "1.2 [0.5, 2.0]"
